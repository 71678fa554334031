"""Content-derived image tags: an unchanged app keeps its tag, so nothing rebuilds.

Standard library only (the end-to-end tests tag their local builds the same way).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path

# Never part of an image's content, whatever .dockerignore says.
ALWAYS_IGNORED = (
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "*.egg-info",
    ".venv",
    "venv",
)
REPO_ROOT = Path(__file__).resolve().parents[2]
APPS_DIR = REPO_ROOT / "apps"


def _patterns(context: Path) -> list[str]:
    ignore = context / ".dockerignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    return [ln.strip().rstrip("/") for ln in lines if ln.strip() and not ln.startswith("#")] + list(
        ALWAYS_IGNORED
    )


def _ignored(rel: Path, patterns: list[str]) -> bool:
    text = rel.as_posix()
    return any(
        fnmatch.fnmatch(text, p) or any(fnmatch.fnmatch(part, p) for part in rel.parts)
        for p in patterns
    )


def context_files(context: Path) -> Iterator[Path]:
    """Files of the build context in a stable order, minus ignored ones."""
    patterns = _patterns(context)
    for path in sorted(context.rglob("*")):
        rel = path.relative_to(context)
        if path.is_file() and not _ignored(rel, patterns):
            yield rel


def content_tag(context: Path, build_args: Mapping[str, str]) -> str:
    """A 12-hex tag over file paths, file bytes and build args (never ``latest``)."""
    digest = hashlib.sha256()
    for key in sorted(build_args):
        digest.update(f"arg {key}={build_args[key]}\n".encode())
    for rel in context_files(context):
        digest.update(f"file {rel.as_posix()}\n".encode())
        digest.update((context / rel).read_bytes())
    return digest.hexdigest()[:12]


def image_ref(app: str, base_image: str, apps_dir: Path = APPS_DIR) -> str:
    """``iotstack/<app>:<content tag>`` for apps/<app> built on ``base_image``."""
    return f"iotstack/{app}:{content_tag(apps_dir / app, {'BASE_IMAGE': base_image})}"
