"""The in-process services, for the tests that need the engine with netd."""

from tests.services.conftest import instance, services

__all__ = ["instance", "services"]
