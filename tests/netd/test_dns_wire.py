"""The embedded DNS without sockets: the wire format, and the responder on a directory."""

from __future__ import annotations

import dataclasses
import socket
import statistics
import struct
import time
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from services.netd.dns import wire
from services.netd.dns.server import Responder
from services.netd.dns.upstream import Upstream, parse_server
from services.netd.domain.directory import Directory
from services.netd.domain.models import Endpoint, Mode, Network, Sandbox


def network(n: int, name: str, *, internal: bool = False) -> Network:
    subnet = IPv4Network(f"10.{n}.0.0/24")
    return Network(f"{n:064x}", name, "bridge", subnet, subnet[1], f"est{n}", "", internal)


DEFAULT, APP, OTHER, CLOSED = (
    network(1, "bridge"), network(2, "app"), network(3, "other"),
    network(4, "closed", internal=True))  # fmt: skip


def sandbox(cid: str, name: str, *on: tuple[Network, int, tuple[str, ...]]) -> Sandbox:
    endpoints = tuple(
        Endpoint(
            id=f"{cid}{i}",
            container_id=cid,
            network_id=net.id,
            network_name=net.name,
            address=IPv4Interface(f"{net.subnet[host]}/24"),
            gateway=net.gateway,
            mac="",
            host_ifname=f"v{cid}{i}",
            aliases=aliases,
            created_at="",
            ifname=f"eth{i}",
            internal=net.internal,
        )
        for i, (net, host, aliases) in enumerate(on)
    )
    return Sandbox(cid, Mode.BRIDGE, "", name, endpoints, "", name)


@pytest.fixture
def directory() -> Directory:
    d = Directory()
    d.load(
        [DEFAULT, APP, OTHER, CLOSED],
        [
            sandbox("a" * 64, "web", (APP, 2, ("www",)), (DEFAULT, 2, ())),
            sandbox("b" * 64, "cli", (APP, 3, ())),
            sandbox("c" * 64, "db", (OTHER, 2, ("data",)), (APP, 4, ())),
            sandbox("d" * 64, "plain", (DEFAULT, 3, ())),
            sandbox("e" * 64, "vault", (CLOSED, 2, ())),
        ],
    )
    return d


def ip(net: Network, host: int) -> IPv4Address:
    return net.subnet[host]


def test_query_round_trip_and_reply_layout() -> None:
    query = wire.query("Web.App", wire.TYPE_A, qid=77)
    q = wire.parse(query)
    assert (q.id, q.name, q.qtype, q.qclass, q.end) == (77, "Web.App", 1, 1, len(query))
    answer = wire.reply(query, q, addresses=[IPv4Address("10.2.0.2")], ttl=5)
    header = struct.unpack("!6H", answer[:12])
    assert header == (77, wire.QR | wire.AA | wire.RD | wire.RA, 1, 1, 0, 0)
    assert answer[12 : q.end] == query[12:]  # the question as sent, letters' case included
    read = wire.read_answer(answer)
    assert (read.id, read.rcode, read.addresses) == (77, 0, (IPv4Address("10.2.0.2"),))


def test_udp_answers_are_truncated_to_512_bytes() -> None:
    query = wire.query("many")
    many = [IPv4Address(0x0A000000 + i) for i in range(60)]
    answer = wire.reply(query, wire.parse(query), addresses=many)
    assert len(answer) <= 512
    assert wire.read_answer(answer).flags & wire.TC
    full = wire.reply(query, wire.parse(query), addresses=many, limit=None)
    assert len(wire.read_answer(full).addresses) == 60


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01",  # shorter than a header
        struct.pack("!6H", 1, 0, 2, 0, 0, 0) + b"\0\0\x01\0\x01" * 2,  # two questions
        struct.pack("!6H", 1, wire.QR, 1, 0, 0, 0) + b"\0\0\x01\0\x01",  # a response
        struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\0\x01\0\x01",  # a pointer loop
        struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x05ab",  # a label past the end
    ],
)
def test_malformed_queries_are_refused(data: bytes) -> None:
    with pytest.raises(wire.FormatError):
        wire.parse(data)


def test_compressed_names_are_followed() -> None:
    data = struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x03www\xc0\x16" + b"\0\x01\0\x01"
    data += b"\x03app\x00"
    assert wire.read_name(data, 12) == ("www.app", 18)


def test_reverse_names_and_servers() -> None:
    assert wire.reverse_address("4.3.2.10.in-addr.arpa.") == IPv4Address("10.2.3.4")
    assert wire.reverse_address("example.com") is None
    assert parse_server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_server("10.0.0.1") == ("10.0.0.1", 53)
    assert parse_server("[::1]:53") == ("::1", 53)
    with pytest.raises(ValueError, match="dns_upstream"):
        parse_server("10.0.0.1:x")


def answer(
    d: Directory, net: Network, source: IPv4Address, name: str, qtype: int = 1
) -> bytes | None:
    return Responder(d).answer(net.id, source, wire.query(name, qtype), wire.UDP_LIMIT)


def test_scopes_follow_docker_rules(directory: Directory) -> None:
    cli = ip(APP, 3)
    found = answer(directory, APP, cli, "www")
    assert found is not None
    assert wire.read_answer(found).addresses == (ip(APP, 2),)
    # db is on "other" and "app": it sees both, and its own network's answer first.
    db_other = ip(OTHER, 2)
    for name, expected in (("web", ip(APP, 2)), ("data", ip(OTHER, 2)), ("db", ip(OTHER, 2))):
        got = answer(directory, OTHER, db_other, name)
        assert got is not None
        assert wire.read_answer(got).addresses == (expected,), name
    got = answer(directory, APP, ip(APP, 4), "db")  # asked on "app": its "app" address
    assert got is not None
    assert wire.read_answer(got).addresses == (ip(APP, 4),)
    # "data" is db's alias on "other" only: cli (on "app") does not know it; it is forwarded.
    assert answer(directory, APP, cli, "data") is None
    # The default network has no names; the host (the gateway itself) gets the network's names.
    assert answer(directory, DEFAULT, ip(DEFAULT, 3), "web") is None
    host = answer(directory, APP, APP.gateway, "cli")
    assert host is not None
    assert wire.read_answer(host).addresses == (ip(APP, 3),)
    # A source nobody knows, outside the subnet, gets neither names nor forwarding.
    stranger = answer(directory, APP, IPv4Address("192.0.2.9"), "web")
    assert stranger is not None
    assert wire.read_answer(stranger).rcode == wire.REFUSED
    # Internal-only: names yes, forwarding no.
    vault = ip(CLOSED, 2)
    assert answer(directory, CLOSED, vault, "vault") is not None
    refusal = answer(directory, CLOSED, vault, "example.org")
    assert refusal is not None
    assert wire.read_answer(refusal).rcode == wire.REFUSED


def test_record_types_and_reverse_lookups(directory: Directory) -> None:
    cli = ip(APP, 3)
    aaaa = answer(directory, APP, cli, "web", wire.TYPE_AAAA)
    assert aaaa is not None
    read = wire.read_answer(aaaa)
    assert (read.rcode, read.addresses) == (wire.NOERROR, ())
    ptr = answer(directory, APP, cli, "2.0.2.10.in-addr.arpa", wire.TYPE_PTR)
    assert ptr is not None
    assert wire.read_answer(ptr).names == ("web.app",)
    unknown = answer(directory, APP, cli, "99.0.2.10.in-addr.arpa", wire.TYPE_PTR)
    assert unknown is not None
    assert wire.read_answer(unknown).rcode == wire.NXDOMAIN
    assert answer(directory, APP, cli, "1.1.168.192.in-addr.arpa", wire.TYPE_PTR) is None


def test_changes_are_seen_at_once(directory: Directory) -> None:
    cli = ip(APP, 3)
    web = sandbox("a" * 64, "web", (APP, 2, ("www",)))
    directory.put(dataclasses.replace(web, name="web2"))
    assert answer(directory, APP, cli, "web") is None
    assert answer(directory, APP, cli, "web2") is not None
    directory.drop("a" * 64)
    assert answer(directory, APP, cli, "web2") is None
    assert answer(directory, APP, cli, "cli") is not None
    directory.set_networks([DEFAULT, OTHER])  # "app" gone: its names with it (forwarded)
    assert answer(directory, APP, cli, "cli") is None


def test_answer_time_inside_netd(directory: Directory) -> None:
    """What netd spends on a known name: parse, scope, lookup, encode. Target: under 1 ms."""
    for n in range(200):
        directory.put(sandbox(f"{n:064x}", f"box{n}", (APP, 10 + n, (f"alias{n}",))))
    responder = Responder(directory)
    query = wire.query("alias150")
    source = ip(APP, 3)
    samples = []
    for _ in range(3000):
        start = time.perf_counter()
        out = responder.answer(APP.id, source, query, wire.UDP_LIMIT)
        samples.append(time.perf_counter() - start)
    assert out is not None
    assert wire.read_answer(out).addresses == (ip(APP, 160),)
    median = statistics.median(samples)
    print(f"\nDNS answer inside netd: median {median * 1e6:.1f} µs")
    assert median < 0.001


async def test_upstream_never_forwards_to_netds_own_addresses() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.setblocking(False)
        upstream = Upstream([f"127.0.0.1:{listener.getsockname()[1]}"], timeout=0.2)
        query = wire.query("loop.test")
        assert await upstream.udp(query, skip={"127.0.0.1"}) is None
        with pytest.raises(BlockingIOError):
            listener.recv(512)  # skipped: nothing was sent
        assert await upstream.udp(query) is None  # asked, but nobody answers
        assert listener.recv(512) == query
