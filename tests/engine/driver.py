"""Run one Pulumi operation on the real program under the real engine, print a JSON summary.

Runs in the infra virtualenv (``infra/venv/bin/python``; it has the Pulumi SDK and the
program's providers' SDKs), started by ``tests/engine/test_real_engine.py`` as a separate
process: the program runs inline through the Automation API (``iotstack.program.main``,
exactly what ``infra/__main__.py`` calls), so no Python language host binary is needed.

    driver.py OP --workdir DIR --stack NAME [--config JSON]

OP is ``preview``, ``up``, ``destroy`` or ``state``. The workspace directory holds a copy
of ``infra/Pulumi.yaml`` (its typed config declarations included, so the engine checks
them) with the stack config next to it instead of under ``.pulumi-state/``. The engine's
own output goes to stderr; the last line of stdout is one JSON object: the summary counts,
every step that is not ``same`` (operation, type, name, the changed properties), the
outputs, and the wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
sys.path.insert(0, str(INFRA))

from iotstack import program  # noqa: E402  (after infra/ is importable)


def _project(workdir: Path) -> auto.ProjectSettings:
    """infra/Pulumi.yaml as it is, but for where the stack config lives and the venv path."""
    settings = yaml.safe_load((INFRA / "Pulumi.yaml").read_text())
    settings.pop("stackConfigDir", None)  # next to the copy, inside the test's directory
    settings["runtime"]["options"]["virtualenv"] = str(INFRA / "venv")
    (workdir / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return auto.ProjectSettings(name=settings["name"], runtime="python")


def _stack(workdir: Path, name: str) -> auto.Stack:
    _project(workdir)
    return auto.create_or_select_stack(
        name,
        project_name="iotstack",
        program=program.main,
        opts=auto.LocalWorkspaceOptions(work_dir=str(workdir)),
    )


class Steps:
    """Collects every step the engine reports that is not ``same``."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.provider_steps: list[dict[str, Any]] = []
        self.diagnostics: list[str] = []

    def __call__(self, event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None and pre.metadata.op.value != "same":
            meta = pre.metadata
            # A provider's own step (the dynamic provider is re-checked when the stack's
            # config changes) is not a change to the stack: the engine does not print it.
            target = (
                self.provider_steps if meta.type.startswith("pulumi:providers:") else self.steps
            )
            target.append(
                {
                    "op": meta.op.value,
                    "type": meta.type,
                    "name": meta.urn.rsplit("::", 1)[-1],
                    "diffs": sorted(meta.diffs or []),
                }
            )
        diag = event.diagnostic_event
        if diag is not None and diag.severity in ("warning", "error"):
            self.diagnostics.append(f"{diag.severity}: {diag.message.strip()}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("op", choices=["preview", "up", "destroy", "state"])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--config", default="{}", help="iotstack keys (without namespace)")
    args = parser.parse_args()

    stack = _stack(args.workdir, args.stack)
    config = json.loads(args.config)
    if config:
        stack.set_all_config(
            {f"iotstack:{k}": auto.ConfigValue(value=str(v)) for k, v in config.items()}
        )
    steps = Steps()

    def log(line: str) -> None:
        sys.stderr.write(line + "\n")

    started = time.monotonic()
    summary: dict[str, Any] = {"op": args.op}
    try:
        if args.op == "preview":
            preview = stack.preview(diff=True, on_output=log, on_event=steps, color="never")
            summary["changes"] = {
                k.value if hasattr(k, "value") else k: v for k, v in preview.change_summary.items()
            }
            summary["stdout"] = preview.stdout
        elif args.op == "up":
            result = stack.up(on_output=log, on_event=steps, color="never")
            summary["changes"] = dict(result.summary.resource_changes or {})
            summary["outputs"] = {k: v.value for k, v in result.outputs.items() if not v.secret}
        elif args.op == "destroy":
            result = stack.destroy(on_output=log, on_event=steps, color="never")
            summary["changes"] = dict(result.summary.resource_changes or {})
        summary["ok"] = True
    except auto.CommandError as err:
        summary["ok"] = False
        summary["error"] = str(err)
    # What the backend holds afterwards (a failed preview must not have written anything).
    deployment = stack.export_stack().deployment or {}
    summary["state"] = [
        {"type": r["type"], "urn": r["urn"]} for r in deployment.get("resources") or []
    ]
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["steps"] = steps.steps
    summary["provider_steps"] = steps.provider_steps
    summary["diagnostics"] = steps.diagnostics
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
