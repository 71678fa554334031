"""infra/preflight.py: the stack's own configuration, its own ports, every verb's message.

Real sockets, a real kubectl against a real (tiny) HTTP endpoint and a closed port; the
Docker daemon's answer is the one thing faked (a runner returning what ``docker info``
prints when no daemon runs), so the advice can be checked with and without systemd.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import preflight
import pytest
from iotstack import versions
from iotstack.config import StackConfig


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on, for the test's duration."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _ports_config(**chosen: int) -> dict[str, str]:
    """Every host-port key on a free port, except the ones given."""
    keys = ("kafkaHostPort", "elasticsearchPort", "kibanaPort", "flinkUiPort", "dashboardPort")
    return {key: str(chosen.get(key) or _free_port()) for key in keys}


def _daemon_ok(*_args: object, **_kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess([], 0, "28.2.2\n", "")


def _daemon_down(*_args: object, **_kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(
        [], 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n"
    )


@pytest.fixture(autouse=True)
def _tools_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLIs count as installed unless a test says otherwise."""
    monkeypatch.setattr(preflight.shutil, "which", lambda tool: f"/usr/bin/{tool}")


# --- Python ---------------------------------------------------------------------------------
def test_python_must_be_the_pinned_minor_line_not_just_at_least() -> None:
    want = versions.PYTHON_VERSION
    assert preflight.python_problem((*want, 7)) is None
    newer = preflight.python_problem((want[0], want[1] + 1, 1))
    assert newer is not None
    assert f"Python {want[0]}.{want[1]} needed" in newer
    assert f"{want[0]}.{want[1] + 1}.1" in newer
    assert preflight.python_problem((want[0], want[1] - 1, 0)) is not None


# --- Docker daemon advice ----------------------------------------------------------------------
def test_no_systemctl_advice_where_systemd_is_not_running(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(preflight, "SYSTEMD_RUNTIME", tmp_path / "no-systemd")
    monkeypatch.setattr(preflight.sys, "platform", "linux")
    line = preflight.docker_problem(_daemon_down)
    assert line is not None
    assert "Cannot connect to the Docker daemon" in line
    assert "systemctl" not in line
    assert "sudo service docker start, or run sudo dockerd" in line


def test_systemctl_advice_where_systemd_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(preflight, "SYSTEMD_RUNTIME", tmp_path)
    line = preflight.docker_problem(_daemon_down)
    assert line is not None and "sudo systemctl start docker" in line


# --- ports: the stack's configured ones, minus the deployed stack's own ---------------------
def test_a_busy_configured_port_is_reported_with_its_key(busy_port: int) -> None:
    raw = _ports_config(dashboardPort=busy_port)
    found = preflight.problems("dev", "up", raw, run=_daemon_ok)
    assert found == [
        f"port {busy_port} (config dashboardPort) is in use: stop what listens there or run "
        "`pulumi config set dashboardPort <free port> --stack <stack>` in infra/"
    ]


def test_ports_come_from_the_stack_config_not_the_defaults(busy_port: int) -> None:
    """The busy port is the default of no key here: moving dashboardPort away clears it."""
    cfg = StackConfig.from_mapping(_ports_config())
    assert busy_port not in cfg.host_ports().values()
    assert preflight.port_problems(cfg, set()) == []
    # ... and the same key on the busy port is reported: the check reads the config.
    moved = StackConfig.from_mapping(_ports_config(kibanaPort=busy_port))
    assert [p.split(" is in use")[0] for p in preflight.port_problems(moved, set())] == [
        f"port {busy_port} (config kibanaPort)"
    ]


def test_ports_the_deployed_stack_publishes_are_not_in_the_way(busy_port: int) -> None:
    raw = _ports_config(kafkaHostPort=busy_port)
    assert preflight.problems("dev", "up", raw, held_ports={busy_port}, run=_daemon_ok) == []
    assert preflight.problems("dev", "preview", raw, held_ports={busy_port}, run=_daemon_ok) == []


@pytest.mark.parametrize("verb", ["down", "resubmit"])
def test_busy_ports_never_block_down_or_resubmit(busy_port: int, verb: str) -> None:
    raw = _ports_config(kafkaHostPort=busy_port)
    assert preflight.problems("dev", verb, raw, deployed=12, run=_daemon_ok) == []


def test_resubmit_needs_a_deployed_stack() -> None:
    assert preflight.problems("dev", "resubmit", {}, deployed=0, run=_daemon_ok) == [
        "stack dev has nothing deployed, so no job to restart: run `make up`"
    ]
    # The other verbs work on an empty stack: preview and up create it, down has nothing to do.
    for verb in ("preview", "down"):
        assert preflight.problems("dev", verb, _ports_config(), run=_daemon_ok) == []


def test_a_bad_config_value_is_one_line_naming_the_key() -> None:
    found = preflight.problems("dev", "preview", {"kafkaMode": "zk"}, run=_daemon_ok)
    assert found == [
        "iotstack:kafkaMode='zk' is invalid; allowed: zookeeper | kraft "
        "(fix: pulumi config set kafkaMode <value>)"
    ]


# --- the local backend's state file ------------------------------------------------------------
def _checkpoint(*port_lists: list[dict]) -> dict:
    resources = [
        {
            "urn": "urn:pulumi:dev::iotstack::pulumi:pulumi:Stack::iotstack-dev",
            "type": "pulumi:pulumi:Stack",
        },
        {
            "urn": "urn:pulumi:dev::iotstack::docker:index/network:Network::net",
            "type": "docker:index/network:Network",
            "outputs": {"name": "iotstack"},
        },
    ]
    for i, ports in enumerate(port_lists):
        resources.append(
            {
                "urn": f"urn:pulumi:dev::iotstack::docker:index/container:Container::c{i}",
                "type": preflight.CONTAINER_TYPE,
                "inputs": {"ports": ports},
                "outputs": {"ports": ports, "name": f"c{i}"},
            }
        )
    return {"version": 3, "checkpoint": {"stack": "dev", "latest": {"resources": resources}}}


PORTS_A = [{"internal": 9094, "external": 9094, "ip": "127.0.0.1", "protocol": "tcp"}]
PORTS_B = [
    {"internal": 8000, "external": 8001, "ip": "127.0.0.1", "protocol": "tcp"},
    {"internal": 9000, "ip": "127.0.0.1", "protocol": "tcp"},  # not published: no external
]


@pytest.mark.parametrize("layout", ["project", "legacy", "gzip"])
def test_deployed_ports_are_read_from_the_local_backend_state(tmp_path: Path, layout: str) -> None:
    stacks = tmp_path / ".pulumi" / "stacks"
    folder = stacks / "iotstack" if layout in ("project", "gzip") else stacks
    folder.mkdir(parents=True)
    body = json.dumps(_checkpoint(PORTS_A, PORTS_B)).encode()
    if layout == "gzip":
        (folder / "dev.json.gz").write_bytes(gzip.compress(body))
    else:
        (folder / "dev.json").write_bytes(body)
    path = preflight.state_file(tmp_path, "dev")
    assert path is not None
    resources = preflight.deployed_resources(path)
    assert preflight.held_host_ports(resources) == {9094, 8001}
    assert len(resources) == 4
    assert preflight.state_file(tmp_path, "kind") is None


def test_no_state_means_no_ports_held(tmp_path: Path) -> None:
    none = preflight.deployed_resources(preflight.state_file(tmp_path, "dev"))
    assert none == []
    assert preflight.held_host_ports(none) == set()
    folder = tmp_path / ".pulumi" / "stacks" / "iotstack"
    folder.mkdir(parents=True)
    (folder / "dev.json").write_text(json.dumps({"version": 3, "checkpoint": {"stack": "dev"}}))
    resources = preflight.deployed_resources(preflight.state_file(tmp_path, "dev"))
    assert resources == []
    assert preflight.held_host_ports(resources) == set()


# --- kind: the configured context must answer -----------------------------------------------
def _kubeconfig(path: Path, context: str, server: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
                "current-context": context,
            }
        )
    )
    return path


class _Readyz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok" if self.path.startswith("/readyz") else b"{}"
        self.send_response(200 if self.path.startswith("/readyz") else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


KIND = {"target": "kind"}
PATH = os.environ["PATH"]


@pytest.fixture
def real_kubectl(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    monkeypatch.undo()  # the real PATH lookup for kubectl
    assert shutil.which("kubectl"), "kubectl is a prerequisite of the kind target and its tests"


def test_kind_preview_fails_when_the_context_does_not_answer(
    real_kubectl: None, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{_free_port()}"
    kubeconfig = _kubeconfig(tmp_path / "kc", "kind-iotstack", closed)
    env = {"KUBECONFIG": str(kubeconfig), "PATH": PATH, "HOME": str(tmp_path)}
    line = preflight.kind_cluster_problem(StackConfig.from_mapping(KIND), env)
    assert line is not None
    assert line.startswith("kind cluster context kind-iotstack does not answer (")
    assert line.endswith("): create it with `make kind-cluster`")


def test_kind_preview_fails_without_any_kubeconfig(real_kubectl: None, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "missing"), "PATH": PATH, "HOME": str(tmp_path)}
    line = preflight.kind_cluster_problem(StackConfig.from_mapping(KIND), env)
    assert line is not None and "kind-iotstack" in line and "make kind-cluster" in line


def test_kind_context_that_answers_passes(
    real_kubectl: None, tmp_path: Path, api_server: str
) -> None:
    kubeconfig = _kubeconfig(tmp_path / "kc", "kind-iotstack", api_server)
    env = {"KUBECONFIG": str(kubeconfig), "PATH": PATH, "HOME": str(tmp_path)}
    assert preflight.kind_cluster_problem(StackConfig.from_mapping(KIND), env) is None
    # The context is the configured cluster's: another name is looked up under its own context.
    other = StackConfig.from_mapping({**KIND, "kindClusterName": "other"})
    line = preflight.kind_cluster_problem(other, env)
    assert line is not None and "kind-other" in line


def test_kind_down_is_not_blocked_by_a_missing_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def record(cmd: list[str], **_kwargs: object) -> subprocess.CompletedProcess:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "connection refused")

    assert preflight.problems("kind", "down", KIND, run=record) == []
    assert calls == []
    found = preflight.problems("kind", "preview", KIND, run=record)
    assert len(found) == 1 and "make kind-cluster" in found[0]
    # The kind target never asks the Docker daemon or probes host ports.
    assert all(cmd[0] == "kubectl" for cmd in calls)


@pytest.mark.parametrize(
    ("verb", "ending"),
    [
        ("up", "nothing was deployed."),
        ("preview", "no preview was run."),
        ("down", "nothing was destroyed."),
        ("resubmit", "nothing was resubmitted."),
    ],
)
def test_the_closing_line_says_what_was_not_done(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], verb: str, ending: str
) -> None:
    monkeypatch.setattr(preflight.shutil, "which", lambda tool: None)  # no Pulumi CLI at all
    assert preflight.main(["--stack", "dev", "--verb", verb]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("preflight: Pulumi CLI not found")
    assert err[-1] == f"preflight: 1 problem(s) for `make {verb}`; {ending}"
