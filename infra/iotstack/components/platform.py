"""What each target needs before any service: a Docker network or a kind namespace."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from iotstack.config import StackConfig
from iotstack.targets import Target
from iotstack.targets.docker import DockerTarget
from iotstack.targets.kind import KindTarget


class Platform(pulumi.ComponentResource):
    """The network (Docker) or namespace and provider (kind) every service lives in."""

    target: Target
    provider: k8s.Provider | None

    def __init__(
        self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("iotstack:index:Platform", name, None, opts)
        self.provider = None
        if cfg.target == "docker":
            network = docker.Network(
                "network",
                name="iotstack",
                driver="bridge",
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.target = DockerTarget(network, cfg.bind_address, cfg.retain_data)
            self.register_outputs({"network": network.name})
            return
        # Explicit context: never deploy to whatever cluster kubectl happens to point at.
        self.provider = k8s.Provider(
            "kind",
            context=f"kind-{cfg.kind_cluster_name}",
            namespace=cfg.namespace,
            opts=pulumi.ResourceOptions(parent=self),
        )
        namespace = k8s.core.v1.Namespace(
            "namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=cfg.namespace),
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )
        self.target = KindTarget(cfg.namespace, cfg.kind_cluster_name, cfg.retain_data, namespace)
        self.namespace = namespace
        self.register_outputs({"namespace": namespace.metadata.name})
