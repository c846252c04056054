"""``Teardowns`` on a real engine.db: a failed teardown keeps its note for the next start, and an
image's users are counted once the teardowns in flight have finished."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.engine.containers.teardown import ImageUsersAfterTeardowns, Teardowns
from services.engine.store.containers import ContainerStore
from services.engine.store.images import ContainersTable
from services.kit import errors
from services.kit.db import Database
from tests.engine.records import IMAGE, engine_db

CID = "c" * 64


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with engine_db(tmp_path) as database:
        yield database


class Remover:
    """Stands in for the runtime's or netd's removal: records calls, fails or waits on demand."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failure: Exception | None = None
        self.gate = asyncio.Event()
        self.gate.set()

    async def remove(self, container_id: str) -> None:
        self.calls.append(container_id)
        await self.gate.wait()
        if self.failure is not None:
            raise self.failure


async def test_a_failed_teardown_is_noted_until_it_succeeds(db: Database) -> None:
    store = ContainerStore(db)
    runtime, netd = Remover(), Remover()
    netd.failure = errors.Unavailable("netd is not answering")
    await store.retire(CID, IMAGE)
    teardowns = Teardowns(store, runtime, netd)
    teardowns.start(CID)
    assert await teardowns.finish(CID) is False
    assert await store.teardowns() == [CID]
    assert runtime.calls == [CID]  # the root went down all the same,
    assert await ContainersTable(db).containers_using(IMAGE) == []  # so the image is free

    netd.failure = None  # the next start
    assert await Teardowns(store, runtime, netd).resume() == 1
    assert await store.teardowns() == []
    assert runtime.calls == [CID, CID]


async def test_a_root_not_taken_down_keeps_its_image(db: Database) -> None:
    store = ContainerStore(db)
    runtime, netd = Remover(), Remover()
    runtime.failure = OSError(16, "Device or resource busy")
    await store.retire(CID, IMAGE)
    teardowns = Teardowns(store, runtime, netd)
    teardowns.start(CID)
    assert await teardowns.finish(CID) is False
    assert await ContainersTable(db).containers_using(IMAGE) == [CID]


async def test_an_image_in_use_by_a_teardown_waits_for_it(db: Database) -> None:
    store = ContainerStore(db)
    runtime, netd = Remover(), Remover()
    runtime.gate.clear()
    teardowns = Teardowns(store, runtime, netd)
    users = ImageUsersAfterTeardowns(ContainersTable(db), teardowns)
    await store.retire(CID, IMAGE)
    assert await ContainersTable(db).containers_using(IMAGE) == [CID]
    teardowns.start(CID)
    asking = asyncio.ensure_future(users.containers_using(IMAGE))
    await asyncio.sleep(0.05)
    assert not asking.done()  # the root is still mounted on the image's layers
    runtime.gate.set()
    assert await asking == []
