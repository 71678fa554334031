"""The whole program under Pulumi mocks: both targets x both Kafka modes.

Only the Pulumi engine is mocked (pulumi.runtime.set_mocks); every component, renderer
and resource argument is the program's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from iotstack import versions
from iotstack.config import StackConfig
from iotstack.services import PROFILES
from stackrun import Inventory, run

COMBOS = [("docker", "zookeeper"), ("docker", "kraft"), ("kind", "zookeeper"), ("kind", "kraft")]
CONTAINER = "docker:index/container:Container"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
DYNAMIC = "pulumi-python:dynamic:Resource"

COMPONENTS = {
    "iotstack:index:Platform": 1,
    "iotstack:index:AppImage": 3,
    "iotstack:index:Kafka": 1,
    "iotstack:index:Elasticsearch": 1,
    "iotstack:index:Kibana": 1,
    "iotstack:index:Flink": 1,
    "iotstack:index:App": 3,  # simulator, dashboard, indexer
}

# The full inventory per target and mode, written out by hand on purpose.
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("docker", "zookeeper"): {
        **COMPONENTS,
        "iotstack:index:ZooKeeper": 1,
        "docker:index/network:Network": 1,
        "docker:index/image:Image": 3,
        "docker:index/remoteImage:RemoteImage": 4,
        "docker:index/volume:Volume": 5,  # flink-data once, shared by JobManager and TaskManager
        CONTAINER: 10,
        DYNAMIC: 8,  # 5 topics, 2 index templates, the Kibana objects
    },
    ("docker", "kraft"): {
        **COMPONENTS,
        "docker:index/network:Network": 1,
        "docker:index/image:Image": 3,
        "docker:index/remoteImage:RemoteImage": 3,
        "docker:index/volume:Volume": 3,
        CONTAINER: 9,
        DYNAMIC: 8,
    },
    ("kind", "zookeeper"): {
        **COMPONENTS,
        "iotstack:index:ZooKeeper": 1,
        "pulumi:providers:kubernetes": 1,
        "kubernetes:core/v1:Namespace": 1,
        "docker:index/image:Image": 3,
        "command:local:Command": 3,
        "kubernetes:core/v1:PersistentVolumeClaim": 5,
        DEPLOYMENT: 10,  # the alerts job's keeper and the indexer included
        "kubernetes:core/v1:Service": 12,  # none for the indexer: it publishes no port
        DYNAMIC: 8,
    },
    ("kind", "kraft"): {
        **COMPONENTS,
        "pulumi:providers:kubernetes": 1,
        "kubernetes:core/v1:Namespace": 1,
        "docker:index/image:Image": 3,
        "command:local:Command": 3,
        "kubernetes:core/v1:PersistentVolumeClaim": 3,
        DEPLOYMENT: 9,
        "kubernetes:core/v1:Service": 11,
        DYNAMIC: 8,
    },
}


@pytest.fixture(params=COMBOS, ids=lambda c: f"{c[0]}-{c[1]}")
def combo(request: pytest.FixtureRequest, apps_dir: Path) -> tuple[str, str, Inventory]:
    target, mode = request.param
    return target, mode, run(StackConfig(target=target, kafka_mode=mode), apps_dir)


def _type_of(inv: Inventory, resource: Any) -> str:
    return inv.by_object[id(resource)].type


def test_full_resource_inventory(combo: tuple[str, str, Inventory]) -> None:
    target, mode, inv = combo
    assert inv.counts() == EXPECTED[(target, mode)]


def test_every_child_is_parented_to_an_iotstack_component(
    combo: tuple[str, str, Inventory],
) -> None:
    _, _, inv = combo
    for rec in inv.resources:
        assert rec.opts is not None, rec.name
        if rec.type.startswith("iotstack:index:"):
            assert rec.opts.parent is None, f"{rec.type} {rec.name} should be top-level"
            continue
        assert rec.opts.parent is not None, f"{rec.type} {rec.name} has no parent"
        assert _type_of(inv, rec.opts.parent).startswith("iotstack:index:"), rec.name


def test_components_register_their_outputs(combo: tuple[str, str, Inventory]) -> None:
    _, _, inv = combo
    components = [r for r in inv.resources if r.type.startswith("iotstack:index:")]
    assert components
    for rec in components:
        assert id(rec.resource) in inv.registered_outputs, f"{rec.type} {rec.name}"


def test_outputs_have_the_same_shape_on_both_targets(apps_dir: Path) -> None:
    docker = run(StackConfig(target="docker"), apps_dir).outputs
    kind = run(StackConfig(target="kind"), apps_dir).outputs
    assert set(docker) == set(kind)
    assert (
        set(docker["urls"])
        == set(kind["urls"])
        == {"dashboard", "kibana", "flink", "elasticsearch"}
    )
    assert set(docker["access"]) == set(kind["access"])
    assert (
        docker["urls"]
        == kind["urls"]
        == {
            "dashboard": "http://127.0.0.1:8000",
            "kibana": "http://127.0.0.1:5601",
            "flink": "http://127.0.0.1:8081",
            "elasticsearch": "http://127.0.0.1:9200",
        }
    )
    assert docker["kafkaBootstrap"] == kind["kafkaBootstrap"] == "127.0.0.1:9094"
    assert "node port 30800" in kind["access"]["dashboard"]
    assert set(docker["images"]) == {"alerts", "simulator", "dashboard"}


# --- Docker target -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
def test_docker_ports_are_bound_to_loopback_by_default(apps_dir: Path, mode: str) -> None:
    inv = run(StackConfig(kafka_mode=mode), apps_dir)
    published = {
        (c.name, p["internal"], p["external"], p.get("ip"))
        for c in inv.of_type(CONTAINER)
        for p in c.inputs.get("ports", [])
    }
    assert published == {
        ("kafka", 9094, 9094, "127.0.0.1"),
        ("elasticsearch", 9200, 9200, "127.0.0.1"),
        ("kibana", 5601, 5601, "127.0.0.1"),
        ("jobmanager", 8081, 8081, "127.0.0.1"),
        ("dashboard", 8000, 8000, "127.0.0.1"),
    }


def test_docker_bind_address_is_configurable(apps_dir: Path) -> None:
    inv = run(StackConfig(bind_address="0.0.0.0", dashboard_port=18000), apps_dir)
    dashboard = inv.named(CONTAINER, "dashboard")
    assert dashboard.inputs["ports"] == [{"internal": 8000, "external": 18000, "ip": "0.0.0.0"}]


def test_docker_long_running_containers_have_health_checks_and_wait(apps_dir: Path) -> None:
    inv = run(StackConfig(), apps_dir)
    # Every container, the alerts job's keeper included: restarted after a reboot, and `up`
    # returns once it is healthy (for the keeper: once the job it keeps is active).
    assert "alerts-submit" in {c.name for c in inv.of_type(CONTAINER)}
    for c in inv.of_type(CONTAINER):
        assert c.inputs["attach"] is False and c.inputs["mustRun"] is True, c.name
        assert c.inputs["healthcheck"]["tests"][0] == "CMD-SHELL", c.name
        assert c.inputs["wait"] is True, c.name
        assert c.inputs["restart"] == "unless-stopped", c.name
        assert c.inputs["networksAdvanced"] == [{"name": "iotstack", "aliases": [c.name]}]
        # Fixed names (iotstack-<service>): a replacement must delete the old one first.
        assert c.inputs["name"] == f"iotstack-{c.name}"
        assert c.opts is not None and c.opts.delete_before_replace is True, c.name


def test_docker_images_are_pinned_or_content_tagged(apps_dir: Path) -> None:
    inv = run(StackConfig(), apps_dir)
    pulled = {r.inputs["name"] for r in inv.of_type("docker:index/remoteImage:RemoteImage")}
    assert pulled == {
        versions.IMAGES[k] for k in ("zookeeper", "kafka-zookeeper-mode", "elasticsearch", "kibana")
    }
    built = {r.inputs["imageName"] for r in inv.of_type("docker:index/image:Image")}
    assert len(built) == 3
    for ref in built:
        repo, _, tag = ref.partition(":")
        assert repo in {"iotstack/alerts", "iotstack/simulator", "iotstack/dashboard"}
        assert len(tag) == 12 and tag != "latest"
    for image in inv.of_type("docker:index/image:Image"):
        assert image.inputs["skipPush"] is True
        assert image.inputs["build"]["args"]["BASE_IMAGE"] == versions.PYTHON_BASE_IMAGE
    for c in inv.of_type(CONTAINER):
        assert not str(c.inputs["image"]).endswith(":latest")


def test_docker_memory_limits_follow_the_profile(apps_dir: Path) -> None:
    for profile, budget in (("laptop", 6 * 1024), ("demo", None)):
        inv = run(StackConfig(profile=profile), apps_dir)
        limits = {c.name: c.inputs["memory"] for c in inv.of_type(CONTAINER)}
        if budget is not None:
            assert sum(limits.values()) <= budget
        for name, limit in limits.items():
            service = next(k for k in PROFILES[profile] if name.endswith(k))
            assert limit == PROFILES[profile][service], (profile, name)


def _depends_types(inv: Inventory, rec: Any) -> set[str]:
    assert rec.opts is not None
    deps = rec.opts.depends_on or []
    return {_type_of(inv, d) for d in deps}


@pytest.mark.parametrize("target", ["docker", "kind"])
def test_apps_depend_on_the_services_they_use(apps_dir: Path, target: str) -> None:
    inv = run(StackConfig(target=target), apps_dir)
    workload = CONTAINER if target == "docker" else DEPLOYMENT
    simulator = _depends_types(inv, inv.named(workload, "simulator"))
    dashboard = _depends_types(inv, inv.named(workload, "dashboard"))
    assert "iotstack:index:Kafka" in simulator
    assert {"iotstack:index:Kafka", "iotstack:index:Elasticsearch"} <= dashboard
    indexer = _depends_types(inv, inv.named(workload, "indexer"))
    assert {"iotstack:index:Kafka", "iotstack:index:Elasticsearch"} <= indexer
    # The job writes Kafka only; the indexer ships its output into Elasticsearch.
    submit = _depends_types(inv, inv.named(workload, "alerts-submit"))
    assert "iotstack:index:Kafka" in submit
    assert "iotstack:index:Elasticsearch" not in submit
    kibana = _depends_types(inv, inv.named(workload, "kibana"))
    assert "iotstack:index:Elasticsearch" in kibana
    # Topics are created once the broker is up (they talk to it).
    for topic in (r for r in inv.of_type(DYNAMIC) if r.name.startswith("topic-")):
        assert _depends_types(inv, topic) == {workload}
    if target == "kind":
        assert "command:local:Command" in simulator  # the image is loaded into kind first
        assert "command:local:Command" in indexer  # the dashboard's image, loaded once


@pytest.mark.parametrize("target", ["docker", "kind"])
@pytest.mark.parametrize("retain", [False, True])
def test_data_volumes_are_retained_only_when_asked(
    apps_dir: Path, target: str, retain: bool
) -> None:
    inv = run(StackConfig(target=target, retain_data=retain), apps_dir)
    kind = (
        "docker:index/volume:Volume"
        if target == "docker"
        else "kubernetes:core/v1:PersistentVolumeClaim"
    )
    volumes = inv.of_type(kind)
    assert {v.name for v in volumes} == {
        "zookeeper-data",
        "zookeeper-datalog",
        "kafka-data",
        "elasticsearch-data",
        "flink-data",
    }
    for volume in volumes:
        assert volume.opts is not None
        assert bool(volume.opts.protect) is retain, volume.name
        assert bool(volume.opts.retain_on_delete) is retain, volume.name
    for rec in inv.resources:  # nothing else is ever protected
        if rec.type != kind and rec.opts is not None:
            assert not rec.opts.protect and not rec.opts.retain_on_delete, rec.name


def _is_secret(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270"
    )


@pytest.mark.parametrize("target", ["docker", "kind"])
def test_security_generates_passwords_kept_as_secrets(apps_dir: Path, target: str) -> None:
    inv = run(StackConfig(target=target, elasticsearch_security=True), apps_dir)
    passwords = inv.of_type("random:index/randomPassword:RandomPassword")
    assert {p.name for p in passwords} == {"elastic-password", "kibana-system-password"}
    assert len(inv.of_type(DYNAMIC)) == 9  # + the kibana_system password
    assert isinstance(inv.outputs["elasticPassword"], str)
    if target == "docker":
        for name in ("elasticsearch", "kibana", "dashboard", "indexer"):
            assert _is_secret(inv.named(CONTAINER, name).inputs["envs"]), name
        for name in ("simulator", "alerts-submit"):  # no Elasticsearch credentials
            assert not _is_secret(inv.named(CONTAINER, name).inputs["envs"]), name
    else:
        secrets = {s.name: s for s in inv.of_type("kubernetes:core/v1:Secret")}
        assert set(secrets) == {
            "elasticsearch-env",
            "kibana-env",
            "dashboard-env",
            "indexer-env",
        }
        for secret in secrets.values():
            assert _is_secret(secret.inputs["stringData"]), secret.name
        env = inv.named(DEPLOYMENT, "dashboard").inputs["spec"]["template"]["spec"]["containers"][
            0
        ]["env"]
        url = next(e for e in env if e["name"] == "ELASTICSEARCH_URL")
        assert "value" not in url and url["valueFrom"]["secretKeyRef"]["name"] == "dashboard-env"
    for dyn in inv.of_type(DYNAMIC):
        if "elastic_password" in dyn.inputs:
            assert _is_secret(dyn.inputs["elastic_password"]), dyn.name


@pytest.mark.parametrize("security", [False, True])
def test_password_output_is_secret_and_only_with_security(apps_dir: Path, security: bool) -> None:
    inv = run(StackConfig(elasticsearch_security=security), apps_dir)
    if security:
        assert inv.outputs["elasticPassword"] == "mock-password-elastic-password"
        assert inv.secret_outputs == {"elasticPassword"}
    else:
        assert inv.outputs["elasticPassword"] is None
        assert inv.secret_outputs == set()


# --- kind target ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
def test_kind_workloads_are_pinned_ifnotpresent_limited_and_probed(
    apps_dir: Path, mode: str
) -> None:
    inv = run(StackConfig(target="kind", kafka_mode=mode), apps_dir)
    for rec in inv.of_type(DEPLOYMENT) + inv.of_type(JOB):
        spec = rec.inputs["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["imagePullPolicy"] == "IfNotPresent", rec.name
        assert not container["image"].endswith(":latest") and ":" in container["image"]
        assert container["resources"]["limits"]["memory"].endswith("Mi")
        assert container["securityContext"]["runAsNonRoot"] is True
        assert spec["enableServiceLinks"] is False
        assert rec.inputs["metadata"]["namespace"] == "iotstack"
        if rec.type == DEPLOYMENT:
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                assert container[probe]["exec"]["command"][:2] == ["sh", "-c"], rec.name


def test_kind_node_ports_and_loads_images(apps_dir: Path) -> None:
    inv = run(StackConfig(target="kind"), apps_dir)
    node_ports = {
        p["nodePort"]
        for s in inv.of_type("kubernetes:core/v1:Service")
        if s.inputs["spec"].get("type") == "NodePort"
        for p in s.inputs["spec"]["ports"]
    }
    assert node_ports == {30094, 30920, 30561, 30081, 30800}
    loads = [c.inputs["create"] for c in inv.of_type("command:local:Command")]
    assert len(loads) == 3
    for cmd in loads:
        assert cmd.startswith("kind load docker-image iotstack/") and cmd.endswith(
            " --name iotstack"
        )
    provider = inv.of_type("pulumi:providers:kubernetes")[0]
    assert provider.inputs["context"] == "kind-iotstack"


def test_kind_memory_sums_within_laptop_profile(apps_dir: Path) -> None:
    inv = run(StackConfig(target="kind"), apps_dir)
    total = 0
    for rec in inv.of_type(DEPLOYMENT) + inv.of_type(JOB):
        limit = rec.inputs["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        total += int(limit["memory"].removesuffix("Mi"))
    assert total <= 6 * 1024


def test_topic_and_template_resources_come_from_config(apps_dir: Path) -> None:
    inv = run(StackConfig(topic_partitions=6, retention_hours=24), apps_dir)
    topics = {
        r.inputs["name"]: r.inputs for r in inv.of_type(DYNAMIC) if r.name.startswith("topic-")
    }
    assert set(topics) == {"readings", "alerts", "readings-1m", "readings-dlq", "readings-late"}
    assert topics["readings"]["partitions"] == 6
    assert topics["readings"]["configs"] == {"retention.ms": str(24 * 3_600_000)}
    assert topics["readings-1m"]["partitions"] == 6
    assert topics["readings-1m"]["configs"] == {
        "retention.ms": str(24 * 3_600_000),
        "cleanup.policy": "compact,delete",
    }
    assert topics["readings-dlq"]["partitions"] == 1
    assert all(t["bootstrap"] == "127.0.0.1:9094" for t in topics.values())
    templates = {r.inputs["name"] for r in inv.of_type(DYNAMIC) if r.name.startswith("template-")}
    assert templates == {"iotstack-alerts", "iotstack-aggregates"}


def test_bad_config_stops_the_program_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from iotstack import program

    monkeypatch.setattr(program, "raw_config", lambda: {"kafkaMode": "zk"})
    with pytest.raises(pulumi.RunError) as err:
        program.read_config()
    assert str(err.value).startswith("iotstack:kafkaMode='zk' is invalid")


def test_missing_dockerfile_stops_the_program(tmp_path: Path) -> None:
    with pytest.raises(pulumi.RunError, match=r"alerts/Dockerfile is missing"):
        run(StackConfig(), tmp_path)


def test_read_config_takes_only_this_projects_keys() -> None:
    from iotstack import program
    from pulumi.runtime import config as runtime_config

    saved = dict(runtime_config.CONFIG.get())
    try:
        pulumi.runtime.set_all_config(
            {
                "iotstack:kafkaMode": "kraft",
                "iotstack:retainData": "true",
                "docker:host": "unix:///var/run/docker.sock",
            }
        )
        assert program.raw_config() == {"kafkaMode": "kraft", "retainData": "true"}
        cfg = program.read_config()
        assert cfg.kafka_mode == "kraft" and cfg.retain_data is True
    finally:
        pulumi.runtime.set_all_config(saved)


def test_the_alerts_keeper_is_one_recreated_deployment_on_kind(apps_dir: Path) -> None:
    # One keeper at a time (the old pod stops before the new one starts), restarted forever.
    inv = run(StackConfig(target="kind"), apps_dir)
    assert [j.name for j in inv.of_type(JOB)] == []
    spec = inv.named(DEPLOYMENT, "alerts-submit").inputs["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert "readinessProbe" in pod["containers"][0]


@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
def test_both_renderers_run_exactly_the_described_service(apps_dir: Path, mode: str) -> None:
    from iotstack.services import describe

    cfg = StackConfig(kafka_mode=mode)
    stack = describe(cfg)
    docker = run(cfg, apps_dir)
    kind = run(StackConfig(target="kind", kafka_mode=mode), apps_dir)
    for name, service in stack.services.items():
        expected_env = service.resolved_env({})
        container = docker.named(CONTAINER, name).inputs
        assert dict(e.split("=", 1) for e in container["envs"]) == expected_env, name
        assert container["memory"] == service.memory_mib, name
        assert container.get("entrypoints", []) == list(service.entrypoint), name
        assert container.get("command", []) == list(service.command), name
        workload = kind.named(JOB if service.one_shot else DEPLOYMENT, name).inputs
        (pod,) = workload["spec"]["template"]["spec"]["containers"]
        assert {e["name"]: e["value"] for e in pod["env"]} == expected_env, name
        assert pod["resources"]["limits"]["memory"] == f"{service.memory_mib}Mi", name
        assert pod.get("command", []) == list(service.entrypoint), name
        assert pod.get("args", []) == list(service.command), name
        if service.health is not None and not service.one_shot:
            assert container["healthcheck"]["tests"] == ["CMD-SHELL", service.health.shell]
            assert pod["readinessProbe"]["exec"]["command"] == ["sh", "-c", service.health.shell]
        mounts = {(v.name, v.path) for v in service.volumes}
        assert {
            (m["volumeName"].removeprefix("iotstack-"), m["containerPath"])
            for m in container.get("volumes", [])
        } == mounts
        assert {(m["name"], m["mountPath"]) for m in pod.get("volumeMounts", [])} == mounts


@pytest.mark.parametrize("target", ["docker", "kind"])
def test_the_indexer_runs_the_dashboards_image_with_its_own_entrypoint(
    apps_dir: Path, target: str
) -> None:
    # The dashboard image's ENTRYPOINT is `python -m dashboard`: Docker's entrypoint and a
    # pod's command replace it (a Docker cmd or a pod's args would only be its arguments).
    inv = run(StackConfig(target=target), apps_dir)
    if target == "docker":
        indexer = inv.named(CONTAINER, "indexer").inputs
        dashboard = inv.named(CONTAINER, "dashboard").inputs
        assert indexer["entrypoints"] == ["python", "-m", "indexer"]
        assert "command" not in indexer and "entrypoints" not in dashboard
        assert "ports" not in indexer or indexer["ports"] == []
        assert indexer.get("user") is None  # the image's own USER, as for the dashboard
    else:
        indexer, dashboard = (
            inv.named(DEPLOYMENT, name).inputs["spec"]["template"]["spec"]["containers"][0]
            for name in ("indexer", "dashboard")
        )
        assert indexer["command"] == ["python", "-m", "indexer"]
        assert "args" not in indexer and "command" not in dashboard
        assert indexer["securityContext"]["runAsNonRoot"] is True
        services = [s.name for s in inv.of_type("kubernetes:core/v1:Service")]
        assert "dashboard-svc" in services
        assert not [name for name in services if name.startswith("indexer")]
    assert indexer["image"] == dashboard["image"]
    assert len(inv.of_type("docker:index/image:Image")) == 3  # no image of its own


def test_broken_version_pins_stop_the_program_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from iotstack import program

    real = versions.check_compatibility
    monkeypatch.setattr(
        program.versions,
        "check_compatibility",
        lambda: real(versions.Pins(kibana="8.19.20")),
    )
    monkeypatch.setattr(program, "raw_config", lambda: {})
    with pytest.raises(pulumi.RunError, match=r"Kibana 8\.19\.20 must equal Elasticsearch"):
        program.read_config()


def test_build_paths_are_relative_to_the_program_directory(
    apps_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(apps_dir)
    inv = run(StackConfig(), apps_dir)
    builds = [r.inputs["build"] for r in inv.of_type("docker:index/image:Image")]
    assert {b["context"] for b in builds} == {"alerts", "simulator", "dashboard"}
    assert {b["dockerfile"] for b in builds} == {
        "alerts/Dockerfile",
        "simulator/Dockerfile",
        "dashboard/Dockerfile",
    }


def test_every_resource_urn_is_unique(combo: tuple[str, str, Inventory]) -> None:
    # The engine's URN is (parent type, type, name); a duplicate fails the real `pulumi up`.
    _, _, inv = combo
    seen: dict[tuple[str, str, str], str] = {}
    for rec in inv.resources:
        assert rec.opts is not None
        parent = _type_of(inv, rec.opts.parent) if rec.opts.parent is not None else ""
        key = (parent, rec.type, rec.name)
        assert key not in seen, f"duplicate URN {key}"
        seen[key] = rec.name


@pytest.mark.parametrize("target", ["docker", "kind"])
def test_flink_and_the_submitter_mount_the_one_checkpoint_volume(
    apps_dir: Path, target: str
) -> None:
    inv = run(StackConfig(target=target), apps_dir)
    users = ("jobmanager", "taskmanager", "alerts-submit")
    if target == "docker":
        (volume,) = [v for v in inv.of_type("docker:index/volume:Volume") if v.name == "flink-data"]
        for name in users:
            mounts = inv.named(CONTAINER, name).inputs["volumes"]
            assert [m["volumeName"] for m in mounts] == [volume.inputs["name"]], name
    else:
        claims = inv.of_type("kubernetes:core/v1:PersistentVolumeClaim")
        assert [c.name for c in claims].count("flink-data") == 1
        for name in users:
            pod = inv.named(DEPLOYMENT, name).inputs["spec"]["template"]["spec"]
            assert [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]] == [
                "flink-data"
            ], name
