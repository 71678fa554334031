"""Validation of query parameters: every problem becomes a 400 naming the parameter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .alerts import MAX_ID_CHARS, RULES, SEVERITIES, STATUSES
from .store import AlertQuery

MAX_PAGE_SIZE = 500
MAX_OFFSET = 10_000  # Elasticsearch's default max_result_window
MAX_MINUTES = 7 * 24 * 60


class BadParam(ValueError):
    """A query parameter is unknown or invalid; the message says which and what is allowed."""


def reject_unknown(args: Mapping[str, str], allowed: Iterable[str]) -> None:
    """Refuse parameters the endpoint does not know, so a typo never silently filters nothing."""
    allowed = tuple(allowed)
    for name in args:
        if name not in allowed:
            hint = ", ".join(allowed) if allowed else "none"
            raise BadParam(f"unknown query parameter '{name[:40]}'; allowed: {hint}")


def int_param(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer parameter within [low, high]."""
    raw = args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadParam(f"query parameter '{name}' must be an integer from {low} to {high}, "
                       f"got {raw[:40]!r}")
    return int(raw)


def choice_param(args: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    """A parameter that must be one of `choices` (absent means no filter)."""
    raw = args.get(name)
    if raw is None:
        return None
    if raw not in choices:
        raise BadParam(f"query parameter '{name}' must be one of {', '.join(choices)}, "
                       f"got {raw[:40]!r}")
    return raw


def text_param(args: Mapping[str, str], name: str) -> str | None:
    """A free-text identifier such as a site or sensor id."""
    raw = args.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > MAX_ID_CHARS:
        raise BadParam(f"query parameter '{name}' must be 1 to {MAX_ID_CHARS} characters")
    return raw


ALERT_PARAMS = ("status", "severity", "rule", "site", "sensor_id", "size", "offset")


def alert_query(args: Mapping[str, str]) -> AlertQuery:
    """Build the alerts filter from `?status=&severity=&rule=&site=&sensor_id=&size=&offset=`."""
    reject_unknown(args, ALERT_PARAMS)
    status = choice_param(args, "status", (*STATUSES, "any"))
    size = int_param(args, "size", 50, 1, MAX_PAGE_SIZE)
    offset = int_param(args, "offset", 0, 0, MAX_OFFSET)
    if offset + size > MAX_OFFSET:
        raise BadParam(f"query parameters 'offset' + 'size' must not exceed {MAX_OFFSET}; "
                       "narrow the filters instead of paging further")
    return AlertQuery(
        status=None if status == "any" else (status or "open"),
        severity=choice_param(args, "severity", SEVERITIES),
        rule=choice_param(args, "rule", RULES),
        site=text_param(args, "site"),
        sensor_id=text_param(args, "sensor_id"),
        size=size, offset=offset)


def sensor_id_param(sensor_id: str) -> str:
    """A sensor id taken from the URL path."""
    if len(sensor_id) > MAX_ID_CHARS:
        raise BadParam(f"sensor id must be at most {MAX_ID_CHARS} characters")
    return sensor_id
