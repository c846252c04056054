"""Overlay networks between two nodes: two netd processes, each in a network namespace of the
test's own standing for a host, joined by a veth pair as the underlay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from estiba.netd.v1 import netd_pb2
from tests.netd import kernel, scratch
from tests.netd.conftest import REPO, Client, Site, real_kernel, wait_healthy

pytestmark = real_kernel
UNDERLAY = ("10.99.0.1", "10.99.0.2")
SUBNET = "10.216.5.0/24"


class NodeNetd:
    """``python -m services.netd`` inside one node's namespace, stopped by its pid."""

    def __init__(self, site: Site, node: Path) -> None:
        self.site = site
        self.node = node
        self.log = site.base / "netd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        self.site.base.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            return subprocess.Popen(
                ["nsenter", f"--net={self.node}", sys.executable, "-m", "services.netd"],
                cwd=REPO,
                env={**os.environ, **self.site.env, "ESTIBA_LOG_FORMAT": "json"},
                stdout=log,
                stderr=log,
            )

    async def start(self) -> None:
        proc = self.proc = self.spawn()

        def alive() -> None:
            if proc.poll() is not None:
                raise RuntimeError(f"netd exited {proc.returncode}: {self.log.read_text()[-2000:]}")

        await wait_healthy(self.site.target, alive)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)


def make_nodes(directory: Path) -> list[Path]:
    """Two namespaces with lo up, joined by the underlay veth pair (10.99.0.1 ↔ 10.99.0.2)."""
    directory.mkdir(parents=True, exist_ok=True)
    nodes = [directory / "node-a", directory / "node-b"]
    for node in nodes:
        node.touch()
        kernel.host("unshare", f"--net={node}", "true")
        kernel.in_netns(node, "ip", "link", "set", "lo", "up")
    kernel.in_netns(nodes[0], "ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0",
                    "netns", str(nodes[1]))  # fmt: skip
    for node, address in zip(nodes, UNDERLAY, strict=True):
        kernel.in_netns(node, "ip", "addr", "add", f"{address}/24", "dev", "ul0")
        kernel.in_netns(node, "ip", "link", "set", "ul0", "up")
    return nodes


def full_size_ping(netns_file: Path, address: str) -> bool:
    """An echo of 1450 bytes at IP (1422 of payload): the most the overlay's MTU carries."""
    result = subprocess.run(
        ["nsenter", f"--net={netns_file}", "busybox", "ping", "-c1", "-W2", "-s", "1422", address],
        capture_output=True,
        check=False,
        timeout=10,
    )
    return result.returncode == 0


async def resolves(netns_file: Path, name: str, address: str | None) -> bool:
    """Whether ``name`` comes to resolve to ``address`` (None: to nothing) within 10 s, asked
    of the network's DNS server from inside the container."""
    for _ in range(100):
        answer = await asyncio.to_thread(scratch.nslookup, netns_file, name, "10.216.5.1")
        wanted = "can't find" if address is None else f"Address: {address}"
        if wanted in answer:
            return True
        await asyncio.sleep(0.1)
    return False


def flood_targets(node: Path, vxlan: str) -> set[str]:
    """The peers a VXLAN link floods to: its all-zeros forwarding entries."""
    entries = json.loads(kernel.in_netns(node, "bridge", "-j", "fdb", "show", "dev", vxlan))
    return {e["dst"] for e in entries if e.get("mac") == "00:00:00:00:00:00"}


def details(node: Path, name: str) -> dict[str, object]:
    found = json.loads(kernel.in_netns(node, "ip", "-d", "-j", "link", "show", name))
    return dict(found[0])


async def test_overlay_spans_two_nodes(site: Site) -> None:
    nodes = make_nodes(site.scratch_netns_dir)
    sites = [site, Site(site.prefix, site.base / "node-b")]
    for s, (me, peer) in zip(sites, (UNDERLAY, UNDERLAY[::-1]), strict=True):
        s.extra_env.update(ESTIBA_NETD_OVERLAY_LOCAL=me, ESTIBA_NETD_OVERLAY_PEERS=peer)
    netds = [NodeNetd(s, node) for s, node in zip(sites, nodes, strict=True)]
    try:
        for netd in netds:
            await netd.start()
        made = []
        for n, s in enumerate(sites):
            async with Client.connect(s) as client:
                half = f"10.216.5.{128 * n}/25"  # each node hands out its own half
                network = await client.create_network(
                    "lab", driver="overlay", subnet=SUBNET, ip_range=half
                )
                assert network.driver == "overlay"
                made.append(
                    await client.sandbox(f"{n:x}" * 64, "lab", name=f"c{n}", aliases=[f"web{n}"])
                )
                without = netd_pb2.CreateNetworkRequest(name="nosubnet", driver="overlay")
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await client.networks.CreateNetwork(without)
                assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        a, b = (m.endpoints[0] for m in made)
        assert a.ip_address.startswith("10.216.5.")
        assert a.ip_address != b.ip_address
        # One VXLAN link per overlay network on its bridge, the same VNI on both nodes, MTU 1450
        # on every device of the segment.
        vnis, bridges = [], []
        for node, s in zip(nodes, sites, strict=True):
            async with Client.connect(s) as client:
                bridge = (await client.network("lab")).bridge
            bridges.append(bridge)
            vxlan = details(node, bridge.replace("-", "x", 1))
            info = vxlan["linkinfo"]["info_data"]  # type: ignore[index]
            vnis.append(info["id"])
            assert info["local"] in UNDERLAY
            assert info["learning"] is False
            assert vxlan["mtu"] == 1450
            assert vxlan["master"] == bridge
            assert details(node, bridge)["mtu"] == 1450
        assert vnis[0] == vnis[1]
        for sandbox in made:
            eth0 = json.loads(kernel.in_netns(Path(sandbox.netns_path), "ip", "-j", "link",
                                              "show", "eth0"))[0]  # fmt: skip
            assert eth0["mtu"] == 1450
        # Containers on different nodes reach each other, both ways, with full-size packets.
        assert kernel.ping(Path(made[0].netns_path), b.ip_address)
        assert kernel.ping(Path(made[1].netns_path), a.ip_address)
        assert full_size_ping(Path(made[0].netns_path), b.ip_address)
        # The gateway answers on each node for its own containers (an anycast gateway).
        assert kernel.ping(Path(made[0].netns_path), "10.216.5.1")
        assert kernel.ping(Path(made[1].netns_path), "10.216.5.1")
        # Names cross nodes: each netd tells its peers of its overlay containers.
        for mine, other, n in ((made[0], b, 1), (made[1], a, 0)):
            for name in (f"c{n}", f"web{n}", f"{n:x}" * 12, f"c{n}.lab"):
                assert await resolves(Path(mine.netns_path), name, other.ip_address), name
        # An address a container holds on another node is not handed out here, even asked for.
        async with Client.connect(sites[0]) as client:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.sandbox("e" * 64, "lab", ip=b.ip_address)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # The peers a network names (as the gateway sets them) join the settings' own; the
        # first node may pick the subnet then, and the others are given it.
        async with Client.connect(sites[0]) as client:
            peers = {"estiba.overlay.peers": "10.99.0.7,10.99.0.8"}
            lab2 = await client.create_network("lab2", driver="overlay", options=peers)
            vxlan2 = lab2.bridge.replace("-", "x", 1)
            assert flood_targets(nodes[0], vxlan2) == {UNDERLAY[1], "10.99.0.7", "10.99.0.8"}
            bad = netd_pb2.CreateNetworkRequest(
                name="lab3", driver="overlay", options={"estiba.overlay.peers": "10.99.0.x"}
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.networks.CreateNetwork(bad)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            await client.delete_network("lab2")
        # A container gone on one node is gone from the other's names at once.
        async with Client.connect(sites[1]) as client:
            await client.remove("1" * 64)
        assert await resolves(Path(made[0].netns_path), "c1", None)
        async with Client.connect(sites[1]) as client:
            made[1] = await client.sandbox("1" * 64, "lab", name="c1", aliases=["web1"])
        b = made[1].endpoints[0]
        assert await resolves(Path(made[0].netns_path), "web1", b.ip_address)
        # A restart keeps the VXLAN link (reconcile does not take it for a stray), and follows
        # the peers as the settings name them.
        vxlan_a = bridges[0].replace("-", "x", 1)
        sites[0].extra_env["ESTIBA_NETD_OVERLAY_PEERS"] = f"{UNDERLAY[1]},10.99.0.9"
        netds[0].stop()
        await netds[0].start()
        assert flood_targets(nodes[0], vxlan_a) == {UNDERLAY[1], "10.99.0.9"}
        assert kernel.ping(Path(made[0].netns_path), b.ip_address)
        # A restarted netd learns the other node's names again at once (a peer that does not
        # answer, 10.99.0.9, holds nothing up), and the other node its names.
        assert await resolves(Path(made[0].netns_path), "web1", b.ip_address)
        assert await resolves(Path(made[1].netns_path), "c0", a.ip_address)
        sites[0].extra_env["ESTIBA_NETD_OVERLAY_PEERS"] = UNDERLAY[1]
        netds[0].stop()
        await netds[0].start()
        assert flood_targets(nodes[0], vxlan_a) == {UNDERLAY[1]}
        for n, s in enumerate(sites):
            async with Client.connect(s) as client:
                await client.remove(f"{n:x}" * 64)
                await client.delete_network("lab")
        gone = json.loads(kernel.in_netns(nodes[0], "ip", "-j", "link", "show", "type", "vxlan"))
        assert gone == []
    finally:
        for netd in netds:
            netd.stop()
        kernel.remove_netns_files(sites[1].netns_dir)
        with contextlib.suppress(Exception):
            kernel.remove_netns_files(site.scratch_netns_dir)
