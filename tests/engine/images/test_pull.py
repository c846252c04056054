"""Pull from Debian's docker-registry: images pushed into it with skopeo from OCI layouts.

Digests are checked end to end (manifest, config, every layer's blob and diff id), a multi-arch
index resolves to this node's platform, and a blob corrupted in the registry's storage is
refused without leaving a trace on the node.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.engine.content.digest import Digest, chain_ids
from services.engine.images.models import Progress
from services.engine.images.platform import host_platform, parse_platform
from services.kit import errors
from tests.engine.images.conftest import Node, Registry, skopeo, uid0
from tests.engine.images.layers import Built, Layout, f, tar, three_layers

pytestmark = pytest.mark.skipif(not uid0(), reason="unpacking layers needs root (chown, mknod)")


async def publish(
    tmp_path: Path,
    registry: Registry,
    repo: str,
    layers: list[bytes],
    cmd: list[str] | None = None,
    level: int = 9,
) -> Built:
    layout = Layout(tmp_path / f"layout-{repo.replace('/', '-')}")
    desc, built = layout.image(layers, cmd=cmd, level=level)
    layout.tag(desc, "v1")
    await skopeo(
        "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
        f"oci:{layout.root}:v1", f"docker://{registry.address}/{repo}:v1",
    )  # fmt: skip
    return built


async def collect(stream: AsyncIterator[Progress]) -> list[Progress]:
    return [event async for event in stream]


async def test_pull_verifies_and_unpacks_every_layer(
    node: Node, registry: Registry, tmp_path: Path
) -> None:
    built = await publish(tmp_path, registry, "team/three", three_layers(), cmd=["/bin/sh"])
    ref = f"{registry.address}/team/three:v1"
    start = time.perf_counter()
    events = await collect(node.images.pull(ref))
    elapsed = time.perf_counter() - start
    print(f"pull of a 3-layer image: {elapsed * 1000:.0f} ms")
    statuses = [(e.id, e.status) for e in events]
    for blob in built.blob_digests:
        short = blob[7:19]
        for word in ("Pulling fs layer", "Download complete", "Extracting", "Pull complete"):
            assert (short, word) in statuses
    assert events[-1].status == f"Status: Downloaded newer image for {ref}"
    assert events[-1].image_id == built.config_digest
    assert events[-1].digest == built.manifest_digest

    image = await node.images.inspect(ref)
    assert image.id == built.config_digest
    assert image.repo_tags == [ref]
    assert image.repo_digests == [f"{registry.address}/team/three@{built.manifest_digest}"]
    assert image.root_fs_layers == built.diff_ids
    assert image.config["Cmd"] == ["/bin/sh"]

    layers = await node.images.rootfs_layers(ref)
    chains = chain_ids([Digest.parse(x) for x in built.diff_ids])
    assert [p.name for p in layers] == [c.hex for c in chains]
    assert (layers[0] / "usr/bin/su").stat().st_mode & 0o4000
    assert os.readlink(layers[0] / "usr/bin/env") == "/bin/tool"
    for blob in built.blob_digests:
        assert node.images.ctx.content.exists(Digest.parse(blob))

    again = await collect(node.images.pull(ref))
    assert again[-1].status == f"Status: Image is up to date for {ref}"
    by_digest = f"{registry.address}/team/three@{built.manifest_digest}"
    assert (await collect(node.images.pull(by_digest)))[-1].image_id == built.config_digest


async def test_pull_picks_this_nodes_platform_from_an_index(
    node: Node, registry: Registry, tmp_path: Path
) -> None:
    layout = Layout(tmp_path / "multi")
    amd, amd_built = layout.image([tar([f("arch", b"amd64")])], arch="amd64")
    arm, arm_built = layout.image([tar([f("arch", b"arm64")])], arch="arm64")
    index = layout.multi({"amd64": amd, "arm64": arm})
    layout.tag(index, "v1")
    await skopeo(
        "copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false",
        f"oci:{layout.root}:v1", f"docker://{registry.address}/multi:v1",
    )  # fmt: skip
    ref = f"{registry.address}/multi:v1"
    events = await collect(node.images.pull(ref))
    mine = host_platform().architecture
    want = {"amd64": amd_built, "arm64": arm_built}[mine]
    assert events[-1].image_id == want.config_digest
    assert events[-1].digest == index["digest"]  # the repo digest is the index's
    layer = (await node.images.rootfs_layers(ref))[0]
    assert (layer / "arch").read_bytes() == mine.encode()
    other = "arm64" if mine == "amd64" else "amd64"
    events = await collect(node.images.pull(ref, platform=parse_platform(f"linux/{other}")))
    assert events[-1].image_id == {"amd64": amd_built, "arm64": arm_built}[other].config_digest
    with pytest.raises(errors.NotFound) as info:
        await collect(node.images.pull(ref, platform=parse_platform("linux/s390x")))
    assert info.value.reason == "PLATFORM_UNKNOWN"


async def test_a_corrupted_blob_is_refused_and_leaves_nothing(
    node: Node, registry: Registry, tmp_path: Path
) -> None:
    good = tar([f("one", b"1" * 3000)])
    bad = tar([f("two", os.urandom(20000))])
    built = await publish(tmp_path, registry, "corrupt", [good, bad])
    stored = registry.blob_file(built.blob_digests[1])
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    stored.write_bytes(bytes(data))
    with pytest.raises(errors.InvalidArgument) as info:
        await collect(node.images.pull(f"{registry.address}/corrupt:v1"))
    assert info.value.reason == "DIGEST_MISMATCH"
    assert await node.images.list_images() == []
    ctx = node.images.ctx
    assert not ctx.content.exists(Digest.parse(built.blob_digests[1]))
    assert list((ctx.content.root / "ingest").iterdir()) == []
    assert not [p for p in ctx.layers.root.iterdir() if p.name.startswith(".tmp-")]
    await node.images.collect_garbage()  # what the failed pull did keep, as at engine start
    assert list(ctx.layers.root.iterdir()) == []
    assert list((ctx.content.root / "blobs").rglob("*/*")) == []


async def test_unknown_images_and_registries(node: Node, registry: Registry) -> None:
    with pytest.raises(errors.NotFound):
        await collect(node.images.pull(f"{registry.address}/nothing/here:v1"))
    with pytest.raises(errors.Unavailable) as info:
        await collect(node.images.pull("127.0.0.1:1/x:y"))
    assert info.value.reason == "REGISTRY_UNREACHABLE"
    with pytest.raises(errors.InvalidArgument) as bad:
        await collect(node.images.pull("Busybox"))
    assert bad.value.reason == "REFERENCE_INVALID"


async def test_a_layer_known_under_another_blob_is_not_fetched_again(
    node: Node, registry: Registry, tmp_path: Path
) -> None:
    base = tar([f("base", os.urandom(4000))])
    first = await publish(tmp_path, registry, "shared/one", [base], level=9)
    second = await publish(tmp_path, registry, "shared/two", [base, tar([f("top", b"t")])], level=1)
    assert first.blob_digests[0] != second.blob_digests[0]  # same diff, other compression
    await collect(node.images.pull(f"{registry.address}/shared/one:v1"))
    events = await collect(node.images.pull(f"{registry.address}/shared/two:v1"))
    assert (second.blob_digests[0][7:19], "Already exists") in [(e.id, e.status) for e in events]
    assert not node.images.ctx.content.exists(Digest.parse(second.blob_digests[0]))
    target = f"{registry.address}/shared/three:v1"
    await node.images.tag(f"{registry.address}/shared/two:v1", target)
    pushed = await collect(node.images.push(target))
    assert pushed[-1].digest != second.manifest_digest  # a manifest of the blobs this node has
    raw = json.loads(await skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{target}"))
    assert raw["layers"][0]["digest"] == first.blob_digests[0]


async def test_docker_schema2_manifest_and_manifest_list(
    node: Node, registry: Registry, tmp_path: Path
) -> None:
    layout = Layout(tmp_path / "docker-format")
    amd, _ = layout.image([tar([f("arch", b"amd64")])], arch="amd64")
    arm, _ = layout.image([tar([f("arch", b"arm64")])], arch="arm64")
    layout.tag(layout.multi({"amd64": amd, "arm64": arm}), "list")
    layout.tag(amd if host_platform().architecture == "amd64" else arm, "single")
    for tag, extra in (("list", ["--all"]), ("single", [])):
        await skopeo(
            "copy", "--quiet", *extra, "--format", "v2s2", "--dest-tls-verify=false",
            f"oci:{layout.root}:{tag}", f"docker://{registry.address}/dockerfmt:{tag}",
        )  # fmt: skip
    for tag, kind in (("list", "manifest.list.v2"), ("single", "manifest.v2")):
        ref = f"docker://{registry.address}/dockerfmt:{tag}"
        raw = json.loads(await skopeo("inspect", "--raw", "--tls-verify=false", ref))
        assert raw["mediaType"] == f"application/vnd.docker.distribution.{kind}+json"
        events = await collect(node.images.pull(f"{registry.address}/dockerfmt:{tag}"))
        layer = (await node.images.rootfs_layers(events[-1].image_id))[0]
        assert (layer / "arch").read_bytes() == host_platform().architecture.encode()
    image = await node.images.get(f"{registry.address}/dockerfmt:single")
    assert image.layers[0].blob.media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"


async def test_a_cancelled_pull_leaves_no_partial_layer(
    node: Node, registry: Registry, tmp_path: Path
) -> None:
    big = tar([f(f"f{i}", os.urandom(1 << 20)) for i in range(12)])
    await publish(tmp_path, registry, "cancelled", [big], level=1)
    stream = node.images.pull(f"{registry.address}/cancelled:v1")
    async for event in stream:
        if event.status == "Extracting":
            break
    await stream.aclose()  # type: ignore[attr-defined]
    ctx = node.images.ctx
    assert not [p for p in ctx.layers.root.iterdir() if p.name.startswith(".tmp-")]
    assert list((ctx.content.root / "ingest").iterdir()) == []
    assert await node.images.list_images() == []
