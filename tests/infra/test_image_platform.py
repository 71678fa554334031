"""App images are built for the stack's ``imagePlatform``, never for whatever host runs
the preview (the provider's default), so the same commit has the same inputs everywhere."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
import yaml
from infra_paths import INFRA
from iotstack import versions
from iotstack.config import ConfigError, StackConfig
from stackrun import run

IMAGE = "docker:index/image:Image"


@pytest.mark.parametrize("target", ["docker", "kind"])
def test_every_app_image_is_built_for_the_configured_platform(apps_dir: Path, target: str) -> None:
    cfg = StackConfig.from_mapping({"target": target, "imagePlatform": "linux/amd64"})
    builds = [r.inputs["build"] for r in run(cfg, apps_dir).of_type(IMAGE)]
    assert len(builds) == 3
    assert {b["platform"] for b in builds} == {"linux/amd64"}
    # The value comes from the config, not from a literal in the component.
    other = run(StackConfig(target=target, image_platform="linux/arm64"), apps_dir)
    assert {r.inputs["build"]["platform"] for r in other.of_type(IMAGE)} == {"linux/arm64"}


def test_the_default_platform_is_declared_and_buildable() -> None:
    declared = yaml.safe_load((INFRA / "Pulumi.yaml").read_text())["config"]["imagePlatform"]
    assert declared["default"] == StackConfig().image_platform == "linux/amd64"
    assert StackConfig().image_platform in versions.BUILD_PLATFORMS


def test_a_platform_the_images_cannot_be_built_for_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        StackConfig.from_mapping({"imagePlatform": "linux/arm64"})
    assert str(err.value) == (
        "iotstack:imagePlatform='linux/arm64' is invalid; allowed: linux/amd64 "
        "(fix: pulumi config set imagePlatform <value>)"
    )


def test_a_bad_platform_stops_the_program_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from iotstack import program

    monkeypatch.setattr(program, "raw_config", lambda: {"imagePlatform": "amd64"})
    with pytest.raises(pulumi.RunError) as err:
        program.read_config()
    assert str(err.value).startswith("iotstack:imagePlatform='amd64' is invalid; allowed:")
    assert "\n" not in str(err.value)
