"""Run the Pulumi program under pulumi.runtime.set_mocks and record every resource.

The Pulumi engine is the only thing mocked: the program, the components and the renderers
are the real ones. Each resource is recorded twice: by the mock monitor (type, name,
inputs, URN with its parent chain) and by a transformation (the ResourceOptions the
program chose: parent, depends_on, protect, retain_on_delete).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from iotstack.config import StackConfig
from iotstack.program import build


@dataclass
class Recorded:
    """One registered resource."""

    type: str
    name: str
    inputs: dict[str, Any]
    opts: pulumi.ResourceOptions | None = None
    resource: pulumi.Resource | None = None
    custom: bool = True


@dataclass
class Inventory:
    """Everything one program run registered, plus its outputs."""

    resources: list[Recorded] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    by_object: dict[int, Recorded] = field(default_factory=dict)
    registered_outputs: set[int] = field(default_factory=set)  # ids of components

    def of_type(self, type_: str) -> list[Recorded]:
        """Resources whose type token equals ``type_``."""
        return [r for r in self.resources if r.type == type_]

    def named(self, type_: str, name: str) -> Recorded:
        """The single resource of ``type_`` named ``name``."""
        found = [r for r in self.of_type(type_) if r.name == name]
        assert len(found) == 1, f"{type_} {name}: found {len(found)}"
        return found[0]

    def counts(self) -> dict[str, int]:
        """Number of resources per type token."""
        out: dict[str, int] = {}
        for r in self.resources:
            out[r.type] = out.get(r.type, 0) + 1
        return out


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, inventory: Inventory, exit_code: int) -> None:
        self.inventory = inventory
        self.exit_code = exit_code

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "mock-password-" + args.name
        if args.typ == "docker:index/container:Container" and args.inputs.get("attach"):
            outputs["exitCode"] = self.exit_code  # what the daemon reports after the run
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = "sha256:" + args.name
        self.inventory.resources.append(
            Recorded(args.typ, args.name, dict(args.inputs), custom=args.custom is not False)
        )
        return args.name + "-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def run(cfg: StackConfig, apps_dir: Path, stack: str = "dev", exit_code: int = 0) -> Inventory:
    """Build the program for ``cfg`` under mocks; return the inventory and resolved outputs.

    ``apps_dir`` holds the build contexts (tests pass small ones; the real apps are checked
    by test_images.py).
    """
    inventory = Inventory()
    options: dict[int, Recorded] = {}

    def capture(args: pulumi.ResourceTransformationArgs) -> None:
        options[id(args.resource)] = Recorded(
            args.type_, args.name, dict(args.props), opts=args.opts, resource=args.resource
        )
        return None

    pulumi.runtime.set_mocks(
        _Mocks(inventory, exit_code), project="iotstack", stack=stack, preview=False
    )

    registered: set[int] = set()
    original = pulumi.ComponentResource.register_outputs

    def record_outputs(self: pulumi.ComponentResource, outputs: Any) -> None:
        registered.add(id(self))
        original(self, outputs)

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        outputs = build(cfg, pulumi.ResourceOptions(transformations=[capture]), apps_dir)
        keys = list(outputs)

        async def secret_keys() -> list[str]:
            return [
                k
                for k, v in outputs.items()
                if isinstance(v, pulumi.Output) and await v.is_secret()
            ]

        def store(args: list[Any]) -> None:
            *values, secret = args
            inventory.outputs = dict(zip(keys, values, strict=True))
            inventory.secret_outputs = set(secret)

        return pulumi.Output.all(
            *[outputs[k] for k in keys],
            pulumi.Output.from_input(asyncio.ensure_future(secret_keys())),
        ).apply(store)

    pulumi.ComponentResource.register_outputs = record_outputs  # type: ignore[method-assign]
    try:
        program()
    finally:
        pulumi.ComponentResource.register_outputs = original  # type: ignore[method-assign]
    inventory.registered_outputs = registered
    # Join the monitor's records (types, inputs) with the program's options (by order+name).
    captured = list(options.values())
    for rec in captured:
        inventory.by_object[id(rec.resource)] = rec
    by_key: dict[tuple[str, str], list[Recorded]] = {}
    for rec in captured:
        by_key.setdefault((rec.type, rec.name), []).append(rec)
    for rec in inventory.resources:
        matches = by_key.get((rec.type, rec.name), [])
        if matches:
            match = matches.pop(0)
            rec.opts, rec.resource = match.opts, match.resource
    return inventory
