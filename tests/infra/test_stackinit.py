"""The shared set-up step on a fresh clone, with the real Pulumi CLI (built by `make pulumi`).

What the user's path needs before any ``pulumi preview``: the local backend directory, the
passphrase, the stack and its config, all created by one idempotent step that every verb
runs first, leaving ``git status`` clean. The CLI is the real one (``tools/pulumi``, pinned
by ``go.sum``); only the Python language host and the docker provider, which are not
obtainable here, are not exercised.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from iotstack.config import StackConfig

REPO = Path(__file__).resolve().parents[2]
PULUMI = Path(os.environ.get("IOTSTACK_PULUMI", REPO / ".cache" / "bin" / "pulumi"))


@pytest.fixture(scope="module")
def pulumi_cli() -> Path:
    assert PULUMI.is_file(), f"the Pulumi CLI is built by `make pulumi` into {PULUMI}"
    return PULUMI


def test_the_cli_is_the_pinned_one_and_says_its_version(pulumi_cli: Path) -> None:
    go_mod = (REPO / "tools" / "pulumi" / "go.mod").read_text()
    pinned = re.search(r"github.com/pulumi/pulumi/pkg/v3 (v\S+)", go_mod)
    assert pinned is not None
    done = subprocess.run([str(pulumi_cli), "version"], capture_output=True, text=True)
    assert done.stdout.strip() == pinned.group(1)


def _env(clone: Path, home: Path, cli: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PULUMI_") and key not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env.update(
        PATH=f"{cli.parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        PULUMI_HOME=str(home / ".pulumi"),
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        # What the Makefile exports.
        PULUMI_BACKEND_URL=f"file://{clone / '.pulumi-state'}",
        PULUMI_CONFIG_PASSPHRASE_FILE=str(clone / ".pulumi-state" / "passphrase"),
    )
    env.update(extra)
    return env


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh clone of the committed repository (what a new user or CI starts from)."""
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    return target


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def _stackinit(clone: Path, env: dict[str, str], stack: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "infra/stackinit.py", "--stack", stack], clone, env)


def _config_get(clone: Path, env: dict[str, str], stack: str, key: str) -> str:
    done = _run(["pulumi", "config", "get", key, "--stack", stack], clone / "infra", env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _git_status(clone: Path) -> str:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--ignored=no"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_first_command_on_a_fresh_clone_creates_everything_and_leaves_git_clean(
    pulumi_cli: Path, clone: Path, tmp_path: Path
) -> None:
    env = _env(clone, tmp_path / "home", pulumi_cli)
    assert not (clone / ".pulumi-state").exists()
    done = _stackinit(clone, env, "dev")
    assert done.returncode == 0, done.stderr
    state = clone / ".pulumi-state"
    assert done.stdout.splitlines() == [
        f"stack: created local Pulumi backend {state}",
        f"stack: created passphrase file {state / 'passphrase'} "
        "(mode 0600; keep it, it decrypts secrets)",
        f"stack: created stack config {state / 'config' / 'Pulumi.dev.yaml'} "
        "(from infra/stacks/dev.yaml)",
        "stack: created stack dev",
    ]
    passphrase = state / "passphrase"
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600
    assert len(passphrase.read_text().strip()) >= 40
    listed = _run(["pulumi", "stack", "ls", "--json"], clone / "infra", env)
    assert [s["name"] for s in json.loads(listed.stdout)] == ["dev"]
    assert _config_get(clone, env, "dev", "target") == "docker"
    # The salt went next to the passphrase, not into a tracked file.
    config_file = state / "config" / "Pulumi.dev.yaml"
    assert "encryptionsalt:" in config_file.read_text()
    assert _git_status(clone) == ""
    tracked = subprocess.run(
        ["git", "grep", "-l", "-E", "^encryptionsalt:", "--", "*.yaml", "*.yml"],
        cwd=clone,
        capture_output=True,
        text=True,
    )
    assert tracked.stdout == ""

    # Idempotent: a second run creates nothing and keeps the same salt.
    salt = config_file.read_text()
    again = _stackinit(clone, env, "dev")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["stack: dev ready"]
    assert config_file.read_text() == salt


def test_kind_stack_takes_its_preset_and_user_settings_win_over_presets(
    pulumi_cli: Path, clone: Path, tmp_path: Path
) -> None:
    env = _env(clone, tmp_path / "home", pulumi_cli)
    assert _stackinit(clone, env, "kind").returncode == 0
    assert _config_get(clone, env, "kind", "target") == "kind"
    assert _config_get(clone, env, "kind", "kindClusterName") == "iotstack"
    set_port = _run(
        ["pulumi", "config", "set", "dashboardPort", "8001", "--stack", "kind"],
        clone / "infra",
        env,
    )
    assert set_port.returncode == 0, set_port.stderr
    assert _stackinit(clone, env, "kind").stdout.splitlines() == ["stack: kind ready"]
    assert _config_get(clone, env, "kind", "dashboardPort") == "8001"
    assert _git_status(clone) == ""

    # The clone's preflight reads exactly these values through the same CLI.
    read = _run(
        [
            sys.executable,
            "-c",
            "import json, os, preflight; "
            "print(json.dumps(preflight.read_stack_config('kind', os.environ)))",
        ],
        clone / "infra",
        env,
    )
    assert read.returncode == 0, read.stderr
    raw = json.loads(read.stdout)
    assert raw["target"] == "kind"
    assert raw["dashboardPort"] == "8001"
    assert StackConfig.from_mapping(raw).dashboard_port == 8001


def test_a_passphrase_you_set_is_used_and_no_file_is_written(
    pulumi_cli: Path, clone: Path, tmp_path: Path
) -> None:
    env = _env(clone, tmp_path / "home", pulumi_cli, PULUMI_CONFIG_PASSPHRASE="mine")
    del env["PULUMI_CONFIG_PASSPHRASE_FILE"]
    done = _stackinit(clone, env, "dev")
    assert done.returncode == 0, done.stderr
    assert not (clone / ".pulumi-state" / "passphrase").exists()
    secret = _run(
        ["pulumi", "config", "set", "--secret", "probe", "x", "--stack", "dev"],
        clone / "infra",
        env,
    )
    assert secret.returncode == 0, secret.stderr
    wrong = _run(
        ["pulumi", "config", "get", "probe", "--stack", "dev"],
        clone / "infra",
        {**env, "PULUMI_CONFIG_PASSPHRASE": "not mine"},
    )
    assert wrong.returncode != 0


def test_an_existing_empty_passphrase_file_is_filled(tmp_path: Path) -> None:
    import stackinit

    path = tmp_path / "passphrase"
    path.write_text("")
    assert stackinit.ensure_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}) == path
    first = path.read_text()
    assert len(first.strip()) >= 40
    # Content you put there is never replaced.
    assert stackinit.ensure_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}) is None
    assert path.read_text() == first
    with pytest.raises(stackinit.SetupError, match="PULUMI_CONFIG_PASSPHRASE"):
        stackinit.ensure_passphrase({})


@pytest.mark.parametrize("verb", ["preview", "up", "down", "resubmit"])
def test_every_verb_runs_the_set_up_step_before_pulumi(clone: Path, verb: str) -> None:
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", verb, "STACK=dev"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    setup = [i for i, line in enumerate(lines) if "infra/stackinit.py --stack dev" in line]
    check = f"infra/preflight.py --stack dev --verb {verb}"
    checks = [i for i, line in enumerate(lines) if check in line]
    actions = ("pulumi up", "pulumi preview", "pulumi destroy", "docker ", "kubectl ")
    acts = [i for i, line in enumerate(lines) if any(a in line for a in actions)]
    assert setup and checks and acts, done.stdout
    assert setup[0] < checks[0] < acts[0]
