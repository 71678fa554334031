"""The indexer (`python -m indexer`) against the harness's real Kafka and Elasticsearch."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from dashboard_testlib import aggregate, alert
from elasticsearch import Elasticsearch
from indexer_testlib import (
    IndexerProcess,
    caught_up,
    committed,
    create_topics,
    doc_count,
    docs,
    producer,
    read_topic,
    send,
    unique,
    wait_until,
)
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

from dashboard.indices import ensure_index

pytestmark = pytest.mark.services

NOW = (int(time.time() * 1000) // 60_000) * 60_000


@pytest.fixture
def es(elasticsearch: Any) -> Elasticsearch:
    return Elasticsearch(elasticsearch.url, request_timeout=30)


@pytest.fixture
def setup(kafka: Any, elasticsearch: Any, es: Elasticsearch) -> Iterator[dict[str, str]]:
    """Fresh topics, indices (the dashboard's real mappings) and group: the indexer's settings."""
    s = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "ELASTICSEARCH_URL": elasticsearch.url,
         "ALERTS_TOPIC": unique("alerts"), "AGGREGATES_TOPIC": unique("readings-1m"),
         "DEAD_LETTER_TOPIC": unique("readings-dlq"), "ALERTS_INDEX": unique("alerts"),
         "AGGREGATES_INDEX": unique("readings-1m"), "INDEXER_GROUP_ID": unique("indexer")}
    create_topics(kafka.bootstrap, s["ALERTS_TOPIC"], s["AGGREGATES_TOPIC"])
    create_topics(kafka.bootstrap, s["DEAD_LETTER_TOPIC"], partitions=1)
    assert ensure_index(es, s["ALERTS_INDEX"], "alerts")
    assert ensure_index(es, s["AGGREGATES_INDEX"], "aggregates")
    yield s
    # Elasticsearch may have been left stopped by a failed outage test.
    with contextlib.suppress(Exception):
        es.indices.delete(index=[s["ALERTS_INDEX"], s["AGGREGATES_INDEX"]],
                          ignore_unavailable=True)


def agg_key(d: dict[str, Any]) -> str:
    return f"{d['sensor_id']}:{d['window_start']}"


def wait_caught_up(s: dict[str, str], timeout: float = 60.0) -> None:
    wait_until(lambda: caught_up(s["KAFKA_BOOTSTRAP_SERVERS"], s["INDEXER_GROUP_ID"],
                                 s["ALERTS_TOPIC"], s["AGGREGATES_TOPIC"]),
               timeout, "committed offsets at the end of both topics")


def test_mixed_bulk_indexes_good_documents_and_dead_letters_rejected_ones(
        setup: dict[str, str], es: Elasticsearch) -> None:
    s, boot = setup, setup["KAFKA_BOOTSTRAP_SERVERS"]
    p = producer(boot)
    good = [aggregate(f"sensor-{i:04d}", NOW, 20.0 + i) for i in range(20)]
    bad = []
    for i in range(3):  # the double mapping refuses a string that is not a number
        d = aggregate(f"sensor-bad-{i}", NOW, 0.0)
        d["avg"] = "not-a-number"
        bad.append(d)
    for d in good + bad:
        send(p, s["AGGREGATES_TOPIC"], agg_key(d), d)
    send(p, s["AGGREGATES_TOPIC"], "sensor-x:1", b"not json at all")
    send(p, s["AGGREGATES_TOPIC"], "sensor-y:1", b"[1, 2, 3]")
    no_id = alert("sensor-0001", NOW)
    del no_id["alert_id"]
    send(p, s["ALERTS_TOPIC"], "sensor-0001", no_id)
    ok_alert = alert("sensor-0002", NOW)
    send(p, s["ALERTS_TOPIC"], "sensor-0002", ok_alert)
    p.flush()
    p.close()

    indexer = IndexerProcess(s, "mixed")
    try:
        indexer.wait_healthy()
        wait_caught_up(s)
        assert doc_count(es, s["AGGREGATES_INDEX"]) == len(good)
        stored = docs(es, s["AGGREGATES_INDEX"])
        assert set(stored) == {agg_key(d) for d in good}
        assert stored[agg_key(good[3])]["avg"] == good[3]["avg"]
        assert set(docs(es, s["ALERTS_INDEX"])) == {ok_alert["alert_id"]}

        letters = read_topic(boot, s["DEAD_LETTER_TOPIC"], expect=6)
        assert len(letters) == 6, [r.value for r in letters]
        by_key = {r.key.decode(): json.loads(r.value) for r in letters}
        for d in bad:
            letter = by_key[agg_key(d)]
            # Elasticsearch 8's words: document_parsing_exception, the reason led by the
            # position in the source ("[1:143] failed to parse field ...").
            assert re.match(
                r"elasticsearch rejected: document_parsing_exception: \[\d+:\d+\] failed to "
                r"parse field \[avg\] of type \[double\] in document with id "
                + re.escape(f"'{agg_key(d)}'"), letter["reason"]), letter["reason"]
            assert json.loads(letter["payload"]) == d
            assert letter["source_topic"] == s["AGGREGATES_TOPIC"]
            assert abs(letter["failed_at"] - time.time() * 1000) < 120_000
        assert by_key["sensor-x:1"]["reason"] == "not a JSON object"
        assert by_key["sensor-x:1"]["payload"] == "not json at all"
        assert by_key["sensor-y:1"]["reason"] == "not a JSON object"
        assert by_key["sensor-0001"]["reason"] == "missing field 'alert_id'"
        assert by_key["sensor-0001"]["source_topic"] == s["ALERTS_TOPIC"]

        code, body = indexer.health()
        assert code == 200 and body["status"] == "ok" and body["elasticsearch"] == "up"
        wait_until(lambda: indexer.health()[1]["lag"] == 0, 10, "/healthz lag 0")
        wait_until(lambda: "dead-lettered" in indexer.log_text(), 10, "a progress log line")
    finally:
        assert indexer.stop() == 0
    assert "Traceback" not in indexer.log_text()


def test_killed_between_bulk_and_commit_loses_nothing_and_replay_overwrites(
        setup: dict[str, str], es: Elasticsearch) -> None:
    s, boot = setup, setup["KAFKA_BOOTSTRAP_SERVERS"]
    p = producer(boot)
    sent = [aggregate(f"sensor-{i % 50:04d}", NOW - (i // 50) * 60_000, 21.0) for i in range(400)]
    for d in sent:
        send(p, s["AGGREGATES_TOPIC"], agg_key(d), d)
    p.flush()
    p.close()
    ids = {agg_key(d) for d in sent}

    crashing = IndexerProcess(s, "crash", crash_before_commit=True)
    try:
        assert crashing.proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        crashing.kill()
    assert "test hook: SIGKILL before committing" in crashing.log_text()
    before = docs(es, s["AGGREGATES_INDEX"])
    assert before, "the bulk was acknowledged before the kill: documents must be there"
    assert set(before) <= ids
    assert all(d["_version"] == 1 for d in before.values())
    assert committed(boot, s["INDEXER_GROUP_ID"]) == {}, "nothing may be committed"

    indexer = IndexerProcess(s, "after-crash")
    try:
        wait_caught_up(s)
        after = docs(es, s["AGGREGATES_INDEX"])
        assert doc_count(es, s["AGGREGATES_INDEX"]) == len(ids) == len(after)
        assert set(after) == ids
        # The replay overwrote what the killed run had written: same _id, next version.
        assert all(after[i]["_version"] == 2 for i in before), \
            {i: after[i]["_version"] for i in before if after[i]["_version"] != 2}
    finally:
        assert indexer.stop() == 0


def test_elasticsearch_outage_under_load_loses_nothing(
        setup: dict[str, str], es: Elasticsearch, elasticsearch: Any) -> None:
    s, boot = setup, setup["KAFKA_BOOTSTRAP_SERVERS"]
    stop = threading.Event()
    produced: list[str] = []

    def load() -> None:
        p = producer(boot)
        i = 0
        while not stop.is_set():
            d = aggregate(f"sensor-{i % 100:04d}", NOW - (i // 100) * 60_000, 20.0)
            send(p, s["AGGREGATES_TOPIC"], agg_key(d), d)
            produced.append(agg_key(d))
            i += 1
            if i % 20 == 0:
                p.flush()
                time.sleep(0.1)  # ~200 records/s
        p.flush()
        p.close()

    writer = threading.Thread(target=load, daemon=True)
    indexer = IndexerProcess(s, "outage")
    stopped = False
    try:
        indexer.wait_healthy()
        writer.start()
        wait_until(lambda: doc_count(es, s["AGGREGATES_INDEX"]) > 100, 30, "indexing under load")

        elasticsearch.stop()
        stopped = True
        t_stop = time.monotonic()
        seen: list[tuple[int, dict[str, Any]]] = []
        while time.monotonic() - t_stop < 30:
            seen.append(indexer.health())
            time.sleep(0.5)
        assert all(code == 200 for code, _ in seen), "the loop stays alive during the outage"
        assert any(body["elasticsearch"] == "down" for _, body in seen), seen[-3:]
        assert max(body["lag"] for _, body in seen) > 0, "lag must grow while paused"

        elasticsearch.start_again()
        stopped = False
        time.sleep(3)  # keep writing a little after the recovery
        stop.set()
        writer.join(timeout=30)
        wait_caught_up(s, timeout=120)
        wait_until(lambda: indexer.health()[1]["lag"] == 0, 10, "/healthz lag 0")
        code, body = indexer.health()
        assert code == 200 and body["elasticsearch"] == "up"
        assert doc_count(es, s["AGGREGATES_INDEX"]) == len(set(produced)) == len(produced)
        assert "Elasticsearch" in indexer.log_text() and "answers again" in indexer.log_text()
    finally:
        stop.set()
        if stopped:
            elasticsearch.start_again()
        assert indexer.stop() == 0


def test_tombstone_deletes_the_document(setup: dict[str, str], es: Elasticsearch) -> None:
    s, boot = setup, setup["KAFKA_BOOTSTRAP_SERVERS"]
    p = producer(boot)
    kept, gone = aggregate("sensor-0001", NOW, 20.0), aggregate("sensor-0002", NOW, 21.0)
    for d in (kept, gone):
        send(p, s["AGGREGATES_TOPIC"], agg_key(d), d)
    p.flush()
    indexer = IndexerProcess({**s, "INDEXER_BATCH_MAX": "1"}, "tombstone")
    try:
        wait_caught_up(s)
        assert set(docs(es, s["AGGREGATES_INDEX"])) == {agg_key(kept), agg_key(gone)}
        send(p, s["AGGREGATES_TOPIC"], agg_key(gone), None)  # tombstone
        send(p, s["AGGREGATES_TOPIC"], "sensor-9999:1", None)  # of a document never indexed
        p.flush()
        wait_caught_up(s)
        assert set(docs(es, s["AGGREGATES_INDEX"])) == {agg_key(kept)}
        assert read_topic(boot, s["DEAD_LETTER_TOPIC"], expect=0, timeout=3) == []
    finally:
        p.close()
        assert indexer.stop() == 0


def test_alert_events_end_as_one_document_with_the_latest_status(
        setup: dict[str, str], es: Elasticsearch) -> None:
    s, boot = setup, setup["KAFKA_BOOTSTRAP_SERVERS"]
    p = producer(boot)
    first = alert("sensor-0007", NOW, value=81.0)
    events = [first, {**first, "value": 83.5, "updated_at": NOW + 1000},
              {**first, "value": 85.0, "updated_at": NOW + 2000},
              {**first, "status": "resolved", "resolved_at": NOW + 60_000,
               "updated_at": NOW + 60_000, "value": 79.0}]
    other = alert("sensor-0008", NOW, rule="low_temperature")
    for e in [*events, other]:
        send(p, s["ALERTS_TOPIC"], e["sensor_id"], e)
    p.flush()
    p.close()
    # Batches of 2: the events of one alert cross batches (overwrite) and share one (superseded).
    indexer = IndexerProcess({**s, "INDEXER_BATCH_MAX": "2"}, "alerts")
    try:
        wait_caught_up(s)
        stored = docs(es, s["ALERTS_INDEX"])
        assert set(stored) == {first["alert_id"], other["alert_id"]}
        latest = stored[first["alert_id"]]
        assert latest["status"] == "resolved" and latest["value"] == 79.0
        assert latest["resolved_at"] == NOW + 60_000
        assert latest["_version"] >= 2, "a later event overwrote the document"
        assert stored[other["alert_id"]]["status"] == "open"
    finally:
        assert indexer.stop() == 0


def test_failed_dead_letter_write_blocks_the_commit_until_it_succeeds(
        setup: dict[str, str], es: Elasticsearch, kafka: Any) -> None:
    s, boot = setup, setup["KAFKA_BOOTSTRAP_SERVERS"]
    # A dead-letter topic whose broker refuses every letter (they exceed max.message.bytes).
    s["DEAD_LETTER_TOPIC"] = unique("readings-dlq-small")
    admin = KafkaAdminClient(bootstrap_servers=boot)
    try:
        admin.create_topics([NewTopic(s["DEAD_LETTER_TOPIC"], 1, 1,
                                      topic_configs={"max.message.bytes": "64"})])
        p = producer(boot)
        good = aggregate("sensor-0001", NOW, 20.0)
        bad = {**aggregate("sensor-0002", NOW, 20.0), "avg": "not-a-number"}
        for d in (good, bad):
            send(p, s["AGGREGATES_TOPIC"], agg_key(d), d)
        p.flush()
        p.close()
        indexer = IndexerProcess(s, "dlq-fails")
        try:
            wait_until(lambda: "dead letters to" in indexer.log_text(), 60,
                       "an error about the failed dead-letter write")
            time.sleep(3)  # several back-off rounds
            assert committed(boot, s["INDEXER_GROUP_ID"]) == {}, "no commit past a lost letter"
            assert set(docs(es, s["AGGREGATES_INDEX"])) == {agg_key(good)}
            assert indexer.health()[0] == 200
            assert " ERROR indexer: writing 1 dead letters to" in indexer.log_text()

            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, s["DEAD_LETTER_TOPIC"],
                                                configs={"max.message.bytes": "1048588"})])
            wait_caught_up(s)
            letters = read_topic(boot, s["DEAD_LETTER_TOPIC"], expect=1)
            assert [r.key.decode() for r in letters] == [agg_key(bad)]
            assert json.loads(letters[0].value)["reason"].startswith(
                "elasticsearch rejected: document_parsing_exception")
        finally:
            assert indexer.stop() == 0
    finally:
        admin.close()


def test_sigterm_with_elasticsearch_unreachable_exits_cleanly_without_committing(
        setup: dict[str, str]) -> None:
    s, boot = setup, setup["KAFKA_BOOTSTRAP_SERVERS"]
    p = producer(boot)
    d = aggregate("sensor-0001", NOW, 20.0)
    send(p, s["AGGREGATES_TOPIC"], agg_key(d), d)
    p.flush()
    p.close()
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # Credentials in the URL, as the stack passes them: they must never reach the log.
    indexer = IndexerProcess({**s, "ELASTICSEARCH_URL": f"http://elastic:s3cret@127.0.0.1:{port}"},
                             "sigterm")
    try:
        body = indexer.wait_healthy()
        assert body["elasticsearch"] == "down"  # the ping at start failed
        wait_until(lambda: "failed the bulk request" in indexer.log_text(), 60,
                   "a bulk attempt against the unreachable Elasticsearch")
        assert indexer.health()[0] == 200, "waiting for Elasticsearch is not unhealthy"
        t0 = time.monotonic()
    finally:
        code = indexer.stop()
    assert code == 0 and time.monotonic() - t0 < 10
    log = indexer.log_text()
    assert "1 records of the in-flight batch not committed" in log
    assert "SIGTERM received: stopping" in log and "indexer stopped" in log
    assert "s3cret" not in log and "elastic:" not in log and "***@127.0.0.1" in log
    assert "***search" not in log  # the user name "elastic" alone is not masked
    assert committed(boot, s["INDEXER_GROUP_ID"]) == {}


def test_per_item_transient_errors_are_retried_not_dead_lettered(
        setup: dict[str, str], es: Elasticsearch) -> None:
    s, boot = setup, setup["KAFKA_BOOTSTRAP_SERVERS"]
    # A write block answers every item 403 cluster_block_exception: not the document's fault.
    es.indices.put_settings(index=s["AGGREGATES_INDEX"], settings={"index.blocks.write": True})
    p = producer(boot)
    sent = [aggregate(f"sensor-{i:04d}", NOW, 20.0) for i in range(5)]
    for d in sent:
        send(p, s["AGGREGATES_TOPIC"], agg_key(d), d)
    p.flush()
    p.close()
    indexer = IndexerProcess(s, "blocked")
    try:
        wait_until(lambda: "retrying them" in indexer.log_text(), 60, "a per-item retry")
        time.sleep(2)
        assert committed(boot, s["INDEXER_GROUP_ID"]) == {}
        assert indexer.health()[1]["elasticsearch"] == "up"  # it answered; items were refused
        es.indices.put_settings(index=s["AGGREGATES_INDEX"], settings={"index.blocks.write": False})
        wait_caught_up(s)
        assert set(docs(es, s["AGGREGATES_INDEX"])) == {agg_key(d) for d in sent}
        assert read_topic(boot, s["DEAD_LETTER_TOPIC"], expect=0, timeout=3) == []
    finally:
        assert indexer.stop() == 0
