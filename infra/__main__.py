"""Pulumi entry point: read config, build the components, export outputs (iotstack.program)."""

from iotstack.program import main

main()
