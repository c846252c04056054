"""The administration API over real gRPC: repositories, tags, usage, deletions, uploads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest

from estiba.registry.v1 import registry_pb2 as pb
from estiba.registry.v1 import registry_pb2_grpc
from services.kit import reqctx
from tests.registry.conftest import Running
from tests.registry.helpers import EMPTY_JSON, digest_of, exists


def repos(reg: Running) -> registry_pb2_grpc.RepositoriesAsyncStub:
    return registry_pb2_grpc.RepositoriesStub(reg.channel)


def maintenance(reg: Running) -> registry_pb2_grpc.MaintenanceAsyncStub:
    return registry_pb2_grpc.MaintenanceStub(reg.channel)


def reason(exc: grpc.aio.AioRpcError) -> str:
    for key, value in exc.trailing_metadata() or ():
        if key == reqctx.REASON_TRAILER:
            return str(value)
    return ""


async def test_get_info(registry: Running) -> None:
    await registry.client.push_image("info/x", "v1", [b"12345"])
    stub = registry_pb2_grpc.SystemStub(registry.channel)
    info = await stub.GetInfo(pb.GetInfoRequest(), timeout=5)
    assert info.service.name == "registry"
    assert info.http_address == registry.config.http_addr
    assert (info.repositories, info.blobs) == (1, 2)
    assert info.blob_bytes == 5 + len(EMPTY_JSON)
    assert not info.read_only


async def test_list_repositories_and_tags(registry: Running) -> None:
    client = registry.client
    for name in ("b/x", "a/x", "c/x"):
        manifest, _ = await client.push_image(name, "v1", [name.encode()])
    for tag in ("v3", "v2"):
        await client.put_manifest("c/x", tag, manifest)
    stub = repos(registry)
    page = await stub.ListRepositories(pb.ListRepositoriesRequest(page_size=2), timeout=5)
    assert list(page.names) == ["a/x", "b/x"]
    assert page.next_page_token == "b/x"
    rest = await stub.ListRepositories(
        pb.ListRepositoriesRequest(page_token=page.next_page_token), timeout=5
    )
    assert (list(rest.names), rest.next_page_token) == (["c/x"], "")
    tags = await stub.ListTags(pb.ListTagsRequest(repository="c/x", page_size=2), timeout=5)
    assert (list(tags.tags), tags.next_page_token) == (["v1", "v2"], "v2")
    more = await stub.ListTags(pb.ListTagsRequest(repository="c/x", page_token="v2"), timeout=5)
    assert list(more.tags) == ["v3"]


async def test_list_manifests(registry: Running) -> None:
    manifest, digest = await registry.client.push_image("lm/x", "v1", [b"layer"])
    await registry.client.put_manifest("lm/x", "latest", manifest)
    reply = await repos(registry).ListManifests(
        pb.ListManifestsRequest(repository="lm/x"), timeout=5
    )
    assert len(reply.manifests) == 1
    info = reply.manifests[0]
    assert (info.digest, info.size, list(info.tags)) == (digest, len(manifest), ["latest", "v1"])
    assert info.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert info.artifact_type == "application/vnd.oci.image.config.v1+json"
    assert info.pushed_at.endswith("Z")


async def test_usage(registry: Running) -> None:
    client = registry.client
    shared = b"s" * 1000
    m1, _ = await client.push_image("use/a", "v1", [shared, b"a" * 100])
    m2, _ = await client.push_image("use/b", "v1", [shared])
    url = await client.start_upload("use/b")
    await client.patch(url, b"u" * 50, start=0)
    reply = await repos(registry).GetUsage(pb.GetUsageRequest(), timeout=5)
    by_name = {u.name: u for u in reply.repositories}
    assert list(by_name) == ["use/a", "use/b"]
    a = by_name["use/a"]
    assert (a.manifests, a.tags, a.blobs) == (1, 1, 3)
    assert a.blob_bytes == 1000 + 100 + len(EMPTY_JSON)
    assert a.manifest_bytes == len(m1)
    assert a.total_bytes == a.blob_bytes + a.manifest_bytes
    assert by_name["use/b"].blob_bytes == 1000 + len(EMPTY_JSON)
    assert reply.blobs == 3  # each blob once, however many repositories link it
    assert reply.blob_bytes == 1000 + 100 + len(EMPTY_JSON)
    assert (reply.uploads, reply.upload_bytes) == (1, 50)
    one = await repos(registry).GetUsage(pb.GetUsageRequest(repository="use/b"), timeout=5)
    assert [u.name for u in one.repositories] == ["use/b"]
    assert m2


async def test_delete_tag_manifest_and_repository(registry: Running) -> None:
    client = registry.client
    manifest, digest = await client.push_image("rm/x", "v1", [b"layer"])
    await client.put_manifest("rm/x", "v2", manifest)
    stub = repos(registry)
    await stub.DeleteTag(pb.DeleteTagRequest(repository="rm/x", tag="v1"), timeout=5)
    assert (await client.manifest("rm/x", "v1")).status == 404
    assert (await client.manifest("rm/x", "v2")).body == manifest
    await stub.DeleteManifest(pb.DeleteManifestRequest(repository="rm/x", digest=digest), timeout=5)
    assert (await client.manifest("rm/x", "v2")).status == 404

    await client.push_image("rm/y", "v1", [b"y"])
    url = await client.start_upload("rm/y")
    deleted = await stub.DeleteRepository(pb.DeleteRepositoryRequest(repository="rm/y"), timeout=5)
    assert (deleted.manifests, deleted.tags, deleted.blobs, deleted.uploads) == (1, 1, 2, 1)
    assert (await client.request("GET", "/v2/rm/y/tags/list")).error_code == "NAME_UNKNOWN"
    assert (await client.request("GET", url)).error_code == "BLOB_UPLOAD_UNKNOWN"


@pytest.mark.parametrize(
    ("call", "code", "why"),
    [
        ("tag_missing", grpc.StatusCode.NOT_FOUND, "MANIFEST_UNKNOWN"),
        ("repo_missing", grpc.StatusCode.NOT_FOUND, "NAME_UNKNOWN"),
        ("bad_name", grpc.StatusCode.INVALID_ARGUMENT, "NAME_INVALID"),
        ("bad_digest", grpc.StatusCode.INVALID_ARGUMENT, "DIGEST_INVALID"),
        ("bad_tag", grpc.StatusCode.INVALID_ARGUMENT, "TAG_INVALID"),
        ("bad_upload", grpc.StatusCode.NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
    ],
)
async def test_admin_errors(registry: Running, call: str, code: grpc.StatusCode, why: str) -> None:
    await registry.client.push_image("err/x", "v1", [b"x"])
    stub, upkeep = repos(registry), maintenance(registry)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "tag_missing": lambda: stub.DeleteTag(pb.DeleteTagRequest(repository="err/x", tag="nope")),
        "repo_missing": lambda: stub.ListTags(pb.ListTagsRequest(repository="no/repo")),
        "bad_name": lambda: stub.DeleteRepository(pb.DeleteRepositoryRequest(repository="../x")),
        "bad_digest": lambda: stub.DeleteManifest(
            pb.DeleteManifestRequest(repository="err/x", digest="latest")
        ),
        "bad_tag": lambda: stub.DeleteTag(pb.DeleteTagRequest(repository="err/x", tag="-x")),
        "bad_upload": lambda: upkeep.AbortUpload(pb.AbortUploadRequest(id="0" * 32)),
    }
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await calls[call]()
    assert caught.value.code() == code
    assert reason(caught.value) == why
    assert (await registry.client.manifest("err/x", "v1")).status == 200


async def test_list_and_abort_uploads(registry: Running) -> None:
    client = registry.client
    first = await client.start_upload("up/a")
    await client.patch(first, b"x" * 10, start=0)
    second = await client.start_upload("up/b")
    upkeep = maintenance(registry)
    listed = await upkeep.ListUploads(pb.ListUploadsRequest(), timeout=5)
    assert [(u.repository, u.size) for u in listed.uploads] == [("up/a", 10), ("up/b", 0)]
    assert listed.uploads[0].expires_at > listed.uploads[0].created_at
    only = await upkeep.ListUploads(pb.ListUploadsRequest(repository="up/b"), timeout=5)
    assert [u.id for u in only.uploads] == [second.rsplit("/", 1)[1]]
    aborted = await upkeep.AbortUpload(pb.AbortUploadRequest(id=listed.uploads[0].id), timeout=5)
    assert aborted.upload.repository == "up/a"
    assert (await client.request("GET", first)).error_code == "BLOB_UPLOAD_UNKNOWN"
    upload_dir = registry.config.state_dir / "uploads" / listed.uploads[0].id
    assert not await exists(upload_dir)
    remaining = await upkeep.ListUploads(pb.ListUploadsRequest(), timeout=5)
    assert [u.repository for u in remaining.uploads] == ["up/b"]


async def test_gc_status_before_any_run(registry: Running) -> None:
    status = await maintenance(registry).GetGCStatus(pb.GetGCStatusRequest(), timeout=5)
    assert not status.running
    assert not status.HasField("last_run")
    assert status.next_run_at == ""
    assert status.interval_seconds == 0
    await registry.client.push_blob("st/x", b"garbage")
    await maintenance(registry).RunGC(pb.RunGCRequest(), timeout=5)
    status = await maintenance(registry).GetGCStatus(pb.GetGCStatusRequest(), timeout=5)
    assert [b.digest for b in status.last_run.blobs] == [digest_of(b"garbage")]


async def test_health_reports_every_service(registry: Running) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(registry.channel)
    for service in ("", "estiba.registry.v1.Repositories", "estiba.registry.v1.Maintenance"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
