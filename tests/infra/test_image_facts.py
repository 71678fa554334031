"""Every described service uses only what its image's maintainers say the image ships.

``versions.IMAGE_FACTS`` records, next to each pin, the user, data directories, environment
names and programs of the image, with its sources. Here the description (both Kafka modes,
both targets, with and without Elasticsearch security) is checked against that table, and
the renderers' users against it too: a health check calling a program the image lacks, a
volume on a path the user cannot write, or a mode the maintainers do not support fails here
rather than in a container that never becomes healthy.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from infra_paths import APPS
from iotstack import versions
from iotstack.config import KAFKA_MODES, TARGETS, StackConfig
from iotstack.services import Service, describe
from stackrun import run

CONFIGS = [
    StackConfig(target=target, kafka_mode=mode, elasticsearch_security=security)
    for target in TARGETS
    for mode in KAFKA_MODES
    for security in (False, True)
]
_BUILTINS = {"test", "[", "true", "false", "exit", "echo", "printf", "cd", ":"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")


def _config_id(cfg: StackConfig) -> str:
    return f"{cfg.target}-{cfg.kafka_mode}" + ("-security" if cfg.elasticsearch_security else "")


def _substitutions(shell: str) -> tuple[str, list[str]]:
    """``shell`` with each ``$(...)`` replaced by a plain word, and the texts inside them."""
    out: list[str] = []
    inner: list[str] = []
    i = 0
    while i < len(shell):
        if shell.startswith("$(", i):
            depth, j = 1, i + 2
            while depth:
                depth += {"(": 1, ")": -1}.get(shell[j], 0)
                j += 1
            inner.append(shell[i + 2 : j - 1])
            out.append("SUBSTITUTED")
            i = j
        else:
            out.append(shell[i])
            i += 1
    return "".join(out), inner


def programs(shell: str) -> set[str]:
    """The programs a ``sh -c`` line runs: the first word of each simple command (after
    variable assignments), inside command substitutions too; shell builtins excluded."""
    text, inner = _substitutions(shell)
    found: set[str] = set()
    for part in inner:
        found |= programs(part)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    expect_command, skip_target = True, False
    for token in lexer:
        if skip_target:  # the file of a redirection
            skip_target = False
        elif set(token) <= set("|&;()"):
            expect_command = True
        elif set(token) <= set("<>&") or re.fullmatch(r"\d*[<>]+&?", token):
            skip_target = True
        elif expect_command and not _ASSIGNMENT.fullmatch(token) and token != "exec":
            found.add(token)
            expect_command = False
    return found - _BUILTINS


def _ids(user: str) -> tuple[int, int]:
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


def _image_key(service: Service) -> str:
    """The IMAGES key of the pinned image ``service`` runs, or of its build's base."""
    ref = service.image or (service.build.base_image if service.build else None)
    keys = [key for key, pinned in versions.IMAGES.items() if pinned == ref]
    assert keys, f"{service.name}: {ref} is not a pinned image"
    return keys[0]


def _pinned(cfg: StackConfig) -> list[tuple[Service, versions.ImageFacts]]:
    return [
        (s, versions.IMAGE_FACTS[_image_key(s)])
        for s in describe(cfg).services.values()
        if s.image is not None
    ]


def test_the_parser_finds_every_program_of_a_health_check() -> None:
    assert programs(
        "KAFKA_HEAP_OPTS=-Xmx64m /opt/kafka/bin/kafka-broker-api-versions.sh "
        "--bootstrap-server 127.0.0.1:9092 >/dev/null"
    ) == {"/opt/kafka/bin/kafka-broker-api-versions.sh"}
    assert programs("test \"$(cut -d' ' -f3 /proc/1/stat)\" != Z") == {"cut"}
    assert programs("curl -fsS 'http://h/x?a=1&b=2' | grep -Eq 'a|b' && exec zkServer.sh") == {
        "curl",
        "grep",
        "zkServer.sh",
    }
    assert programs("a 2>&1; b || c >> /tmp/log") == {"a", "b", "c"}


def test_every_pinned_image_has_facts_with_sources() -> None:
    assert set(versions.IMAGE_FACTS) == set(versions.IMAGES)
    for key, facts in versions.IMAGE_FACTS.items():
        assert facts.read_for == versions.IMAGES[key], (
            f"IMAGE_FACTS[{key!r}] was read for {facts.read_for}, the pin is "
            f"{versions.IMAGES[key]}: check the facts against the new image's sources"
        )
        assert facts.sources, key
        assert all(url.startswith("https://") for url in facts.sources), key
        assert facts.gids and facts.tools, key
        for path, owner in facts.data_dirs.items():
            assert path.startswith("/") and re.fullmatch(r"\d+:\d+", owner), (key, path)
        re.compile(facts.env)
        assert set(facts.kafka_modes) <= set(KAFKA_MODES), key
    # Each Kafka image names the modes its maintainers support; the others are not brokers.
    assert versions.IMAGE_FACTS["kafka-kraft-mode"].kafka_modes == ("kraft",)
    assert "zookeeper" in versions.IMAGE_FACTS["kafka-zookeeper-mode"].kafka_modes


@pytest.mark.parametrize("cfg", CONFIGS, ids=_config_id)
def test_kafka_runs_in_a_mode_its_images_maintainers_support(cfg: StackConfig) -> None:
    kafka = describe(cfg).services["kafka"]
    facts = versions.IMAGE_FACTS[_image_key(kafka)]
    assert cfg.kafka_mode in facts.kafka_modes, (
        f"{kafka.image} does not support {cfg.kafka_mode} mode (supported: {facts.kafka_modes})"
    )


@pytest.mark.parametrize("cfg", CONFIGS, ids=_config_id)
def test_pinned_services_run_as_the_images_own_user(cfg: StackConfig) -> None:
    for service, facts in _pinned(cfg):
        # Numeric and explicit: kind's runAsNonRoot cannot check a named USER.
        assert service.user is not None, f"{service.name}: set the image's uid:gid"
        uid, gid = _ids(service.user)
        assert uid == facts.uid != 0, f"{service.name} runs as {uid}, the image as {facts.uid}"
        assert gid in facts.gids, f"{service.name}: group {gid} not among {facts.gids}"


@pytest.mark.parametrize("cfg", CONFIGS, ids=_config_id)
def test_data_volumes_are_the_images_data_dirs_and_the_user_owns_them(cfg: StackConfig) -> None:
    for service, facts in _pinned(cfg):
        for volume in service.volumes:
            assert volume.path in facts.data_dirs, (
                f"{service.name} mounts {volume.path}; the image's data dirs: "
                f"{sorted(facts.data_dirs)}"
            )
            owner_uid, _ = _ids(facts.data_dirs[volume.path])
            assert service.user is not None and _ids(service.user)[0] == owner_uid, (
                f"{service.name} runs as {service.user}; {volume.path} belongs to {owner_uid}"
            )


@pytest.mark.parametrize("cfg", CONFIGS, ids=_config_id)
def test_environment_names_are_the_ones_the_image_reads(cfg: StackConfig) -> None:
    for service, facts in _pinned(cfg):
        names = set(service.env)
        for name in names:
            assert re.fullmatch(facts.env, name), f"{service.name}: {name} is not read"
        assert not names & set(facts.env_refused), f"{service.name}: refused names set"
        missing = set(facts.env_required) - names
        assert not missing, f"{service.name} lacks {sorted(missing)}, which the image requires"


@pytest.mark.parametrize("cfg", CONFIGS, ids=_config_id)
def test_health_checks_and_commands_call_only_what_the_image_ships(cfg: StackConfig) -> None:
    for service, facts in _pinned(cfg):
        called = programs(service.health.shell) if service.health else set()
        if service.command:
            called.add(service.command[0])
        missing = called - set(facts.tools)
        assert not missing, f"{service.name} calls {sorted(missing)}; {service.image} ships " + (
            ", ".join(facts.tools)
        )


@pytest.mark.parametrize("mode", KAFKA_MODES)
def test_kafka_keeps_its_log_dirs_on_its_data_volume(mode: str) -> None:
    kafka = describe(StackConfig(kafka_mode=mode)).services["kafka"]
    (volume,) = kafka.volumes
    assert str(kafka.env["KAFKA_LOG_DIRS"]).startswith(volume.path + "/")


def _dockerfile_user(app: str) -> int:
    """The numeric USER an app's Dockerfile ends with."""
    users = re.findall(r"^USER\s+(\d+)\s*$", (APPS / app / "Dockerfile").read_text(), re.M)
    assert users, f"apps/{app}/Dockerfile sets no numeric USER"
    return int(users[-1])


@pytest.mark.parametrize("mode", KAFKA_MODES)
def test_built_services_call_only_the_base_images_programs_as_their_dockerfiles_user(
    mode: str,
) -> None:
    base = versions.IMAGE_FACTS["python"]
    for service in describe(StackConfig(kafka_mode=mode)).services.values():
        if service.build is None:
            continue
        assert _image_key(service) == "python", service.name
        if service.health is not None:
            missing = programs(service.health.shell) - set(base.tools)
            assert not missing, f"{service.name} calls {sorted(missing)}"
        uid = _dockerfile_user(service.build.app)
        assert uid != 0, service.build.app
        if service.user is not None:
            assert _ids(service.user)[0] == uid, f"{service.name}: Dockerfile USER is {uid}"


@pytest.mark.parametrize("mode", KAFKA_MODES)
def test_both_renderers_run_pinned_images_as_the_images_user(apps_dir: Path, mode: str) -> None:
    pinned = {s.name: f for s, f in _pinned(StackConfig(kafka_mode=mode))}
    docker = run(StackConfig(kafka_mode=mode), apps_dir)
    kind = run(StackConfig(target="kind", kafka_mode=mode), apps_dir)
    for name, facts in pinned.items():
        uid, gid = _ids(docker.named("docker:index/container:Container", name).inputs["user"])
        assert uid == facts.uid and gid in facts.gids, name
        pod = kind.named("kubernetes:apps/v1:Deployment", name).inputs["spec"]["template"]["spec"]
        context = pod["containers"][0]["securityContext"]
        assert context["runAsUser"] == facts.uid, name
        assert context["runAsGroup"] in facts.gids and pod["securityContext"]["fsGroup"] in (
            facts.gids
        ), name
