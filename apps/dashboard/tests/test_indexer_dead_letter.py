"""The indexer's dead letters have the shape of docs/contracts.md and always fit Kafka."""

from __future__ import annotations

import json

from indexer.service import MAX_PAYLOAD_CHARS, dead_letter_value


def test_a_short_record_is_kept_whole() -> None:
    letter = dead_letter_value("mapper_parsing_exception: x", b'{"a": 1}', "alerts", 5)
    assert letter == {"reason": "mapper_parsing_exception: x", "payload": '{"a": 1}',
                      "payload_truncated": False, "payload_chars": 8,
                      "source_topic": "alerts", "failed_at": 5}


def test_a_null_value_has_a_null_payload_and_length() -> None:
    letter = dead_letter_value("value is not a JSON object", None, "readings-1m", 7)
    assert letter["payload"] is None and letter["payload_chars"] is None
    assert letter["payload_truncated"] is False


def test_the_payload_is_cut_at_the_limit_in_characters() -> None:
    exact = dead_letter_value("r", ("é" * MAX_PAYLOAD_CHARS).encode(), "alerts", 1)
    assert exact["payload_truncated"] is False and exact["payload_chars"] == MAX_PAYLOAD_CHARS
    over = dead_letter_value("r", ("é" * (MAX_PAYLOAD_CHARS + 1)).encode(), "alerts", 1)
    assert over["payload_truncated"] is True and over["payload_chars"] == MAX_PAYLOAD_CHARS + 1
    assert over["payload"] == "é" * MAX_PAYLOAD_CHARS


def test_a_record_of_escapable_characters_still_fits_kafkas_limit() -> None:
    """600 kB of characters JSON must escape (6 bytes each as \\u00XX) would make a 3.6 MB
    letter; cut, it stays far below Kafka's 1 MiB."""
    letter = dead_letter_value("r", b"\x01" * 600_000, "alerts", 1)
    encoded = json.dumps(letter).encode()
    assert letter["payload_truncated"] is True and letter["payload_chars"] == 600_000
    assert len(encoded) < 1_048_576 // 2
