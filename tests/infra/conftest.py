"""Make infra/ importable (as Pulumi does when it runs the program from infra/)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
if str(INFRA) not in sys.path:
    sys.path.insert(0, str(INFRA))
