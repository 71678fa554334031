"""The one set-up step every verb shares: make a fresh clone ready for ``pulumi``.

Run as ``python infra/stackinit.py --stack dev`` (``make stack``; ``make preview``, ``up``,
``down`` and ``resubmit`` run it first). Standard library only. Idempotent; in order:

1. the local backend's directory ``.pulumi-state/`` (unless ``PULUMI_BACKEND_URL`` names
   another backend);
2. the passphrase file ``.pulumi-state/passphrase`` (mode 0600, 32 random bytes, URL-safe
   base64) when ``PULUMI_CONFIG_PASSPHRASE_FILE`` names it and it is missing or empty; a
   passphrase you set yourself (``PULUMI_CONFIG_PASSPHRASE`` or an existing file) is used as
   it is;
3. the stack's config file ``.pulumi-state/config/Pulumi.<stack>.yaml`` (``stackConfigDir``
   in ``infra/Pulumi.yaml``), copied from the tracked preset ``infra/stacks/<stack>.yaml``
   when it does not exist. Only then: an existing file is never overwritten, so what you
   set with ``pulumi config set`` wins over the preset, and a preset changed later reaches
   a stack only after you delete that file. A stack with no preset starts from the
   ``Pulumi.yaml`` defaults;
4. the stack itself (``pulumi stack init --secrets-provider passphrase``) when the backend
   does not have it.

Why the config files live outside the checkout: ``pulumi stack init`` writes the
passphrase's ``encryptionsalt`` into the stack's config file. In a tracked file that salt
dirtied every checkout and broke every other clone (its passphrase does not match someone
else's salt); under ``.pulumi-state/`` (git-ignored) it stays with the passphrase it
belongs to, and ``git status`` stays clean.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

INFRA = Path(__file__).resolve().parent
REPO = INFRA.parent
PRESETS = INFRA / "stacks"
STACK_CONFIG_DIR = REPO / ".pulumi-state" / "config"  # = stackConfigDir in Pulumi.yaml


class SetupError(RuntimeError):
    """A set-up step failed; the message is one line saying what and how to fix it."""


def stack_config_file(stack: str) -> Path:
    """Where Pulumi reads and writes the stack's config (``stackConfigDir``)."""
    return STACK_CONFIG_DIR / f"Pulumi.{stack}.yaml"


def local_backend_dir(env: Mapping[str, str]) -> Path | None:
    """The directory of a ``file://`` backend, or None for any other backend."""
    url = env.get("PULUMI_BACKEND_URL", f"file://{REPO / '.pulumi-state'}")
    if not url.startswith("file://"):
        return None
    path = url.removeprefix("file://")
    return Path(path.replace("~", str(Path.home()), 1) if path.startswith("~") else path)


def ensure_passphrase(env: Mapping[str, str]) -> Path | None:
    """Create the passphrase file named by the environment when it is missing or empty."""
    if env.get("PULUMI_CONFIG_PASSPHRASE") is not None:
        return None
    name = env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if not name:
        raise SetupError(
            "no passphrase: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE "
            "(make sets the file to .pulumi-state/passphrase)"
        )
    path = Path(name)
    if path.exists() and path.stat().st_size > 0:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    token = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return path


def seed_stack_config(stack: str) -> Path | None:
    """Copy the tracked preset to the stack's config file if that file does not exist."""
    target = stack_config_file(stack)
    if target.exists():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    preset = PRESETS / f"{stack}.yaml"
    if preset.exists():
        shutil.copyfile(preset, target)
        return target
    return None


def run_pulumi(
    args: list[str], env: Mapping[str, str], pulumi: str = "pulumi"
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in infra/ with ``env``, no stdin, output captured."""
    try:
        return subprocess.run(
            [pulumi, *args],
            cwd=INFRA,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise SetupError(
            f"Pulumi CLI not found ({pulumi}): install it "
            "(https://www.pulumi.com/docs/iac/download-install/)"
        ) from None


def stack_exists(stack: str, env: Mapping[str, str], pulumi: str = "pulumi") -> bool:
    """Whether the backend has ``stack`` (``pulumi stack ls``, which reads no config)."""
    done = run_pulumi(["stack", "ls", "--json"], env, pulumi)
    if done.returncode != 0:
        raise SetupError(f"pulumi stack ls failed: {last_line(done)}")
    return any(entry.get("name", "").split("/")[-1] == stack for entry in json.loads(done.stdout))


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    """The last line a failed command printed (stderr first), for a one-line message."""
    lines = (done.stderr or done.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}"


def ensure(stack: str, env: Mapping[str, str], pulumi: str = "pulumi") -> list[str]:
    """Run every step; return one line per thing created (empty when all existed)."""
    created: list[str] = []
    backend = local_backend_dir(env)
    if backend is not None and not backend.is_dir():
        backend.mkdir(parents=True)
        created.append(f"local Pulumi backend {backend}")
    passphrase = ensure_passphrase(env)
    if passphrase is not None:
        created.append(f"passphrase file {passphrase} (mode 0600; keep it, it decrypts secrets)")
    seeded = seed_stack_config(stack)
    if seeded is not None:
        created.append(f"stack config {seeded} (from infra/stacks/{stack}.yaml)")
    if not stack_exists(stack, env, pulumi):
        done = run_pulumi(["stack", "init", stack, "--secrets-provider", "passphrase"], env, pulumi)
        if done.returncode != 0:
            raise SetupError(f"pulumi stack init {stack} failed: {last_line(done)}")
        created.append(f"stack {stack}")
    return created


def main(argv: list[str] | None = None) -> int:
    """Print what was created (or that all was there); exit 1 with one line on failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--pulumi", default="pulumi", help="the Pulumi CLI to run")
    args = parser.parse_args(argv)
    try:
        created = ensure(args.stack, os.environ, args.pulumi)
    except SetupError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    for line in created:
        print(f"stack: created {line}")
    if not created:
        print(f"stack: {args.stack} ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
