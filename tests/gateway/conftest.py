from tests.services.conftest import instance, services

__all__ = ["instance", "services"]
