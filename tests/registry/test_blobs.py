"""Blobs over HTTP: monolithic pushes, digests (sha256 and sha512), fetches, ranges, deletion."""

from __future__ import annotations

import os

import pytest

from services.registry.http.blobs import PIECE
from tests.registry.conftest import Running
from tests.registry.helpers import Client, digest_of, raw_request


async def test_monolithic_push_then_fetch(client: Client) -> None:
    data = os.urandom(300_000)
    digest = digest_of(data)
    reply = await client.push_blob("team/app", data)
    assert reply.status == 201
    assert reply.headers["Docker-Content-Digest"] == digest
    assert reply.headers["Location"] == f"/v2/team/app/blobs/{digest}"

    head = await client.request("HEAD", f"/v2/team/app/blobs/{digest}")
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.body == b""

    got = await client.blob("team/app", digest)
    assert got.status == 200
    assert got.body == data
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_single_post_with_digest_stores_the_blob(client: Client) -> None:
    data = b"posted in one request"
    digest = digest_of(data)
    reply = await client.request(
        "POST", "/v2/one/shot/blobs/uploads/", params={"digest": digest}, data=data
    )
    assert reply.status == 201
    assert reply.headers["Location"] == f"/v2/one/shot/blobs/{digest}"
    assert (await client.blob("one/shot", digest)).body == data


async def test_sha512_is_kept_everywhere(client: Client) -> None:
    data = os.urandom(5000)
    digest = digest_of(data, "sha512")
    reply = await client.push_blob("alg/x", data, digest)
    assert reply.status == 201
    assert reply.headers["Docker-Content-Digest"] == digest
    head = await client.request("HEAD", f"/v2/alg/x/blobs/{digest}")
    assert head.status == 200
    assert head.headers["Docker-Content-Digest"] == digest
    # Under its sha256 name the registry does not know it: the algorithm is part of the name.
    assert (await client.blob("alg/x", digest_of(data))).status == 404
    single = await client.request(
        "POST", "/v2/alg/y/blobs/uploads/", params={"digest": digest}, data=data
    )
    assert single.status == 201
    assert single.headers["Docker-Content-Digest"] == digest


async def test_wrong_digest_stores_nothing(client: Client) -> None:
    data = b"the real content"
    wrong = digest_of(b"something else")
    url = await client.start_upload("bad/digest")
    reply = await client.request("PUT", url, params={"digest": wrong}, data=data)
    assert reply.status == 400
    assert reply.error_code == "DIGEST_INVALID"
    assert (await client.blob("bad/digest", wrong)).status == 404
    assert (await client.blob("bad/digest", digest_of(data))).status == 404
    # The session ended with the failure.
    assert (await client.request("GET", url)).error_code == "BLOB_UPLOAD_UNKNOWN"
    catalog = await client.request("GET", "/v2/_catalog")
    assert "bad/digest" not in catalog.json()["repositories"]


async def test_single_post_with_wrong_digest_stores_nothing(client: Client) -> None:
    reply = await client.request(
        "POST", "/v2/bad/post/blobs/uploads/", params={"digest": digest_of(b"x")}, data=b"y"
    )
    assert reply.status == 400
    assert reply.error_code == "DIGEST_INVALID"
    assert (await client.blob("bad/post", digest_of(b"y"))).status == 404


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:xyz",
        "sha256:" + "0" * 63,
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:",
        "sha256:" + "A" * 64,
    ],
)
async def test_malformed_digests_are_400(client: Client, digest: str) -> None:
    data = b"payload"
    await client.push_blob("keep/me", data)
    for method, path in [
        ("GET", f"/v2/keep/me/blobs/{digest}"),
        ("DELETE", f"/v2/keep/me/blobs/{digest}"),
        ("GET", f"/v2/keep/me/manifests/{digest}"),
        ("PUT", f"/v2/keep/me/manifests/{digest}"),
        ("GET", f"/v2/keep/me/referrers/{digest}"),
    ]:
        reply = await client.request(method, path, data=b"{}" if method == "PUT" else None)
        assert reply.status == 400, (method, path, reply)
        assert reply.error_code in ("DIGEST_INVALID", "TAG_INVALID"), reply
    url = await client.start_upload("keep/me")
    put = await client.request("PUT", url, params={"digest": digest}, data=data)
    assert put.status == 400
    assert put.error_code == "DIGEST_INVALID"
    post = await client.request(
        "POST", "/v2/keep/me/blobs/uploads/", params={"digest": digest}, data=data
    )
    assert post.error_code == "DIGEST_INVALID"
    assert (await client.blob("keep/me", digest_of(data))).body == data


async def test_put_without_digest_is_refused(client: Client) -> None:
    url = await client.start_upload("no/digest")
    reply = await client.request("PUT", url, data=b"abc")
    assert reply.status == 400
    assert reply.error_code == "DIGEST_INVALID"


async def test_unknown_blob_and_repository(client: Client) -> None:
    missing = digest_of(b"never pushed")
    reply = await client.blob("nobody/here", missing)
    assert reply.status == 404
    assert reply.error_code == "BLOB_UNKNOWN"
    await client.push_blob("some/where", b"x")
    assert (await client.blob("some/where", missing)).error_code == "BLOB_UNKNOWN"
    head = await client.request("HEAD", f"/v2/some/where/blobs/{missing}")
    assert head.status == 404
    assert head.body == b""


async def test_a_blob_is_served_only_by_repositories_that_have_it(client: Client) -> None:
    data = b"private to a"
    await client.push_blob("repo/a", data)
    assert (await client.blob("repo/b", digest_of(data))).status == 404


async def test_ranges(client: Client) -> None:
    data = bytes(range(256)) * 4  # 1024 bytes
    digest = digest_of(data)
    await client.push_blob("ranges/x", data)

    part = await client.blob("ranges/x", digest, headers={"Range": "bytes=10-19"})
    assert part.status == 206
    assert part.body == data[10:20]
    assert part.headers["Content-Range"] == "bytes 10-19/1024"

    tail = await client.blob("ranges/x", digest, headers={"Range": "bytes=1000-"})
    assert (tail.status, tail.body) == (206, data[1000:])
    suffix = await client.blob("ranges/x", digest, headers={"Range": "bytes=-24"})
    assert (suffix.status, suffix.body) == (206, data[-24:])
    clipped = await client.blob("ranges/x", digest, headers={"Range": "bytes=1000-5000"})
    assert (clipped.status, clipped.body) == (206, data[1000:])
    assert clipped.headers["Content-Range"] == "bytes 1000-1023/1024"

    for bad in ("bytes=500-0", "bytes=5000-10000", "bytes=1024-", "bytes=0-1,5-6", "pages=1-2"):
        reply = await client.blob("ranges/x", digest, headers={"Range": bad})
        assert reply.status == 416, bad
        assert reply.headers["Content-Range"] == "bytes */1024"
        assert reply.error_code == "RANGE_INVALID"

    head = await client.request(
        "HEAD", f"/v2/ranges/x/blobs/{digest}", headers={"Range": "bytes=0-99"}
    )
    assert head.status == 206
    assert head.headers["Content-Length"] == "100"


async def test_a_blob_of_many_pieces_and_ranges_across_them(client: Client) -> None:
    data = os.urandom(3 * PIECE + 12_345)
    digest = digest_of(data)
    await client.push_blob("pieces/x", data)

    whole = await client.blob("pieces/x", digest)
    assert (whole.status, whole.headers["Content-Length"]) == (200, str(len(data)))
    assert whole.body == data
    first, last = PIECE - 7, 2 * PIECE + 9  # starts and ends inside different pieces
    across = await client.blob("pieces/x", digest, headers={"Range": f"bytes={first}-{last}"})
    assert across.status == 206
    assert across.body == data[first : last + 1]
    assert across.headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
    tail = await client.blob("pieces/x", digest, headers={"Range": "bytes=-3"})
    assert (tail.status, tail.body) == (206, data[-3:])


async def test_an_empty_blob(client: Client) -> None:
    digest = digest_of(b"")
    assert (await client.push_blob("empty/x", b"")).status == 201
    got = await client.blob("empty/x", digest)
    assert (got.status, got.body, got.headers["Content-Length"]) == (200, b"", "0")
    bad = await client.blob("empty/x", digest, headers={"Range": "bytes=0-"})
    assert bad.status == 416


async def test_the_digest_is_the_etag(client: Client) -> None:
    data = os.urandom(5000)
    digest = digest_of(data)
    await client.push_blob("etag/x", data)
    got = await client.blob("etag/x", digest)
    assert got.headers["Etag"] == f'"{digest}"'
    again = await client.blob("etag/x", digest, headers={"If-None-Match": f'"{digest}"'})
    assert (again.status, again.body) == (304, b"")
    assert again.headers["Docker-Content-Digest"] == digest
    other = await client.blob("etag/x", digest, headers={"If-None-Match": '"sha256:0"'})
    assert (other.status, other.body) == (200, data)


async def test_bad_ranges_on_the_wire(registry: Running) -> None:
    data = os.urandom(1000)
    digest = digest_of(data)
    await registry.client.push_blob("wire/x", data)
    for header in (b"bytes=500-0", b"bytes=5000-10000"):
        answer = await raw_request(
            registry.port,
            b"GET /v2/wire/x/blobs/" + digest.encode() + b" HTTP/1.1\r\nHost: t\r\n"
            b"Range: " + header + b"\r\nConnection: close\r\n\r\n",
        )
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 416 "), head
        assert b"Content-Range: bytes */1000" in head
        length = int(
            next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length")).split(
                b":"
            )[1]
        )
        assert len(body) == length
        assert b"RANGE_INVALID" in body


async def test_delete_blob(client: Client) -> None:
    data = b"to be deleted"
    digest = digest_of(data)
    await client.push_blob("del/a", data)
    await client.push_blob("del/b", data)
    reply = await client.request("DELETE", f"/v2/del/a/blobs/{digest}")
    assert reply.status == 202
    assert (await client.blob("del/a", digest)).status == 404
    assert (await client.blob("del/b", digest)).body == data  # only that repository lost it
    again = await client.request("DELETE", f"/v2/del/a/blobs/{digest}")
    assert again.status == 404
    assert again.error_code == "BLOB_UNKNOWN"


async def test_empty_blob(client: Client) -> None:
    digest = digest_of(b"")
    reply = await client.push_blob("empty/x", b"")
    assert reply.status == 201
    got = await client.blob("empty/x", digest)
    assert (got.status, got.body) == (200, b"")
    ranged = await client.blob("empty/x", digest, headers={"Range": "bytes=0-0"})
    assert ranged.status == 416
