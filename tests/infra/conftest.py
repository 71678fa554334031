"""Make infra/ importable (as Pulumi does when it runs the program from infra/)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_INFRA = str(Path(__file__).resolve().parents[2] / "infra")
if _INFRA not in sys.path:
    sys.path.insert(0, _INFRA)


@pytest.fixture
def apps_dir(tmp_path: Path) -> Path:
    """Small build contexts for the three apps (the real ones are checked in test_images)."""
    for app in ("alerts", "simulator", "dashboard"):
        (tmp_path / app).mkdir()
        (tmp_path / app / "Dockerfile").write_text(
            "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY . /app\n"
        )
        (tmp_path / app / "main.py").write_text(f"print('{app}')\n")
    return tmp_path
