"""Indexer settings, entry point errors and record planning (no services needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from indexer_testlib import SRC

from indexer.config import SETTINGS, ConfigError, load
from indexer.service import DLQ, DONE, ES, Item, make_batch, plan, rejection

CONTRACT = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "ELASTICSEARCH_URL": "http://127.0.0.1:9200",
    "ALERTS_TOPIC": "alerts",
    "ALERTS_INDEX": "alerts",
    "AGGREGATES_TOPIC": "readings-1m",
    "AGGREGATES_INDEX": "readings-1m",
    "DEAD_LETTER_TOPIC": "readings-dlq",
    "INDEXER_GROUP_ID": "iotstack-indexer",
    "INDEXER_BATCH_MAX": "2000",
    "INDEXER_FLUSH_MS": "200",
    "INDEXER_HEALTH_BIND": "127.0.0.1:8001",
    "INDEXER_LOG_INTERVAL_S": "10",
    "INDEXER_LOG_LEVEL": "INFO",
}


def test_settings_are_exactly_the_contract() -> None:
    assert {s.env: s.default for s in SETTINGS} == CONTRACT
    assert all(s.help for s in SETTINGS)


def test_defaults() -> None:
    cfg = load({})
    assert cfg.kafka_bootstrap_servers == ("127.0.0.1:9092",)
    assert (cfg.batch_max, cfg.flush_ms, cfg.log_interval_s) == (2000, 200, 10.0)
    assert (cfg.health_host, cfg.health_port) == ("127.0.0.1", 8001)
    assert cfg.group_id == "iotstack-indexer" and cfg.log_level == "INFO"


@pytest.mark.parametrize(("env", "message"), [
    ({"INDEXER_BATCH_MAX": "lots"},
     "INDEXER_BATCH_MAX='lots' is not an integer; set a value between 1 and 100000"),
    ({"INDEXER_BATCH_MAX": "0"},
     "INDEXER_BATCH_MAX=0 is out of range; set it between 1 and 100000"),
    ({"INDEXER_FLUSH_MS": "-5"}, "INDEXER_FLUSH_MS=-5 is out of range; set it between 1 and 60000"),
    ({"INDEXER_LOG_INTERVAL_S": "soon"},
     "INDEXER_LOG_INTERVAL_S='soon' is not a number; set a value between 0.1 and 3600"),
    ({"INDEXER_HEALTH_BIND": "8001"},
     "INDEXER_HEALTH_BIND: '8001' is not host:port; write e.g. 127.0.0.1:8001"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092,kafka2"},
     "KAFKA_BOOTSTRAP_SERVERS: 'kafka2' is not host:port; write e.g. 127.0.0.1:9092"),
    ({"INDEXER_LOG_LEVEL": "loud"},
     "INDEXER_LOG_LEVEL='LOUD' is not one of DEBUG, INFO, WARNING, ERROR"),
    ({"INDEXER_GROUP_ID": " "}, "INDEXER_GROUP_ID is required: "),
    ({"ALERTS_TOPIC": "my alerts"}, "ALERTS_TOPIC='my alerts' contains spaces"),
    ({"AGGREGATES_TOPIC": "alerts"}, "AGGREGATES_TOPIC='alerts' equals ALERTS_TOPIC"),
    ({"DEAD_LETTER_TOPIC": "readings-1m"},
     "DEAD_LETTER_TOPIC='readings-1m' equals AGGREGATES_TOPIC"),
    ({"AGGREGATES_INDEX": "alerts"}, "AGGREGATES_INDEX='alerts' equals ALERTS_INDEX"),
    ({"ELASTICSEARCH_URL": "ftp://es:9200"}, "ELASTICSEARCH_URL is not an http(s) URL"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(env)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_credentials_never_shown() -> None:
    cfg = load({"ELASTICSEARCH_URL": "https://elastic:s3cret@es.example:9200/"})
    assert cfg.redacted_url() == "https://***@es.example:9200"
    assert "s3cret" not in json.dumps(cfg.redacted(), default=str)
    assert cfg.secrets() == ("elastic:s3cret@", "s3cret")
    odd = load({"ELASTICSEARCH_URL": "http://elastic:p%40ss@es:9200"})
    assert odd.secrets() == ("elastic:p%40ss@", "p%40ss", "p@ss")
    assert load({"ELASTICSEARCH_URL": "http://elastic@es:9200"}).secrets() == ()
    with pytest.raises(ConfigError) as err:
        load({"ELASTICSEARCH_URL": "http://elastic:s3cret@es.example:notaport"})
    assert "s3cret" not in str(err.value)


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "indexer", *args], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(SRC), **env})


def test_entry_point_bad_setting_exits_2_with_one_line() -> None:
    done = _run({"INDEXER_FLUSH_MS": "fast"})
    assert done.returncode == 2
    assert done.stderr == ("iot-indexer: error: INDEXER_FLUSH_MS='fast' is not an integer; "
                           "set a value between 1 and 60000\n")
    assert done.stdout == ""


def test_entry_point_health_port_in_use_exits_2() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = _run({"INDEXER_HEALTH_BIND": f"127.0.0.1:{port}"})
    assert done.returncode == 2
    assert done.stderr.startswith(f"iot-indexer: error: INDEXER_HEALTH_BIND=127.0.0.1:{port} "
                                  "cannot be listened on")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


CFG = load({})


def _item(topic: str, key: bytes | None, value: Any) -> Item:
    raw = value if value is None or isinstance(value, bytes) else json.dumps(value).encode()
    item = Item(topic, 0, 0, key, raw)
    plan(CFG, item)
    return item


def test_plan_aggregates() -> None:
    doc = {"sensor_id": "s-1", "window_start": 60_000, "avg": 1.5}
    item = _item("readings-1m", b"s-1:60000", doc)
    assert item.state == ES and item.action is not None
    assert item.action["_op_type"] == "index" and item.action["_id"] == "s-1:60000"
    assert item.action["_index"] == "readings-1m" and json.loads(item.action["_source"]) == doc
    tomb = _item("readings-1m", b"s-1:60000", None)
    assert tomb.action == {"_op_type": "delete", "_index": "readings-1m", "_id": "s-1:60000"}
    pretty = _item("readings-1m", b"k", json.dumps(doc, indent=2).encode())
    assert pretty.action is not None and "\n" not in pretty.action["_source"]
    for key, value, reason in [
        (None, doc, "missing record key"),
        (b"\xff", doc, "record key is not UTF-8"),
        (b"", doc, "record key is empty"),
        (b"k" * 513, doc, "record key is longer than 512 bytes"),
        (b"k", b"\xff\xfe", "not a JSON object"),
        (b"k", b"42", "not a JSON object"),
    ]:
        bad = _item("readings-1m", key, value)
        assert bad.state == DLQ and bad.action is None
        assert bad.reason is not None and bad.reason.startswith(reason), bad.reason


def test_plan_alerts() -> None:
    item = _item("alerts", b"s-1", {"alert_id": "s-1:high_temperature:1", "status": "open"})
    assert item.action is not None and item.action["_id"] == "s-1:high_temperature:1"
    assert item.action["_index"] == "alerts"
    for value, reason in [
        ({"status": "open"}, "missing field 'alert_id'"),
        ({"alert_id": 7}, "field 'alert_id' is not a string"),
        ({"alert_id": ""}, "field 'alert_id' is empty"),
        (None, "null value (tombstone)"),
        (b"{oops", "not a JSON object"),
    ]:
        bad = _item("alerts", b"s-1", value)
        assert bad.state == DLQ and bad.reason is not None and bad.reason.startswith(reason)


def test_batch_sends_only_the_last_action_per_document() -> None:
    class R:
        def __init__(self, offset: int, key: bytes, value: bytes | None) -> None:
            self.topic, self.partition, self.offset = "readings-1m", 1, offset
            self.key, self.value = key, value

    batch = make_batch(CFG, [R(5, b"a", b"{}"), R(6, b"b", b"{}"), R(7, b"a", None)])
    assert [it.state for it in batch.items] == [DONE, ES, ES]
    assert batch.superseded == 1
    assert [tp.partition for tp in batch.offsets] == [1] and list(batch.offsets.values()) == [8]


def test_rejection_classes() -> None:
    assert rejection("index", {"status": 201}) == (DONE, None)
    assert rejection("delete", {"status": 404, "result": "not_found"}) == (DONE, None)
    assert rejection("index", {"status": 429, "error": {"type": "x", "reason": "busy"}}) == (
        ES, "429 x: busy")
    assert rejection("index", {"status": 503, "error": {"type": "x"}})[0] == ES
    assert rejection("index", {"status": 404, "error": {
        "type": "index_not_found_exception", "reason": "no such index"}})[0] == ES
    assert rejection("index", {"status": 403, "error": {
        "type": "cluster_block_exception", "reason": "blocked"}})[0] == ES
    assert rejection("index", {"status": 400, "error": {
        "type": "mapper_parsing_exception", "reason": "failed to parse field [avg]"}}) == (
        DLQ, "elasticsearch rejected: mapper_parsing_exception: failed to parse field [avg]")
