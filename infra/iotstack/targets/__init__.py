"""Renderers: turn a target-neutral :class:`iotstack.services.Service` into resources.

All Docker-versus-kind differences live in this package; components only call
``target.run(...)`` and ``target.image(...)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pulumi

from iotstack.services import Secret, Service


@dataclass
class Rendered:
    """What a rendered service leaves behind: its resources and the one to depend on."""

    ready: pulumi.Resource
    resources: list[pulumi.Resource] = field(default_factory=list)


class Target(Protocol):
    """A place the stack runs: the Docker daemon or a kind cluster."""

    name: str

    def run(
        self,
        service: Service,
        image: pulumi.Input[str],
        secrets: Mapping[str, pulumi.Output[str]],
        parent: pulumi.Resource,
        depends_on: Sequence[pulumi.Resource],
    ) -> Rendered:
        """Create the resources that run ``service`` and return them."""
        ...

    def pinned_image(self, service: Service, parent: pulumi.Resource) -> pulumi.Input[str]:
        """The reference to run a pinned upstream image (pulled or left to the node)."""
        ...

    def publish_image(
        self,
        app: str,
        image_ref: pulumi.Output[str],
        build: pulumi.Resource,
        parent: pulumi.Resource,
    ) -> list[pulumi.Resource]:
        """Make a locally built image usable by the target (kind: load it into the nodes)."""
        ...


def env_value(value: str | Secret, secrets: Mapping[str, pulumi.Output[str]]) -> pulumi.Output[str]:
    """A plain value as an Output, or a secret rendered through its template (stays secret)."""
    if isinstance(value, Secret):
        template = value.template
        rendered: pulumi.Output[str] = secrets[value.name].apply(template.format)
        return pulumi.Output.secret(rendered)
    return pulumi.Output.from_input(value)
