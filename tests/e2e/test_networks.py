"""User-defined networks with real containers: names resolve, networks are isolated."""

from __future__ import annotations

import json
import os

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def test_user_network_names_and_isolation(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.docker("network", "create", "front")
    inst.docker("network", "create", "back")
    inst.docker("run", "-d", "--name", "web", "--network", "front", "busybox", "sleep", "300")
    inst.docker("run", "-d", "--name", "db", "--network", "back", "busybox", "sleep", "300")
    found = inst.docker(
        "run",
        "--rm",
        "--network",
        "front",
        "busybox",
        "sh",
        "-c",
        "ping -c1 -W2 web >/dev/null && echo reached web",
    ).stdout
    assert found == "reached web\n"
    db_ip = json.loads(inst.docker("inspect", "db").stdout)[0]["NetworkSettings"]["Networks"][
        "back"
    ]["IPAddress"]
    isolated = inst.docker(
        "run", "--rm", "--network", "front", "busybox", "ping", "-c1", "-W1", db_ip, check=False
    )
    assert isolated.returncode != 0
    listed = inst.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert {"bridge", "host", "none", "front", "back"} <= set(listed)
    busy = inst.docker("network", "rm", "front", check=False)
    assert busy.returncode != 0
    missing = inst.estiba("run", "--rm", "--network", "nowhere", "busybox", "true", check=False)
    assert "network nowhere not found" in missing.stderr
    inst.docker("rm", "-f", "web", "db")
    inst.docker("network", "rm", "front", "back")
