"""The build cache in engine.db (migration 6): entries go with their images, and step images
are ordinary images made by the commit path (history with empty_layer, correct diff ids)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.engine.images import build as committing
from services.engine.store.build_cache import BuildCacheStore
from services.engine.store.migrations import MIGRATIONS
from tests.engine.images.conftest import Node, close_node, open_node


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    root = Path(tempfile.mkdtemp(prefix="est-build-", dir="/tmp"))
    n = await open_node(root)
    try:
        yield n
    finally:
        await close_node(n)
        shutil.rmtree(root, ignore_errors=True)


def layer_tar(path: Path) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    return path


async def test_entries_follow_their_images(node: Node, tmp_path: Path) -> None:
    assert MIGRATIONS[-1].version == 6
    ctx = node.images.ctx
    cache = BuildCacheStore(node.db)
    base = await committing.commit(
        ctx, layer_tar(tmp_path / "l.tar"), parent=None, container={}, created_by="COPY x"
    )
    step = await committing.commit(
        ctx, None, parent=base, container={"Env": ["A=1"]}, created_by="ENV A=1"
    )
    config = json.loads(step.config)
    assert [h.get("empty_layer", False) for h in config["history"]] == [False, True]
    assert len(config["rootfs"]["diff_ids"]) == 1
    assert step.layers == base.layers
    assert step.parent == str(base.id)

    await cache.store("k-base", str(base.id))
    await cache.store("k-step", str(step.id))
    assert await cache.lookup("k-step") == str(step.id)
    assert await cache.lookup("unknown") is None

    await node.images.remove(str(step.id), force=True, prune=False)
    assert await cache.lookup("k-step") is None  # gone with its image
    assert await cache.lookup("k-base") == str(base.id)
    assert await cache.clear() == [str(base.id)]
    assert await cache.lookup("k-base") is None
