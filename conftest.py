"""Root conftest: every test in the repo (tests/, apps/*/tests/) gets the real-service fixtures."""

pytest_plugins = ["harness.pytest_plugin"]
