"""Fixtures shared by every test module (registered once here, so session-scoped ones exist once)."""

from tests.prometheus_fixture import prometheus_binaries, prometheus_factory, prometheus_server  # noqa: F401
