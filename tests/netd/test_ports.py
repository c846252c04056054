"""Published ports on the real kernel: from an outside namespace, from the host's address and
127.0.0.1, from the container itself (hairpin) and its neighbours; conflicts; restarts."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import grpc

from estiba.netd.v1 import netd_pb2
from tests.netd import scratch
from tests.netd.conftest import Client, InProcessNetd, Site, real_kernel
from tests.netd.test_networks import cid, refused

pytestmark = real_kernel


def port(container: int, host: int = 0, host_ip: str = "") -> netd_pb2.PortBinding:
    return netd_pb2.PortBinding(
        protocol="tcp", container_port=container, host_port=host, host_ip=host_ip
    )


async def fetch(address: str, number: int, netns: str | Path | None = None) -> str | None:
    """The echo server's greeting, from the host or from inside a namespace."""
    if netns is None:
        return await asyncio.to_thread(scratch.fetch, address, number)
    return await asyncio.to_thread(
        scratch.run_in_netns, Path(netns), lambda: scratch.fetch(address, number)
    )


async def freed(number: int, timeout: float = 5) -> bool:
    """Whether the host's TCP port comes free (bound and let go again) within ``timeout``."""
    for _ in range(int(timeout / 0.02)):
        with socket.socket() as s:
            try:
                s.bind(("", number))
            except OSError:
                await asyncio.sleep(0.02)
                continue
        return True
    return False


async def test_published_ports_reach_the_container_from_everywhere(
    site: Site, netd: InProcessNetd
) -> None:
    outside = await asyncio.to_thread(scratch.make_outside, site.prefix, site.scratch_netns_dir)
    async with Client.connect(site) as client:
        app = await client.create_network("app")
        await client.create_network("elsewhere")
        web = await client.sandbox(
            cid(1), "app", name="web", ports=[port(80), port(81, 0, "127.0.0.1")]
        )
        neighbour = await client.sandbox(cid(2), "app", name="neighbour")
        stranger = await client.sandbox(cid(3), "elsewhere", name="stranger")
    public, local = web.ports
    assert (public.container_port, public.host_ip, local.host_ip) == (80, "", "127.0.0.1")
    assert public.host_port > 0  # chosen by the host
    assert local.host_port > 0
    gw, host_ip = app.gateway, str(outside.host_ip)
    with scratch.TcpEcho(Path(web.netns_path), 80), scratch.TcpEcho(Path(web.netns_path), 81):
        # From the outside world: the container sees the client's own address.
        assert await fetch(host_ip, public.host_port, outside.netns) == f"hello {outside.ip}"
        # From the host, to its own address and to 127.0.0.1 (route_localnet + masquerade).
        assert await fetch(host_ip, public.host_port) == f"hello {host_ip}"
        assert await fetch("127.0.0.1", public.host_port) == f"hello {gw}"
        assert await fetch("127.0.0.1", local.host_port) == f"hello {gw}"
        # From the container itself (hairpin) and its neighbour, through the host's address.
        assert await fetch(host_ip, public.host_port, web.netns_path) == f"hello {gw}"
        assert await fetch(gw, public.host_port, neighbour.netns_path) == f"hello {gw}"
        # Another network reaches the published port, and still not the container itself.
        assert await fetch(host_ip, public.host_port, stranger.netns_path) is not None
        assert await fetch(web.endpoints[0].ip_address, 80, stranger.netns_path) is None
        # A port published on 127.0.0.1 only is not reachable from outside.
        assert await fetch(host_ip, local.host_port, outside.netns) is None
        # netd holds the host port: nobody else can take it.
        with socket.socket() as s:
            try:
                s.bind(("", public.host_port))
                taken = False
            except OSError:
                taken = True
        assert taken
        # A restart of netd keeps all of it.
        await netd.stop()
        await netd.start()
        assert await fetch(host_ip, public.host_port, outside.netns) == f"hello {outside.ip}"
        assert await fetch("127.0.0.1", public.host_port) == f"hello {gw}"
        async with Client.connect(site) as client:
            assert await client.remove(cid(1))
        assert await freed(public.host_port)  # by the teardown that follows the answer
        assert await fetch("127.0.0.1", public.host_port) is None  # rules and socket gone


async def test_port_conflicts_are_refused_and_leave_nothing(
    site: Site, netd: InProcessNetd
) -> None:
    code = grpc.StatusCode
    async with Client.connect(site) as client:
        await client.create_network("app")
        first = await client.sandbox(cid(1), "app", ports=[port(80)])
        taken = first.ports[0].host_port
        before = site.leftovers()
        await refused(
            client.sandbox(cid(2), "app", ports=[port(8080, taken)]),
            code.FAILED_PRECONDITION,
            "PORT_IN_USE",
        )
        await refused(
            client.sandbox(cid(2), "app", ports=[port(8080, taken, "127.0.0.1")]),
            code.FAILED_PRECONDITION,
            "PORT_IN_USE",
        )
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            held = holder.getsockname()[1]
            message = await refused(
                client.sandbox(cid(2), "app", ports=[port(8080, held)]),
                code.FAILED_PRECONDITION,
                "PORT_IN_USE",
            )
            assert f"0.0.0.0:{held}/tcp is already in use on the host" in message
        for bad in (port(0), port(70000), port(80, 0, "10.1.2.3.4")):
            await refused(
                client.sandbox(cid(2), "app", ports=[bad]), code.INVALID_ARGUMENT, "PORT_INVALID"
            )
        await refused(
            client.sandbox(cid(2), "app", ports=[port(80, 19999), port(81, 19999)]),
            code.INVALID_ARGUMENT,
            "PORT_INVALID",
        )
        await refused(
            client.sandbox(cid(2), "none", ports=[port(80)]),
            code.INVALID_ARGUMENT,
            "ALIASES_WITHOUT_NETWORK",
        )
        assert [s.container_id for s in await client.list()] == [cid(1)]
        assert site.leftovers() == before
        # The same port on another protocol is another port.
        udp = netd_pb2.PortBinding(protocol="udp", container_port=53, host_port=taken)
        second = await client.sandbox(cid(2), "app", ports=[udp])
        assert second.ports[0].host_port == taken
