"""Shared plumbing: what every concern's component receives and how it renders services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from iotstack.config import StackConfig
from iotstack.services import Service, Stack
from iotstack.targets import Rendered, Target


@dataclass
class ComponentArgs:
    """Inputs every component gets: the config, the description, the target, the wiring."""

    cfg: StackConfig
    stack: Stack
    target: Target
    # Service name -> resource its dependents wait for (filled in as components are built).
    ready: dict[str, pulumi.Resource] = field(default_factory=dict)
    # Secret name -> value (generated passwords).
    secrets: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    # App name -> image reference of the built image.
    images: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    # App name -> resources that make the image usable on the target (build, kind load).
    image_resources: dict[str, list[pulumi.Resource]] = field(default_factory=dict)


def render(
    args: ComponentArgs,
    service: Service,
    parent: pulumi.Resource,
    extra_depends: Sequence[pulumi.Resource] = (),
) -> Rendered:
    """Render one described service as a child of ``parent`` and record it as ready."""
    if service.build is not None:
        image: pulumi.Input[str] = args.images[service.build.app]
        image_deps = args.image_resources.get(service.build.app, [])
    else:
        image = args.target.pinned_image(service, parent)
        image_deps = []
    depends = [args.ready[name] for name in service.depends_on]
    rendered = args.target.run(
        service, image, args.secrets, parent, [*depends, *image_deps, *extra_depends]
    )
    args.ready[service.name] = rendered.ready
    return rendered


def secrets_for(args: ComponentArgs, names: Sequence[str]) -> Mapping[str, pulumi.Output[str]]:
    """The subset of generated secrets named."""
    return {n: args.secrets[n] for n in names}
