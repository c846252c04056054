"""kill -9 of the registry in the middle of pushes, then a restart on the same root: everything
pushed before still pulls byte for byte, and the interrupted push can be resumed or retried."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.registry.clients import skopeo, skopeo_pull, skopeo_push
from tests.registry.helpers import Client, digest_of
from tests.registry.imagegen import file_digest, layout_manifest, write_image
from tests.registry.process import RegistryProcess


@pytest.fixture
async def proc(tmp_path: Path) -> AsyncIterator[RegistryProcess]:
    registry = RegistryProcess(tmp_path)
    await registry.start()
    try:
        yield registry
    finally:
        await registry.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def check_integrity(client: Client) -> int:
    """Every tag of every repository resolves to a manifest whose blobs all hash right."""
    checked = 0
    repos = (await client.request("GET", "/v2/_catalog")).json()["repositories"]
    for repo in repos:
        for tag in (await client.request("GET", f"/v2/{repo}/tags/list")).json()["tags"]:
            manifest = await client.manifest(repo, tag)
            assert manifest.status == 200
            assert digest_of(manifest.body) == manifest.headers["Docker-Content-Digest"]
            doc = manifest.json()
            for desc in [doc["config"], *doc["layers"]]:
                blob = await client.blob(repo, desc["digest"])
                assert blob.status == 200, (repo, tag, desc)
                algorithm = desc["digest"].split(":")[0]
                assert (
                    desc["digest"] == f"{algorithm}:{hashlib.new(algorithm, blob.body).hexdigest()}"
                )
                checked += 1
    return checked


async def test_kill_during_a_chunked_upload_then_resume(
    proc: RegistryProcess, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = Client(session, proc.base)
    image = write_image(tmp_path / "before", sizes=[50_000, 1_500_000], seed=21)
    await skopeo_push(image.layout, image.tag, f"{proc.host}/kept/app:v1")
    small, small_digest = await client.push_image("kept/raw", "v1", [b"small layer"])

    data = os.urandom(24 * 1024 * 1024)
    chunk = 4 * 1024 * 1024
    url = await client.start_upload("big/blob")
    for start in range(0, 2 * chunk, chunk):
        reply = await client.patch(url, data[start : start + chunk], start=start)
        assert reply.status == 202
        url = client.location(reply)

    sent = asyncio.Event()

    async def slow_chunk() -> AsyncIterator[bytes]:
        piece = data[2 * chunk : 3 * chunk]
        for i in range(0, len(piece), 256 * 1024):
            yield piece[i : i + 256 * 1024]
            if i >= 1024 * 1024:
                sent.set()
            await asyncio.sleep(0.01)

    in_flight = asyncio.ensure_future(
        client.request(
            "PATCH",
            url,
            data=slow_chunk(),
            headers={"Content-Range": f"{2 * chunk}-{3 * chunk - 1}"},
        )
    )
    await asyncio.wait_for(sent.wait(), timeout=30)
    await proc.kill()
    with pytest.raises(aiohttp.ClientError):
        await in_flight

    await proc.start()
    assert await check_integrity(client) >= 5
    await skopeo_pull(f"{proc.host}/kept/app:v1", tmp_path / "after")
    assert layout_manifest(tmp_path / "after") == image.manifest
    for digest in image.blob_digests():
        assert file_digest(tmp_path / "after" / "blobs" / "sha256" / digest[7:]) == digest
    assert (await client.manifest("kept/raw", small_digest)).body == small

    # The session survived; the chunk that was in flight is gone, the two before it are not.
    status = await client.request("GET", url)
    assert status.status == 204
    assert status.headers["Range"] == f"0-{2 * chunk - 1}"
    for start in range(2 * chunk, len(data), chunk):
        reply = await client.patch(url, data[start : start + chunk], start=start)
        assert reply.status == 202
    done = await client.request("PUT", url, params={"digest": digest_of(data)})
    assert done.status == 201
    assert (await client.blob("big/blob", digest_of(data))).body == data


async def test_kill_at_any_moment_of_skopeo_pushes(
    proc: RegistryProcess, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = Client(session, proc.base)
    base = write_image(tmp_path / "base", sizes=[30_000], seed=30)
    await skopeo_push(base.layout, base.tag, f"{proc.host}/base/app:v1")
    images = [
        write_image(tmp_path / f"img{i}", sizes=[200_000, 3_000_000 + i], seed=31 + i)
        for i in range(3)
    ]
    for i, (image, delay) in enumerate(zip(images, (0.05, 0.15, 0.3), strict=True)):
        ref = f"{proc.host}/crash/app:v{i}"
        push = asyncio.ensure_future(
            skopeo(
                "copy",
                "--dest-tls-verify=false",
                f"oci:{image.layout}:latest",
                f"docker://{ref}",
                check=False,
            )
        )
        await asyncio.sleep(delay)
        await proc.kill()
        await push
        await proc.start()
        await check_integrity(client)
        # The interrupted push is retried and succeeds.
        await skopeo_push(image.layout, image.tag, ref)
        assert (await client.manifest("crash/app", f"v{i}")).body == image.manifest
    assert (await client.manifest("base/app", "v1")).body == base.manifest
    assert await check_integrity(client) == 1 + 1 + 3 * 3
