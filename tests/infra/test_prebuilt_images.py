"""Prebuilt app images (``alertsImage``, ``dashboardImage``, ``simulatorImage``): a
registry's image is used as it is, with nothing built and nothing loaded into kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from iotstack.config import ConfigError, StackConfig
from stackrun import run

IMAGE = "docker:index/image:Image"
COMMAND = "command:local:Command"
REF = "registry.example.org:5000/iotstack/alerts:1.2.3"
DIGEST = "ghcr.io/acme/dashboard@sha256:" + "a" * 64


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


@pytest.mark.parametrize("target", ["docker", "kind"])
def test_a_prebuilt_image_is_used_as_it_is_and_nothing_is_built_or_loaded(
    apps_dir: Path, target: str
) -> None:
    cfg = StackConfig.from_mapping({"target": target, "alertsImage": REF})
    inventory = run(cfg, apps_dir)
    assert sorted(r.name for r in inventory.of_type(IMAGE)) == ["dashboard", "simulator"]
    assert not [r for r in inventory.of_type(COMMAND) if r.name.startswith("alerts-")]
    used = set().union(*(_strings(r.inputs) for r in inventory.resources))
    assert REF in used
    assert not [s for s in used if s.startswith("iotstack/alerts:")]
    # Without the key the same stack builds all three (and on kind loads them).
    built = run(StackConfig(target=target), apps_dir)
    assert len(built.of_type(IMAGE)) == 3


def test_every_app_can_be_prebuilt(apps_dir: Path) -> None:
    cfg = StackConfig.from_mapping(
        {
            "target": "kind",
            "alertsImage": REF,
            "dashboardImage": DIGEST,
            "simulatorImage": "acme/simulator:2026.12.04",
        }
    )
    inventory = run(cfg, apps_dir)
    assert inventory.of_type(IMAGE) == []
    assert inventory.of_type(COMMAND) == []
    used = set().union(*(_strings(r.inputs) for r in inventory.resources))
    assert {REF, DIGEST, "acme/simulator:2026.12.04"} <= used


@pytest.mark.parametrize(
    "value",
    ["iotstack/alerts", "iotstack/alerts:latest", "Registry/Alerts:1", "alerts@sha256:abc", " :1"],
)
def test_an_unpinned_or_malformed_reference_is_refused_naming_the_key(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        StackConfig.from_mapping({"alertsImage": value})
    assert str(err.value) == (
        f"iotstack:alertsImage={value.strip()!r} is invalid; allowed: an image reference with a "
        "tag other than latest, or an @sha256 digest, or empty "
        "(fix: pulumi config set alertsImage <value>)"
    )


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_means_build_it(value: str) -> None:
    assert StackConfig.from_mapping({"alertsImage": value}).prebuilt_image("alerts") is None
    assert StackConfig().prebuilt_image("alerts") is None
