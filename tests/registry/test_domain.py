"""The registry's pure rules: digests, names, manifest parsing, the GC mark, byte ranges."""

from __future__ import annotations

import hashlib
import json

import pytest

from services.kit import errors
from services.registry.domain import manifest_format
from services.registry.domain.digest import Digest, Hasher
from services.registry.domain.gcgraph import GcBlob, GcGraph, GcLink, GcManifest, mark
from services.registry.domain.names import parse_reference, validate_name, validate_tag
from services.registry.http.blobs import RangeNotSatisfiable, parse_range
from services.registry.http.errors import CODES, lookup

HEX256 = "a" * 64
HEX512 = "b" * 128


@pytest.mark.parametrize(
    "value",
    [
        "sha256",
        "sha256:",
        ":abc",
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "g" * 64,
        "sha512:" + "a" * 64,
        "md5:" + "a" * 32,
        "SHA256:" + HEX256,
        "sha256:" + HEX256 + "/../x",
        "",
    ],
)
def test_malformed_digests_are_digest_invalid(value: str) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        Digest.parse(value)
    assert caught.value.reason == "DIGEST_INVALID"


def test_digests_keep_their_algorithm() -> None:
    assert str(Digest.parse("sha256:" + HEX256)) == "sha256:" + HEX256
    assert Digest.parse("sha512:" + HEX512).algorithm == "sha512"
    data = b"some bytes"
    assert Digest.of(data, "sha512").hex == hashlib.sha512(data).hexdigest()


def test_hasher_counts_and_hashes_in_pieces() -> None:
    hasher = Hasher("sha512")
    hasher.update(b"ab")
    hasher.update(b"c")
    assert hasher.size == 3
    assert hasher.digest() == Digest.of(b"abc", "sha512")


@pytest.mark.parametrize(
    "name", ["a", "library/ubuntu", "a.b_c__d--e/f-g", "0", "a/b/c/d", "x" * 255]
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A",
        "../x",
        "a/../b",
        "./a",
        "a/",
        "/a",
        "a//b",
        "a..b",
        "a___b",
        "-a",
        "a-",
        "a b",
        "a:b",
        "x" * 256,
        "a/" * 127 + "abc",
    ],
)
def test_names_breaking_the_grammar(name: str) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        validate_name(name)
    assert caught.value.reason == "NAME_INVALID"


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "_x", "A" * 128, "a-b_c.d"])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", [".x", "-x", "A" * 129, "a/b", "a+b", ""])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        validate_tag(tag)
    assert caught.value.reason == "TAG_INVALID"


def test_references_are_tags_or_digests() -> None:
    assert parse_reference("v1") == "v1"
    assert parse_reference("sha256:" + HEX256) == Digest("sha256", HEX256)
    with pytest.raises(errors.InvalidArgument):
        parse_reference("sha256:zz")


def _doc(**fields: object) -> bytes:
    return json.dumps({"schemaVersion": 2, **fields}).encode()


def _desc(media_type: str = "application/x", size: int = 1, **extra: object) -> dict[str, object]:
    return {"mediaType": media_type, "digest": "sha256:" + HEX256, "size": size, **extra}


def test_parse_image_manifest() -> None:
    body = _doc(
        mediaType=manifest_format.OCI_MANIFEST,
        config=_desc("application/vnd.example.config"),
        layers=[_desc(), _desc(urls=["https://example.com/l"])],
        subject=_desc(manifest_format.OCI_MANIFEST),
        annotations={"k": "v"},
    )
    parsed = manifest_format.parse(body, manifest_format.OCI_MANIFEST)
    assert parsed.media_type == manifest_format.OCI_MANIFEST
    assert [b.required for b in parsed.blobs] == [True, True, False]
    assert parsed.subject == Digest("sha256", HEX256)
    assert parsed.artifact_type == "application/vnd.example.config"
    assert parsed.annotations == {"k": "v"}


def test_parse_infers_the_media_type() -> None:
    index = manifest_format.parse(_doc(manifests=[_desc()]), "")
    assert index.media_type == manifest_format.OCI_INDEX
    assert len(index.manifests) == 1
    image = manifest_format.parse(_doc(config=_desc(), layers=[]), "application/json")
    assert image.media_type == manifest_format.OCI_MANIFEST


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", ""),
        (b"[1, 2]", ""),
        (b"\xff\xfe", ""),
        (b"[" * 100000, ""),
        (_doc(config=_desc(), layers=[]).replace(b'"schemaVersion": 2', b'"schemaVersion": 1'), ""),
        (_doc(layers=[]), manifest_format.OCI_MANIFEST),
        (_doc(config=_desc(), layers={}), manifest_format.OCI_MANIFEST),
        (_doc(config=_desc(size=-1), layers=[]), manifest_format.OCI_MANIFEST),
        (_doc(config=_desc(size=True), layers=[]), manifest_format.OCI_MANIFEST),
        (_doc(config={"digest": "sha256:" + HEX256, "size": 1}, layers=[]), ""),
        (_doc(config=_desc(), layers=[], annotations={"k": 1}), ""),
        (_doc(mediaType="application/vnd.other", config=_desc(), layers=[]), ""),
        (_doc(mediaType=manifest_format.OCI_INDEX, manifests=[]), manifest_format.OCI_MANIFEST),
        (_doc(config=_desc(), layers=[_desc(urls="x")]), ""),
    ],
)
def test_invalid_manifests(body: bytes, content_type: str) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        manifest_format.parse(body, content_type)
    assert caught.value.reason == "MANIFEST_INVALID"


def test_a_bad_digest_inside_a_manifest_is_digest_invalid() -> None:
    body = _doc(config={"mediaType": "a/b", "digest": "sha256:nothex", "size": 1}, layers=[])
    with pytest.raises(errors.InvalidArgument) as caught:
        manifest_format.parse(body, "")
    assert caught.value.reason == "DIGEST_INVALID"


def _graph() -> GcGraph:
    # repo 1: "tagged" (tagged index) → "child"; "ref" refers to "child"; "old" untagged;
    # "orphan-ref" refers to the missing "gone". repo 2: "young" untagged but recent.
    manifests = [
        GcManifest(1, "tagged", None, 0.0, 10),
        GcManifest(1, "child", None, 0.0, 10),
        GcManifest(1, "ref", "child", 0.0, 10),
        GcManifest(1, "old", None, 0.0, 10),
        GcManifest(1, "orphan-ref", "gone", 0.0, 10),
        GcManifest(2, "young", None, 100.0, 10),
    ]
    return GcGraph(
        repositories={1: "a", 2: "b"},
        manifests=manifests,
        tagged={(1, "tagged")},
        children=[(1, "tagged", "child")],
        blob_refs=[(1, "child", "L1"), (1, "old", "L2"), (1, "ref", "L3"), (2, "young", "L4")],
        links=[
            GcLink(1, "L1", 0.0),
            GcLink(1, "L2", 0.0),
            GcLink(1, "L3", 0.0),
            GcLink(2, "L2", 0.0),
            GcLink(2, "L4", 0.0),
            GcLink(2, "L5", 100.0),
        ],
        blobs=[
            GcBlob("L1", 1, 0.0),
            GcBlob("L2", 1, 0.0),
            GcBlob("L3", 1, 0.0),
            GcBlob("L4", 1, 0.0),
            GcBlob("L5", 1, 100.0),
            GcBlob("L6", 1, 0.0),
            GcBlob("L7", 1, 100.0),
        ],
    )


def test_mark_keeps_what_is_reachable_or_young() -> None:
    garbage = mark(_graph(), cutoff=50.0)
    assert {m.digest for m in garbage.manifests} == {"old", "orphan-ref"}
    assert {(link.repo_id, link.digest) for link in garbage.links} == {(1, "L2"), (2, "L2")}
    assert {b.digest for b in garbage.blobs} == {"L2", "L6"}


def test_mark_with_everything_young_removes_nothing() -> None:
    garbage = mark(_graph(), cutoff=-1.0)
    assert garbage.manifests == ()
    assert garbage.links == ()
    assert garbage.blobs == ()


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, (0, 4)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=8-100", 10, (8, 9)),
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=500-0", 1000),
        ("bytes=5000-10000", 1000),
        ("bytes=10-", 10),
        ("bytes=-0", 10),
        ("bytes=0-1,3-4", 10),
        ("items=0-1", 10),
        ("bytes=x-y", 10),
        ("bytes=-", 10),
    ],
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_error_table_covers_the_spec_codes() -> None:
    spec = {
        "BLOB_UNKNOWN": 404,
        "BLOB_UPLOAD_INVALID": 400,
        "BLOB_UPLOAD_UNKNOWN": 404,
        "DIGEST_INVALID": 400,
        "MANIFEST_BLOB_UNKNOWN": 400,
        "MANIFEST_INVALID": 400,
        "MANIFEST_UNKNOWN": 404,
        "NAME_INVALID": 400,
        "NAME_UNKNOWN": 404,
        "SIZE_INVALID": 400,
        "UNAUTHORIZED": 401,
        "DENIED": 403,
        "UNSUPPORTED": 405,
        "TOOMANYREQUESTS": 429,
        "RANGE_INVALID": 416,
    }
    for code, status in spec.items():
        assert (CODES[code].code, CODES[code].status) == (code, status)


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (errors.Unauthenticated("who?"), "UNAUTHORIZED", 401),
        (errors.PermissionDenied("no"), "DENIED", 403),
        (errors.ResourceExhausted("busy"), "TOOMANYREQUESTS", 429),
        (errors.Unimplemented("later"), "UNSUPPORTED", 405),
        (errors.NotFound("x", reason="SOMETHING_ELSE"), "UNKNOWN", 404),
        (errors.NotFound("x", reason="BLOB_UNKNOWN"), "BLOB_UNKNOWN", 404),
    ],
)
def test_errors_without_a_known_reason_fall_back_by_class(
    error: errors.EstibaError, code: str, status: int
) -> None:
    entry = lookup(error)
    assert (entry.code, entry.status) == (code, status)
