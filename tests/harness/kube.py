"""A real Kubernetes 1.37 control plane for the kind target, without containers or a kubelet.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run natively on 127.0.0.1
(free ports), and KWOK plays the kubelet of one fake node (annotated
``kwok.x-k8s.io/node: fake``): scheduled Pods turn Running and Ready, PVCs of the default
StorageClass ``kwok-volume`` bind, nothing is pulled or run. Every binary comes from
``make kube-bins`` (tools/kube/, pinned by go.sum) in ``.cache/bin``; KWOK's stage
definitions from its module, copied to ``.cache/kwok-stages``. Certificates and keys are
made with openssl in the run directory. The kubeconfig written there names the context
``kind-iotstack``, the one the kind target and ``infra/preflight.py`` use.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from harness import artifacts
from harness.procs import ManagedProcess, ServiceError, free_port, run_checked

READY_TIMEOUT_S = 60.0
KUBE_VERSION = "1.37.2"  # tools/kube/go.mod; stamped by the Makefile (KUBE_VERSION)
CLUSTER_NAME = "iotstack"  # kindClusterName's default (infra/Pulumi.yaml)
CONTEXT = f"kind-{CLUSTER_NAME}"
NODE_NAME = "kwok-node-0"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"  # KWOK hands out Pod IPs from here
NODE_IP = "127.0.0.2"  # outside it; loopback: nothing may dial a private-range address here
# The node's heartbeat: KWOK renews its Lease in kube-node-lease every quarter of this (as
# kwokctl's own clusters do, 40 s). Without a heartbeat the node controller marks the node
# NotReady once its grace period (50 s) passes, and with it every Pod on the node; KWOK's
# pod-ready stage only readies Pending Pods, so they stayed NotReady for good and a Deployment
# lost its availability a minute into a session.
NODE_LEASE_S = 40
# The stages KWOK runs (copied by make kube-bins out of sigs.k8s.io/kwok's module zip): KWOK's
# own "fast" set (node-initialize, node-heartbeat-with-lease, pods) plus the volume stages.
STAGES = (
    "node-initialize",
    "node-heartbeat-with-lease",
    "pod-ready",
    "pod-complete",
    "pod-delete",
    "pvc-provision",
    "pv-bind",
    "pvc-delete",
    "pv-delete",
)
STORAGE_CLASS = "storage-class"  # kwok-volume, marked default, Immediate binding
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
)

_NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": NODE_NAME,
        "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        "labels": {
            "type": "kwok",
            "kubernetes.io/hostname": NODE_NAME,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        },
    },
    "spec": {},  # no taint: the stack's Pods land here without a toleration
}


def bin_dir() -> Path:
    """Where ``make kube-bins`` puts the binaries."""
    return artifacts.REPO_ROOT / ".cache" / "bin"


def stages_dir() -> Path:
    """Where ``make kube-bins`` puts KWOK's stage definitions."""
    return artifacts.REPO_ROOT / ".cache" / "kwok-stages"


def _binaries() -> dict[str, Path]:
    found = {name: bin_dir() / name for name in BINARIES}
    missing = [name for name, path in found.items() if not os.access(path, os.X_OK)]
    stages = [stages_dir() / f"{name}.yaml" for name in (*STAGES, STORAGE_CLASS)]
    missing += [str(path) for path in stages if not path.is_file()]
    if missing:
        raise artifacts.MissingPrerequisite(
            f"{', '.join(missing)} not found in {bin_dir().parent}: run make kube-bins"
        )
    return found


@dataclass
class Kube:
    """A running control plane; ``kubeconfig`` holds the context ``kind-iotstack``."""

    version: str
    server: str
    kubeconfig: Path
    processes: list[ManagedProcess] = field(default_factory=list)
    startup_s: float = 0.0
    context: str = CONTEXT

    def env(self) -> dict[str, str]:
        """The environment for kubectl and friends: this kubeconfig, the pinned kubectl first."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def kubectl(
        self, *args: str, stdin: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl against this cluster; raise with its output if it fails."""
        done = subprocess.run(
            [str(bin_dir() / "kubectl"), "--context", self.context, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            check=False,
        )
        if done.returncode != 0:
            raise ServiceError(
                f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}"
            )
        return done

    def rss_mb(self) -> float:
        """Resident memory of the whole control plane, in MiB."""
        return sum(proc.rss_mb() for proc in self.processes)

    def stop(self) -> None:
        """Stop KWOK, the scheduler, the controller manager, the API server, then etcd."""
        for proc in reversed(self.processes):
            proc.stop()


def _openssl(workdir: Path, *args: str) -> None:
    run_checked(["openssl", *args], f"openssl {args[0]}", workdir / "openssl.log")


def _make_certs(pki: Path) -> None:
    """A CA, the API server's serving certificate from it, and the service-account key pair.

    P-256 keys: as good here as RSA and generated in milliseconds, not seconds, on a busy CI
    machine (the service-account tokens are then signed ES256, which the API server supports).
    """
    pki.mkdir(parents=True, exist_ok=True)
    p256 = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        pki, "req", "-x509", *p256, "-days", "7",
        "-subj", "/CN=iotstack-test-ca", "-keyout", str(pki / "ca.key"),
        "-out", str(pki / "ca.crt"),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl(
        pki, "req", *p256, "-subj", "/CN=kube-apiserver",
        "-keyout", str(pki / "apiserver.key"), "-out", str(pki / "apiserver.csr"),
    )  # fmt: skip
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"]
    (pki / "apiserver.ext").write_text(
        "subjectAltName="
        + ",".join([*(f"DNS:{name}" for name in names), "IP:127.0.0.1", "IP:10.96.0.1"])
        + "\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
    )
    _openssl(
        pki, "x509", "-req", "-in", str(pki / "apiserver.csr"), "-CA", str(pki / "ca.crt"),
        "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "7",
        "-extfile", str(pki / "apiserver.ext"), "-out", str(pki / "apiserver.crt"),
    )  # fmt: skip
    _openssl(
        pki, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-out", str(pki / "sa.key"),
    )  # fmt: skip
    _openssl(pki, "pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def _write_kubeconfig(path: Path, server: str, ca: Path, token: str) -> None:
    """A kubeconfig (JSON, which kubectl reads as YAML) whose only context is ``CONTEXT``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
        "current-context": CONTEXT,
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)


def _get(url: str, context: ssl.SSLContext | None = None, token: str | None = None) -> str:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5, context=context) as reply:
        return str(reply.read().decode())


def _healthz(port: int) -> bool:
    """A component's own /healthz (self-signed serving certificate, anonymous access)."""
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    return _get(f"https://127.0.0.1:{port}/healthz", insecure) == "ok"


def start(workdir: Path) -> Kube:
    """Start the control plane and KWOK with one Ready fake node; stop all of it on failure."""
    started = time.monotonic()
    binaries = _binaries()
    workdir.mkdir(parents=True, exist_ok=True)
    pki = workdir / "pki"
    _make_certs(pki)
    token = base64.b32encode(os.urandom(20)).decode().lower()
    (pki / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
    (pki / "tokens.csv").chmod(0o600)

    etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
    server = f"https://127.0.0.1:{api_port}"
    kubeconfig = workdir / "kubeconfig"
    _write_kubeconfig(kubeconfig, server, pki / "ca.crt", token)
    cluster = Kube(KUBE_VERSION, server, kubeconfig)
    try:
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = ManagedProcess(
            "etcd",
            [
                str(binaries["etcd"]),
                "--name=test",
                f"--data-dir={workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=test=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",  # a throw-away store: no fsync per write
                "--log-level=warn",
            ],
            workdir / "etcd.log",
        ).start()
        cluster.processes.append(etcd)
        etcd.wait_ready(
            lambda: json.loads(_get(f"{etcd_url}/health")).get("health") == "true",
            READY_TIMEOUT_S,
        )

        trusted = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        apiserver = ManagedProcess(
            f"kube-apiserver {KUBE_VERSION}",
            [
                str(binaries["kube-apiserver"]),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                # The endpoint reconciler refuses a loopback advertise address.
                "--endpoint-reconciler-type=none",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                f"--cert-dir={workdir / 'apiserver-certs'}",
            ],
            workdir / "kube-apiserver.log",
        ).start()
        cluster.processes.append(apiserver)
        apiserver.wait_ready(
            lambda: _get(f"{server}/readyz", trusted, token) == "ok", READY_TIMEOUT_S
        )

        common = [f"--kubeconfig={kubeconfig}", "--bind-address=127.0.0.1", "--leader-elect=false"]
        kcm_port = free_port()
        controllers = ManagedProcess(
            "kube-controller-manager",
            [
                str(binaries["kube-controller-manager"]),
                *common,
                f"--secure-port={kcm_port}",
                f"--cert-dir={workdir / 'kcm-certs'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--use-service-account-credentials=true",
                "--controllers=*",
            ],
            workdir / "kube-controller-manager.log",
        ).start()
        cluster.processes.append(controllers)
        sched_port = free_port()
        scheduler = ManagedProcess(
            "kube-scheduler",
            [
                str(binaries["kube-scheduler"]),
                *common,
                f"--secure-port={sched_port}",
                f"--cert-dir={workdir / 'scheduler-certs'}",
            ],
            workdir / "kube-scheduler.log",
        ).start()
        cluster.processes.append(scheduler)
        kwok_config = workdir / "kwok-stages.yaml"
        kwok_config.write_text(
            "\n---\n".join((stages_dir() / f"{name}.yaml").read_text().strip() for name in STAGES)
            + "\n"
        )
        kwok = ManagedProcess(
            "kwok",
            [
                str(binaries["kwok"]),
                f"--kubeconfig={kubeconfig}",
                f"--config={kwok_config}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--cidr={POD_CIDR}",
                f"--node-ip={NODE_IP}",
                f"--node-lease-duration-seconds={NODE_LEASE_S}",
            ],
            workdir / "kwok.log",
            env={**os.environ, "HOME": str(workdir)},  # KWOK reads ~/.kwok otherwise
        ).start()
        cluster.processes.append(kwok)
        controllers.wait_ready(lambda: _healthz(kcm_port), READY_TIMEOUT_S)
        scheduler.wait_ready(lambda: _healthz(sched_port), READY_TIMEOUT_S)

        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(_NODE))
        cluster.kubectl("apply", "-f", str(stages_dir() / f"{STORAGE_CLASS}.yaml"))
        kwok.wait_ready(lambda: _node_ready(cluster), READY_TIMEOUT_S)
        kwok.wait_ready(lambda: _node_lease_held(cluster), READY_TIMEOUT_S)
        # Pods need their namespace's default ServiceAccount (the controller manager makes it).
        controllers.wait_ready(lambda: _has_default_account(cluster), READY_TIMEOUT_S)
    except BaseException:
        cluster.stop()
        raise
    cluster.startup_s = time.monotonic() - started
    return cluster


def _node_ready(cluster: Kube) -> bool:
    try:
        done = cluster.kubectl(
            "get", "node", NODE_NAME, "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        )  # fmt: skip
    except ServiceError:
        return False
    return done.stdout.strip() == "True"


def _node_lease_held(cluster: Kube) -> bool:
    """KWOK holds the node's Lease (its heartbeat) for NODE_LEASE_S seconds (the holder is
    KWOK's own id, not the node's name)."""
    try:
        lease = json.loads(
            cluster.kubectl("-n", "kube-node-lease", "get", "lease", NODE_NAME, "-o", "json").stdout
        )
    except ServiceError:
        return False
    spec = lease.get("spec", {})
    return spec.get("leaseDurationSeconds") == NODE_LEASE_S and spec.get("renewTime") is not None


def _has_default_account(cluster: Kube) -> bool:
    try:
        cluster.kubectl("-n", "default", "get", "serviceaccount", "default")
    except ServiceError:
        return False
    return True
