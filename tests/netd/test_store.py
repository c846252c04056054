"""netd.db: migrations from a released version 1, and the store's rules, on real SQLite files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from services.kit import errors
from services.kit.db import Database
from services.netd.domain.models import Endpoint, Mode, Network, Sandbox
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


async def test_migration_2_keeps_version_1_rows(tmp_path: Path) -> None:
    path = tmp_path / "netd.db"
    db = await Database.open(path, MIGRATIONS[:1])
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO networks VALUES ('x', 'old', 'bridge', '10.0.0.0/24', '10.0.0.1', 't')"
        )
    await db.close()
    db = await Database.open(path, MIGRATIONS)
    try:
        assert await db.schema_version() == 2
        async with NetdStore(db).read() as tx:
            [old] = await tx.networks()
            assert (old.name, old.bridge, str(old.subnet)) == ("old", "", "10.0.0.0/24")
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
