"""The image and the package: pinned exactly, in step with infra/iotstack/versions.py."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from iotstack import versions
from simulator.config import SETTINGS

APP = Path(__file__).resolve().parent.parent


def _dependencies() -> dict[str, str]:
    project = tomllib.loads((APP / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, sep, version = requirement.partition("==")
        assert sep and re.fullmatch(r"[\w.]+", version), f"not pinned exactly: {requirement}"
        pins[name] = version
    return pins


def test_dependencies_are_pinned_and_agree_with_versions_py() -> None:
    pins = _dependencies()
    assert pins["kafka-python"] == versions.KAFKA_PYTHON_VERSION


def test_the_test_environment_has_the_pinned_versions() -> None:
    for name, version in _dependencies().items():
        assert metadata.version(name) == version, name


def test_dockerfile_base_image_and_user() -> None:
    dockerfile = (APP / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert match and match.group(1) == versions.PYTHON_BASE_IMAGE
    assert "FROM ${BASE_IMAGE}" in dockerfile
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert dockerfile.rstrip().splitlines()[-1] == 'ENTRYPOINT ["python", "-m", "simulator"]'


def test_readme_documents_every_setting() -> None:
    readme = (APP / "README.md").read_text(encoding="utf-8")
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in readme]
    assert missing == []
