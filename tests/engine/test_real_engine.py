"""The kind stack deployed for real: the real Pulumi engine, a real Kubernetes API server.

Nothing of Pulumi is mocked here. The pinned CLI (``make pulumi``), the kubernetes provider
(``make pulumi-kubernetes``) and the dynamic-provider plugin run the real program
(``iotstack.program.main``) through the Automation API (``tests/engine/driver.py``, in the
infra virtualenv), against the harness's control plane (``tests/harness/kube.py``:
kube-apiserver 1.37 with KWOK as the kubelet of one fake node).

No container runs under KWOK, so the stack's host-side addresses (``kafkaHostPort``,
``elasticsearchPort``, ``kibanaPort``) point at the harness's real Kafka (the broker of the
mode under test) and Elasticsearch: the dynamic providers create real topics and index
templates. Kibana cannot run here: a stand-in speaking its saved-objects API
(``POST /api/saved_objects/<type>/<id>?overwrite=true``, ``DELETE``, ``kbn-xsrf`` required)
records the objects. The app images are prebuilt references (``alertsImage`` …): the docker
and command providers, which build and ``kind load`` them, are not obtainable here.

The kind preflight against this API server (passes; fails when the server stops) is
``tests/test_harness_kube.py::test_preflight_kind_check_follows_the_control_plane``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from harness import kube as kube_mod
from harness.elasticsearch import Elasticsearch
from harness.kafka import Kafka
from harness.kube import Kube
from iotstack import catalog
from iotstack.config import StackConfig
from iotstack.services import describe
from kafka import KafkaAdminClient

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
INFRA_PYTHON = ROOT / "infra" / "venv" / "bin" / "python"
DRIVER = Path(__file__).with_name("driver.py")
ENGINE_BINARIES = ("pulumi", "pulumi-resource-kubernetes", "pulumi-resource-pulumi-python")
# Prebuilt images: nothing is pulled under KWOK, so any pinned reference does.
IMAGES = {
    "alertsImage": "registry.example/iotstack/alerts:engine-test",
    "dashboardImage": "registry.example/iotstack/dashboard:engine-test",
    "simulatorImage": "registry.example/iotstack/simulator:engine-test",
}
# Every namespaced kind the kind target creates (targets/kind.py), for "nothing left".
NAMESPACED_KINDS = (
    "deployments",
    "replicasets",
    "pods",
    "jobs",
    "services",
    "persistentvolumeclaims",
    "secrets",
)


class FakeKibana:
    """Kibana's saved-objects API, as much of it as the stack uses, recording every call."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        kibana = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _object(self) -> tuple[str, str] | None:
                parts = urlsplit(self.path).path.strip("/").split("/")
                if len(parts) == 4 and parts[:2] == ["api", "saved_objects"]:
                    return parts[2], parts[3]
                return None

            def do_POST(self) -> None:
                kibana.calls.append(("POST", self.path))
                key = self._object()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("kbn-xsrf") is None:
                    self._reply(400, {"message": "Request must contain a kbn-xsrf header."})
                elif key is None or "overwrite=true" not in self.path:
                    self._reply(404, {"message": f"not served here: {self.path}"})
                else:
                    kibana.objects[key] = body
                    self._reply(200, {"type": key[0], "id": key[1], **body})

            def do_DELETE(self) -> None:
                kibana.calls.append(("DELETE", self.path))
                key = self._object()
                if self.headers.get("kbn-xsrf") is None:
                    self._reply(400, {"message": "Request must contain a kbn-xsrf header."})
                elif key is None or kibana.objects.pop(key, None) is None:
                    self._reply(404, {"message": "Not Found"})
                else:
                    self._reply(200, {})

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def kibana() -> Iterator[FakeKibana]:
    fake = FakeKibana()
    yield fake
    fake.stop()


class Engine:
    """Runs driver.py operations on one stack with one local file backend."""

    def __init__(self, workdir: Path, stack: str, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.stack = stack
        self.env = env
        self.log = workdir / "engine.log"

    def run(self, op: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """One operation; its engine output is appended to engine.log; returns the summary."""
        cmd = [str(INFRA_PYTHON), str(DRIVER), op, "--workdir", str(self.workdir)]
        cmd += ["--stack", self.stack, "--config", json.dumps(config or {})]
        with self.log.open("a") as log:
            log.write(f"\n===== {op} {json.dumps(config or {})}\n")
            log.flush()
            done = subprocess.run(
                cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=self.env, timeout=900
            )
        lines = done.stdout.strip().splitlines()
        assert done.returncode == 0 and lines, f"driver {op} failed; see {self.log}"
        summary: dict[str, Any] = json.loads(lines[-1])
        return summary

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text().splitlines()[-lines:])


def _engine_env_base(home: Path) -> dict[str, str]:
    """The engine's settings: this test's backend and plugins only, nothing downloaded."""
    bin_dir = kube_mod.bin_dir()
    missing = [b for b in ENGINE_BINARIES if not (bin_dir / b).exists()]
    assert not missing, f"{', '.join(missing)} not in {bin_dir}: run `make engine`"
    state = home / "state"
    state.mkdir(parents=True, exist_ok=True)
    return {
        "PULUMI_HOME": str(home / "pulumi-home"),  # no plugin but ours on PATH
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": "engine-test-only",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # The dynamic-provider plugin runs `python -m pulumi.dynamic`; it unpickles the
        # providers of iotstack.dynamic, importable from infra/ as for `pulumi up`.
        "PULUMI_PYTHON_CMD": str(INFRA_PYTHON),
        "PYTHONPATH": str(ROOT / "infra"),
    }


def _engine_env(kube: Kube, home: Path) -> dict[str, str]:
    # kube.env(): KUBECONFIG of the harness's cluster (context kind-iotstack), PATH with
    # .cache/bin (the CLI, the kubernetes provider, the dynamic-provider plugin) first.
    return {**kube.env(), **_engine_env_base(home)}


def _kind_config(mode: str, kafka: Kafka, es: Elasticsearch, kibana: FakeKibana) -> dict[str, Any]:
    es_port = int(urlsplit(es.url).port or 0)
    return {
        "target": "kind",
        "kafkaMode": mode,
        "kafkaAdvertisedHost": "127.0.0.1",
        "kafkaHostPort": int(kafka.bootstrap.rsplit(":", 1)[1]),
        "elasticsearchPort": es_port,
        "kibanaPort": kibana.port,
        **IMAGES,
    }


def _api_objects(kube: Kube, namespace: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for kind in NAMESPACED_KINDS:
        out = kube.kubectl("-n", namespace, "get", kind, "-o", "json").stdout
        names = [item["metadata"]["name"] for item in json.loads(out)["items"]]
        # The API server's own objects are not the stack's.
        found[kind] = sorted(n for n in names if n != "kube-root-ca.crt")
    return found


def _topics(bootstrap: str) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="engine-test")
    try:
        names = [t for t in admin.list_topics() if not t.startswith("__")]
        described = admin.describe_topics(names)
        return {d["topic"]: len(d["partitions"]) for d in described}
    finally:
        admin.close()


def _template_names(es: Elasticsearch) -> set[str]:
    import urllib.request

    with urllib.request.urlopen(f"{es.url}/_index_template", timeout=10) as resp:
        return {t["name"] for t in json.loads(resp.read())["index_templates"]}


def _counts(summary: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in summary.get("changes", {}).items()}


@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
def test_kind_stack_lifecycle(
    mode: str,
    kube: Kube,
    kafka: Kafka,
    kafka_kraft: Kafka,
    elasticsearch: Elasticsearch,
    kibana: FakeKibana,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broker = kafka if mode == "zookeeper" else kafka_kraft
    config = _kind_config(mode, broker, elasticsearch, kibana)
    cfg = StackConfig.from_mapping({k: str(v) for k, v in config.items()})
    described = describe(cfg)
    namespace = cfg.namespace
    topic_specs = {t.name: t.partitions for t in catalog.topics(cfg)}
    templates = set(catalog.index_templates())
    engine = Engine(tmp_path, f"kind-{mode}", _engine_env(kube, tmp_path / "home"))
    numbers: dict[str, Any] = {"mode": mode}
    try:
        # 1. preview --diff: the plan, nothing touched.
        preview = engine.run("preview", config)
        assert preview["ok"], preview.get("error", "") + engine.tail()
        planned = _counts(preview)
        assert set(planned) == {"create"}, planned
        assert "+ kubernetes:apps/v1:Deployment" in preview["stdout"].replace("  ", " ")
        assert _api_objects(kube, namespace)["deployments"] == []

        # 2. up: everything created, Pulumi's awaits passed (KWOK makes pods Ready).
        up = engine.run("up")
        assert up["ok"], up.get("error", "") + engine.tail()
        created = _counts(up)
        assert created == planned, (created, planned)
        numbers["resources"] = len(up["state"])
        numbers["up_s"] = up["seconds"]
        objects = _api_objects(kube, namespace)
        long_running = sorted(s.name for s in described.services.values() if not s.one_shot)
        assert objects["deployments"] == long_running
        assert ("zookeeper" in objects["deployments"]) == (mode == "zookeeper")
        volumes = sorted({v.name for s in described.services.values() for v in s.volumes})
        assert objects["persistentvolumeclaims"] == volumes
        claims = json.loads(kube.kubectl("-n", namespace, "get", "pvc", "-o", "json").stdout)
        assert {c["status"]["phase"] for c in claims["items"]} == {"Bound"}
        on_broker = _topics(broker.bootstrap)
        for name, partitions in topic_specs.items():
            assert on_broker.get(name) == partitions, name
        assert templates <= _template_names(elasticsearch)
        spec = catalog.kibana_spec()
        assert ("dashboard", spec["dashboard_id"]) in kibana.objects
        assert len(kibana.objects) == 4
        assert up["outputs"]["kafkaMode"] == mode

        # 3. A second up changes nothing (any perpetual diff would show here).
        again = engine.run("up")
        assert again["ok"], again.get("error", "") + engine.tail()
        assert _counts(again) == {"same": numbers["resources"] - 1}, again["steps"]
        assert again["steps"] == []
        numbers["second_up_s"] = again["seconds"]

        # 4. One config change (topicPartitions: every topic sized by it) previews as exactly
        # that diff, and up applies it.
        grown = cfg.topic_partitions + 1
        change = engine.run("preview", {"topicPartitions": grown})
        assert change["ok"], change.get("error", "") + engine.tail()
        resized = sorted(n for n, p in topic_specs.items() if p == cfg.topic_partitions)
        # The dynamic provider's diff says "changed" (its SDK has no per-key diff): the
        # engine prints the property that differs, and nothing else may differ.
        assert sorted((s["op"], s["type"], s["name"]) for s in change["steps"]) == [
            ("update", "pulumi-python:dynamic:Resource", f"topic-{n}") for n in resized
        ], change["steps"]
        assert _counts(change) == {
            "update": len(resized),
            "same": numbers["resources"] - 1 - len(resized),
        }
        changed_lines = [
            line.split(":")[0].strip()
            for line in change["stdout"].splitlines()
            if line.lstrip().startswith(("~ ", "+ ", "- "))
            and "(update)" not in line
            and "to update" not in line
        ]
        assert changed_lines == ["~ partitions"] * len(resized), changed_lines
        applied = engine.run("up")
        assert applied["ok"], applied.get("error", "") + engine.tail()
        assert _counts(applied).get("update") == len(resized)
        on_broker = _topics(broker.bootstrap)
        for name in resized:
            assert on_broker[name] == grown, name

        # 5. destroy: nothing left in the API server, the broker, Elasticsearch, Kibana, state.
        destroyed = engine.run("destroy")
        assert destroyed["ok"], destroyed.get("error", "") + engine.tail()
        numbers["destroy_s"] = destroyed["seconds"]
        assert destroyed["state"] == []
        deadline = time.monotonic() + 60
        while (left := {k: v for k, v in _api_objects(kube, namespace).items() if v}) and (
            time.monotonic() < deadline
        ):
            time.sleep(1)
        assert left == {}, left
        assert not set(topic_specs) & set(_topics(broker.bootstrap))
        assert not templates & _template_names(elasticsearch)
        assert kibana.objects == {}
    finally:
        with capsys.disabled():  # on the terminal of every run, not only a failing one
            print(f"\nreal engine, kind stack: {json.dumps(numbers)}")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        # The program's own validation (iotstack/config.py), before any resource is declared.
        (
            {"dashboardPort": 70000},
            "iotstack:dashboardPort='70000' is invalid; allowed: an integer from 1024 to 65535"
            " (fix: pulumi config set dashboardPort <value>)",
        ),
        (
            {"kafkaMode": "kraf"},
            "iotstack:kafkaMode='kraf' is invalid",
        ),
        # The engine's own check of the types declared in infra/Pulumi.yaml, before the program.
        (
            {"topicPartitions": "three"},
            "Stack 'dev' with configuration key 'topicPartitions' must be of type 'integer'",
        ),
    ],
    ids=["port-range", "enum", "declared-type"],
)
def test_dev_stack_bad_config_fails_the_preview(
    config: dict[str, Any], message: str, tmp_path: Path
) -> None:
    """The Docker stack needs no docker provider to be refused: nothing is registered."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        **_engine_env_base(home),
        "PATH": f"{kube_mod.bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    preview = Engine(tmp_path, "dev", env).run("preview", config)
    assert not preview["ok"]
    assert message in preview["error"], preview["error"]
    assert "Traceback" not in preview["error"]
    # Nothing but the stack itself was ever planned; nothing was written to the state.
    assert {s["type"] for s in preview["steps"]} <= {"pulumi:pulumi:Stack"}
    assert preview["state"] == []
