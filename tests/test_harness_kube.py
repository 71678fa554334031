"""The harness's Kubernetes control plane is real: kubectl, workloads, volumes, preflight."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import preflight
import pytest
from harness import kube as kube_mod
from harness.kube import Kube
from harness.stack import Stack
from iotstack.config import StackConfig

pytestmark = pytest.mark.services

KIND = StackConfig.from_mapping({"target": "kind"})


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false")


def test_readyz_through_the_kind_context(kube: Kube) -> None:
    print(f"\ncontrol plane ready in {kube.startup_s:.1f} s, RSS {kube.rss_mb():.0f} MiB")
    assert kube.context == "kind-iotstack"
    config = json.loads(kube.kubeconfig.read_text())
    assert config["current-context"] == "kind-iotstack"
    assert kube.server.startswith("https://127.0.0.1:")
    assert kube.kubectl("get", "--raw", "/readyz").stdout == "ok"


def test_version_is_the_stamped_release(kube: Kube) -> None:
    assert "Server Version: v1.37.2" in kube.kubectl("version").stdout
    both = json.loads(kube.kubectl("version", "-o", "json").stdout)
    for side in ("clientVersion", "serverVersion"):
        assert both[side]["gitVersion"] == "v1.37.2", side
        assert (both[side]["major"], both[side]["minor"]) == ("1", "37"), side


def test_deployment_becomes_available_on_the_kwok_node(kube: Kube, namespace: str) -> None:
    ns = ("-n", namespace)
    kube.kubectl(*ns, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    kube.kubectl(*ns, "expose", "deployment", "web", "--port=80", "--type=NodePort")
    kube.kubectl(*ns, "wait", "--for=condition=Available", "deployment/web", "--timeout=60s")
    pods = json.loads(kube.kubectl(*ns, "get", "pods", "-l", "app=web", "-o", "json").stdout)
    assert len(pods["items"]) == 2
    for pod in pods["items"]:
        assert pod["spec"]["nodeName"] == kube_mod.NODE_NAME
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"].startswith("10.244.")
    service = json.loads(kube.kubectl(*ns, "get", "service", "web", "-o", "json").stdout)
    assert 30000 <= service["spec"]["ports"][0]["nodePort"] <= 32767
    assert service["spec"]["clusterIP"].startswith("10.96.")


# kube-controller-manager's --node-monitor-grace-period (50 s since Kubernetes 1.32) plus its
# --node-monitor-period (5 s) and a margin: a node without a heartbeat is NotReady by then.
NODE_SILENT_NOT_READY_S = 65.0


def test_node_stays_ready_past_the_node_grace_period(kube: Kube, namespace: str) -> None:
    """KWOK renews the node's Lease: no NodeNotReady, and Pods stay Ready (they did not)."""
    ns = ("-n", namespace)
    kube.kubectl(*ns, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=1")
    kube.kubectl(*ns, "wait", "--for=condition=Available", "deployment/web", "--timeout=60s")
    node = json.loads(kube.kubectl("get", "node", kube_mod.NODE_NAME, "-o", "json").stdout)
    created = datetime.fromisoformat(node["metadata"]["creationTimestamp"])
    age_s = (datetime.now(UTC) - created).total_seconds()
    time.sleep(max(0.0, NODE_SILENT_NOT_READY_S - age_s))  # free later in a session

    not_ready = json.loads(
        kube.kubectl(
            "get", "events", "-A", "--field-selector", "reason=NodeNotReady", "-o", "json"
        ).stdout
    )["items"]
    assert [event["message"] for event in not_ready] == []
    node = json.loads(kube.kubectl("get", "node", kube_mod.NODE_NAME, "-o", "json").stdout)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert [c["status"] for c in ready] == ["True"]
    assert node["spec"].get("taints", []) == []
    lease = json.loads(
        kube.kubectl(
            "-n", "kube-node-lease", "get", "lease", kube_mod.NODE_NAME, "-o", "json"
        ).stdout
    )
    assert lease["spec"]["leaseDurationSeconds"] == kube_mod.NODE_LEASE_S
    renewed = datetime.fromisoformat(lease["spec"]["renewTime"])
    assert (datetime.now(UTC) - renewed).total_seconds() < kube_mod.NODE_LEASE_S
    # The Deployment made before the wait is still available.
    kube.kubectl(*ns, "wait", "--for=condition=Available", "deployment/web", "--timeout=10s")


def test_claim_of_the_default_class_binds(kube: Kube, namespace: str) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(claim))
    kube.kubectl(
        "-n", namespace, "wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data",
        "--timeout=60s",
    )  # fmt: skip
    bound = json.loads(kube.kubectl("-n", namespace, "get", "pvc", "data", "-o", "json").stdout)
    assert bound["spec"]["storageClassName"] == "kwok-volume"  # the default class
    volume = bound["spec"]["volumeName"]
    assert kube.kubectl("get", "pv", volume, "-o", "jsonpath={.status.phase}").stdout == "Bound"


def test_a_job_completes_and_a_statefulset_gets_its_volume(kube: Kube, namespace: str) -> None:
    ns = ("-n", namespace)
    kube.kubectl(*ns, "create", "job", "once", "--image=busybox:1.36", "--", "true")
    kube.kubectl(*ns, "wait", "--for=condition=Complete", "job/once", "--timeout=60s")
    labels = {"app": "db"}
    stateful = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": namespace},
        "spec": {
            "serviceName": "db",
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "db", "image": "busybox:1.36"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(stateful))
    kube.kubectl(*ns, "rollout", "status", "statefulset/db", "--timeout=60s")
    phase = kube.kubectl(*ns, "get", "pvc", "data-db-0", "-o", "jsonpath={.status.phase}")
    assert phase.stdout == "Bound"
    pod = json.loads(kube.kubectl(*ns, "get", "pod", "db-0", "-o", "json").stdout)
    assert pod["status"]["podIP"] != pod["status"]["hostIP"] == kube_mod.NODE_IP


def test_preflight_kind_check_follows_the_control_plane(service_stack: Stack) -> None:
    # Its own control plane: this test stops it.
    own = kube_mod.start(service_stack.run_dir / "kube-preflight")
    try:
        assert preflight.kind_cluster_problem(KIND, own.env()) is None
    finally:
        own.stop()
    problem = preflight.kind_cluster_problem(KIND, own.env())
    assert problem is not None and "\n" not in problem
    assert problem.startswith("kind cluster context kind-iotstack does not answer (")
    assert problem.endswith("create it with `make kind-cluster`")


def test_kubeconfig_lives_in_the_run_directory(kube: Kube, service_stack: Stack) -> None:
    assert kube.kubeconfig == Path(service_stack.run_dir) / "kube" / "kubeconfig"
    assert kube.kubeconfig.stat().st_mode & 0o077 == 0
