"""Tag lists, the catalog, names, the error envelope on every path, and read-only mode."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.registry.conftest import Running, StartRegistry
from tests.registry.helpers import (
    EMPTY_JSON,
    Client,
    digest_of,
    exists,
    image_manifest,
    raw_request,
)


async def test_base_endpoint(client: Client) -> None:
    for path in ("/v2/", "/v2"):
        reply = await client.request("GET", path)
        assert reply.status == 200
        assert reply.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert reply.headers["Content-Type"] == "application/json"


async def _tag_all(client: Client, repo: str, tags: list[str]) -> None:
    manifest, _ = await client.push_image(repo, tags[0], [b"layer"])
    for tag in tags[1:]:
        assert (await client.put_manifest(repo, tag, manifest)).status == 201


async def test_tags_list_and_pagination(client: Client) -> None:
    tags = ["v10", "v2", "latest", "A", "_b", "v1"]
    await _tag_all(client, "page/x", tags)
    full = await client.request("GET", "/v2/page/x/tags/list")
    assert full.status == 200
    assert full.headers["Content-Type"] == "application/json"
    assert full.json() == {"name": "page/x", "tags": sorted(tags)}
    assert "Link" not in full.headers

    seen: list[str] = []
    url = "/v2/page/x/tags/list?n=2"
    pages = 0
    while url:
        reply = await client.request("GET", url)
        page = reply.json()["tags"]
        assert len(page) <= 2
        seen += page
        pages += 1
        link = reply.headers.get("Link")
        if link is None:
            break
        assert link.endswith('>; rel="next"'), link
        url = link[1 : link.index(">")]
        assert url.startswith("/v2/page/x/tags/list?")
    assert seen == sorted(tags)
    assert pages == 3

    after = await client.request("GET", "/v2/page/x/tags/list", params={"last": "v1", "n": "10"})
    assert after.json()["tags"] == ["v10", "v2"]
    assert "Link" not in after.headers
    zero = await client.request("GET", "/v2/page/x/tags/list?n=0")
    assert zero.json()["tags"] == []
    for bad in ("-1", "x", "1.5"):
        reply = await client.request("GET", "/v2/page/x/tags/list", params={"n": bad})
        assert reply.status == 400
        assert reply.error_code == "PAGINATION_NUMBER_INVALID"


async def test_tags_of_unknown_repository(client: Client) -> None:
    reply = await client.request("GET", "/v2/no/such/tags/list")
    assert reply.status == 404
    assert reply.error_code == "NAME_UNKNOWN"


async def test_page_size_is_capped(start_registry: StartRegistry) -> None:
    async with start_registry(max_page_size=2) as reg:
        await _tag_all(reg.client, "cap/x", ["a", "b", "c"])
        reply = await reg.client.request("GET", "/v2/cap/x/tags/list?n=100")
        assert reply.json()["tags"] == ["a", "b"]
        assert reply.headers["Link"] == '</v2/cap/x/tags/list?n=100&last=b>; rel="next"'
        default = await reg.client.request("GET", "/v2/cap/x/tags/list")
        assert default.json()["tags"] == ["a", "b"]
        assert "last=b" in default.headers["Link"]


async def test_catalog_and_pagination(client: Client) -> None:
    names = ["b/one", "a", "c.d/e-f", "a/b", "z_z"]
    for name in names:
        await client.push_blob(name, b"x")
    full = await client.request("GET", "/v2/_catalog")
    assert full.json() == {"repositories": sorted(names)}
    first = await client.request("GET", "/v2/_catalog?n=2")
    assert first.json()["repositories"] == ["a", "a/b"]
    assert first.headers["Link"] == '</v2/_catalog?n=2&last=a%2Fb>; rel="next"'
    nxt = first.headers["Link"][1 : first.headers["Link"].index(">")]
    second = await client.request("GET", nxt)
    assert second.json()["repositories"] == ["b/one", "c.d/e-f"]
    third = await client.request("GET", second.headers["Link"][1:].split(">")[0])
    assert third.json()["repositories"] == ["z_z"]
    assert "Link" not in third.headers
    bad = await client.request("GET", "/v2/_catalog?n=-5")
    assert bad.error_code == "PAGINATION_NUMBER_INVALID"


@pytest.mark.parametrize(
    "name",
    ["UPPER", "a..b", "a/", "a//b", "-a", "a_-b", "a" * 256, "a/" + "b" * 254, "a b", "é"],
)
async def test_names_breaking_the_grammar(client: Client, name: str) -> None:
    for method, suffix in [
        ("GET", "/tags/list"),
        ("GET", "/manifests/latest"),
        ("PUT", "/manifests/latest"),
        ("POST", "/blobs/uploads/"),
        ("GET", f"/blobs/{digest_of(b'x')}"),
    ]:
        reply = await client.request(method, f"/v2/{name}{suffix}")
        assert reply.status == 400, (name, method, suffix, reply)
        assert reply.error_code == "NAME_INVALID"
    assert (await client.request("GET", "/v2/_catalog")).json()["repositories"] == []


async def test_path_like_names_are_refused(registry: Running) -> None:
    await registry.client.push_blob("safe/x", b"data")
    for path in (
        b"/v2/../x/tags/list",
        b"/v2/..%2Fx/blobs/uploads/",
        b"/v2/a/../../etc/manifests/latest",
        b"/v2/%2E%2E/x/tags/list",
    ):
        method = b"POST" if b"uploads" in path else b"GET"
        answer = await raw_request(
            registry.port,
            method + b" " + path + b" HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
            b"Connection: close\r\n\r\n",
        )
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == b"400", (path, head)
        assert json.loads(body)["errors"][0]["code"] == "NAME_INVALID"
    answer = await raw_request(
        registry.port,
        b"GET /v2/safe/x/blobs/uploads/..%2F..%2Fetc HTTP/1.1\r\nHost: t\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 404 ")
    assert b"BLOB_UPLOAD_UNKNOWN" in answer
    state = registry.config.state_dir
    assert not await exists(state.parent / "x")
    catalog = await registry.client.request("GET", "/v2/_catalog")
    assert catalog.json()["repositories"] == ["safe/x"]


async def test_unknown_endpoints_and_methods(client: Client) -> None:
    nowhere = await client.request("GET", "/v2/a/b/nothing")
    assert nowhere.status == 404
    assert nowhere.error_code == "UNSUPPORTED"
    wrong = await client.request("PUT", "/v2/a/tags/list")
    assert wrong.status == 405
    assert wrong.error_code == "UNSUPPORTED"
    assert "GET" in wrong.headers["Allow"]
    assert wrong.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_read_only_registry_denies_changes(
    start_registry: StartRegistry, tmp_path: Path
) -> None:
    layer = os.urandom(100)
    async with start_registry(root=tmp_path / "a") as reg:
        manifest, digest = await reg.client.push_image("ro/x", "v1", [layer])
    async with start_registry(root=tmp_path / "a", read_only=True) as reg:
        client = reg.client
        assert (await client.manifest("ro/x", "v1")).body == manifest
        assert (await client.blob("ro/x", digest_of(layer))).body == layer
        denied = [
            await client.request("POST", "/v2/ro/x/blobs/uploads/"),
            await client.put_manifest("ro/x", "v2", manifest),
            await client.request("DELETE", f"/v2/ro/x/manifests/{digest}"),
            await client.request("DELETE", "/v2/ro/x/manifests/v1"),
            await client.request("DELETE", f"/v2/ro/x/blobs/{digest_of(layer)}"),
        ]
        for reply in denied:
            assert reply.status == 403
            assert reply.error_code == "DENIED"
        assert (await client.manifest("ro/x", "v1")).body == manifest


async def test_error_envelope_shape(client: Client) -> None:
    reply = await client.blob("shape/x", digest_of(b"nope"))
    assert reply.headers["Content-Type"] == "application/json"
    doc = reply.json()
    assert list(doc) == ["errors"]
    assert doc["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert isinstance(doc["errors"][0]["detail"], dict)


async def test_nothing_existing_is_harmed_by_bad_requests(client: Client) -> None:
    manifest, digest = await client.push_image("keep/safe", "v1", [b"precious"])
    await client.put_manifest("keep/safe", "v1", b"not json")
    await client.put_manifest("keep/safe", "v1", image_manifest([b"missing layer"]))
    await client.put_manifest("keep/safe", digest, image_manifest([]))
    await client.request(
        "POST",
        "/v2/keep/safe/blobs/uploads/",
        params={"digest": digest_of(b"precious")},
        data=b"tampered",
    )
    await client.request("DELETE", "/v2/keep/safe/manifests/nope")
    assert (await client.manifest("keep/safe", "v1")).body == manifest
    assert (await client.blob("keep/safe", digest_of(b"precious"))).body == b"precious"
    assert (await client.blob("keep/safe", digest_of(EMPTY_JSON))).body == EMPTY_JSON
