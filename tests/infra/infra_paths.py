"""Paths the infra tests use."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
APPS = REPO / "apps"
