"""The containers' view of images (``LocalImages``) over a real image store."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.engine.images.service import ImageService, RootFS
from services.engine.peers.images import LocalImages
from services.kit import errors
from tests.engine.images.conftest import close_node, open_node, uid0
from tests.engine.images.layers import f, tar

pytestmark = pytest.mark.skipif(not uid0(), reason="unpacking layers needs root (chown, mknod)")


@dataclasses.dataclass
class Images:
    local: LocalImages
    service: ImageService
    asked: list[str]  # what the image store was asked to resolve to a root fs


@pytest.fixture
async def images(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Images]:
    """LocalImages over a node's real image store that has busybox."""
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
        yield Images(LocalImages(node.images, root / "empty"), node.images, asked)
    finally:
        await close_node(node)
        shutil.rmtree(root, ignore_errors=True)


async def test_an_image_id_is_answered_from_memory_while_its_layers_exist(
    images: Images,
) -> None:
    local, asked = images.local, images.asked
    by_name = await local.for_container("busybox")
    assert by_name.layers
    assert by_name.config.get("Cmd") == ["sh"]
    assert await local.for_container(by_name.id) == by_name
    assert await local.for_container("busybox") == by_name  # its name now: the same id
    assert asked == ["busybox"]
    moved = Path(str(by_name.layers[0]) + ".moved")
    by_name.layers[0].rename(moved)
    try:  # a layer gone: the store is asked again, and its answer is the one given
        assert await local.for_container(by_name.id) == by_name
        assert asked == ["busybox", by_name.id]
    finally:
        shutil.move(moved, by_name.layers[0])
    assert await local.for_container(by_name.id) == by_name


async def test_a_name_follows_its_tag(images: Images, tmp_path: Path) -> None:
    local = images.local
    before = await local.for_container("busybox")
    archive = tmp_path / "rootfs.tar"
    archive.write_bytes(tar([f("bin/tool", b"tool", 0o755)]))
    other = await images.service.import_image(archive, changes=['CMD ["/bin/tool"]'])
    await images.service.tag(str(other.id), "busybox")
    moved = await local.for_container("busybox")
    assert moved.id == str(other.id) != before.id
    assert moved.config.get("Cmd") == ["/bin/tool"]
    assert await local.for_container(before.id) == before  # the old one, by its id
    with pytest.raises(errors.NotFound):
        await local.for_container("no-such-image")
