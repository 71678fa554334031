"""The whole program: read and validate config, build the components, return the outputs.

``__main__.py`` only calls :func:`main`; tests call :func:`build` under Pulumi mocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from iotstack import versions
from iotstack.components.app import App
from iotstack.components.base import ComponentArgs
from iotstack.components.elasticsearch import Elasticsearch
from iotstack.components.flink import Flink
from iotstack.components.images import AppImage
from iotstack.components.kafka import Kafka
from iotstack.components.kibana import Kibana
from iotstack.components.platform import Platform
from iotstack.components.zookeeper import ZooKeeper
from iotstack.config import ConfigError, StackConfig
from iotstack.images import APPS_DIR
from iotstack.services import NODE_PORTS, Stack, describe

PROJECT = "iotstack"


def raw_config() -> dict[str, str]:
    """Every ``iotstack:*`` value the engine passed in, keyed without the namespace."""
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{PROJECT}:"
    return {k[len(prefix) :]: str(v) for k, v in merged.items() if k.startswith(prefix)}


def read_config() -> StackConfig:
    """Validate first: a bad value stops the preview with a one-line message, no traceback."""
    try:
        versions.check_compatibility()
        return StackConfig.from_mapping(raw_config())
    except (ConfigError, ValueError) as err:
        raise pulumi.RunError(str(err)) from None


def _access(cfg: StackConfig, stack: Stack) -> dict[str, str]:
    """How to reach each UI from the host, per target."""
    urls = {
        "dashboard": stack.dashboard_host_url,
        "kibana": stack.kibana_host_url,
        "flink": stack.flink_host_url,
        "elasticsearch": stack.elasticsearch_host_url,
    }
    if cfg.target == "docker":
        return {name: f"open {url} (published on {cfg.bind_address})" for name, url in urls.items()}
    node = {
        "dashboard": NODE_PORTS["dashboard"],
        "kibana": NODE_PORTS["kibana"],
        "flink": NODE_PORTS["jobmanager"],
        "elasticsearch": NODE_PORTS["elasticsearch"],
    }
    return {
        name: f"open {url} (kind maps it to node port {node[name]}; see infra/kind/cluster.yaml)"
        for name, url in urls.items()
    }


def build(
    cfg: StackConfig, opts: pulumi.ResourceOptions | None = None, apps_dir: Path = APPS_DIR
) -> dict[str, Any]:
    """Create every component for ``cfg``; return the stack outputs (same shape per target)."""
    stack = describe(cfg)
    platform = Platform("platform", cfg, opts)
    base = opts
    if platform.provider is not None:
        base = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(providers=[platform.provider])
        )
    args = ComponentArgs(cfg=cfg, stack=stack, target=platform.target)
    builds = {s.build.app: s.build for s in stack.services.values() if s.build is not None}
    for app, spec in sorted(builds.items()):
        prebuilt = cfg.prebuilt_image(app)
        if prebuilt is not None:
            # A registry's image, used as it is: nothing to build or to load into kind.
            args.images[app] = pulumi.Output.from_input(prebuilt)
            args.image_resources[app] = []
            continue
        image = AppImage(f"{app}-image", spec, platform.target, cfg.image_platform, opts, apps_dir)
        args.images[app] = image.image_ref
        args.image_resources[app] = image.resources
    if cfg.kafka_mode == "zookeeper":
        ZooKeeper("zookeeper", args, base)
    kafka = Kafka("kafka", args, base)
    elasticsearch = Elasticsearch("elasticsearch", args, base)
    kibana = Kibana("kibana", args, base)
    flink = Flink("flink", args, base)
    App("simulator", args, base)
    App("dashboard", args, base)
    App("indexer", args, base)  # the dashboard's image, entrypoint python -m indexer
    return {
        "target": cfg.target,
        "kafkaMode": cfg.kafka_mode,
        "urls": {
            "dashboard": stack.dashboard_host_url,
            "kibana": kibana.url,
            "flink": flink.ui_url,
            "elasticsearch": elasticsearch.url,
        },
        "kafkaBootstrap": kafka.bootstrap_host,
        "access": _access(cfg, stack),
        "images": args.images,
        "elasticPassword": elasticsearch.elastic_password,
    }


def main() -> None:
    """Entry point used by ``__main__.py``."""
    outputs = build(read_config())
    for name, value in outputs.items():
        if value is not None:
            pulumi.export(name, value)
