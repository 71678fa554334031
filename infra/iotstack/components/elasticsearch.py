"""Elasticsearch (single node), its passwords when security is on, and index templates."""

from __future__ import annotations

import pulumi
import pulumi_random as random

from iotstack import catalog
from iotstack.components.base import ComponentArgs, render
from iotstack.dynamic import IndexTemplate, UserPassword
from iotstack.services import ELASTIC_PASSWORD, KIBANA_SYSTEM_PASSWORD


class Elasticsearch(pulumi.ComponentResource):
    """A single-node cluster with the alerts and aggregates index templates."""

    url: pulumi.Output[str]
    elastic_password: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: ComponentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("iotstack:index:Elasticsearch", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.elastic_password = None
        if args.cfg.elasticsearch_security:
            for secret_name in (ELASTIC_PASSWORD, KIBANA_SYSTEM_PASSWORD):
                # Marked secret here too (not only by the provider's schema): it is encrypted
                # in state and masked in every output and diff that derives from it.
                args.secrets[secret_name] = pulumi.Output.secret(
                    random.RandomPassword(secret_name, length=24, special=False, opts=child).result
                )
            self.elastic_password = args.secrets[ELASTIC_PASSWORD]
        rendered = render(args, args.stack.services["elasticsearch"], self)
        url = args.stack.elasticsearch_host_url
        auth: dict[str, pulumi.Input[str]] = {}
        if self.elastic_password is not None:
            auth = {"elastic_password": self.elastic_password}
        after_es = pulumi.ResourceOptions(parent=self, depends_on=[rendered.ready])
        if args.cfg.elasticsearch_security:
            # Kibana must not use the superuser; it logs in as kibana_system.
            args.ready["kibana-user"] = UserPassword(
                "kibana-system-user",
                {
                    "url": url,
                    "user": "kibana_system",
                    "password": args.secrets[KIBANA_SYSTEM_PASSWORD],
                    **auth,
                },
                after_es,
            )
        self.templates = {
            template_name: IndexTemplate(
                f"template-{template_name}",
                {"url": url, "name": template_name, "body": body, **auth},
                after_es,
            )
            for template_name, body in catalog.index_templates().items()
        }
        # Writers start only once the mappings are in place.
        args.ready["elasticsearch"] = self
        self.url = pulumi.Output.from_input(url)
        self.register_outputs({"url": self.url, "templates": list(self.templates)})
