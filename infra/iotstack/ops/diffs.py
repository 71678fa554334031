"""What a change between two sets of properties means: nothing, an update or a replace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    """The keys that changed and which of them force a replacement."""

    changed: tuple[str, ...]
    replaces: tuple[str, ...]

    @property
    def any(self) -> bool:
        """True when anything differs."""
        return bool(self.changed)


def compare(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    keys: Iterable[str],
    replace_keys: Iterable[str] = (),
) -> Change:
    """Compare ``keys``; a changed key in ``replace_keys`` means delete-and-create."""
    changed = tuple(k for k in keys if olds.get(k) != news.get(k))
    replace = set(replace_keys)
    return Change(changed, tuple(k for k in changed if k in replace))
