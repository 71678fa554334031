"""The kind target: typed Kubernetes resources in one namespace, images loaded with kind.

Each long-running service becomes a Deployment (Recreate, so a data volume is never
mounted twice) with readiness/liveness/startup probes from its health check, a ClusterIP
Service named like the service (the same DNS name as the Docker alias) and, for published
ports, a NodePort Service that ``infra/kind/cluster.yaml`` maps to the host on 127.0.0.1.
One-shot services become Jobs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s

from iotstack.services import HealthCheck, Secret, Service, Volume
from iotstack.targets import Rendered, env_value

SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}


def _probe(h: HealthCheck, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=["sh", "-c", h.shell]),
        period_seconds=h.interval_s,
        timeout_seconds=h.timeout_s,
        failure_threshold=failures,
    )


def _ids(user: str | None) -> tuple[int | None, int | None]:
    if user is None:
        return None, None
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


class KindTarget:
    """Render services into ``namespace`` of the kind cluster ``cluster``."""

    name = "kind"

    def __init__(
        self,
        namespace: str,
        cluster: str,
        retain_data: bool,
        namespace_resource: pulumi.Resource | None = None,
    ) -> None:
        self.namespace = namespace
        self.cluster = cluster
        self.retain_data = retain_data
        # Everything in the namespace waits for it (and is deleted before it).
        self._ns: list[pulumi.Resource] = [namespace_resource] if namespace_resource else []
        self._claims: dict[str, k8s.core.v1.PersistentVolumeClaim] = {}  # a shared one once

    def pinned_image(self, service: Service, parent: pulumi.Resource) -> pulumi.Input[str]:
        """Nodes pull pinned upstream images themselves (IfNotPresent)."""
        assert service.image is not None
        return service.image

    def publish_image(
        self,
        app: str,
        image_ref: pulumi.Output[str],
        build: pulumi.Resource,
        parent: pulumi.Resource,
    ) -> list[pulumi.Resource]:
        """Load the built image into the kind nodes (no registry); re-run when the tag changes."""
        load = command.local.Command(
            f"{app}-kind-load",
            create=image_ref.apply(
                lambda ref: f"kind load docker-image {ref} --name {self.cluster}"
            ),
            triggers=[image_ref],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[build]),
        )
        return [load]

    def _meta(
        self, name: str | None, app: str, annotations: Mapping[str, str] | None = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=self.namespace,
            labels={"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "iotstack"},
            annotations=dict(annotations) if annotations else None,
        )

    def _claim(
        self, vol: Volume, service: str, parent: pulumi.Resource
    ) -> k8s.core.v1.PersistentVolumeClaim:
        """The claim for ``vol``, created by its first service only.

        ReadWriteOnce: kind and minikube clusters made by this project have one node, where
        every pod may mount it (a shared volume on a multi-node cluster needs a
        ReadWriteMany storage class instead).
        """
        if vol.name in self._claims:
            return self._claims[vol.name]
        claim = k8s.core.v1.PersistentVolumeClaim(
            vol.name,
            # kind's local-path class binds on first consumer: do not wait for Bound here.
            metadata=self._meta(vol.name, service, SKIP_AWAIT),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                    requests={"storage": f"{vol.size_gib}Gi"}
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=parent,
                depends_on=self._ns,
                protect=self.retain_data,
                retain_on_delete=self.retain_data,
            ),
        )
        self._claims[vol.name] = claim
        return claim

    def run(
        self,
        service: Service,
        image: pulumi.Input[str],
        secrets: Mapping[str, pulumi.Output[str]],
        parent: pulumi.Resource,
        depends_on: Sequence[pulumi.Resource],
    ) -> Rendered:
        """Deployment + Services (+ PVCs, + Secret) or a Job for ``service``."""
        opts = pulumi.ResourceOptions(parent=parent, depends_on=self._ns)
        resources: list[pulumi.Resource] = []
        env: list[k8s.core.v1.EnvVarArgs] = []
        secret_values = {
            k: env_value(v, secrets) for k, v in service.env.items() if isinstance(v, Secret)
        }
        env_secret = None
        if secret_values:
            env_secret = k8s.core.v1.Secret(
                f"{service.name}-env",
                metadata=self._meta(f"{service.name}-env", service.name),
                string_data=secret_values,
                opts=opts,
            )
            resources.append(env_secret)
        for key, value in service.env.items():
            if isinstance(value, Secret):
                env.append(
                    k8s.core.v1.EnvVarArgs(
                        name=key,
                        value_from=k8s.core.v1.EnvVarSourceArgs(
                            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                                name=f"{service.name}-env", key=key
                            )
                        ),
                    )
                )
            else:
                env.append(k8s.core.v1.EnvVarArgs(name=key, value=value))

        claims = [self._claim(vol, service.name, parent) for vol in service.volumes]
        resources.extend(claims)

        uid, gid = _ids(service.user)
        memory = f"{service.memory_mib}Mi"
        readiness = liveness = startup = None
        if service.health is not None and not service.one_shot:
            h = service.health
            readiness, liveness = _probe(h, 3), _probe(h, h.retries)
            # Give slow starters (Elasticsearch, Kibana) their start period before liveness.
            startup = _probe(h, h.start_period_s // h.interval_s + h.retries)
        container = k8s.core.v1.ContainerArgs(
            name=service.name,
            image=image,
            image_pull_policy="IfNotPresent",
            # A container's command replaces the image's ENTRYPOINT, its args only the CMD.
            command=list(service.entrypoint) or None,
            args=list(service.command) or None,
            env=env,
            ports=[
                k8s.core.v1.ContainerPortArgs(name=p.name[:15], container_port=p.container)
                for p in service.ports
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                limits={"memory": memory}, requests={"memory": memory}
            ),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name=v.name, mount_path=v.path) for v in service.volumes
            ],
            security_context=k8s.core.v1.SecurityContextArgs(
                allow_privilege_escalation=False,
                run_as_non_root=True,
                run_as_user=uid,
                run_as_group=gid,
            ),
            readiness_probe=readiness,
            liveness_probe=liveness,
            startup_probe=startup,
        )
        pod_spec = k8s.core.v1.PodSpecArgs(
            containers=[container],
            restart_policy="Never" if service.one_shot else "Always",
            # No docker-link style env (KAFKA_PORT=tcp://...): the Kafka image would read it.
            enable_service_links=False,
            security_context=k8s.core.v1.PodSecurityContextArgs(fs_group=gid),
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name=v.name,
                    persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                        claim_name=v.name
                    ),
                )
                for v in service.volumes
            ],
        )
        labels = {"app.kubernetes.io/name": service.name}
        template = k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels), spec=pod_spec
        )
        workload_opts = pulumi.ResourceOptions(
            parent=parent,
            depends_on=[*self._ns, *depends_on, *claims, *([env_secret] if env_secret else [])],
        )
        ready: pulumi.Resource
        if service.one_shot:
            # Auto-named, so a changed job is created anew (Job templates are immutable).
            ready = k8s.batch.v1.Job(
                service.name,
                metadata=self._meta(None, service.name),
                spec=k8s.batch.v1.JobSpecArgs(backoff_limit=2, template=template),
                opts=workload_opts,
            )
        else:
            ready = k8s.apps.v1.Deployment(
                service.name,
                metadata=self._meta(service.name, service.name),
                spec=k8s.apps.v1.DeploymentSpecArgs(
                    replicas=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                    strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                    template=template,
                ),
                opts=workload_opts,
            )
        resources.append(ready)
        if service.ports and not service.one_shot:
            resources.append(
                k8s.core.v1.Service(
                    f"{service.name}-svc",
                    metadata=self._meta(service.name, service.name),
                    spec=k8s.core.v1.ServiceSpecArgs(
                        selector=labels,
                        ports=[
                            k8s.core.v1.ServicePortArgs(
                                name=p.name, port=p.container, target_port=p.container
                            )
                            for p in service.ports
                        ],
                    ),
                    opts=opts,
                )
            )
        published = [p for p in service.ports if p.node_port is not None]
        if published and not service.one_shot:
            resources.append(
                k8s.core.v1.Service(
                    f"{service.name}-host",
                    metadata=self._meta(f"{service.name}-host", service.name),
                    spec=k8s.core.v1.ServiceSpecArgs(
                        type="NodePort",
                        selector=labels,
                        ports=[
                            k8s.core.v1.ServicePortArgs(
                                name=p.name,
                                port=p.container,
                                target_port=p.container,
                                node_port=p.node_port,
                            )
                            for p in published
                        ],
                    ),
                    opts=opts,
                )
            )
        return Rendered(ready=ready, resources=resources)
