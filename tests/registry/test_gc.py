"""Online garbage collection: dry runs, exactly the unreferenced removed, races with pushes."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from estiba.registry.v1 import registry_pb2 as pb
from estiba.registry.v1 import registry_pb2_grpc
from tests.registry.conftest import Running, StartRegistry
from tests.registry.helpers import (
    EMPTY_JSON,
    Reply,
    descriptor,
    digest_of,
    exists,
    image_manifest,
    write_bytes,
)
from tests.registry.imagegen import OCI_INDEX, OCI_MANIFEST


async def run_gc(reg: Running, dry_run: bool = False) -> pb.GCReport:
    stub = registry_pb2_grpc.MaintenanceStub(reg.channel)
    reply = await stub.RunGC(pb.RunGCRequest(dry_run=dry_run), timeout=30)
    return reply.report


def blob_file(reg: Running, digest: str) -> Path:
    algorithm, hexpart = digest.split(":")
    return reg.config.state_dir / "blobs" / algorithm / hexpart[:2] / hexpart


async def test_dry_run_then_real_run_remove_exactly_the_unreferenced(registry: Running) -> None:
    client = registry.client
    shared, kept_only, dropped_only = os.urandom(1000), os.urandom(2000), os.urandom(3000)
    kept, _ = await client.push_image("gc/app", "v1", [shared, kept_only])
    dropped, dropped_digest = await client.push_image("gc/app", "v2", [shared, dropped_only])
    assert (await client.request("DELETE", "/v2/gc/app/manifests/v2")).status == 202
    stray = os.urandom(500)
    await client.push_blob("gc/stray", stray)

    dry = await run_gc(registry, dry_run=True)
    assert dry.dry_run
    assert [(m.repository, m.digest) for m in dry.manifests] == [("gc/app", dropped_digest)]
    assert sorted(b.digest for b in dry.blobs) == sorted(
        [digest_of(dropped_only), digest_of(stray)]
    )
    assert list(dry.repositories_removed) == ["gc/stray"]
    assert dry.bytes_freed == len(dropped) + len(dropped_only) + len(stray)
    # Nothing changed.
    assert (await client.manifest("gc/app", dropped_digest)).body == dropped
    assert await exists(blob_file(registry, digest_of(dropped_only)))

    real = await run_gc(registry)
    assert not real.dry_run
    assert [m.digest for m in real.manifests] == [dropped_digest]
    assert sorted(b.digest for b in real.blobs) == sorted(b.digest for b in dry.blobs)
    assert real.bytes_freed == dry.bytes_freed
    assert (await client.manifest("gc/app", dropped_digest)).status == 404
    assert (await client.blob("gc/app", digest_of(dropped_only))).status == 404
    assert not await exists(blob_file(registry, digest_of(dropped_only)))
    assert not await exists(blob_file(registry, digest_of(stray)))
    catalog = await client.request("GET", "/v2/_catalog")
    assert catalog.json()["repositories"] == ["gc/app"]
    # What is referenced is intact.
    assert (await client.manifest("gc/app", "v1")).body == kept
    for layer in (shared, kept_only, EMPTY_JSON):
        assert (await client.blob("gc/app", digest_of(layer))).body == layer
    again = await run_gc(registry)
    assert (len(again.manifests), len(again.blobs), again.bytes_freed) == (0, 0, 0)


async def test_index_children_and_referrers_of_live_manifests_stay(registry: Running) -> None:
    client = registry.client
    child, child_digest = await client.push_image("gc/idx", None, [b"child layer"])
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor(OCI_MANIFEST, child)]}
    ).encode()
    assert (await client.put_manifest("gc/idx", "multi", index, OCI_INDEX)).status == 201
    target, target_digest = await client.push_image("gc/idx", "signed", [b"signed layer"])
    sig = image_manifest([], artifactType="x/sig", subject=descriptor(OCI_MANIFEST, target))
    await client.put_manifest("gc/idx", digest_of(sig), sig)
    doomed, doomed_digest = await client.push_image("gc/idx", "doomed", [b"doomed layer"])
    doomed_sig = image_manifest([], artifactType="x/sig", subject=descriptor(OCI_MANIFEST, doomed))
    await client.put_manifest("gc/idx", digest_of(doomed_sig), doomed_sig)
    await client.request("DELETE", "/v2/gc/idx/manifests/doomed")

    report = await run_gc(registry)
    assert sorted(m.digest for m in report.manifests) == sorted(
        [doomed_digest, digest_of(doomed_sig)]
    )
    assert [b.digest for b in report.blobs] == [digest_of(b"doomed layer")]
    for digest, body in [(child_digest, child), (digest_of(sig), sig), (target_digest, target)]:
        assert (await client.manifest("gc/idx", digest)).body == body
    assert (await client.blob("gc/idx", digest_of(b"child layer"))).status == 200


async def test_grace_period_keeps_new_content(start_registry: StartRegistry) -> None:
    async with start_registry(gc_grace_period=3600) as reg:
        await reg.client.push_blob("young/x", b"fresh")
        manifest, digest = await reg.client.push_image("young/x", None, [b"untagged"])
        report = await run_gc(reg)
        assert (len(report.manifests), len(report.blobs)) == (0, 0)
        assert (await reg.client.blob("young/x", digest_of(b"fresh"))).status == 200
        assert (await reg.client.manifest("young/x", digest)).body == manifest


async def test_expired_uploads_and_orphans_are_removed(start_registry: StartRegistry) -> None:
    async with start_registry(upload_ttl=0.2) as reg:
        url = await reg.client.start_upload("exp/x")
        await reg.client.patch(url, os.urandom(4000), start=0)
        upload_id = url.rsplit("/", 1)[1]
        upload_dir = reg.config.state_dir / "uploads" / upload_id
        assert await exists(upload_dir)
        # A blob file no record describes, as a crash between its rename and its commit
        # would leave.
        orphan = os.urandom(777)
        path = blob_file(reg, digest_of(orphan))
        await write_bytes(path, orphan)
        # An upload directory no session owns, an hour old.
        stale = reg.config.state_dir / "uploads" / ("f" * 32)
        await write_bytes(stale / "data", b"left behind")
        an_hour_ago = time.time() - 3600
        await asyncio.to_thread(os.utime, stale, (an_hour_ago, an_hour_ago))
        await asyncio.sleep(0.3)
        dry = await run_gc(reg, dry_run=True)
        assert [u.id for u in dry.uploads_expired] == [upload_id]
        assert [b.digest for b in dry.orphan_blobs] == [digest_of(orphan)]
        assert list(dry.orphan_uploads) == ["f" * 32]
        assert await exists(upload_dir)
        assert await exists(path)
        report = await run_gc(reg)
        assert [u.id for u in report.uploads_expired] == [upload_id]
        assert report.uploads_expired[0].size == 4000
        assert report.bytes_freed == 4000 + 777
        assert not await exists(upload_dir)
        assert not await exists(path)
        assert not await exists(stale)


async def test_an_upload_in_progress_survives_gc(registry: Running) -> None:
    client = registry.client
    data = os.urandom(3_000_000)
    url = await client.start_upload("busy/x")
    assert (await client.patch(url, data[:1_000_000], start=0)).status == 202

    async def slow_body() -> AsyncIterator[bytes]:
        for i in range(1_000_000, 2_000_000, 100_000):
            yield data[i : i + 100_000]
            await asyncio.sleep(0.02)

    patch = asyncio.ensure_future(
        client.request("PATCH", url, data=slow_body(), headers={"Content-Range": "1000000-1999999"})
    )
    await asyncio.sleep(0.05)
    report = await run_gc(registry)
    assert list(report.uploads_expired) == []
    assert (await patch).status == 202
    await run_gc(registry)
    assert (await client.patch(url, data[2_000_000:], start=2_000_000)).status == 202
    assert (await client.request("PUT", url, params={"digest": digest_of(data)})).status == 201
    assert (await client.blob("busy/x", digest_of(data))).body == data


async def test_manifest_push_racing_gc_never_dangles(registry: Running) -> None:
    """With no grace period, GC and a push of a manifest race for a just-uploaded blob.

    Either the push commits first (and the blob stays), or GC does (and the push is refused
    with MANIFEST_BLOB_UNKNOWN, storing nothing); never a manifest whose blob is gone.
    """
    client = registry.client
    await client.push_image("race/x", "base", [b"base"])  # keeps the config blob live
    refused = 0
    for i in range(15):
        layer = os.urandom(2000 + i)
        assert (await client.push_blob("race/x", layer)).status == 201
        body = image_manifest([layer])

        async def put_later(delay: float, tag: str = f"t{i}", body: bytes = body) -> Reply:
            await asyncio.sleep(delay)
            return await client.put_manifest("race/x", tag, body)

        # Start the push a little after the collection, by 0 to 8 ms: both orders happen.
        _, put = await asyncio.gather(run_gc(registry), put_later((i % 5) * 0.002))
        blob = await client.blob("race/x", digest_of(layer))
        if put.status == 201:
            assert blob.body == layer
            assert (await client.manifest("race/x", f"t{i}")).body == body
            continue
        refused += 1
        assert put.error_code == "MANIFEST_BLOB_UNKNOWN"
        assert blob.status == 404
        assert (await client.manifest("race/x", f"t{i}")).status == 404
        assert (await client.push_blob("race/x", layer)).status == 201
        assert (await client.put_manifest("race/x", f"t{i}", body)).status == 201
    assert refused > 0  # the collection did win some of the races
    report = await run_gc(registry)
    assert (len(report.manifests), len(report.blobs)) == (0, 0)
    for i in range(15):
        manifest = (await client.manifest("race/x", f"t{i}")).json()
        for layer in manifest["layers"]:
            assert (await client.blob("race/x", layer["digest"])).status == 200


async def test_pushes_and_pulls_go_on_during_gc(start_registry: StartRegistry) -> None:
    """Within the grace period, pushes running beside repeated collections all succeed."""
    async with start_registry(gc_grace_period=1.5) as reg:
        client = reg.client
        old, old_digest = await client.push_image("live/x", "old", [os.urandom(5000)])
        await client.request("DELETE", "/v2/live/x/manifests/old")
        keep, _ = await client.push_image("live/x", "keep", [b"keep me"])
        await asyncio.sleep(1.6)  # the deleted image is now older than the grace period
        stop = asyncio.Event()
        reports: list[pb.GCReport] = []

        async def collect() -> None:
            while not stop.is_set():
                reports.append(await run_gc(reg))

        async def push(i: int) -> tuple[bytes, list[bytes]]:
            layers = [os.urandom(20_000 + i), b"keep me"]
            manifest, _ = await client.push_image(f"live/p{i % 3}", f"v{i}", layers)
            assert (await client.manifest("live/x", "keep")).body == keep
            return manifest, layers

        collector = asyncio.ensure_future(collect())
        pushed = await asyncio.gather(*(push(i) for i in range(12)))
        stop.set()
        await collector
        assert len(reports) >= 1
        removed = {m.digest for r in reports for m in r.manifests}
        assert removed == {old_digest}
        for i, (manifest, layers) in enumerate(pushed):
            repo = f"live/p{i % 3}"
            assert (await client.manifest(repo, f"v{i}")).body == manifest
            for layer in layers:
                assert (await client.blob(repo, digest_of(layer))).body == layer
        assert old


async def test_scheduled_gc_runs_by_itself(start_registry: StartRegistry) -> None:
    async with start_registry(gc_interval=0.2) as reg:
        await reg.client.push_blob("sched/x", b"garbage")
        path = blob_file(reg, digest_of(b"garbage"))
        assert await exists(path)
        for _ in range(50):
            if not await exists(path):
                break
            await asyncio.sleep(0.05)
        assert not await exists(path)
        stub = registry_pb2_grpc.MaintenanceStub(reg.channel)
        status = await stub.GetGCStatus(pb.GetGCStatusRequest(), timeout=5)
        assert status.interval_seconds == 0.2
        assert status.HasField("last_run")
        assert status.next_run_at


async def test_gc_is_refused_on_a_read_only_registry(start_registry: StartRegistry) -> None:
    async with start_registry(read_only=True) as reg:
        stub = registry_pb2_grpc.MaintenanceStub(reg.channel)
        dry = await stub.RunGC(pb.RunGCRequest(dry_run=True), timeout=5)
        assert dry.report.dry_run
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RunGC(pb.RunGCRequest(), timeout=5)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
