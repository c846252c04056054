"""Push to Debian's docker-registry: a node-made image, then a pulled one, then back again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.engine.images.models import Progress
from services.kit import errors
from tests.engine.images.conftest import Node, Registry, skopeo, uid0
from tests.engine.images.layers import three_layers
from tests.engine.images.test_pull import publish

pytestmark = pytest.mark.skipif(not uid0(), reason="unpacking layers needs root (chown, mknod)")


async def collect(stream: AsyncIterator[Progress]) -> list[Progress]:
    return [event async for event in stream]


async def test_push_a_local_image_and_pull_it_on_another_node(
    node: Node, other_node: Node, registry: Registry
) -> None:
    busybox = await node.images.ensure_busybox()
    assert busybox is not None
    target = f"{registry.address}/estiba/busybox:1.0"
    await node.images.tag("busybox", target)
    events = await collect(node.images.push(target))
    statuses = [e.status for e in events]
    assert statuses[0] == f"The push refers to repository [{registry.address}/estiba/busybox]"
    assert "Pushed" in statuses
    final = events[-1]
    assert final.tag == "1.0"
    assert final.image_id == busybox
    assert final.status == f"1.0: digest: {final.digest} size: {final.size}"

    raw = json.loads(await skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{target}"))
    assert raw["config"]["digest"] == busybox
    inspect = await node.images.inspect(target)
    assert f"{registry.address}/estiba/busybox@{final.digest}" in inspect.repo_digests

    again = await collect(node.images.push(target))
    assert "Layer already exists" in [e.status for e in again]
    assert again[-1].digest == final.digest

    pulled = await collect(other_node.images.pull(target))
    assert pulled[-1].image_id == busybox
    layer = (await other_node.images.rootfs_layers(target))[0]
    assert (layer / "bin/sh").readlink() == Path("busybox")


async def test_a_pulled_image_keeps_its_digest_and_mounts_across_repositories(
    node: Node, registry: Registry, tmp_path: Path
) -> None:
    built = await publish(tmp_path, registry, "origin/three", three_layers())
    source = f"{registry.address}/origin/three:v1"
    await collect(node.images.pull(source))
    copy = f"{registry.address}/copy/three:v2"
    await node.images.tag(source, copy)
    events = await collect(node.images.push(copy))
    mounted = [e for e in events if e.status == "Mounted from origin/three"]
    assert len(mounted) == 3
    assert events[-1].digest == built.manifest_digest


async def test_push_errors(node: Node, registry: Registry) -> None:
    with pytest.raises(errors.NotFound) as info:
        await collect(node.images.push(f"{registry.address}/never/tagged:v1"))
    assert info.value.reason == "IMAGE_UNKNOWN"
    with pytest.raises(errors.InvalidArgument):
        await collect(node.images.push(f"{registry.address}/x@sha256:{'0' * 64}"))
