"""netd.db: migrations from a released version 1, and the store's rules, on real SQLite files."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from services.kit import errors
from services.kit.db import Database
from services.netd.domain.models import Endpoint, Mode, Network, PortBinding, Sandbox
from services.netd.store.migrations import MIGRATIONS
from services.netd.store.sqlite import NetdStore

NET = Network("n" * 64, "bridge", "bridge", IPv4Network("10.5.0.0/24"), IPv4Address("10.5.0.1"),
              "est0", "2026-01-01T00:00:00.000000Z")  # fmt: skip


def sandbox(cid: str, address: str, ifname: str) -> Sandbox:
    endpoint = Endpoint(
        id=cid[0] * 64,
        container_id=cid,
        network_id=NET.id,
        network_name=NET.name,
        address=IPv4Interface(f"{address}/24"),
        gateway=NET.gateway,
        mac="02:42:0a:05:00:02",
        host_ifname=ifname,
        aliases=("db", "cache"),
        created_at="2026-01-01T00:00:01.000000Z",
    )
    return Sandbox(cid, Mode.BRIDGE, f"/run/x/{cid}", "h", (endpoint,), endpoint.created_at)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[NetdStore]:
    db = await Database.open(tmp_path / "netd.db", MIGRATIONS)
    try:
        s = NetdStore(db)
        async with s.write() as tx:
            await tx.add_network(NET)
        yield s
    finally:
        await db.close()


async def test_later_migrations_keep_version_1_rows(tmp_path: Path) -> None:
    path = tmp_path / "netd.db"
    db = await Database.open(path, MIGRATIONS[:1])
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO networks VALUES ('x', 'old', 'bridge', '10.0.0.0/24', '10.0.0.1', 't')"
        )
    await db.close()
    db = await Database.open(path, MIGRATIONS)
    try:
        assert await db.schema_version() == 4
        async with NetdStore(db).read() as tx:
            [old] = await tx.networks()
            assert (old.name, old.bridge, str(old.subnet)) == ("old", "", "10.0.0.0/24")
            assert (old.internal, old.ip_range, old.labels) == (False, None, ())
            assert await tx.ipam_state("x") == (set(), None)
            assert await tx.sandboxes() == []
    finally:
        await db.close()


async def test_sandbox_round_trip_and_delete_releases_the_address(store: NetdStore) -> None:
    a = sandbox("a" * 64, "10.5.0.2", "esta")
    none = Sandbox("b" * 64, Mode.NONE, "/run/x/b", "b", (), "2026-01-01T00:00:02.000000Z")
    async with store.write() as tx:
        await tx.add_sandbox(a)
        await tx.add_sandbox(none)
        await tx.set_ipam_last(NET.id, IPv4Address("10.5.0.2"))
    async with store.read() as tx:
        assert await tx.sandbox(a.container_id) == a
        assert await tx.sandboxes() == [a, none]
        assert await tx.endpoints_of(NET.id) == list(a.endpoints)
        assert await tx.ipam_state(NET.id) == ({IPv4Address("10.5.0.2")}, IPv4Address("10.5.0.2"))
    assert await store.counts() == (1, 1)
    async with store.write() as tx:
        assert await tx.delete_sandbox(a.container_id)
        assert not await tx.delete_sandbox(a.container_id)
    async with store.read() as tx:
        assert await tx.ipam_state(NET.id) == (set(), IPv4Address("10.5.0.2"))
    assert await store.counts() == (1, 0)


async def test_an_address_is_never_recorded_twice(store: NetdStore) -> None:
    async with store.write() as tx:
        await tx.add_sandbox(sandbox("a" * 64, "10.5.0.2", "esta"))
    with pytest.raises(errors.AlreadyExists) as caught:
        async with store.write() as tx:
            await tx.add_sandbox(sandbox("c" * 64, "10.5.0.2", "estc"))
    assert caught.value.reason == "SANDBOX_CONFLICT"
    async with store.read() as tx:  # the failed transaction left nothing behind
        assert [s.container_id for s in await tx.sandboxes()] == ["a" * 64]


async def test_veth_names_are_unique(store: NetdStore) -> None:
    async with store.write() as tx:
        await tx.add_sandbox(sandbox("a" * 64, "10.5.0.2", "esta"))
        assert await tx.free_ifname(["esta", "estb"]) == "estb"
        assert await tx.free_ifname(["esta"]) is None
    with pytest.raises(errors.AlreadyExists):
        async with store.write() as tx:
            await tx.add_sandbox(sandbox("c" * 64, "10.5.0.3", "esta"))


async def test_settings(store: NetdStore) -> None:
    async with store.write() as tx:
        assert await tx.setting("k") is None
        await tx.set_setting("k", "1")
        await tx.set_setting("k", "2", replace=False)
        assert await tx.setting("k") == "1"
        await tx.set_setting("k", "3")
        assert await tx.setting("k") == "3"


async def test_migration_3_keeps_version_2_sandboxes(tmp_path: Path) -> None:
    path = tmp_path / "netd.db"
    db = await Database.open(path, MIGRATIONS[:2])
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO networks (id, name, driver, subnet, gateway, created_at, bridge)"
            " VALUES ('n', 'bridge', 'bridge', '10.5.0.0/24', '10.5.0.1', 't', 'est0')"
        )
        await tx.execute("INSERT INTO sandboxes VALUES ('c1', 'bridge', '/run/x/c1', 'h', 't')")
        await tx.execute(
            "INSERT INTO endpoints (id, network_id, container_id, address, created_at, mac,"
            " host_ifname, aliases) VALUES ('e', 'n', 'c1', '10.5.0.2', 't', 'm', 'estc1', '[]')"
        )
    await db.close()
    db = await Database.open(path, MIGRATIONS)
    try:
        async with NetdStore(db).read() as tx:
            sandbox = await tx.sandbox("c1")
        assert sandbox is not None
        assert (sandbox.name, sandbox.ports) == ("", ())
        [endpoint] = sandbox.endpoints
        assert (endpoint.ifname, endpoint.internal, str(endpoint.address)) == (
            "eth0", False, "10.5.0.2/24")  # fmt: skip
    finally:
        await db.close()


async def test_user_network_fields_round_trip_and_delete(store: NetdStore) -> None:
    net = Network(
        "u" * 64, "mynet", "bridge", IPv4Network("10.6.0.0/24"), IPv4Address("10.6.0.254"),
        "est-uuuu", "2026-01-02T00:00:00.000000Z", internal=True, attachable=True,
        ip_range=IPv4Network("10.6.0.128/25"), labels=(("a", "1"), ("b", "")),
        options=(("com.docker.network.driver.mtu", "1400"),),
    )  # fmt: skip
    async with store.write() as tx:
        await tx.add_network(net)
    with pytest.raises(errors.AlreadyExists) as caught:
        async with store.write() as tx:
            await tx.add_network(dataclasses.replace(net, id="v" * 64, bridge="est-vvvv"))
    assert caught.value.reason == "NETWORK_EXISTS"
    async with store.read() as tx:
        assert await tx.networks() == [NET, net]
    async with store.write() as tx:
        assert await tx.delete_network(net.id)
        assert not await tx.delete_network(net.id)
        assert await tx.ipam_state(net.id) is None


async def test_endpoints_ports_and_names_of_a_sandbox(store: NetdStore) -> None:
    a = dataclasses.replace(
        sandbox("a" * 64, "10.5.0.2", "esta"),
        name="web",
        ports=(
            PortBinding("tcp", 80, None, 8080),
            PortBinding("udp", 53, IPv4Address("127.0.0.1"), 5353),
        ),
    )
    second = dataclasses.replace(
        a.endpoints[0], id="e" * 64, address=IPv4Interface("10.5.0.3/24"), host_ifname="esta2",
        ifname="eth1", created_at="2026-01-01T00:00:09.000000Z",
    )  # fmt: skip
    async with store.write() as tx:
        await tx.add_sandbox(a)
        with pytest.raises(errors.AlreadyExists):
            await tx.add_endpoint(second)  # one endpoint per container and network
    other = Network("o" * 64, "other", "bridge", IPv4Network("10.7.0.0/24"),
                    IPv4Address("10.7.0.1"), "est-o", "2026-01-03T00:00:00.000000Z")  # fmt: skip
    second = dataclasses.replace(
        second, network_id=other.id, network_name=other.name, address=IPv4Interface("10.7.0.2/24")
    )
    async with store.write() as tx:
        await tx.add_network(other)
        await tx.add_endpoint(second)
        assert await tx.set_sandbox_name(a.container_id, "web2")
        assert not await tx.set_sandbox_name("nobody", "x")
    async with store.read() as tx:
        got = await tx.sandbox(a.container_id)
        assert await tx.endpoint_counts() == {NET.id: 1, other.id: 1}
        assert await tx.published() == [(a.container_id, p) for p in a.ports]
    assert got is not None
    assert got.name == "web2"
    assert [e.ifname for e in got.endpoints] == ["eth0", "eth1"]
    assert [e.container_name for e in got.endpoints] == ["web2", "web2"]
    assert got.ports == a.ports
    async with store.write() as tx:
        assert await tx.delete_endpoint(a.container_id, other.id)
        assert await tx.delete_sandbox(a.container_id)
    async with store.read() as tx:
        assert await tx.published() == []
        assert await tx.endpoint_counts() == {}
