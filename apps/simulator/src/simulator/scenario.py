"""Scenario replay: a scripted file of readings (JSON lines), sent exactly as written.

One JSON object per line, in send order; blank lines and lines starting with ``#`` are
skipped. A line is either

- a reading: ``sensor_id``, ``site``, ``temperature_c`` and either ``ts`` (epoch ms) or
  ``offset_ms`` (ms after the run's start time); ``seq`` is optional and defaults to the
  sensor's previous ``seq`` + 1 (0 for its first line), so a duplicate repeats a ``seq``;
- a raw message: ``raw`` (text sent verbatim, e.g. malformed JSON) and optional ``key``.

Any line may carry a ``note`` for humans. Anything else is a one-line error naming the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from simulator import codec

_READING_KEYS = {"sensor_id", "site", "temperature_c", "ts", "offset_ms", "seq", "note"}
_RAW_KEYS = {"raw", "key", "note"}


class ScenarioError(ValueError):
    """The scenario file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Entry:
    """One message to send: key (None = no key), value, and event time if it is a reading."""

    key: bytes | None
    value: bytes
    ts: int | None


def _field(obj: dict[str, Any], name: str, types: tuple[type, ...], where: str) -> Any:
    if name not in obj:
        raise ScenarioError(f"{where}: missing '{name}'")
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, types):
        kind = " or ".join(t.__name__ for t in types)
        raise ScenarioError(f"{where}: '{name}' must be {kind}, got {json.dumps(value)}")
    return value


def parse(text: str, start_ts: int, source: str = "scenario") -> list[Entry]:
    """Parse scenario ``text``; ``offset_ms`` is relative to ``start_ts``."""
    entries: list[Entry] = []
    next_seq: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{source}:{lineno}"
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"{where}: not a JSON object ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise ScenarioError(f"{where}: not a JSON object")
        if "raw" in obj:
            unknown = sorted(set(obj) - _RAW_KEYS)
            if unknown:
                raise ScenarioError(f"{where}: unknown key(s) {unknown} in a raw line")
            raw = _field(obj, "raw", (str,), where)
            key = obj.get("key")
            if key is not None and not isinstance(key, str):
                raise ScenarioError(f"{where}: 'key' must be str or null, got {json.dumps(key)}")
            entries.append(Entry(None if key is None else key.encode(), raw.encode(), None))
            continue
        unknown = sorted(set(obj) - _READING_KEYS)
        if unknown:
            raise ScenarioError(
                f"{where}: unknown key(s) {unknown}; a reading has {sorted(_READING_KEYS)}"
            )
        if ("ts" in obj) == ("offset_ms" in obj):
            raise ScenarioError(f"{where}: give exactly one of 'ts' and 'offset_ms'")
        sensor = _field(obj, "sensor_id", (str,), where)
        if not sensor:
            raise ScenarioError(f"{where}: 'sensor_id' must not be empty")
        site = _field(obj, "site", (str,), where)
        temperature = _field(obj, "temperature_c", (int, float), where)
        if "ts" in obj:
            ts = _field(obj, "ts", (int,), where)
        else:
            ts = start_ts + _field(obj, "offset_ms", (int,), where)
        if "seq" in obj:
            seq = _field(obj, "seq", (int,), where)
            if seq < 0:
                raise ScenarioError(f"{where}: 'seq' must be >= 0, got {seq}")
        else:
            seq = next_seq.get(sensor, 0)
        next_seq[sensor] = seq + 1
        reading = codec.Reading(sensor, site, ts, float(temperature), seq)
        entries.append(Entry(codec.key(sensor), codec.encode(reading), ts))
    if not entries:
        raise ScenarioError(f"{source}: no messages in the scenario")
    return entries


def load(path: str, start_ts: int) -> list[Entry]:
    """Read and parse the scenario file at ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ScenarioError(
            f"SIMULATOR_SCENARIO={path!r} cannot be read ({exc.strerror}); give an existing file"
        ) from None
    except UnicodeDecodeError:
        raise ScenarioError(f"SIMULATOR_SCENARIO={path!r} is not UTF-8 text") from None
    return parse(text, start_ts, path)


class Replay:
    """A scenario as a message source with the same interface as the random stream."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.slot = 0
        self._stopped = False
        self._first_ts = next((e.ts for e in entries if e.ts is not None), 0)
        self._due_s = 0.0

    def __iter__(self) -> Iterator[tuple[bytes | None, bytes]]:
        for index, entry in enumerate(self.entries):
            if self._stopped:
                return
            self.slot = index
            if entry.ts is not None:
                # pace by event time; an earlier (out-of-order) ts is simply due at once
                self._due_s = max(self._due_s, (entry.ts - self._first_ts) / 1000.0)
            yield entry.key, entry.value
        self.slot = len(self.entries)

    def due_s(self) -> float:
        """Seconds after the start at which the current entry is due in real time."""
        return self._due_s

    def stop(self) -> None:
        """End iteration before the next entry."""
        self._stopped = True

    def drain(self) -> Iterator[tuple[bytes | None, bytes]]:
        """Nothing is ever held back in a replay."""
        return iter(())
