"""An overlay network across two nodes behind one gateway, made with one ``docker network
create -d overlay``.

Each node is a network namespace of the test's own standing for a host, the two joined by a
veth pair as the underlay (10.99.0.1 ↔ 10.99.0.2). A node's netd runs inside its namespace,
where its bridges, VXLAN link, nftables table and embedded DNS live; its engine runs in the
host's, with the node's own root, run dir and kernel prefix: the engine only needs netd's
socket (a file, reachable across network namespaces) and the sandbox namespace files netd binds
under the run dir, and it is reached by the gateway over TCP on 127.0.0.1. The gateway's own
instance (``estiba up -d``) lists the two nodes and nothing else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from tests.e2e.conftest import EstibaInstance, _teardown, free_port, unmount_under
from tests.e2e.test_nodes import Node, _wait_healthy
from tests.isolation import isolated_env, kernel_prefix, remove_kernel_objects
from tests.netd import kernel
from tests.netd.test_overlay import UNDERLAY, make_nodes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers and namespaces need root")


@dataclasses.dataclass
class NodeInNetns(Node):
    """A node whose netd runs inside the node's network namespace (its engine in the host's)."""

    netns: Path = Path()

    def spawn(self, name: str, logs: Path) -> subprocess.Popen[bytes]:
        """Start the node's ``name`` service (netd inside the namespace), not waiting."""
        logs.mkdir(parents=True, exist_ok=True)
        inside = ["nsenter", f"--net={self.netns}"] if name == "netd" else []
        with (logs / f"{name}.log").open("ab") as log:
            self.procs.append(
                subprocess.Popen(
                    [*inside, sys.executable, "-m", f"services.{name}"],
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            )
        return self.procs[-1]


async def _start(nodes: list[NodeInNetns], base: Path) -> None:
    """Both nodes at once: their netd first, then their engines (which ask their netd)."""
    for name in ("netd", "engine"):
        waits = []
        for node in nodes:
            proc = node.spawn(name, base / node.env["ESTIBA_NODE_NAME"] / "logs")
            waits.append(_wait_healthy(name, getattr(node, name), proc))
        await asyncio.gather(*waits)


@dataclasses.dataclass
class Lab:
    inst: EstibaInstance
    nodes: list[NodeInNetns]


def _node(base: Path, name: str, netns: Path, underlay: str) -> NodeInNetns:
    run = base / name / "run"
    engine = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        **isolated_env(base / name / "root", run, kernel_prefix()),
        "ESTIBA_NODE_NAME": name,
        "ESTIBA_ENGINE_GRPC_LISTEN": engine,
        "ESTIBA_NETD_OVERLAY_LOCAL": underlay,
    }
    return NodeInNetns(
        base / name / "root", env, engine, f"unix://{run / 'netd.sock'}", netns=netns
    )


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    base = Path(tempfile.mkdtemp(prefix="eo-", dir="/tmp"))
    netns_files = make_nodes(base / "netns")
    nodes = [
        _node(base, f"n{i + 1}", netns, address)
        for i, (netns, address) in enumerate(zip(netns_files, UNDERLAY, strict=True))
    ]
    inst = EstibaInstance(base / "root", base / "run", f"127.0.0.1:{free_port()}")
    config = base / "estiba.toml"
    listed = ", ".join(
        f'"{n.env["ESTIBA_NODE_NAME"]} engine={n.engine} netd={n.netd}"' for n in nodes
    )
    config.write_text(f"[gateway]\nnodes = [{listed}]\n")
    try:
        asyncio.run(_start(nodes, base))
        inst.estiba(
            "up", "-d", "--root", str(inst.root), "--run-dir", str(inst.run_dir),
            "--registry-addr", inst.registry_addr, "--config", str(config),
        )  # fmt: skip
        yield Lab(inst, nodes)
    finally:
        try:
            if all(n.procs for n in nodes):
                ids = inst.estiba("ps", "-aq", "--no-trunc", check=False).stdout.split()
                if ids:
                    inst.estiba("rm", "-f", *ids, check=False)
            for node in nodes:
                node.stop()
            _teardown(inst, base)
        finally:
            for node in nodes:
                remove_kernel_objects(node.env)
            kernel.remove_netns_files(base / "netns")  # the nodes' namespaces, all they hold
            unmount_under(base)
            shutil.rmtree(base, ignore_errors=True)


def _address(inst: EstibaInstance, container: str) -> str:
    template = "{{.NetworkSettings.Networks.lab.IPAddress}}"
    return inst.docker("inspect", "--format", template, container).stdout.strip()


def _pings(inst: EstibaInstance, container: str, target: str, within: float = 10) -> bool:
    """Whether ``target`` answers a ping from inside the container (names may take a moment
    to reach the other node: one swap between the two netd)."""
    deadline = time.monotonic() + within
    while True:
        done = inst.estiba("exec", container, "ping", "-c1", "-W2", target, check=False)
        if done.returncode == 0 or time.monotonic() > deadline:
            return done.returncode == 0
        time.sleep(0.2)


def test_one_overlay_network_spans_both_nodes(lab: Lab) -> None:
    inst = lab.inst
    # One request makes the network on every node: one subnet, each node its own range.
    inst.docker("network", "create", "-d", "overlay", "lab")
    listed = inst.docker("network", "ls", "--filter", "name=lab", "--format",
                         '{{.Name}} {{.Driver}} {{.Label "estiba.node"}}').stdout  # fmt: skip
    assert sorted(listed.splitlines()) == ["lab overlay n1", "lab overlay n2"]
    on = {}
    for node, name in (("n1", "ca"), ("n2", "cb")):
        on[name] = inst.estiba("run", "-d", "--node", node, "--name", name, "--network", "lab",
                               "--network-alias", f"{name}-alias", "busybox", "sleep",
                               "300").stdout.strip()  # fmt: skip
    a, b = _address(inst, "ca"), _address(inst, "cb")
    template = "{{(index .IPAM.Config 0).Subnet}}"
    subnet = IPv4Network(
        inst.docker("network", "inspect", "--format", template, "lab").stdout.strip()
    )
    halves = list(subnet.subnets(prefixlen_diff=1))
    assert IPv4Address(a) in halves[0], (a, b)
    assert IPv4Address(b) in halves[1], (a, b)
    # Across the nodes, both ways: by address, by name, by alias, by short id.
    assert _pings(inst, "ca", b)
    assert _pings(inst, "cb", a)
    for source, target in (("ca", "cb"), ("cb", "ca")):
        for name in (target, f"{target}-alias", on[target][:12], f"{target}.lab"):
            assert _pings(inst, source, name), f"{source} → {name}"
    # A node that cannot make it takes back what the nodes before it made.
    inst.docker("network", "create", "--label", "estiba.node=n2", "taken")
    clash = inst.docker("network", "create", "-d", "overlay", "taken", check=False)
    assert clash.returncode != 0
    assert "network with name taken already exists" in clash.stderr
    names = inst.docker("network", "ls", "--format", '{{.Name}} {{.Label "estiba.node"}}')
    assert "taken n1" not in names.stdout.splitlines()
    inst.docker("network", "rm", "taken")
    # In use on a node: not removed from any; once empty, removed from every node.
    refused = inst.docker("network", "rm", "lab", check=False)
    assert refused.returncode != 0
    assert "active endpoints" in refused.stderr
    inst.estiba("rm", "-f", "ca", "cb")
    inst.docker("network", "rm", "lab")
    assert "lab" not in inst.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    for netns in (node.netns for node in lab.nodes):
        vxlans = kernel.in_netns(netns, "ip", "-o", "link", "show", "type", "vxlan")
        assert vxlans == ""
