"""Create/read/diff/update/delete logic for the stack's data objects, as plain functions.

No Pulumi here: the dynamic providers in :mod:`iotstack.dynamic` only call these, and
the tests call them directly against a real Kafka and Elasticsearch.
"""
