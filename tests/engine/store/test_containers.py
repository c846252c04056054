"""Container records in engine.db: the sandbox with every endpoint, and rows written before."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.engine.containers.models import (
    Container,
    ContainerSpec,
    Endpoint,
    Port,
    Resolved,
    Sandbox,
)
from services.engine.store.containers import ContainerStore
from services.kit.db import Database
from tests.engine.records import IMAGE, engine_db

CID = "c" * 64
NET_ID = "1" * 64
OTHER_ID = "2" * 64
EP_ID = "e" * 64


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with engine_db(tmp_path) as database:
        yield database


def container(sandbox: Sandbox | None, aliases: tuple[str, ...] = ()) -> Container:
    spec = ContainerSpec(image="busybox", network_mode="front", network_aliases=aliases)
    resolved = Resolved(("sleep", "1"), (), "/", "", "host", {}, "SIGTERM", 10)
    return Container(CID, "web", IMAGE, spec, resolved, "2024-01-01T00:00:00Z", sandbox=sandbox)


async def test_every_endpoint_is_kept(db: Database) -> None:
    store = ContainerStore(db)
    sandbox = Sandbox(
        mode="bridge",
        netns=f"/run/netns/{CID}",
        hosts="127.0.0.1\tlocalhost\n",
        resolv_conf="nameserver 10.1.0.1\n",
        endpoints=(
            Endpoint(
                "front", NET_ID, "10.1.0.2", 24, "10.1.0.1", "02:42:0a:01:00:02", EP_ID, ("svc",)
            ),
            Endpoint("back", OTHER_ID, "10.2.0.2", 24, "10.2.0.1", "02:42:0a:02:00:02", "f" * 64),
        ),
        ports=(Port("tcp", 80, "", 8080),),
    )
    await store.insert(container(sandbox))
    assert (await store.find(CID)).sandbox == sandbox
    one = dataclasses.replace(sandbox, endpoints=sandbox.endpoints[1:])
    c = await store.find("web")
    c.sandbox = one
    await store.update(c)
    assert (await store.find(CID)).sandbox == one


async def test_a_record_written_with_one_network_loads_as_one_endpoint(db: Database) -> None:
    """A row written before the sandbox listed endpoints: the first network's fields in the
    sandbox itself, and its aliases only in the spec (as the container asked for them)."""
    store = ContainerStore(db)
    await store.insert(container(None, aliases=("svc", "api")))
    legacy = {
        "mode": "bridge",
        "netns": f"/run/netns/{CID}",
        "hosts": "hosts",
        "resolv_conf": "resolv",
        "network": "front",
        "network_id": NET_ID,
        "ip_address": "10.1.0.2",
        "prefix_length": 24,
        "gateway": "10.1.0.1",
        "mac_address": "02:42:0a:01:00:02",
        "endpoint_id": EP_ID,
        "ports": [{"protocol": "tcp", "container_port": 80, "host_ip": "", "host_port": 8080}],
    }
    async with db.write() as tx:
        await tx.execute(
            "UPDATE containers SET sandbox = ? WHERE id = ?", (json.dumps(legacy), CID)
        )
    found = (await store.find(CID)).sandbox
    assert found == Sandbox(
        mode="bridge",
        netns=f"/run/netns/{CID}",
        hosts="hosts",
        resolv_conf="resolv",
        endpoints=(
            Endpoint(
                "front",
                NET_ID,
                "10.1.0.2",
                24,
                "10.1.0.1",
                "02:42:0a:01:00:02",
                EP_ID,
                ("svc", "api"),
            ),
        ),
        ports=(Port("tcp", 80, "", 8080),),
    )
    listed = await store.all()
    assert [c.sandbox for c in listed] == [found]
    c = listed[0]
    await store.update(c)  # written back in the new shape, and read the same
    async with db.read() as tx:
        text = await tx.scalar("SELECT sandbox FROM containers WHERE id = ?", (CID,))
    written = json.loads(text)
    assert "endpoint_id" not in written
    assert len(written["endpoints"]) == 1
    assert (await store.find(CID)).sandbox == found


@pytest.mark.parametrize("mode", ["none", "host", "bridge"])
async def test_a_record_written_without_a_network_loads_without_endpoints(
    db: Database, mode: str
) -> None:
    """none and host (and a sandbox netd made without an endpoint) had the fields empty."""
    store = ContainerStore(db)
    await store.insert(container(None))
    legacy = {
        "mode": mode,
        "netns": "",
        "hosts": "",
        "resolv_conf": "",
        "network": "",
        "network_id": "",
        "ip_address": "",
        "prefix_length": 0,
        "gateway": "",
        "mac_address": "",
        "endpoint_id": "",
        "ports": [],
    }
    async with db.write() as tx:
        await tx.execute(
            "UPDATE containers SET sandbox = ? WHERE id = ?", (json.dumps(legacy), CID)
        )
    assert (await store.find(CID)).sandbox == Sandbox(mode, "", "", "")
