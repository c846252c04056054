"""Manifests over HTTP: push by tag and digest, exact bytes, references, deletion, referrers."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import pytest

from tests.registry.conftest import StartRegistry
from tests.registry.helpers import (
    EMPTY_JSON,
    EMPTY_MEDIA,
    Client,
    descriptor,
    digest_of,
    image_manifest,
)
from tests.registry.imagegen import OCI_INDEX, OCI_MANIFEST

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


async def test_push_by_tag_and_pull_exact_bytes(client: Client) -> None:
    layer = os.urandom(4096)
    manifest, digest = await client.push_image("img/app", "v1", [layer])
    got = await client.manifest("img/app", "v1", accept=OCI_MANIFEST)
    assert got.status == 200
    assert got.body == manifest
    assert got.headers["Content-Type"] == OCI_MANIFEST
    assert got.headers["Docker-Content-Digest"] == digest
    by_digest = await client.manifest("img/app", digest)
    assert by_digest.body == manifest
    head = await client.request("HEAD", "/v2/img/app/manifests/v1")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == str(len(manifest))
    assert head.headers["Docker-Content-Digest"] == digest
    # A manifest can be fetched through the blob endpoint too.
    assert (await client.blob("img/app", digest)).body == manifest


async def test_put_response_headers(client: Client) -> None:
    body = image_manifest([])
    await client.push_blob("hdr/x", EMPTY_JSON)
    reply = await client.put_manifest("hdr/x", "latest", body)
    assert reply.status == 201
    digest = digest_of(body)
    assert reply.headers["Docker-Content-Digest"] == digest
    assert reply.headers["Location"] == f"/v2/hdr/x/manifests/{digest}"
    assert "OCI-Subject" not in reply.headers


async def test_whitespace_and_key_order_are_kept(client: Client) -> None:
    layer = b"layer"
    await client.push_blob("exact/x", EMPTY_JSON)
    await client.push_blob("exact/x", layer)
    doc = json.loads(image_manifest([layer]))
    body = ("\n  " + json.dumps(doc, indent=7, sort_keys=True) + "\n\n").encode()
    reply = await client.put_manifest("exact/x", "odd", body)
    assert reply.headers["Docker-Content-Digest"] == digest_of(body)
    assert (await client.manifest("exact/x", "odd")).body == body


async def test_push_by_digest_including_sha512(client: Client) -> None:
    await client.push_blob("bydig/x", EMPTY_JSON)
    body = image_manifest([], annotations={"n": "1"})
    for algorithm in ("sha256", "sha512"):
        digest = digest_of(body, algorithm)
        reply = await client.put_manifest("bydig/x", digest, body)
        assert reply.status == 201, reply
        assert reply.headers["Docker-Content-Digest"] == digest
        got = await client.manifest("bydig/x", digest)
        assert got.body == body
        assert got.headers["Docker-Content-Digest"] == digest
    wrong = await client.put_manifest("bydig/x", digest_of(b"other"), body)
    assert wrong.status == 400
    assert wrong.error_code == "DIGEST_INVALID"
    tags = await client.request("GET", "/v2/bydig/x/tags/list")
    assert tags.json()["tags"] == []


async def test_manifest_referring_to_missing_blobs_is_refused(client: Client) -> None:
    layer = b"never pushed"
    await client.push_blob("miss/x", EMPTY_JSON)
    body = image_manifest([layer])
    reply = await client.put_manifest("miss/x", "v1", body)
    assert reply.status == 400
    assert reply.error_code == "MANIFEST_BLOB_UNKNOWN"
    assert (await client.manifest("miss/x", "v1")).status == 404
    no_config = image_manifest([], config=b'{"other": true}')
    assert (await client.put_manifest("miss/x", "v2", no_config)).error_code == (
        "MANIFEST_BLOB_UNKNOWN"
    )
    # A blob of another repository does not count.
    await client.push_blob("miss/elsewhere", layer)
    again = await client.put_manifest("miss/x", "v1", body)
    assert again.error_code == "MANIFEST_BLOB_UNKNOWN"


async def test_size_in_descriptor_must_match(client: Client) -> None:
    layer = b"twelve bytes"
    await client.push_blob("sz/x", EMPTY_JSON)
    await client.push_blob("sz/x", layer)
    doc = json.loads(image_manifest([layer]))
    doc["layers"][0]["size"] = 13
    reply = await client.put_manifest("sz/x", "v1", json.dumps(doc).encode())
    assert reply.status == 400
    assert reply.error_code == "MANIFEST_INVALID"


async def test_non_distributable_layers_need_not_be_pushed(client: Client) -> None:
    await client.push_blob("nd/x", EMPTY_JSON)
    foreign = {
        "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "digest": digest_of(b"lives elsewhere"),
        "size": 15,
        "urls": ["https://example.com/layer.tar.gz"],
    }
    doc = json.loads(image_manifest([]))
    doc["layers"] = [foreign]
    body = json.dumps(doc).encode()
    reply = await client.put_manifest("nd/x", "v1", body)
    assert reply.status == 201, reply
    assert (await client.manifest("nd/x", "v1")).body == body


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"this is not json", OCI_MANIFEST),
        (b"", OCI_MANIFEST),
        (b'{"schemaVersion": 1}', OCI_MANIFEST),
        (b'{"schemaVersion": 2, "mediaType": "application/x-unknown"}', "application/x-unknown"),
        (b'{"schemaVersion": 2, "config": {}, "layers": []}', OCI_MANIFEST),
        (b'{"schemaVersion": 2, "manifests": "no"}', OCI_INDEX),
    ],
)
async def test_invalid_manifests_are_refused(
    client: Client, body: bytes, content_type: str
) -> None:
    reply = await client.put_manifest("inv/x", "v1", body, content_type)
    assert reply.status == 400
    assert reply.error_code == "MANIFEST_INVALID"
    assert (await client.request("GET", "/v2/_catalog")).json()["repositories"] == []


async def test_manifest_size_limit(start_registry: StartRegistry) -> None:
    async with start_registry(max_manifest_bytes=64 * 1024) as reg:
        client = reg.client
        await client.push_blob("big/x", EMPTY_JSON)
        body = image_manifest([], annotations={"pad": "x" * 70_000})
        reply = await client.put_manifest("big/x", "v1", body)
        assert reply.status == 413
        assert reply.error_code == "SIZE_INVALID"
        # Streamed without Content-Length it is cut off the same way.

        async def stream() -> AsyncIterator[bytes]:
            yield body

        chunked = await client.request(
            "PUT", "/v2/big/x/manifests/v2", data=stream(), headers={"Content-Type": OCI_MANIFEST}
        )
        assert chunked.status == 413
        assert (await client.manifest("big/x", "v1")).status == 404


async def test_default_limit_is_4_mib(client: Client) -> None:
    await client.push_blob("big/y", EMPTY_JSON)
    body = image_manifest([], annotations={"pad": "x" * (4 * 1024 * 1024)})
    reply = await client.put_manifest("big/y", "v1", body)
    assert reply.status == 413
    assert reply.error_code == "SIZE_INVALID"


async def test_overwriting_a_tag_leaves_the_old_manifest(client: Client) -> None:
    old, old_digest = await client.push_image("over/x", "v1", [b"one"])
    new, _ = await client.push_image("over/x", "v1", [b"two"])
    assert (await client.manifest("over/x", "v1")).body == new
    assert (await client.manifest("over/x", old_digest)).body == old


async def test_delete_tag_removes_only_that_tag(client: Client) -> None:
    manifest, digest = await client.push_image("deltag/x", "v1", [b"layer"])
    assert (await client.put_manifest("deltag/x", "v2", manifest)).status == 201
    reply = await client.request("DELETE", "/v2/deltag/x/manifests/v1")
    assert reply.status == 202
    assert (await client.manifest("deltag/x", "v1")).error_code == "MANIFEST_UNKNOWN"
    assert (await client.manifest("deltag/x", "v2")).body == manifest
    assert (await client.manifest("deltag/x", digest)).body == manifest
    tags = await client.request("GET", "/v2/deltag/x/tags/list")
    assert tags.json()["tags"] == ["v2"]
    again = await client.request("DELETE", "/v2/deltag/x/manifests/v1")
    assert again.status == 404
    assert again.error_code == "MANIFEST_UNKNOWN"


async def test_delete_by_digest_removes_its_tags(client: Client) -> None:
    manifest, digest = await client.push_image("deldig/x", "v1", [b"layer"])
    await client.put_manifest("deldig/x", "v2", manifest)
    other, _ = await client.push_image("deldig/x", "keep", [b"other"])
    assert (await client.request("DELETE", f"/v2/deldig/x/manifests/{digest}")).status == 202
    assert (await client.manifest("deldig/x", digest)).status == 404
    tags = await client.request("GET", "/v2/deldig/x/tags/list")
    assert tags.json()["tags"] == ["keep"]
    assert (await client.manifest("deldig/x", "keep")).body == other
    missing = await client.request("DELETE", f"/v2/deldig/x/manifests/{digest}")
    assert missing.error_code == "MANIFEST_UNKNOWN"
    no_repo = await client.request("DELETE", f"/v2/nope/x/manifests/{digest}")
    assert no_repo.error_code == "NAME_UNKNOWN"


async def test_unknown_manifests(client: Client) -> None:
    reply = await client.manifest("no/repo", "latest")
    assert reply.status == 404
    assert reply.error_code == "NAME_UNKNOWN"
    await client.push_image("some/repo", "v1", [b"x"])
    assert (await client.manifest("some/repo", "v9")).error_code == "MANIFEST_UNKNOWN"
    assert (await client.manifest("some/repo", digest_of(b"?"))).error_code == "MANIFEST_UNKNOWN"
    bad_tag = await client.manifest("some/repo", ".hidden")
    assert bad_tag.status == 400
    assert bad_tag.error_code == "TAG_INVALID"


async def test_accept_negotiation(client: Client) -> None:
    manifest, _ = await client.push_image("acc/x", "v1", [b"layer"])
    ok = await client.manifest("acc/x", "v1", accept=f"{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.5")
    assert ok.body == manifest
    assert (await client.manifest("acc/x", "v1", accept="application/*")).status == 200
    refused = await client.manifest("acc/x", "v1", accept=DOCKER_MANIFEST)
    assert refused.status == 404
    assert refused.error_code == "MANIFEST_UNKNOWN"
    none = await client.request("GET", "/v2/acc/x/manifests/v1", headers={"Accept": ""})
    assert none.body == manifest


async def test_docker_schema2_and_manifest_list(client: Client) -> None:
    config, layer = b'{"architecture":"amd64","os":"linux"}', os.urandom(1000)
    await client.push_blob("dock/x", config)
    await client.push_blob("dock/x", layer)
    image = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": descriptor(DOCKER_CONFIG, config),
            "layers": [descriptor(DOCKER_LAYER, layer)],
        },
        indent=3,
    ).encode()
    put = await client.put_manifest("dock/x", digest_of(image), image, DOCKER_MANIFEST)
    assert put.status == 201
    listing = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [
                descriptor(
                    DOCKER_MANIFEST, image, platform={"architecture": "amd64", "os": "linux"}
                )
            ],
        }
    ).encode()
    assert (await client.put_manifest("dock/x", "multi", listing, DOCKER_LIST)).status == 201
    got = await client.manifest("dock/x", "multi", accept=DOCKER_LIST)
    assert (got.body, got.headers["Content-Type"]) == (listing, DOCKER_LIST)
    child = await client.manifest("dock/x", digest_of(image), accept=DOCKER_MANIFEST)
    assert (child.body, child.headers["Content-Type"]) == (image, DOCKER_MANIFEST)


async def test_index_needs_its_children(client: Client) -> None:
    child, _ = await client.push_image("idx/x", None, [b"amd64 layer"])
    missing = image_manifest([b"never"])
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor(OCI_MANIFEST, child), descriptor(OCI_MANIFEST, missing)],
        }
    ).encode()
    refused = await client.put_manifest("idx/x", "multi", index, OCI_INDEX)
    assert refused.status == 400
    assert refused.error_code == "MANIFEST_BLOB_UNKNOWN"
    good = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor(OCI_MANIFEST, child)]}
    ).encode()
    assert (await client.put_manifest("idx/x", "multi", good, OCI_INDEX)).status == 201
    got = await client.manifest("idx/x", "multi", accept=OCI_INDEX)
    assert (got.body, got.headers["Content-Type"]) == (good, OCI_INDEX)


async def test_content_type_must_match_media_type(client: Client) -> None:
    await client.push_blob("ct/x", EMPTY_JSON)
    body = image_manifest([])
    reply = await client.put_manifest("ct/x", "v1", body, OCI_INDEX)
    assert reply.error_code == "MANIFEST_INVALID"
    assert (await client.put_manifest("ct/x", "v1", body, "application/json")).status == 201


async def test_referrers(client: Client) -> None:
    subject, subject_digest = await client.push_image("ref/x", "v1", [b"the image"])
    empty = await client.request("GET", f"/v2/ref/x/referrers/{subject_digest}")
    assert empty.status == 200
    assert empty.headers["Content-Type"] == OCI_INDEX
    assert empty.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

    sig = image_manifest(
        [],
        artifactType="application/vnd.example.signature",
        subject=descriptor(OCI_MANIFEST, subject),
        annotations={"org.example.kind": "sig"},
    )
    sig_put = await client.put_manifest("ref/x", digest_of(sig), sig)
    assert sig_put.status == 201
    assert sig_put.headers["OCI-Subject"] == subject_digest
    sbom_config = b'{"sbom": true}'
    await client.push_blob("ref/x", sbom_config)
    sbom = image_manifest(
        [],
        config=sbom_config,
        config_type="application/vnd.example.sbom",
        subject=descriptor(OCI_MANIFEST, subject),
    )
    assert (await client.put_manifest("ref/x", digest_of(sbom), sbom)).status == 201
    index_ref = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": "application/vnd.example.bundle",
            "manifests": [],
            "subject": descriptor(OCI_MANIFEST, subject),
        }
    ).encode()
    assert (
        await client.put_manifest("ref/x", digest_of(index_ref), index_ref, OCI_INDEX)
    ).status == 201

    listing = await client.request("GET", f"/v2/ref/x/referrers/{subject_digest}")
    assert listing.status == 200
    assert "OCI-Filters-Applied" not in listing.headers
    found = {d["digest"]: d for d in listing.json()["manifests"]}
    assert set(found) == {digest_of(sig), digest_of(sbom), digest_of(index_ref)}
    assert found[digest_of(sig)] == {
        "mediaType": OCI_MANIFEST,
        "digest": digest_of(sig),
        "size": len(sig),
        "artifactType": "application/vnd.example.signature",
        "annotations": {"org.example.kind": "sig"},
    }
    assert found[digest_of(sbom)]["artifactType"] == "application/vnd.example.sbom"
    assert found[digest_of(index_ref)]["mediaType"] == OCI_INDEX

    filtered = await client.request(
        "GET",
        f"/v2/ref/x/referrers/{subject_digest}",
        params={"artifactType": "application/vnd.example.sbom"},
    )
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [digest_of(sbom)]
    none = await client.request(
        "GET", f"/v2/ref/x/referrers/{subject_digest}", params={"artifactType": "x/none"}
    )
    assert none.json()["manifests"] == []


async def test_referrer_with_a_missing_subject_is_accepted(client: Client) -> None:
    absent = image_manifest([b"never pushed"])
    await client.push_blob("ref/y", EMPTY_JSON)
    art = image_manifest(
        [], artifactType="application/vnd.example", subject=descriptor(OCI_MANIFEST, absent)
    )
    reply = await client.put_manifest("ref/y", digest_of(art), art)
    assert reply.status == 201
    assert reply.headers["OCI-Subject"] == digest_of(absent)
    listing = await client.request("GET", f"/v2/ref/y/referrers/{digest_of(absent)}")
    assert [d["digest"] for d in listing.json()["manifests"]] == [digest_of(art)]


async def test_referrers_of_unknown_repository(client: Client) -> None:
    reply = await client.request("GET", f"/v2/ref/none/referrers/{digest_of(b'x')}")
    assert reply.status == 404
    assert reply.error_code == "NAME_UNKNOWN"


async def test_empty_descriptor_artifact(client: Client) -> None:
    await client.push_blob("art/x", EMPTY_JSON)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.thing",
            "config": descriptor(EMPTY_MEDIA, EMPTY_JSON),
            "layers": [descriptor(EMPTY_MEDIA, EMPTY_JSON)],
        }
    ).encode()
    assert (await client.put_manifest("art/x", "thing", body)).status == 201
    assert (await client.manifest("art/x", "thing")).body == body
