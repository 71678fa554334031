"""ZooKeeper (kafkaMode=zookeeper only)."""

from __future__ import annotations

import pulumi

from iotstack.components.base import ComponentArgs, render


class ZooKeeper(pulumi.ComponentResource):
    """The ZooKeeper that Kafka 3.9 keeps its metadata in."""

    address: pulumi.Output[str]

    def __init__(
        self, name: str, args: ComponentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("iotstack:index:ZooKeeper", name, None, opts)
        render(args, args.stack.services["zookeeper"], self)
        self.address = pulumi.Output.from_input("zookeeper:2181")
        self.register_outputs({"address": self.address})
