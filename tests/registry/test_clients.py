"""Real clients against a running registry: skopeo and oras push, pull, copy, list and delete,
and what comes back is byte for byte what went in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import oras.oci  # type: ignore[import-untyped]

from tests.registry.clients import Oras, skopeo, skopeo_pull, skopeo_push
from tests.registry.conftest import Running
from tests.registry.helpers import digest_of, read_bytes, write_bytes
from tests.registry.imagegen import file_digest, layout_manifest, write_image


async def test_skopeo_push_pull_copy_list_delete(registry: Running, tmp_path: Path) -> None:
    host = registry.host
    image = await asyncio.to_thread(
        write_image, tmp_path / "src", sizes=[4096, 300_000, 2_000_000], seed=11
    )
    await skopeo_push(image.layout, image.tag, f"{host}/team/app:v1")

    _, raw = await skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{host}/team/app:v1")
    assert raw.encode() == image.manifest

    await skopeo_pull(f"{host}/team/app:v1", tmp_path / "pulled")
    assert await asyncio.to_thread(layout_manifest, tmp_path / "pulled") == image.manifest
    pulled = tmp_path / "pulled" / "blobs" / "sha256"
    for digest in image.blob_digests():
        copy = pulled / digest.removeprefix("sha256:")
        assert await asyncio.to_thread(file_digest, copy) == digest
        assert await read_bytes(copy) == await read_bytes(image.blob_path(digest))

    # Repository to repository, inside the registry (the layers are mounted, not re-sent).
    await skopeo(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"docker://{host}/team/app:v1",
        f"docker://{host}/other/app:copied",
    )
    copied = await registry.client.manifest("other/app", "copied")
    assert copied.body == image.manifest
    for digest in image.blob_digests():
        blob = await registry.client.blob("other/app", digest)
        assert blob.body == await read_bytes(image.blob_path(digest))

    await skopeo_push(image.layout, image.tag, f"{host}/team/app:v2")
    _, tags = await skopeo("list-tags", "--tls-verify=false", f"docker://{host}/team/app")
    assert json.loads(tags)["Tags"] == ["v1", "v2"]

    await skopeo("delete", "--tls-verify=false", f"docker://{host}/other/app:copied")
    assert (await registry.client.manifest("other/app", "copied")).status == 404
    assert (await registry.client.manifest("team/app", "v1")).body == image.manifest
    status, out = await skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{host}/other/app:copied", check=False
    )
    assert status != 0
    assert "manifest unknown" in out.lower()


async def test_skopeo_docker_schema2(registry: Running, tmp_path: Path) -> None:
    host = registry.host
    image = await asyncio.to_thread(write_image, tmp_path / "src", sizes=[10_000], seed=12)
    await skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--format=v2s2",
        f"oci:{image.layout}:{image.tag}",
        f"docker://{host}/conv/app:v1",
    )
    got = await registry.client.manifest(
        "conv/app", "v1", accept="application/vnd.docker.distribution.manifest.v2+json"
    )
    assert got.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    # The dir: transport keeps the manifest as the registry served it.
    out = tmp_path / "pulled"
    await skopeo("copy", "--src-tls-verify=false", f"docker://{host}/conv/app:v1", f"dir:{out}")
    assert await read_bytes(out / "manifest.json") == got.body
    layer = json.loads(got.body)["layers"][0]["digest"]
    assert await read_bytes(out / layer.removeprefix("sha256:")) == await read_bytes(
        image.blob_path(image.layer_digests[0])
    )


async def test_oras_push_pull_tags_delete(registry: Running, tmp_path: Path) -> None:
    client = Oras(registry.host)
    files = tmp_path / "files"
    small, large = files / "small.txt", files / "large.bin"
    await write_bytes(small, b"hello from oras\n")
    await write_bytes(large, bytes(range(256)) * 20_000)  # about 5 MiB: several chunks
    await client.call(
        "push",
        target=client.target("art/files:v1"),
        files=[str(small)],
        disable_path_validation=True,
        quiet=True,
    )
    await client.call(
        "push",
        target=client.target("art/files:v2"),
        files=[str(large)],
        disable_path_validation=True,
        do_chunked=True,
        chunk_size=1024 * 1024,
        quiet=True,
    )
    for tag, original in (("v1", small), ("v2", large)):
        out = tmp_path / f"out-{tag}"
        paths = await client.call("pull", target=client.target(f"art/files:{tag}"), outdir=str(out))
        assert [Path(p).name for p in paths] == [original.name]
        assert await read_bytes(Path(paths[0])) == await read_bytes(original)

    tags = await client.call("get_tags", client.target("art/files"))
    assert tags == ["v1", "v2"]
    first = await client.call("get_tags", client.target("art/files"), N=1)
    assert first == ["v1"]

    manifest = await client.call("get_manifest", client.target("art/files:v2"))
    assert manifest["layers"][0]["digest"] == digest_of(await read_bytes(large))
    assert await client.call("delete_tag", client.target("art/files"), "v1")
    assert await client.call("get_tags", client.target("art/files")) == ["v2"]


async def test_oras_artifact_with_subject_shows_in_referrers(
    registry: Running, tmp_path: Path
) -> None:
    client = Oras(registry.host)
    payload = tmp_path / "image.txt"
    await write_bytes(payload, b"the image\n")
    await client.call(
        "push",
        target=client.target("ref/app:v1"),
        files=[str(payload)],
        disable_path_validation=True,
        quiet=True,
    )
    subject_manifest = await client.call("get_manifest", client.target("ref/app:v1"))
    subject = oras.oci.Subject.from_manifest(subject_manifest)
    head = await registry.client.request("HEAD", "/v2/ref/app/manifests/v1")
    assert head.headers["Docker-Content-Digest"] == subject.digest

    signature = tmp_path / "sig.txt"
    await write_bytes(signature, b"signed\n")
    reply = await client.call(
        "push",
        target=client.target("ref/app:sig"),
        files=[f"{signature}:application/vnd.example.signature"],
        disable_path_validation=True,
        subject=subject,
        quiet=True,
    )
    assert reply.headers["OCI-Subject"] == subject.digest
    listing = await registry.client.request("GET", f"/v2/ref/app/referrers/{subject.digest}")
    found = listing.json()["manifests"]
    assert len(found) == 1
    sig_head = await registry.client.request("HEAD", "/v2/ref/app/manifests/sig")
    assert found[0]["digest"] == sig_head.headers["Docker-Content-Digest"]
