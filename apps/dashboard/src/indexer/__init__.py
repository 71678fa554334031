"""The indexer: ships the alerts and one-minute aggregates topics into Elasticsearch.

The Kafka Connect sink pattern in Python; see ``apps/dashboard/INDEXER.md``.
"""
