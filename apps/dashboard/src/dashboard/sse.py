"""The Server-Sent Events wire format and the resumable stream position, as pure functions."""

from __future__ import annotations

import re
from collections.abc import Mapping

# Kafka partition -> next offset to deliver. Carried as the SSE event id, so a browser that
# reconnects sends it back in Last-Event-ID and resumes exactly where it stopped.
Position = dict[int, int]

_POSITION_RE = re.compile(r"^\d{1,6}:\d{1,19}(,\d{1,6}:\d{1,19})*$")


def format_event(data: str | None = None, *, event: str | None = None,
                 event_id: str | None = None, retry_ms: int | None = None) -> str:
    """Render one SSE message; multi-line data becomes several `data:` lines."""
    lines: list[str] = []
    for name, value in (("event", event), ("id", event_id)):
        if value is not None:
            # A line break would end the field early and let data forge other fields.
            if "\n" in value or "\r" in value or "\0" in value:
                raise ValueError(f"SSE {name} must be a single line without NUL: {value!r}")
            lines.append(f"{name}: {value}")
    if retry_ms is not None:
        lines.append(f"retry: {int(retry_ms)}")
    if data is not None:
        for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            lines.append(f"data: {line}")
    if not lines:
        raise ValueError("an SSE message needs data, an event name, an id or a retry")
    return "\n".join(lines) + "\n\n"


def format_comment(text: str = "") -> str:
    """Render an SSE comment, used as a keep-alive that browsers ignore."""
    return "".join(f": {line}\n" for line in text.split("\n")) + "\n"


def format_position(position: Mapping[int, int]) -> str:
    """Encode a stream position as `partition:offset,...`, sorted by partition."""
    return ",".join(f"{p}:{o}" for p, o in sorted(position.items()))


def parse_position(text: str) -> Position:
    """Decode `partition:offset,...`; raise ValueError saying what a valid one looks like."""
    text = text.strip()
    if not _POSITION_RE.match(text):
        raise ValueError(f"{text[:60]!r} is not a stream position; expected "
                         "partition:offset pairs such as '0:42,1:17'")
    position: Position = {}
    for pair in text.split(","):
        partition, offset = pair.split(":")
        if int(partition) in position:
            raise ValueError(f"partition {partition} appears twice in stream position")
        position[int(partition)] = int(offset)
    return position
