"""User-defined networks with real containers: names resolve, networks are isolated."""

from __future__ import annotations

import json
import os

import docker
import pytest
from docker.errors import APIError

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
    assert 'network front has active endpoints (name:"web" id:"' in busy.stderr
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


def test_inspect_shows_every_network(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.docker("network", "create", "--subnet", "10.231.7.0/24", "ins-a")
    inst.docker("network", "create", "ins-b")
    cid = inst.docker(
        "run", "-d", "--name", "multi", "--network", "ins-a", "--ip", "10.231.7.9",
        "--network-alias", "svc", "busybox", "sleep", "300",
    ).stdout.strip()  # fmt: skip
    inst.docker("network", "connect", "--alias", "other", "ins-b", "multi")
    settings = json.loads(inst.docker("inspect", "multi").stdout)[0]["NetworkSettings"]
    by_id = json.loads(inst.docker("inspect", cid).stdout)[0]["NetworkSettings"]
    assert by_id == settings
    nets = settings["Networks"]
    assert set(nets) == {"ins-a", "ins-b"}
    a, b = nets["ins-a"], nets["ins-b"]
    assert a["IPAddress"] == "10.231.7.9"
    assert a["IPPrefixLen"] == 24
    assert a["Gateway"] == "10.231.7.1"
    assert a["IPAMConfig"] == {"IPv4Address": "10.231.7.9"}
    assert a["Aliases"] == ["svc", cid[:12]]
    assert a["DNSNames"] == ["multi", "svc", cid[:12]]
    assert b["Aliases"] == ["other", cid[:12]]
    assert b["IPAMConfig"] is None
    for net, entry in nets.items():
        network = json.loads(inst.docker("network", "inspect", net).stdout)[0]
        assert entry["NetworkID"] == network["Id"]
        assert entry["EndpointID"] == network["Containers"][cid]["EndpointID"]
        assert entry["MacAddress"] == network["Containers"][cid]["MacAddress"]
        assert entry["IPAddress"]
    assert settings["IPAddress"] == ""  # only the default network's endpoint is copied up
    assert settings["SandboxKey"]
    shown = inst.docker("ps", "--filter", "name=multi", "--format", "{{.Networks}}").stdout
    assert sorted(shown.strip().split(",")) == ["ins-a", "ins-b"]
    on_b = inst.docker("ps", "--filter", "network=ins-b", "--format", "{{.Names}}").stdout
    assert on_b.split() == ["multi"]
    inst.docker("restart", "-t", "0", "multi")
    restarted = json.loads(inst.docker("inspect", "multi").stdout)[0]["NetworkSettings"]
    assert restarted["Networks"] == nets
    inst.docker("network", "disconnect", "ins-a", "multi")
    nets = json.loads(inst.docker("inspect", "multi").stdout)[0]["NetworkSettings"]["Networks"]
    assert set(nets) == {"ins-b"}
    inst.docker("run", "-d", "--name", "plain", "busybox", "sleep", "300")
    plain = json.loads(inst.docker("inspect", "plain").stdout)[0]["NetworkSettings"]
    assert plain["IPAddress"] == plain["Networks"]["bridge"]["IPAddress"] != ""
    assert plain["Networks"]["bridge"]["DNSNames"] is None
    inst.docker("rm", "-f", "multi", "plain")
    inst.docker("network", "rm", "ins-a", "ins-b")


def test_connect_makes_the_network_names_resolve(estiba_instance: EstibaInstance) -> None:
    """A container on the default bridge resolves the names of a user-defined network once
    connected to it, and its resolv.conf goes back to the host's when disconnected."""
    inst = estiba_instance
    inst.docker("network", "create", "joinable")
    inst.docker("run", "-d", "--name", "target", "--network", "joinable", "busybox", "sleep", "300")
    inst.docker("run", "-d", "--name", "joiner", "busybox", "sleep", "300")
    before = inst.docker("exec", "joiner", "cat", "/etc/resolv.conf").stdout
    lookup = ["exec", "joiner", "ping", "-c1", "-W2", "target"]
    assert inst.docker(*lookup, check=False).returncode != 0  # not on that network yet
    inst.docker("network", "connect", "joinable", "joiner")
    gateway = json.loads(inst.docker("network", "inspect", "joinable").stdout)[0]["IPAM"]["Config"][
        0
    ]["Gateway"]
    resolv = inst.docker("exec", "joiner", "cat", "/etc/resolv.conf").stdout
    assert f"nameserver {gateway}" in resolv
    assert inst.docker(*lookup).returncode == 0
    joined = json.loads(inst.docker("inspect", "joiner").stdout)[0]["NetworkSettings"]["Networks"]
    hosts = inst.docker("exec", "joiner", "cat", "/etc/hosts").stdout
    for net in ("bridge", "joinable"):  # its name on each network's address, as Docker has it
        assert f"{joined[net]['IPAddress']}\t" in hosts
    inst.docker("network", "disconnect", "joinable", "joiner")
    assert inst.docker("exec", "joiner", "cat", "/etc/resolv.conf").stdout == before
    hosts = inst.docker("exec", "joiner", "cat", "/etc/hosts").stdout
    assert f"{joined['joinable']['IPAddress']}\t" not in hosts
    inst.docker("rm", "-f", "target", "joiner")
    inst.docker("network", "rm", "joinable")


def test_network_of_another_container(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.docker("network", "create", "shared-net")
    serve = "mkdir -p /w && echo from-the-peer > /w/i && httpd -f -p 127.0.0.1:8088 -h /w"
    cid = inst.docker(
        "run", "-d", "--name", "owner", "--network", "shared-net", "--hostname", "ownerhost",
        "busybox", "sh", "-c", serve,
    ).stdout.strip()  # fmt: skip
    show = "ip -4 -o addr show eth0 | awk '{print $4}'"
    owner_ip = inst.docker("exec", "owner", "sh", "-c", show).stdout.strip()
    assert owner_ip
    script = (
        f"{show}; hostname; "
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8088/i && break; sleep 0.2;"
        " done"
    )
    seen = inst.docker(
        "run", "--rm", "--network", "container:owner", "busybox", "sh", "-c", script
    ).stdout.split()  # fmt: skip
    assert seen == [owner_ip, "ownerhost", "from-the-peer"]
    joiner = inst.docker(
        "create", "--name", "joiner", "--network", f"container:{cid[:12]}",
        "busybox", "sleep", "300",
    ).stdout.strip()  # fmt: skip
    info = json.loads(inst.docker("inspect", joiner).stdout)[0]
    assert info["HostConfig"]["NetworkMode"] == f"container:{cid}"
    assert info["NetworkSettings"]["Networks"] == {}
    for flags, message in (  # the estiba CLI leaves every check to the server
        (["-p", "8080:80"], "conflicting options: port publishing and the container type network"),
        (["--network-alias", "x"], "network-scoped alias is supported only for containers in user"),
        (["--hostname", "h"], "conflicting options: hostname and the network mode"),
    ):
        refused = inst.estiba(
            "create", "--network", "container:owner", *flags, "busybox", "true", check=False
        )
        assert refused.returncode != 0, flags
        assert message in refused.stderr, refused.stderr
    inst.docker("create", "--name", "lonely", "--network", "container:nobody", "busybox", "true")
    missing = inst.docker("start", "lonely", check=False)  # as dockerd: looked for at start
    assert "No such container: nobody" in missing.stderr
    inst.docker("stop", "-t", "0", "owner")
    stopped = inst.docker("start", "joiner", check=False)
    assert stopped.returncode != 0
    assert "cannot join network namespace of a non running container" in stopped.stderr
    inst.docker("start", "owner")
    inst.docker("start", "joiner")
    assert inst.docker("exec", "joiner", "sh", "-c", show).stdout.strip() == owner_ip
    inst.docker("rm", "-f", "joiner", "owner", "lonely")
    inst.docker("network", "rm", "shared-net")


def test_docker_py_networks(estiba_instance: EstibaInstance) -> None:
    """docker-py's network calls, and the status codes its users (and compose) act on."""
    client = docker.DockerClient(base_url=estiba_instance.host, timeout=60)
    try:
        net = client.networks.create("py-net", labels={"sdk": "python"})
        other = client.networks.create("py-net2")
        c = client.containers.run(
            "busybox", ["sleep", "300"], detach=True, name="py-net-c", network="py-net"
        )
        net.reload()
        assert [x.id for x in net.containers] == [c.id]
        other.connect(c, aliases=["extra"])
        c.reload()
        nets = c.attrs["NetworkSettings"]["Networks"]
        assert set(nets) == {"py-net", "py-net2"}
        assert nets["py-net2"]["Aliases"][0] == "extra"
        with pytest.raises(APIError) as caught:
            net.remove()
        assert caught.value.status_code == 403
        with pytest.raises(APIError) as caught:
            client.networks.create("py-net")
        assert caught.value.status_code == 409
        with pytest.raises(APIError) as caught:
            other.connect(c)
        assert caught.value.status_code == 403
        other.disconnect(c)
        c.reload()
        assert set(c.attrs["NetworkSettings"]["Networks"]) == {"py-net"}
        c.remove(force=True)
        net.remove()
        other.remove()
    finally:
        client.close()
