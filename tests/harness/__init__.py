"""Real services for tests and local runs: Kafka (+ZooKeeper or KRaft), Elasticsearch, Flink,
and a Kubernetes control plane with a KWOK node for the kind target (:mod:`harness.kube`).

Everything runs natively from published artifacts (Maven Central jars, the Elasticsearch
integ-test zip, the Flink distribution inside the ``apache-flink`` wheel) on 127.0.0.1,
because no container image can be pulled on the machines this project is built on. The
Kubernetes binaries are built from pinned Go modules (``make kube-bins``, ``tools/kube/``).

Use from pytest through the fixtures in :mod:`harness.pytest_plugin`, or by hand with
``python -m harness`` (``make services``).
"""
