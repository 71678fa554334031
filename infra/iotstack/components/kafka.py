"""Kafka broker plus the stack's topics as resources."""

from __future__ import annotations

import pulumi

from iotstack import catalog
from iotstack.components.base import ComponentArgs, render
from iotstack.dynamic import KafkaTopic


class Kafka(pulumi.ComponentResource):
    """One broker with an in-stack and a host listener, and the stack's topics (catalog.topics)."""

    bootstrap_internal: pulumi.Output[str]
    bootstrap_host: pulumi.Output[str]
    topics: dict[str, KafkaTopic]

    def __init__(
        self, name: str, args: ComponentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("iotstack:index:Kafka", name, None, opts)
        rendered = render(args, args.stack.services["kafka"], self)
        # Pulumi runs on the host, so topics are managed through the EXTERNAL listener.
        self.topics = {
            spec.name: KafkaTopic(
                f"topic-{spec.name}",
                {
                    "bootstrap": args.stack.kafka_host_bootstrap,
                    "name": spec.name,
                    "partitions": spec.partitions,
                    "configs": dict(spec.configs),
                    "replication_factor": spec.replication_factor,
                },
                pulumi.ResourceOptions(parent=self, depends_on=[rendered.ready]),
            )
            for spec in catalog.topics(args.cfg)
        }
        # Consumers and producers start only after their topics exist.
        args.ready["kafka"] = self
        self.bootstrap_internal = pulumi.Output.from_input("kafka:9092")
        self.bootstrap_host = pulumi.Output.from_input(args.stack.kafka_host_bootstrap)
        self.register_outputs(
            {
                "bootstrap_internal": self.bootstrap_internal,
                "bootstrap_host": self.bootstrap_host,
                "topics": list(self.topics),
            }
        )
