"""An app run from an image built from apps/ (simulator, dashboard, indexer)."""

from __future__ import annotations

import pulumi

from iotstack.components.base import ComponentArgs, render


class App(pulumi.ComponentResource):
    """One long-running app container/Deployment."""

    def __init__(
        self, name: str, args: ComponentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("iotstack:index:App", name, None, opts)
        render(args, args.stack.services[name], self)
        self.register_outputs({})
