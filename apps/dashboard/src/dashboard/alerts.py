"""The Alert message from docs/contracts.md: the values it may take and a strict parser."""

from __future__ import annotations

import json
from typing import Any

RULES = ("high_temperature", "low_temperature", "rate_of_change", "sensor_silent")
SEVERITIES = ("warning", "critical")
STATUSES = ("open", "resolved")

# Bounds keep hostile producers from blowing up memory or the page layout.
MAX_ID_CHARS = 256
MAX_MESSAGE_CHARS = 1000

_STRINGS = ("alert_id", "sensor_id", "site", "rule", "severity", "status")
_ENUMS = {"rule": RULES, "severity": SEVERITIES, "status": STATUSES}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_millis(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def validate_alert(doc: Any) -> dict[str, Any]:
    """Return the contract fields of an alert dict; raise ValueError naming the bad field."""
    if not isinstance(doc, dict):
        raise ValueError(f"alert must be a JSON object, got {type(doc).__name__}")
    alert: dict[str, Any] = {}
    for field in _STRINGS:
        value = doc.get(field)
        if not isinstance(value, str) or not value:
            raise ValueError(f"field '{field}' must be a non-empty string")
        if len(value) > MAX_ID_CHARS:
            raise ValueError(f"field '{field}' is longer than {MAX_ID_CHARS} characters")
        if field in _ENUMS and value not in _ENUMS[field]:
            raise ValueError(f"field '{field}' is {value[:40]!r}, expected one of "
                             + ", ".join(_ENUMS[field]))
        alert[field] = value
    for field in ("value", "threshold"):
        if not _is_number(doc.get(field)):
            raise ValueError(f"field '{field}' must be a number")
        alert[field] = doc[field]
    for field in ("started_at", "updated_at"):
        if not _is_millis(doc.get(field)):
            raise ValueError(f"field '{field}' must be epoch milliseconds (integer)")
        alert[field] = doc[field]
    resolved_at = doc.get("resolved_at")
    if resolved_at is not None and not _is_millis(resolved_at):
        raise ValueError("field 'resolved_at' must be epoch milliseconds or null")
    alert["resolved_at"] = resolved_at
    message = doc.get("message", "")
    if not isinstance(message, str):
        raise ValueError("field 'message' must be a string")
    alert["message"] = message[:MAX_MESSAGE_CHARS]
    return alert


def parse_alert(raw: bytes | None) -> dict[str, Any]:
    """Decode one alert event from the topic; raise ValueError with the reason it is malformed."""
    if raw is None:
        raise ValueError("empty message (tombstone)")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not UTF-8 JSON: {exc}") from None
    return validate_alert(doc)
