"""The containers' view of images (``LocalImages``) over a real image store."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.engine.images.service import RootFS
from services.engine.peers.images import LocalImages
from tests.engine.images.conftest import close_node, open_node, uid0

pytestmark = pytest.mark.skipif(not uid0(), reason="unpacking layers needs root (chown, mknod)")


@pytest.fixture
async def images(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[LocalImages, list[str]]]:
    """LocalImages over a node's real image store with busybox, and the refs the store was
    asked to resolve."""
    root = Path(tempfile.mkdtemp(prefix="est-peer-", dir="/tmp"))
    node = await open_node(root)
    try:
        await node.images.ensure_busybox()
        asked: list[str] = []
        rootfs = node.images.rootfs

        async def counted(value: str) -> RootFS:
            asked.append(value)
            return await rootfs(value)

        monkeypatch.setattr(node.images, "rootfs", counted)
        yield LocalImages(node.images, root / "empty"), asked
    finally:
        await close_node(node)
        shutil.rmtree(root, ignore_errors=True)


async def test_an_image_id_is_answered_from_memory_while_its_layers_exist(
    images: tuple[LocalImages, list[str]],
) -> None:
    local, asked = images
    by_name = await local.for_container("busybox")
    assert by_name.layers
    assert by_name.config.get("Cmd") == ["sh"]
    again = await local.for_container(by_name.id)
    assert again == by_name
    assert asked == ["busybox"]  # the id needed no lookup
    await local.for_container("busybox")  # a name is looked up every time: tags move
    assert asked == ["busybox", "busybox"]
    moved = Path(str(by_name.layers[0]) + ".moved")
    by_name.layers[0].rename(moved)
    try:  # a layer gone: the store is asked again, and its answer is the one given
        assert await local.for_container(by_name.id) == by_name
        assert asked == ["busybox", "busybox", by_name.id]
    finally:
        shutil.move(moved, by_name.layers[0])
    assert await local.for_container(by_name.id) == by_name
