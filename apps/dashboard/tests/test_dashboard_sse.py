"""The SSE wire format and the stream position encoding, as pure functions."""

from __future__ import annotations

import pytest

from dashboard.sse import format_comment, format_event, format_position, parse_position


def test_event_with_all_fields() -> None:
    assert format_event('{"a":1}', event="alert", event_id="0:5", retry_ms=3000) == (
        'event: alert\nid: 0:5\nretry: 3000\ndata: {"a":1}\n\n')


def test_multiline_data_becomes_several_data_lines() -> None:
    assert format_event("one\ntwo\r\nthree\rfour") == (
        "data: one\ndata: two\ndata: three\ndata: four\n\n")


def test_empty_data_is_one_empty_data_line() -> None:
    assert format_event("") == "data: \n\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_id_and_event_cannot_smuggle_fields(bad: str) -> None:
    with pytest.raises(ValueError):
        format_event("x", event_id=bad)
    with pytest.raises(ValueError):
        format_event("x", event=bad)


def test_message_needs_some_field() -> None:
    with pytest.raises(ValueError):
        format_event()


def test_comment_is_ignored_by_parsers() -> None:
    assert format_comment("keep-alive") == ": keep-alive\n\n"
    assert format_comment("a\nb") == ": a\n: b\n\n"


def test_position_round_trip_sorted() -> None:
    text = format_position({2: 7, 0: 15, 1: 0})
    assert text == "0:15,1:0,2:7"
    assert parse_position(text) == {0: 15, 1: 0, 2: 7}


@pytest.mark.parametrize("bad", ["", "0", "0:", "a:1", "0:1,", "0:-1", "0:1;1:2", "0:1,0:2",
                                 "0:1\nid: x"])
def test_bad_positions_are_rejected_with_an_example(bad: str) -> None:
    with pytest.raises(ValueError, match="partition"):
        parse_position(bad)
