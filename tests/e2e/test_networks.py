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


def _resolves(inst: EstibaInstance, probe: str, name: str) -> bool:
    """Whether ``name`` resolves inside the running container ``probe`` (busybox ping)."""
    script = f"ping -c1 -W1 {name} >/dev/null 2>&1 && echo yes || echo no"
    return inst.docker("exec", probe, "sh", "-c", script).stdout.strip() == "yes"


def test_rename_moves_the_name_on_every_network(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.docker("network", "create", "ren-a")
    inst.docker("network", "create", "ren-b")
    inst.docker("run", "-d", "--name", "ren-old", "--network", "ren-a", "busybox", "sleep", "300")
    inst.docker("network", "connect", "ren-b", "ren-old")
    for net in ("ren-a", "ren-b"):
        inst.docker(
            "run", "-d", "--name", f"probe-{net}", "--network", net, "busybox", "sleep", "300"
        )
        assert _resolves(inst, f"probe-{net}", "ren-old")
    inst.docker("rename", "ren-old", "ren-new")
    for net in ("ren-a", "ren-b"):
        assert _resolves(inst, f"probe-{net}", "ren-new"), f"new name unknown on {net}"
        assert not _resolves(inst, f"probe-{net}", "ren-old"), f"old name still known on {net}"
    taken = inst.docker("rename", "ren-new", "probe-ren-a", check=False)
    assert taken.returncode != 0
    assert "already in use" in taken.stderr
    assert _resolves(inst, "probe-ren-a", "ren-new"), "a refused rename changed the name"
    inst.docker("rm", "-f", "ren-new", "probe-ren-a", "probe-ren-b")
    inst.docker("network", "rm", "ren-a", "ren-b")
