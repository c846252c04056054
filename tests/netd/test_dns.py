"""The embedded DNS on the real kernel: queries from inside containers' namespaces, to the
server on their network's gateway, with an upstream of the test's own on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import AsyncIterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import cast

import pytest

from estiba.netd.v1 import netd_pb2
from services.netd.dns import wire
from tests.netd import scratch
from tests.netd.conftest import Client, InProcessNetd, Site, real_kernel
from tests.netd.test_networks import cid

pytestmark = real_kernel

OUTSIDE_NAME = "outside.test"
OUTSIDE_ADDRESS = IPv4Address("198.51.100.7")


class FakeUpstream(asyncio.DatagramProtocol):
    """The host's resolver for the tests: knows one name, says NXDOMAIN to the rest."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        q = wire.parse(data)
        self.asked.append(q.name)
        known = q.name.lower() == OUTSIDE_NAME
        addresses = [OUTSIDE_ADDRESS] if known and q.qtype == wire.TYPE_A else []
        rcode = wire.NOERROR if known else wire.NXDOMAIN
        answer = wire.reply(data, q, rcode=rcode, addresses=addresses, authoritative=False)
        assert self.transport is not None
        self.transport.sendto(answer, addr)


@pytest.fixture
async def upstream(site: Site) -> AsyncIterator[FakeUpstream]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        FakeUpstream, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    site.extra_env["ESTIBA_NETD_DNS_UPSTREAM"] = f"127.0.0.1:{port}"
    try:
        yield protocol
    finally:
        transport.close()


@pytest.fixture
async def dns_netd(site: Site, upstream: FakeUpstream) -> AsyncIterator[InProcessNetd]:
    instance = InProcessNetd(site)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def lookup(sandbox: netd_pb2.Sandbox, name: str, server: str) -> str:
    """What busybox nslookup says inside the sandbox."""
    return await asyncio.to_thread(scratch.nslookup, Path(sandbox.netns_path), name, server)


async def ask(
    sandbox: netd_pb2.Sandbox, server: str, name: str, qtype: int = wire.TYPE_A, tcp: bool = False
) -> wire.Answer | None:
    """A raw query from inside the sandbox; None when nothing answered."""
    data = await asyncio.to_thread(
        scratch.run_in_netns,
        Path(sandbox.netns_path),
        lambda: scratch.ask(server, name, qtype, tcp=tcp),
    )
    return wire.read_answer(data) if data else None


def addresses(answer: wire.Answer | None) -> list[str]:
    assert answer is not None, "no answer"
    return [str(a) for a in answer.addresses]


async def test_names_aliases_short_ids_and_forwarding(
    site: Site, dns_netd: InProcessNetd, upstream: FakeUpstream
) -> None:
    async with Client.connect(site) as client:
        app = await client.create_network("app")
        await client.create_network("other")
        web = await client.sandbox(cid(1), "app", name="web", aliases=["www", "front.local"])
        cli = await client.sandbox(cid(2), "app", name="cli")
        stranger = await client.sandbox(cid(3), "other", name="stranger")
        plain = await client.sandbox(cid(4), "bridge", name="plain")
        default = await client.default_network()
    gw = app.gateway
    web_ip = web.endpoints[0].ip_address
    assert cli.resolv_conf.startswith(f"nameserver {gw}\n")
    assert "options ndots:0" in cli.resolv_conf
    assert f"nameserver {default.gateway}" not in plain.resolv_conf  # default: no names
    # busybox nslookup, an independent client: name, alias, short id, name.network, any case.
    for name in ("web", "www", "front.local", cid(1)[:12], "web.app", "WEB"):
        out = await lookup(cli, name, gw)
        assert f"Address: {web_ip}" in out, (name, out)
    out = await lookup(cli, OUTSIDE_NAME, gw)
    assert f"Address: {OUTSIDE_ADDRESS}" in out
    assert OUTSIDE_NAME in upstream.asked
    assert "NXDOMAIN" in await lookup(cli, "stranger", gw)  # another network's container
    assert "stranger" in upstream.asked  # not known here: it went to the host's resolver
    # Raw queries: AAAA of a known name is NOERROR without records, not NXDOMAIN.
    aaaa = await ask(cli, gw, "web", wire.TYPE_AAAA)
    assert aaaa is not None
    assert (aaaa.rcode, aaaa.addresses, bool(aaaa.flags & wire.AA)) == (wire.NOERROR, (), True)
    reverse = ".".join(reversed(web_ip.split("."))) + ".in-addr.arpa"
    ptr = await ask(cli, gw, reverse, wire.TYPE_PTR)
    assert ptr is not None
    assert ptr.names == ("web.app",)
    assert addresses(await ask(cli, gw, "www", tcp=True)) == [web_ip]
    # A container of another network asking this network's server does not learn its names.
    assert "web" not in str(await ask(stranger, gw, "web"))
    assert addresses(await ask(stranger, gw, "web")) == []
    # The default network's gateway serves no names at all.
    assert await ask(plain, default.gateway, "web") is None


async def test_names_follow_connect_disconnect_rename_and_removal(
    site: Site, dns_netd: InProcessNetd, upstream: FakeUpstream
) -> None:
    async with Client.connect(site) as client:
        app = await client.create_network("app")
        other = await client.create_network("other")
        web = await client.sandbox(cid(1), "app", name="web")
        cli = await client.sandbox(cid(2), "app", name="cli")
        db = await client.sandbox(cid(3), "other", name="db")
        gw = app.gateway
        assert addresses(await ask(cli, gw, "db")) == []
        db = await client.attach(cid(3), "app", aliases=["database"])
        db_on_app = db.endpoints[1].ip_address
        assert addresses(await ask(cli, gw, "db")) == [db_on_app]
        assert addresses(await ask(cli, gw, "database")) == [db_on_app]
        # On two networks, db sees the names of both, through either server.
        lonely = await client.sandbox(cid(4), "other", name="lonely")
        lonely_ip = lonely.endpoints[0].ip_address
        assert addresses(await ask(db, gw, "web")) == [web.endpoints[0].ip_address]
        assert addresses(await ask(db, gw, "lonely")) == [lonely_ip]
        assert addresses(await ask(db, other.gateway, "web")) == [web.endpoints[0].ip_address]
        # The name on the network asked wins: db's own address on "other" from other's server.
        assert addresses(await ask(db, other.gateway, "db")) == [db.endpoints[0].ip_address]
        db = await client.detach(cid(3), "app")
        assert addresses(await ask(cli, gw, "db")) == []
        assert addresses(await ask(cli, gw, "database")) == []
        await client.rename(cid(1), "web2")
        assert addresses(await ask(cli, gw, "web")) == []
        assert addresses(await ask(cli, gw, "web2")) == [web.endpoints[0].ip_address]
        assert addresses(await ask(cli, gw, cid(1)[:12])) == [web.endpoints[0].ip_address]
        # A repeated create with another name (the engine starting a renamed container) too.
        await client.sandbox(cid(1), "app", name="web3")
        assert addresses(await ask(cli, gw, "web3")) == [web.endpoints[0].ip_address]
        await client.remove(cid(1))
        assert addresses(await ask(cli, gw, "web3")) == []
        assert addresses(await ask(cli, gw, cid(1)[:12])) == []


async def test_an_internal_network_resolves_its_names_and_nothing_else(
    site: Site, dns_netd: InProcessNetd, upstream: FakeUpstream
) -> None:
    async with Client.connect(site) as client:
        closed = await client.create_network("closed", internal=True)
        a = await client.sandbox(cid(1), "closed", name="a")
        b = await client.sandbox(cid(2), "closed", name="b")
    assert addresses(await ask(b, closed.gateway, "a")) == [a.endpoints[0].ip_address]
    refusal = await ask(b, closed.gateway, OUTSIDE_NAME)
    assert refusal is not None
    assert (refusal.rcode, refusal.addresses) == (wire.REFUSED, ())
    assert upstream.asked == []  # nothing left the network, not even as a DNS query


async def test_round_trip_time_from_a_container(site: Site, dns_netd: InProcessNetd) -> None:
    """The median time of a query from inside a container to the answer, through the kernel
    and netd's event loop (the time inside netd alone is in test_dns_wire)."""
    async with Client.connect(site) as client:
        app = await client.create_network("app")
        web = await client.sandbox(cid(1), "app", name="web", aliases=["www"])
        cli = await client.sandbox(cid(2), "app", name="cli")
        for n in range(20):  # some other containers on the network
            await client.sandbox(f"{n:02d}" * 32, "app", name=f"box{n}")
    expected = web.endpoints[0].ip_address

    def round_trips() -> list[float]:
        times = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            for i in range(300):
                query = wire.query("www", qid=i)
                start = time.perf_counter()
                s.sendto(query, (app.gateway, 53))
                data = s.recv(512)
                times.append(time.perf_counter() - start)
                answer = wire.read_answer(data)
                assert (answer.id, [str(a) for a in answer.addresses]) == (i, [expected])
        return times

    trips = await asyncio.to_thread(scratch.run_in_netns, Path(cli.netns_path), round_trips)
    median = statistics.median(trips)
    print(f"\nDNS round trip from a container: median {median * 1e6:.0f} µs")
    assert median < 0.005
