"""Kibana and its data view + dashboard."""

from __future__ import annotations

import pulumi

from iotstack import catalog
from iotstack.components.base import ComponentArgs, render
from iotstack.dynamic import KibanaObjects
from iotstack.services import ELASTIC_PASSWORD


class Kibana(pulumi.ComponentResource):
    """Kibana connected to the stack's Elasticsearch, with the alerts data view and dashboard."""

    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: ComponentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("iotstack:index:Kibana", name, None, opts)
        extra = [args.ready["kibana-user"]] if "kibana-user" in args.ready else []
        rendered = render(args, args.stack.services["kibana"], self, extra)
        props: dict[str, object] = {
            "url": args.stack.kibana_host_url,
            "spec": catalog.kibana_spec(),
        }
        if ELASTIC_PASSWORD in args.secrets:
            props["elastic_password"] = args.secrets[ELASTIC_PASSWORD]
        self.objects = KibanaObjects(
            "kibana-objects",
            props,
            pulumi.ResourceOptions(parent=self, depends_on=[rendered.ready]),
        )
        self.url = pulumi.Output.from_input(args.stack.kibana_host_url)
        self.register_outputs({"url": self.url})
