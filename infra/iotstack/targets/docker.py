"""The Docker target: one user network, named volumes, health-checked containers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pulumi
import pulumi_docker as docker

from iotstack.services import Service, Volume
from iotstack.targets import Rendered, env_value


def _assignment(key: str) -> Callable[[str], str]:
    """``value -> "KEY=value"`` (a function per key, so no late-binding surprise)."""
    return lambda value: f"{key}={value}"


def _require_success(prefix: str, name: str) -> Callable[[int | None], None]:
    """Fail the update when a one-shot container exits non-zero (None: not run yet)."""

    def check(code: int | None) -> None:
        if code not in (None, 0):
            raise pulumi.RunError(
                f"{name} exited with code {code}; see: docker logs {prefix}-{name}"
            )

    return check


class DockerTarget:
    """Render services as containers on one network, with ports bound to ``bind_address``."""

    name = "docker"

    def __init__(
        self,
        network: docker.Network,
        bind_address: str,
        retain_data: bool,
        prefix: str = "iotstack",
    ) -> None:
        self.network = network
        self.bind_address = bind_address
        self.retain_data = retain_data
        self.prefix = prefix
        self._volumes: dict[str, docker.Volume] = {}  # by name: a shared one is created once

    def pinned_image(self, service: Service, parent: pulumi.Resource) -> pulumi.Input[str]:
        """Pull the pinned image once; keep it locally so a destroy does not re-download."""
        assert service.image is not None
        pulled = docker.RemoteImage(
            f"{service.name}-image",
            name=service.image,
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        return pulled.image_id

    def publish_image(
        self,
        app: str,
        image_ref: pulumi.Output[str],
        build: pulumi.Resource,
        parent: pulumi.Resource,
    ) -> list[pulumi.Resource]:
        """A locally built image is already in the daemon the containers use."""
        return []

    def run(
        self,
        service: Service,
        image: pulumi.Input[str],
        secrets: Mapping[str, pulumi.Output[str]],
        parent: pulumi.Resource,
        depends_on: Sequence[pulumi.Resource],
    ) -> Rendered:
        """A container (plus its named volumes) for ``service``."""
        volumes = [self._volume(vol, parent) for vol in service.volumes]
        envs = [
            env_value(value, secrets).apply(_assignment(key)) for key, value in service.env.items()
        ]
        health = None
        if service.health is not None:
            h = service.health
            health = docker.ContainerHealthcheckArgs(
                tests=["CMD-SHELL", h.shell],
                interval=f"{h.interval_s}s",
                timeout=f"{h.timeout_s}s",
                retries=h.retries,
                start_period=f"{h.start_period_s}s",
            )
        long_running = not service.one_shot
        container = docker.Container(
            service.name,
            name=f"{self.prefix}-{service.name}",
            image=image,
            # Docker's entrypoint and cmd: the description's entrypoint and command.
            entrypoints=list(service.entrypoint) or None,
            command=list(service.command) or None,
            envs=envs,
            user=service.user,
            ports=[
                docker.ContainerPortArgs(
                    internal=p.container, external=p.host, ip=self.bind_address
                )
                for p in service.ports
                if p.host is not None
            ],
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=self.network.name, aliases=[service.name])
            ],
            volumes=[
                docker.ContainerVolumeArgs(volume_name=v.name, container_path=spec.path)
                for v, spec in zip(volumes, service.volumes, strict=True)
            ],
            memory=service.memory_mib,
            healthcheck=health,
            # Long-running: `up` returns only once the health check passes.
            wait=long_running and health is not None,
            wait_timeout=600,
            restart="unless-stopped" if long_running else "no",
            must_run=long_running,
            # One-shot: attach, so `up` waits for it to finish, and keep its logs.
            attach=not long_running,
            logs=not long_running,
            labels=[docker.ContainerLabelArgs(label="iotstack.service", value=service.name)],
            # A fixed container name cannot exist twice: replace by delete, then create.
            opts=pulumi.ResourceOptions(
                parent=parent, depends_on=[*depends_on, *volumes], delete_before_replace=True
            ),
        )
        if service.one_shot:
            # The provider reports a one-shot container's exit code but does not fail on it.
            container.exit_code.apply(_require_success(self.prefix, service.name))
        return Rendered(ready=container, resources=[*volumes, container])

    def _volume(self, vol: Volume, parent: pulumi.Resource) -> docker.Volume:
        """The named volume ``vol``; a shared one is created by its first service only
        (both Flink containers then mount the same ``iotstack-flink-data``)."""
        if vol.name in self._volumes:
            return self._volumes[vol.name]
        created = docker.Volume(
            vol.name,
            name=f"{self.prefix}-{vol.name}",
            opts=pulumi.ResourceOptions(
                parent=parent,
                protect=self.retain_data,
                retain_on_delete=self.retain_data,
                delete_before_replace=True,  # fixed names: the old one must go first
            ),
        )
        self._volumes[vol.name] = created
        return created
