"""Flink session cluster (JobManager + TaskManager) and the alerts job submission."""

from __future__ import annotations

import pulumi

from iotstack.components.base import ComponentArgs, render


class Flink(pulumi.ComponentResource):
    """A session cluster running the alerts image; the job is submitted during `up`."""

    ui_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: ComponentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("iotstack:index:Flink", name, None, opts)
        render(args, args.stack.services["jobmanager"], self)
        render(args, args.stack.services["taskmanager"], self)
        # Depends on the Kafka and Elasticsearch components: topics and templates exist first.
        self.submit = render(args, args.stack.services["alerts-submit"], self)
        self.ui_url = pulumi.Output.from_input(args.stack.flink_host_url)
        self.register_outputs({"ui_url": self.ui_url})
