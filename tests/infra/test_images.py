"""Content-derived image tags and the real apps' build contexts."""

from __future__ import annotations

from pathlib import Path

import pytest
from infra_paths import APPS
from iotstack import versions
from iotstack.config import StackConfig
from iotstack.images import content_tag, context_files, image_ref
from iotstack.services import describe


def _context(root: Path) -> Path:
    ctx = root / "app"
    (ctx / "src").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    (ctx / "src" / "main.py").write_text("print(1)\n")
    return ctx


def test_unchanged_context_keeps_its_tag(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    assert content_tag(ctx, {"BASE_IMAGE": "x:1"}) == content_tag(ctx, {"BASE_IMAGE": "x:1"})


def test_a_changed_file_a_new_file_or_a_new_base_changes_the_tag(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    before = content_tag(ctx, {"BASE_IMAGE": "x:1"})
    assert content_tag(ctx, {"BASE_IMAGE": "x:2"}) != before
    (ctx / "src" / "main.py").write_text("print(2)\n")
    changed = content_tag(ctx, {"BASE_IMAGE": "x:1"})
    assert changed != before
    (ctx / "src" / "extra.py").write_text("")
    assert content_tag(ctx, {"BASE_IMAGE": "x:1"}) != changed


def test_caches_and_dockerignored_paths_do_not_change_the_tag(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    (ctx / ".dockerignore").write_text("tests/\n# comment\n*.log\n")
    before = content_tag(ctx, {})
    (ctx / "src" / "__pycache__").mkdir()
    (ctx / "src" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (ctx / "tests").mkdir()
    (ctx / "tests" / "test_x.py").write_text("assert True\n")
    (ctx / "run.log").write_text("noise")
    assert content_tag(ctx, {}) == before
    assert [p.as_posix() for p in context_files(ctx)] == [
        ".dockerignore",
        "Dockerfile",
        "src/main.py",
    ]


def test_image_ref_is_repo_and_twelve_hex_never_latest(tmp_path: Path) -> None:
    _context(tmp_path)
    ref = image_ref("app", "python:3.11.14-slim-bookworm", tmp_path)
    repo, _, tag = ref.partition(":")
    assert repo == "iotstack/app" and len(tag) == 12 and int(tag, 16) >= 0


@pytest.mark.parametrize(
    "app",
    sorted({s.build.app for s in describe(StackConfig()).services.values() if s.build is not None}),
)
def test_every_built_app_has_a_dockerfile_taking_base_image(app: str) -> None:
    dockerfile = APPS / app / "Dockerfile"
    assert dockerfile.is_file(), f"{dockerfile} is missing; the stack builds the {app} image"
    text = dockerfile.read_text()
    assert "ARG BASE_IMAGE" in text and "FROM ${BASE_IMAGE}" in text, dockerfile
    # Its default base is the pinned one the stack passes.
    base = next(
        s.build.base_image
        for s in describe(StackConfig()).services.values()
        if s.build is not None and s.build.app == app
    )
    assert f"ARG BASE_IMAGE={base}" in text, f"{dockerfile}: default BASE_IMAGE is not {base}"
    assert base in set(versions.IMAGES.values())
