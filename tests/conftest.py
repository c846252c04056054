"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import secrets

import pytest


@pytest.fixture(scope="session")
def run_prefix() -> str:
    """A prefix unique to this test run, for every kernel object a test creates."""
    return "et" + secrets.token_hex(2)


def pytest_report_header() -> list[str]:
    return [f"estiba tests as uid {os.getuid()}"]
