"""Usage examples in the Pulumi program's module docstrings run as written."""

from __future__ import annotations

import textwrap
from typing import Any

from iotstack import services


def _literal_block(doc: str) -> str:
    """The indented block after the first ``::`` paragraph, dedented."""
    _, _, rest = doc.partition("::\n\n")
    block = []
    for line in rest.splitlines():
        if line and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip()


def test_the_services_usage_example_is_one_block_that_runs() -> None:
    assert services.__doc__ is not None
    example = _literal_block(services.__doc__)
    assert example.startswith("from iotstack.config import StackConfig\n"), example
    assert "stack.services" in example, example  # the block runs to its end
    namespace: dict[str, Any] = {}
    exec(example, namespace)
    env = namespace["stack"].services["dashboard"].resolved_env({})
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"  # as the example's comment says
