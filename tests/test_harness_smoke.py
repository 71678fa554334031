"""Smoke tests proving the harness runs the real services (each fails if a service is fake)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch as EsClient
from harness.elasticsearch import Elasticsearch
from harness.flink import Flink
from harness.kafka import Kafka
from harness.procs import ManagedProcess, ServiceError
from harness.stack import Stack
from iotstack import versions
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

pytestmark = pytest.mark.services

SMOKE_JOB = Path(__file__).with_name("smoke_job.py")


def _create_topics(bootstrap: str, *topics: str, partitions: int = 1) -> None:
    """Create ``topics`` (replication 1) before anyone subscribes to them."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1)
                         for t in topics])
    admin.close()


def _roundtrip(bootstrap: str, partitions: int = 3, per_key: int = 20) -> None:
    """Produce keyed messages with acks=all and read every one back, in order per key."""
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    _create_topics(bootstrap, topic, partitions=partitions)
    keys = [f"sensor-{i}" for i in range(5)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for seq in range(per_key):
        for key in keys:
            producer.send(
                topic, key=key.encode(), value=json.dumps({"k": key, "seq": seq}).encode()
            )
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"g-{topic}",
        consumer_timeout_ms=10_000,
    )
    seen: dict[str, list[int]] = {k: [] for k in keys}
    partition_of: dict[str, set[int]] = {k: set() for k in keys}
    for msg in consumer:
        body = json.loads(msg.value)
        assert msg.key.decode() == body["k"]
        seen[body["k"]].append(body["seq"])
        partition_of[body["k"]].add(msg.partition)
        if sum(map(len, seen.values())) == len(keys) * per_key:
            break
    consumer.close()
    assert seen == {k: list(range(per_key)) for k in keys}, "every message, in order per key"
    assert all(len(p) == 1 for p in partition_of.values()), "a key stays on one partition"
    assert len(set().union(*partition_of.values())) > 1, "keys spread over partitions"


def _zookeeper_has_broker(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"srvr")
        reply = sock.recv(4096).decode()
    return "Zookeeper version: 3." in reply and "Node count:" in reply


def test_kafka_zookeeper_mode_roundtrip(kafka: Kafka) -> None:
    assert kafka.mode == "zookeeper" and kafka.version == versions.KAFKA_ZK_VERSION
    # the broker that runs is the pinned release (Kafka's AppInfoParser logs it at start-up)
    assert f"Kafka version: {versions.KAFKA_ZK_VERSION} (" in kafka.broker.log_path.read_text()
    _roundtrip(kafka.bootstrap)
    zoo_cfg = (kafka.processes[-1].log_path.parent / "zoo.cfg").read_text()
    zk_port = int(
        next(ln for ln in zoo_cfg.splitlines() if ln.startswith("clientPort=")).split("=")[1]
    )
    assert _zookeeper_has_broker(zk_port)


def test_kafka_kraft_mode_roundtrip(kafka_kraft: Kafka) -> None:
    assert kafka_kraft.mode == "kraft" and kafka_kraft.version == versions.KAFKA_KRAFT_VERSION
    assert kafka_kraft.version.startswith("4.")
    assert [p.name for p in kafka_kraft.processes] == [kafka_kraft.processes[0].name]
    assert "KRaft" in kafka_kraft.processes[0].name
    log = kafka_kraft.broker.log_path.read_text()
    assert f"Kafka version: {versions.KAFKA_KRAFT_VERSION} (" in log
    _roundtrip(kafka_kraft.bootstrap)


def test_elasticsearch_index_and_search(elasticsearch: Elasticsearch) -> None:
    client = EsClient(elasticsearch.url)
    index = f"smoke-{uuid.uuid4().hex[:8]}"
    client.index(index=index, id="a1", document={"sensor_id": "s-1", "note": "too hot here"})
    client.index(index=index, id="a2", document={"sensor_id": "s-2", "note": "all calm"})
    client.indices.refresh(index=index)
    hits = client.search(index=index, query={"match": {"note": "hot"}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["a1"]
    assert hits[0]["_source"]["sensor_id"] == "s-1"
    assert client.count(index=index)["count"] == 2


def test_flink_job_reads_kafka_and_writes_kafka(flink: Flink, kafka: Kafka) -> None:
    sfx = uuid.uuid4().hex[:6]
    topic, out_topic = f"smoke-in-{sfx}", f"smoke-out-{sfx}"
    # Both topics exist before anyone subscribes. Left to auto-creation, the output topic
    # was once created by the test's consumer itself (its metadata request), and its group
    # then read nothing within 120 s although the job had written there (a CI run).
    _create_topics(kafka.bootstrap, topic, out_topic)
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    readings = {f"r{i}": 20.0 + i * 10 for i in range(6)}  # 20 .. 70 °C
    for rid, temp in readings.items():
        producer.send(topic, json.dumps({"id": rid, "temperature_c": temp}).encode())
    producer.flush()
    producer.close()

    job_id = flink.submit_python(SMOKE_JOB, [kafka.bootstrap, topic, out_topic])
    try:
        flink.wait_job_state(job_id, "RUNNING")
        listed = {j["jid"]: j["state"] for j in flink.get("/jobs/overview")["jobs"]}
        assert listed.get(job_id) == "RUNNING"

        consumer = KafkaConsumer(
            out_topic,
            bootstrap_servers=kafka.bootstrap,
            auto_offset_reset="earliest",
            group_id=f"g-{out_topic}",
            consumer_timeout_ms=1_000,
        )
        out: dict[str, dict[str, object]] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(out) < len(readings):
            for msg in consumer:
                out[msg.key.decode()] = json.loads(msg.value)
        consumer.close()
        assert set(out) == set(readings)
        for rid, temp in readings.items():
            assert out[rid]["temperature_c"] == temp
            # computed by a Python UDF on the TaskManager: proves PyFlink workers run there
            assert out[rid]["label"] == ("hot" if temp > 50 else "ok")
    finally:
        flink.cancel(job_id)
        flink.wait_job_state(job_id, "CANCELED")


def test_service_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "Broken service",
        ["sh", "-c", "echo starting; echo 'bind failed: port in use'; exit 3"],
        tmp_path / "broken.log",
    ).start()
    with pytest.raises(ServiceError) as err:
        proc.wait_ready(lambda: False, timeout=30)
    text = str(err.value)
    assert "Broken service exited with code 3" in text
    assert str(tmp_path / "broken.log") in text
    assert "bind failed: port in use" in text


def test_service_that_never_gets_ready_times_out_naming_it(tmp_path: Path) -> None:
    proc = ManagedProcess("Slow service", ["sleep", "60"], tmp_path / "slow.log").start()
    try:
        with pytest.raises(ServiceError, match="Slow service was not ready after 1 s"):
            proc.wait_ready(lambda: False, timeout=1)
    finally:
        proc.stop()
    assert not proc.alive()


def test_stack_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    stack = Stack(run_dir=tmp_path)
    cluster = stack.kafka_kraft()
    pgids = [p.proc.pid for p in cluster.processes if p.proc is not None]
    assert pgids and all(p.alive() for p in cluster.processes)
    stack.stop()
    for pgid in pgids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)


def test_a_server_dies_with_a_killed_test_process(tmp_path: Path) -> None:
    """setpriv --pdeathsig: a hard-killed test session leaves no server behind, and no Python
    code runs between fork and exec (a preexec_fn there once deadlocked a CI run)."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from harness.procs import ManagedProcess;"
        "p = ManagedProcess('sleeper', ['sleep', '300'], Path(sys.argv[2])).start();"
        "print(p.proc.pid, flush=True); import time; time.sleep(300)"
    )
    tests_dir = str(Path(__file__).parent)
    parent = subprocess.Popen(
        [sys.executable, "-c", code, tests_dir, str(tmp_path / "sleeper.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    server = int(parent.stdout.readline())
    cmdline = Path(f"/proc/{server}/cmdline")
    deadline = time.monotonic() + 10  # setpriv sets the signal, then execs the server
    while cmdline.read_bytes().split(b"\0")[0] != b"sleep" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cmdline.read_bytes().split(b"\0")[0] == b"sleep"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    state = "S"
    while time.monotonic() < deadline:
        try:  # a zombie (Z) has died; only its reaping is left to init
            state = Path(f"/proc/{server}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            state = "gone"
        if state in ("Z", "gone"):
            break
        time.sleep(0.1)
    if state not in ("Z", "gone"):
        os.kill(server, signal.SIGKILL)
    assert state in ("Z", "gone"), f"the server outlived its killed parent (state {state})"
