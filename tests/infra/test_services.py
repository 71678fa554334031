"""The target-neutral description: Kafka listeners, memory, images, health, dependencies."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from infra_paths import INFRA
from iotstack import versions
from iotstack.config import StackConfig
from iotstack.services import NODE_PORTS, PROFILES, Secret, describe, kafka_env

MODES = ("zookeeper", "kraft")


def _props(env: dict[str, str], key: str) -> dict[str, str]:
    """Parse a listener list like ``A://h:1,B://h:2`` into {name: host:port}."""
    return dict(item.split("://", 1) for item in env[key].split(","))


@pytest.mark.parametrize("mode", MODES)
def test_kafka_has_an_internal_and_a_host_listener(mode: str) -> None:
    env = kafka_env(StackConfig(kafka_mode=mode), 640)
    advertised = _props(env, "KAFKA_ADVERTISED_LISTENERS")
    listeners = _props(env, "KAFKA_LISTENERS")
    # Containers use the service name; the host uses the published address.
    assert advertised == {"INTERNAL": "kafka:9092", "EXTERNAL": "127.0.0.1:9094"}
    assert listeners["INTERNAL"] == "0.0.0.0:9092" and listeners["EXTERNAL"] == "0.0.0.0:9094"
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(advertised) | set(listeners) <= set(protocols)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"  # one broker


def test_kafka_host_listener_follows_config_and_matches_the_published_port() -> None:
    cfg = StackConfig(kafka_host_port=19094, kafka_advertised_host="kafka.local")
    stack = describe(cfg)
    service = stack.services["kafka"]
    advertised = _props(dict(service.env), "KAFKA_ADVERTISED_LISTENERS")  # type: ignore[arg-type]
    assert advertised["EXTERNAL"] == "kafka.local:19094" == stack.kafka_host_bootstrap
    external = next(p for p in service.ports if p.name == "external")
    # Host port (published) -> the container port the EXTERNAL listener binds.
    assert (external.host, external.container) == (19094, 9094)
    assert next(p for p in service.ports if p.name == "internal").host is None


def test_zookeeper_mode_uses_zookeeper_and_kafka_3_9() -> None:
    stack = describe(StackConfig(kafka_mode="zookeeper"))
    kafka = stack.services["kafka"]
    # Confluent's cp-kafka: the ASF image runs KRaft only (KAFKA-16453).
    assert kafka.image == "confluentinc/cp-kafka:7.9.6"
    assert versions.CONFLUENT_KAFKA["7.9.6"] == versions.KAFKA_ZK_VERSION == "3.9.2"
    assert kafka.health is not None
    assert " kafka-broker-api-versions --bootstrap-server" in kafka.health.shell  # no .sh
    assert kafka.env["KAFKA_ZOOKEEPER_CONNECT"] == "zookeeper:2181"
    assert "KAFKA_PROCESS_ROLES" not in kafka.env  # the image's switch for KRaft
    assert kafka.depends_on == ("zookeeper",)
    assert "zookeeper" in stack.services


def test_kraft_mode_has_no_zookeeper_at_all() -> None:
    stack = describe(StackConfig(kafka_mode="kraft"))
    kafka = stack.services["kafka"]
    assert "zookeeper" not in stack.services
    assert kafka.image == f"apache/kafka:{versions.KAFKA_KRAFT_VERSION}"
    assert kafka.env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka.env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@localhost:9093"
    assert "CONTROLLER://0.0.0.0:9093" in str(kafka.env["KAFKA_LISTENERS"])
    assert "CONTROLLER" not in str(kafka.env["KAFKA_ADVERTISED_LISTENERS"])
    assert len(str(kafka.env["CLUSTER_ID"])) == 22  # 16 bytes, base64 without padding
    assert not any("zookeeper" in str(v).lower() for v in kafka.env.values())
    assert kafka.depends_on == ()


@pytest.mark.parametrize("mode", MODES)
def test_laptop_profile_fits_in_6_gib_and_demo_is_larger(mode: str) -> None:
    laptop = describe(StackConfig(kafka_mode=mode, profile="laptop"))
    demo = describe(StackConfig(kafka_mode=mode, profile="demo"))
    laptop_total = sum(s.memory_mib for s in laptop.services.values())
    demo_total = sum(s.memory_mib for s in demo.services.values())
    assert laptop_total <= 6 * 1024
    assert demo_total > laptop_total
    assert set(PROFILES["laptop"]) == set(PROFILES["demo"])


@pytest.mark.parametrize("mode", MODES)
def test_laptop_profile_is_exactly_6_gib_with_zookeeper(mode: str) -> None:
    # A new service takes its memory from another one: the laptop budget does not grow.
    total = sum(s.memory_mib for s in describe(StackConfig(kafka_mode=mode)).services.values())
    zookeeper = PROFILES["laptop"]["zookeeper"]
    assert total == 6 * 1024 - (0 if mode == "zookeeper" else zookeeper)


def test_jvm_heaps_stay_below_the_container_limits() -> None:
    stack = describe(StackConfig())
    es = stack.services["elasticsearch"]
    assert es.env["ES_JAVA_OPTS"] == "-Xms640m -Xmx640m" and es.memory_mib == 1280
    assert stack.services["kafka"].env["KAFKA_HEAP_OPTS"] == "-Xms320m -Xmx320m"
    flink = str(stack.services["jobmanager"].env["FLINK_PROPERTIES"])
    assert "jobmanager.memory.process.size: 691m" in flink  # 90% of 768 MiB
    assert "taskmanager.memory.process.size: 1382m" in flink  # 90% of 1536 MiB


@pytest.mark.parametrize("profile", ["laptop", "demo"])
def test_taskmanager_memory_is_enough_for_flink(profile: str) -> None:
    """Flink's own arithmetic (defaults of 1.19, unchanged in 2.2: 2.2.1's BashJavaUtils
    gives 1382m a 211 MiB task heap, as below): a smaller process fails at start-up with
    "Sum of configured Framework Heap Memory ... exceed configured Total Flink Memory"
    (seen with 921m in the end-to-end test)."""
    props = str(
        describe(StackConfig(profile=profile)).services["taskmanager"].env["FLINK_PROPERTIES"]
    )
    process = int(props.split("taskmanager.memory.process.size: ")[1].split("m")[0])
    metaspace, overhead = 256, min(max(0.1 * process, 192), 1024)
    total_flink = process - metaspace - overhead
    framework_heap, framework_off_heap, managed = 128, 128, 0.4 * total_flink
    network = min(max(0.1 * total_flink, 64), 1024)
    task_heap = total_flink - framework_heap - framework_off_heap - managed - network
    assert task_heap >= 128, f"{profile}: only {task_heap:.0f} MiB task heap at {process}m"


@pytest.mark.parametrize("mode", MODES)
def test_images_are_the_pinned_ones_and_never_latest(mode: str) -> None:
    stack = describe(StackConfig(kafka_mode=mode))
    pinned = set(versions.IMAGES.values())
    for service in stack.services.values():
        image = service.image or (service.build.base_image if service.build else None)
        assert image is not None, service.name
        assert image in pinned or image == versions.PYTHON_BASE_IMAGE, service.name
        assert not image.endswith(":latest") and ":" in image, service.name
    # JobManager, TaskManager and the submitter all run the one alerts image.
    for name in ("jobmanager", "taskmanager", "alerts-submit"):
        build = stack.services[name].build
        assert build is not None and build.app == "alerts"
        assert build.base_image == versions.PYTHON_BASE_IMAGE


@pytest.mark.parametrize("mode", MODES)
def test_every_long_running_service_has_a_health_check(mode: str) -> None:
    for service in describe(StackConfig(kafka_mode=mode)).services.values():
        if service.one_shot:
            assert service.name == "alerts-submit"
            continue
        assert service.health is not None, service.name
        assert service.health.shell.strip(), service.name


def test_dependencies_name_existing_services_and_cover_what_apps_use() -> None:
    stack = describe(StackConfig())
    for service in stack.services.values():
        assert set(service.depends_on) <= set(stack.services), service.name
    assert set(stack.services["simulator"].depends_on) == {"kafka"}
    assert set(stack.services["dashboard"].depends_on) == {"kafka", "elasticsearch"}
    assert set(stack.services["indexer"].depends_on) == {"kafka", "elasticsearch"}
    # The job writes Kafka only (the indexer ships it into Elasticsearch).
    assert set(stack.services["alerts-submit"].depends_on) == {
        "jobmanager",
        "taskmanager",
        "kafka",
    }
    assert stack.services["kibana"].depends_on == ("elasticsearch",)


def test_security_switch_moves_credentials_into_secrets() -> None:
    plain = describe(StackConfig())
    assert plain.services["elasticsearch"].env["xpack.security.enabled"] == "false"
    assert plain.services["dashboard"].env["ELASTICSEARCH_URL"] == "http://elasticsearch:9200"
    secure = describe(StackConfig(elasticsearch_security=True))
    es = secure.services["elasticsearch"]
    assert es.env["xpack.security.enabled"] == "true"
    assert es.env["ELASTIC_PASSWORD"] == Secret("elastic-password")
    assert '-u "elastic:$ELASTIC_PASSWORD"' in es.health.shell  # type: ignore[union-attr]
    assert secure.services["kibana"].env["ELASTICSEARCH_USERNAME"] == "kibana_system"
    for name in ("dashboard", "indexer"):
        url = secure.services[name].resolved_env({"elastic-password": "pw-xyzzy-7"})
        assert url["ELASTICSEARCH_URL"] == "http://elastic:pw-xyzzy-7@elasticsearch:9200"
    assert "ELASTICSEARCH_URL" not in secure.services["alerts-submit"].env
    for service in secure.services.values():
        for value in service.env.values():
            # No password is ever a plain string in the description.
            assert "pw-xyzzy-7" not in str(value)


def test_containers_run_as_non_root() -> None:
    for service in describe(StackConfig()).services.values():
        if service.user is not None:
            assert not service.user.startswith("0"), service.name
        else:
            assert service.build is not None, service.name  # the app image sets USER


def test_kind_cluster_maps_every_node_port_to_the_docker_host_port_on_loopback() -> None:
    cluster = yaml.safe_load((INFRA / "kind" / "cluster.yaml").read_text())
    mappings = {m["containerPort"]: m for m in cluster["nodes"][0]["extraPortMappings"]}
    stack = describe(StackConfig(target="kind"))
    published = [p for s in stack.services.values() for p in s.ports if p.host is not None]
    assert {p.node_port for p in published} == set(mappings) == set(NODE_PORTS.values())
    for port in published:
        mapping = mappings[port.node_port]
        assert mapping["hostPort"] == port.host
        assert mapping["listenAddress"] == "127.0.0.1"
    assert cluster["name"] == StackConfig().kind_cluster_name


def test_description_imports_without_pulumi() -> None:
    code = (
        "import sys; sys.modules['pulumi'] = None; sys.path.insert(0, sys.argv[1]);"
        "from iotstack.config import StackConfig; from iotstack.services import describe;"
        "from iotstack import catalog, images;"
        "s = describe(StackConfig()); print(len(s.services))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(INFRA)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "10"


def test_index_templates_use_the_dashboards_mapping_files() -> None:
    from infra_paths import APPS
    from iotstack import catalog

    templates = catalog.index_templates()
    assert set(templates) == {"iotstack-alerts", "iotstack-aggregates"}
    mappings = APPS / "dashboard" / "src" / "dashboard" / "mappings"
    alerts = yaml.safe_load((mappings / "alerts.json").read_text())
    assert templates["iotstack-alerts"]["template"]["mappings"] == alerts["mappings"]
    assert templates["iotstack-alerts"]["index_patterns"] == ["alerts"]
    assert templates["iotstack-aggregates"]["index_patterns"] == ["readings-1m"]
    props = templates["iotstack-alerts"]["template"]["mappings"]["properties"]
    assert props["started_at"] == {"type": "date", "format": "epoch_millis"}
    # Alerts are few: a 200 ms refresh keeps event -> searchable under the 1 s goal (the
    # default 1 s refresh alone is up to 1 s, and search-idle shards skip refreshes).
    assert templates["iotstack-alerts"]["template"]["settings"]["refresh_interval"] == "200ms"


def test_missing_mapping_file_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from iotstack import catalog

    with pytest.raises(FileNotFoundError, match=r"alerts\.json is missing"):
        catalog.index_templates(tmp_path)


def test_flink_checkpoints_and_savepoints_live_on_one_volume_both_flink_services_mount() -> None:
    from iotstack.services import FLINK_DATA

    stack = describe(StackConfig())
    jm, tm = stack.services["jobmanager"], stack.services["taskmanager"]
    assert jm.volumes == tm.volumes == (FLINK_DATA,) and FLINK_DATA.shared
    for service in (jm, tm):
        lines = service.resolved_env({})["FLINK_PROPERTIES"].splitlines()
        props = dict(line.split(": ", 1) for line in lines)
        # Without a directory Flink keeps checkpoints in JobManager memory (5 MiB of state).
        for key in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir"):
            assert props[key].startswith(f"file://{FLINK_DATA.path}/"), (service.name, key)
    # The submitter reads it too: a replaced JobManager's job left its checkpoints there.
    assert stack.services["alerts-submit"].volumes == (FLINK_DATA,)
    users = ("jobmanager", "taskmanager", "alerts-submit")
    others = [s for s in stack.services.values() if s.name not in users]
    assert all(FLINK_DATA.name not in {v.name for v in s.volumes} for s in others)


def test_a_volume_name_is_one_storage() -> None:
    from dataclasses import replace

    from iotstack.services import Volume, check_volumes

    stack = describe(StackConfig())
    services = list(stack.services.values())
    check_volumes(services)  # the stack as described
    kafka = stack.services["kafka"]
    es = stack.services["elasticsearch"]
    # The same unshared name on two services: rejected, naming both and the fix.
    clash = replace(es, volumes=(Volume("kafka-data", "/data"),))
    with pytest.raises(ValueError, match=r"'kafka-data'.*'kafka' and 'elasticsearch'.*shared"):
        check_volumes([kafka, clash])
    # A shared name whose spec differs between services: rejected.
    a = replace(kafka, volumes=(Volume("v", "/a", shared=True),))
    b = replace(es, volumes=(Volume("v", "/b", shared=True),))
    with pytest.raises(ValueError, match=r"shared volume 'v' differs"):
        check_volumes([a, b])


def test_the_indexer_runs_the_dashboard_image_as_its_user_with_its_own_entrypoint() -> None:
    stack = describe(StackConfig())
    indexer, dashboard = stack.services["indexer"], stack.services["dashboard"]
    assert indexer.build == dashboard.build  # the dashboard's image; no image of its own
    # The image's ENTRYPOINT is `python -m dashboard`: replace it, not give it arguments.
    assert indexer.entrypoint == ("python", "-m", "indexer") and indexer.command == ()
    assert dashboard.entrypoint == () and dashboard.command == ()
    assert indexer.user is None  # the image's own non-root USER, as for the dashboard
    assert indexer.ports == ()  # its health endpoint is probed inside the container only
    assert indexer.health is not None
    assert indexer.health.shell == (
        'python -c "import urllib.request as u; '
        "u.urlopen('http://127.0.0.1:8001/healthz', timeout=4)\""
    )
    assert indexer.memory_mib == PROFILES["laptop"]["indexer"]


@pytest.mark.parametrize("security", [False, True])
def test_the_indexer_reads_the_jobs_topics_into_the_dashboards_indices(security: bool) -> None:
    stack = describe(StackConfig(elasticsearch_security=security))
    env = stack.services["indexer"].resolved_env({"elastic-password": "pw"})
    dashboard = stack.services["dashboard"].resolved_env({"elastic-password": "pw"})
    job = stack.services["alerts-submit"].resolved_env({})
    assert env == {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        "ELASTICSEARCH_URL": dashboard["ELASTICSEARCH_URL"],
        "ALERTS_TOPIC": "alerts",
        "ALERTS_INDEX": "alerts",
        "AGGREGATES_TOPIC": "readings-1m",
        "AGGREGATES_INDEX": "readings-1m",
        "DEAD_LETTER_TOPIC": "readings-dlq",
        "INDEXER_GROUP_ID": "iotstack-indexer",
        "INDEXER_BATCH_MAX": "2000",
        "INDEXER_FLUSH_MS": "200",
        "INDEXER_HEALTH_BIND": "0.0.0.0:8001",
        "INDEXER_LOG_INTERVAL_S": "10",
        "INDEXER_LOG_LEVEL": "INFO",
    }
    assert env["ELASTICSEARCH_URL"].startswith(
        "http://elastic:pw@" if security else "http://elasticsearch"
    )
    # What the job writes is what the indexer reads.
    assert job["ALERTS_TOPIC"] == env["ALERTS_TOPIC"]
    assert job["AGGREGATES_TOPIC"] == env["AGGREGATES_TOPIC"]
    assert job["KAFKA_GROUP_ID"] != env["INDEXER_GROUP_ID"]
    for gone in (
        "ELASTICSEARCH_URL",
        "ALERTS_INDEX",
        "AGGREGATES_INDEX",
        "ES_FLUSH_INTERVAL_MS",
        "ES_FLUSH_MAX_ACTIONS",
    ):
        assert gone not in job, gone


def test_the_aggregates_topic_is_compacted_and_still_bounded_by_time() -> None:
    from iotstack import catalog

    cfg = StackConfig(topic_partitions=5, retention_hours=12)
    topics = {t.name: t for t in catalog.topics(cfg)}
    assert set(topics) == {"readings", "alerts", "readings-1m", "readings-dlq", "readings-late"}
    aggregates = topics["readings-1m"]
    assert aggregates.partitions == 5
    assert dict(aggregates.configs) == {
        "retention.ms": topics["readings"].configs["retention.ms"],
        "cleanup.policy": "compact,delete",
    }
    assert topics["readings"].configs["retention.ms"] == str(12 * 3_600_000)
    # Every other topic keeps Kafka's default policy (delete).
    others = [t for name, t in topics.items() if name != "readings-1m"]
    assert all("cleanup.policy" not in t.configs for t in others)
