"""Contract: the environment the stack gives each app names exactly the app's own settings.

Each app declares its settings once, in ``apps/<app>/src/<pkg>/config.py`` (``SETTINGS``,
standard library only; the indexer is the package ``indexer`` of the dashboard's app). This
test loads that file by path (no app dependencies needed) and compares its names with the
environment in infra's service description, so renaming a variable on either side fails the
build. A missing config.py is a failure, not a skip.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from types import ModuleType

import pytest
from infra_paths import APPS
from iotstack.config import StackConfig
from iotstack.services import app_env, describe

# (app directory under apps/, package under its src/): the app_env key is the package.
APPS_AND_PACKAGES = [
    ("simulator", "simulator"),
    ("dashboard", "dashboard"),
    ("dashboard", "indexer"),  # runs from the dashboard's image, `python -m indexer`
    ("alerts", "alerts"),
]
# The service that runs each package (the alerts job's settings reach it through its keeper).
SERVICE_OF_PACKAGE = {"alerts": "alerts-submit"}


def load_settings_module(app: str, package: str) -> ModuleType:
    """Import apps/<app>/src/<package>/config.py under a private name."""
    path = APPS / app / "src" / package / "config.py"
    assert path.is_file(), f"{path} is missing: every app declares its settings there"
    name = f"_contract_{app}_config"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


@pytest.mark.parametrize(("app", "package"), APPS_AND_PACKAGES)
@pytest.mark.parametrize("security", [False, True])
def test_stack_env_names_exactly_the_app_settings(app: str, package: str, security: bool) -> None:
    module = load_settings_module(app, package)
    declared = [s.env for s in module.SETTINGS]
    assert len(declared) == len(set(declared)), f"{package} declares a setting twice"
    given = app_env(StackConfig(elasticsearch_security=security))[package]
    missing = sorted(set(declared) - set(given))
    unknown = sorted(set(given) - set(declared))
    assert not missing, f"infra does not set {missing} that {package} declares"
    assert not unknown, f"infra sets {unknown} that {package} does not declare"


@pytest.mark.parametrize(("app", "package"), APPS_AND_PACKAGES)
def test_the_app_accepts_the_values_the_stack_gives_it(app: str, package: str) -> None:
    module = load_settings_module(app, package)
    env = describe(StackConfig(elasticsearch_security=True))
    service = SERVICE_OF_PACKAGE.get(package, package)
    resolved = env.services[service].resolved_env({"elastic-password": "generated-pw"})
    loaded = module.load(resolved)  # raises the app's ConfigError on a value it rejects
    assert loaded is not None


@pytest.mark.parametrize(("app", "package"), APPS_AND_PACKAGES)
def test_settings_module_imports_only_the_standard_library(app: str, package: str) -> None:
    path = APPS / app / "src" / package / "config.py"
    assert path.is_file(), f"{path} is missing"
    tree = ast.parse(path.read_text())
    stdlib = sys.stdlib_module_names | {"__future__"}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        for name in names:
            assert name.split(".")[0] in stdlib, f"{path}: imports {name}"


def test_every_app_service_uses_the_env_of_its_app() -> None:
    stack = describe(StackConfig())
    envs = app_env(StackConfig())
    assert set(envs) == {package for _, package in APPS_AND_PACKAGES}
    for package, env in envs.items():
        service = SERVICE_OF_PACKAGE.get(package, package)
        assert dict(stack.services[service].env) == dict(env), package
    # Every service built from apps/ is covered by the contract.
    built = {name for name, s in stack.services.items() if s.build is not None}
    covered = {SERVICE_OF_PACKAGE.get(package, package) for package in envs}
    assert built - covered == {"jobmanager", "taskmanager"}  # Flink itself, FLINK_PROPERTIES
