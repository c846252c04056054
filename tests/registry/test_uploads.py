"""Upload sessions over HTTP: chunked and streamed PATCH, order, status, cancel, mount, limits."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from tests.registry.conftest import Running, StartRegistry
from tests.registry.helpers import Client, digest_of, exists, listdir, raw_request


async def test_chunked_upload(client: Client) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    chunk = 1024 * 1024
    url = await client.start_upload("chunked/x")
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        reply = await client.patch(url, piece, start=start)
        assert reply.status == 202, reply
        assert reply.headers["Range"] == f"0-{start + len(piece) - 1}"
        assert reply.headers["Docker-Upload-UUID"]
        assert reply.headers["Content-Length"] == "0"
        url = client.location(reply)
    digest = digest_of(data)
    done = await client.request("PUT", url, params={"digest": digest})
    assert done.status == 201
    assert done.headers["Docker-Content-Digest"] == digest
    assert (await client.blob("chunked/x", digest)).body == data


async def test_streamed_patch_then_put_with_last_chunk(client: Client) -> None:
    first, last = os.urandom(2_500_000), os.urandom(1000)

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(first), 65536):
            yield first[i : i + 65536]

    url = await client.start_upload("streamed/x")
    reply = await client.request("PATCH", url, data=stream())
    assert reply.status == 202
    assert reply.headers["Range"] == f"0-{len(first) - 1}"
    digest = digest_of(first + last)
    done = await client.request(
        "PUT",
        client.location(reply),
        params={"digest": digest},
        data=last,
        headers={"Content-Range": f"{len(first)}-{len(first) + len(last) - 1}"},
    )
    assert done.status == 201
    assert (await client.blob("streamed/x", digest)).body == first + last


async def test_out_of_order_chunk_is_416_and_changes_nothing(client: Client) -> None:
    data = os.urandom(3000)
    url = await client.start_upload("order/x")
    assert (await client.patch(url, data[:1000], start=0)).status == 202
    skipped = await client.patch(url, data[2000:], start=2000)
    assert skipped.status == 416
    assert skipped.error_code == "RANGE_INVALID"
    assert skipped.headers["Range"] == "0-999"
    assert skipped.headers["Location"].endswith(url.rsplit("/", 1)[1])
    retried = await client.patch(url, data[:1000], start=0)  # the previous chunk again
    assert retried.status == 416
    status = await client.request("GET", url)
    assert status.status == 204
    assert status.headers["Range"] == "0-999"
    assert (await client.patch(url, data[1000:], start=1000)).status == 202
    done = await client.request("PUT", url, params={"digest": digest_of(data)})
    assert done.status == 201
    assert (await client.blob("order/x", digest_of(data))).body == data


async def test_content_range_and_length_must_agree(client: Client) -> None:
    url = await client.start_upload("agree/x")
    reply = await client.request("PATCH", url, data=b"abcd", headers={"Content-Range": "0-9"})
    assert reply.status == 400
    assert reply.error_code == "SIZE_INVALID"
    garbled = await client.request("PATCH", url, data=b"abcd", headers={"Content-Range": "x-y"})
    assert garbled.status == 416
    assert garbled.error_code == "RANGE_INVALID"
    backwards = await client.request("PATCH", url, data=b"abcd", headers={"Content-Range": "3-0"})
    assert backwards.status == 416
    assert (await client.request("GET", url)).headers["Range"] == "0-0"


async def test_upload_status(client: Client) -> None:
    url = await client.start_upload("status/x")
    fresh = await client.request("GET", url)
    assert fresh.status == 204
    assert fresh.headers["Range"] == "0-0"
    assert fresh.headers["Location"]
    assert fresh.headers["Docker-Upload-UUID"] == url.rsplit("/", 1)[1]
    await client.patch(url, b"12345", start=0)
    assert (await client.request("GET", url)).headers["Range"] == "0-4"


async def test_cancel_upload(client: Client) -> None:
    url = await client.start_upload("cancel/x")
    await client.patch(url, b"some data", start=0)
    assert (await client.request("DELETE", url)).status == 204
    for method in ("GET", "PATCH", "DELETE"):
        reply = await client.request(method, url, data=b"x" if method == "PATCH" else None)
        assert reply.status == 404
        assert reply.error_code == "BLOB_UPLOAD_UNKNOWN"
    done = await client.request("PUT", url, params={"digest": digest_of(b"some data")})
    assert done.error_code == "BLOB_UPLOAD_UNKNOWN"


async def test_unknown_upload_ids(client: Client) -> None:
    real = await client.start_upload("ids/x")
    upload_id = real.rsplit("/", 1)[1]
    for bad in ["0" * 32, "nothex", "..", "%2e%2e%2fetc", upload_id.upper()]:
        reply = await client.request("GET", f"/v2/ids/x/blobs/uploads/{bad}")
        assert reply.status in (404,), (bad, reply)
        assert reply.error_code in ("BLOB_UPLOAD_UNKNOWN", "UNSUPPORTED"), reply
    # A session belongs to its repository.
    other = await client.request("GET", f"/v2/ids/y/blobs/uploads/{upload_id}")
    assert other.error_code == "BLOB_UPLOAD_UNKNOWN"
    assert (await client.request("GET", real)).status == 204


async def test_truncated_upload_stores_nothing(registry: Running) -> None:
    client = registry.client
    data = os.urandom(10_000)
    digest = digest_of(data)
    # A monolithic POST whose body stops half-way: nothing is stored, no session lingers.
    head = (
        f"POST /v2/trunc/x/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: t\r\n"
        f"Content-Length: {len(data)}\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    await raw_request(registry.port, head, data[:5000], close_write=True)
    # A chunk that stops half-way: the session keeps what was acknowledged before it.
    url = await client.start_upload("trunc/y")
    assert (await client.patch(url, data[:1000], start=0)).status == 202
    path = url.removeprefix(client.base)
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: t\r\nContent-Range: 1000-9999\r\n"
        "Content-Length: 9000\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    await raw_request(registry.port, head, data[1000:4000], close_write=True)
    await asyncio.sleep(0.2)
    assert (await client.blob("trunc/x", digest)).status == 404
    assert (await client.request("GET", url)).headers["Range"] == "0-999"
    assert (await client.patch(url, data[1000:], start=1000)).status == 202
    assert (await client.request("PUT", url, params={"digest": digest})).status == 201
    assert (await client.blob("trunc/y", digest)).body == data
    assert await listdir(registry.config.state_dir / "uploads") == []


async def test_cross_repository_mount(client: Client) -> None:
    data = os.urandom(2000)
    for algorithm in ("sha256", "sha512"):
        digest = digest_of(data, algorithm)
        await client.push_blob("mount/src", data, digest)
        reply = await client.request(
            "POST", "/v2/mount/dst/blobs/uploads/", params={"mount": digest, "from": "mount/src"}
        )
        assert reply.status == 201, reply
        assert reply.headers["Location"] == f"/v2/mount/dst/blobs/{digest}"
        assert reply.headers["Docker-Content-Digest"] == digest
        assert (await client.blob("mount/dst", digest)).body == data


async def test_mount_falls_back_to_an_upload(client: Client) -> None:
    missing = digest_of(b"not in src")
    await client.push_blob("fall/src", b"something")
    for params in (
        {"mount": missing, "from": "fall/src"},
        {"mount": missing, "from": "no/such/repo"},
        {"mount": missing},
    ):
        reply = await client.request("POST", "/v2/fall/dst/blobs/uploads/", params=params)
        assert reply.status == 202, (params, reply)
        url = client.location(reply)
        done = await client.request("PUT", url, params={"digest": missing}, data=b"not in src")
        assert done.status == 201
    bad = await client.request(
        "POST", "/v2/fall/dst/blobs/uploads/", params={"mount": "sha256:zz", "from": "fall/src"}
    )
    assert bad.error_code == "DIGEST_INVALID"
    bad_from = await client.request(
        "POST", "/v2/fall/dst/blobs/uploads/", params={"mount": missing, "from": "../x"}
    )
    assert bad_from.error_code == "NAME_INVALID"


async def test_too_many_uploads(start_registry: StartRegistry) -> None:
    async with start_registry(max_uploads=2) as reg:
        first = await reg.client.start_upload("busy/x")
        await reg.client.start_upload("busy/x")
        reply = await reg.client.request("POST", "/v2/busy/x/blobs/uploads/")
        assert reply.status == 429
        assert reply.error_code == "TOOMANYREQUESTS"
        await reg.client.request("DELETE", first)
        assert (await reg.client.request("POST", "/v2/busy/x/blobs/uploads/")).status == 202


async def test_sessions_expire(start_registry: StartRegistry) -> None:
    async with start_registry(upload_ttl=0.3) as reg:
        url = await reg.client.start_upload("ttl/x")
        assert (await reg.client.patch(url, b"abc", start=0)).status == 202
        await asyncio.sleep(0.5)
        reply = await reg.client.request("GET", url)
        assert reply.error_code == "BLOB_UPLOAD_UNKNOWN"


async def test_upload_survives_a_restart(start_registry: StartRegistry, tmp_path: Path) -> None:
    data = os.urandom(2_000_000)
    async with start_registry() as reg:
        url = await reg.client.start_upload("restart/x")
        assert (await reg.client.patch(url, data[:1_200_000], start=0)).status == 202
        path = url.removeprefix(reg.client.base)
    async with start_registry() as reg:
        url = reg.client.base + path
        status = await reg.client.request("GET", url)
        assert status.headers["Range"] == "0-1199999"
        assert (await reg.client.patch(url, data[1_200_000:], start=1_200_000)).status == 202
        done = await reg.client.request("PUT", url, params={"digest": digest_of(data)})
        assert done.status == 201
        assert (await reg.client.blob("restart/x", digest_of(data))).body == data


async def test_same_blob_pushed_twice_at_once(client: Client) -> None:
    data = os.urandom(500_000)
    replies = await asyncio.gather(*(client.push_blob(f"twice/r{i}", data) for i in range(4)))
    assert [r.status for r in replies] == [201] * 4
    for i in range(4):
        assert (await client.blob(f"twice/r{i}", digest_of(data))).body == data


async def test_upload_whose_data_was_lost(registry: Running) -> None:
    client = registry.client
    data = os.urandom(1000)
    url = await client.start_upload("lost/x")
    assert (await client.patch(url, data, start=0)).status == 202
    upload_id = url.rsplit("/", 1)[1]
    # As a power failure could leave it: the bytes acknowledged are not all on disk.
    data_file = registry.config.state_dir / "uploads" / upload_id / "data"
    await asyncio.to_thread(os.truncate, data_file, 500)
    reply = await client.request("PUT", url, params={"digest": digest_of(data)})
    assert reply.status == 400
    assert reply.error_code == "BLOB_UPLOAD_INVALID"
    assert (await client.request("GET", url)).error_code == "BLOB_UPLOAD_UNKNOWN"
    assert (await client.blob("lost/x", digest_of(data))).status == 404
    assert not await exists(data_file.parent)


async def test_malformed_chunked_body(registry: Running) -> None:
    """A broken chunked encoding is refused and the upload keeps what it had."""
    client = registry.client
    url = await client.start_upload("chunky/x")
    assert (await client.patch(url, b"0123456789", start=0)).status == 202
    path = url.removeprefix(client.base)
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = await raw_request(registry.port, head, b"5\r\nabcde\r\nZZ\r\nnot hex\r\n0\r\n\r\n")
    # aiohttp's parser answers a broken framing itself, before the body reaches the handler.
    assert answer.split(b" ")[1] == b"400", answer[:200]
    await asyncio.sleep(0.1)
    assert (await client.request("GET", url)).headers["Range"] == "0-9"
    done = await client.request("PUT", url, params={"digest": digest_of(b"0123456789")})
    assert done.status == 201
