"""save/load in Docker's archive format (and OCI layouts), and import of root filesystems.

skopeo is the independent reader and writer: it must read what save writes as a Docker archive
and as an OCI archive, and load must take the archives skopeo writes.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.engine.images.models import Progress
from services.kit import errors
from tests.engine.images.conftest import Node, skopeo, uid0
from tests.engine.images.layers import Layout, d, f, sym, tar, three_layers

pytestmark = pytest.mark.skipif(not uid0(), reason="unpacking layers needs root (chown, mknod)")


async def collect(stream: AsyncIterator[Progress]) -> list[Progress]:
    return [event async for event in stream]


async def save_to(node: Node, names: list[str], path: Path) -> None:
    with path.open("wb") as out:
        async for chunk in await node.images.save(names):
            out.write(chunk)


async def test_save_and_load_round_trip(node: Node, other_node: Node, tmp_path: Path) -> None:
    busybox = await node.images.ensure_busybox()
    imported = await node.images.import_image(
        await _rootfs(tmp_path), reference="made/here:v1", changes=['CMD ["/bin/tool"]']
    )
    archive = tmp_path / "saved.tar"
    await save_to(node, ["busybox", "made/here:v1"], archive)

    with tarfile.open(archive) as tf:
        manifest = json.loads(_read(tf, tf.getmember("manifest.json")))
        names = set(tf.getnames())
    assert [m["RepoTags"] for m in manifest] == [["busybox:latest"], ["made/here:v1"]]
    assert {"index.json", "oci-layout", "repositories"} <= names
    for entry in manifest:
        assert entry["Config"] in names
        assert all(layer in names for layer in entry["Layers"])

    docker_view = json.loads(await skopeo("inspect", f"docker-archive:{archive}:busybox:latest"))
    assert docker_view["Digest"]
    oci_view = json.loads(await skopeo("inspect", "--config", f"oci-archive:{archive}:latest"))
    assert oci_view["config"]["Cmd"] == ["sh"]

    loaded = await other_node.images.load(archive)
    assert [(x.id, x.names) for x in loaded] == [
        (busybox, ["busybox:latest"]),
        (str(imported.id), ["made/here:v1"]),
    ]
    for name in ("busybox", "made/here:v1"):
        mine, theirs = await node.images.inspect(name), await other_node.images.inspect(name)
        assert (mine.id, mine.root_fs_layers, mine.config) == (
            theirs.id,
            theirs.root_fs_layers,
            theirs.config,
        )
    layer = (await other_node.images.rootfs_layers("made/here:v1"))[0]
    assert (layer / "bin/tool").read_bytes() == b"tool"


async def test_load_archives_that_skopeo_wrote(node: Node, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    desc, built = layout.image(three_layers(), cmd=["/bin/sh", "-c", "true"])
    layout.tag(desc, "v1")
    docker_tar = tmp_path / "docker.tar"
    oci_tar = tmp_path / "oci.tar"
    await skopeo(
        "copy", "--quiet", f"oci:{layout.root}:v1", f"docker-archive:{docker_tar}:skopeo/docker:v1"
    )
    await skopeo("copy", "--quiet", f"oci:{layout.root}:v1", f"oci-archive:{oci_tar}:skopeo/oci:v1")

    [from_docker] = await node.images.load(docker_tar)
    assert from_docker.id == built.config_digest
    assert from_docker.names == ["skopeo/docker:v1"]
    [from_oci] = await node.images.load(oci_tar)
    assert from_oci.id == built.config_digest
    assert from_oci.names == ["skopeo/oci:v1"]
    layers = await node.images.rootfs_layers("skopeo/oci:v1")
    assert (layers[2] / "data/dir/new").read_bytes() == b"new"

    gz = tmp_path / "docker.tar.gz"
    gz.write_bytes(gzip.compress(docker_tar.read_bytes(), compresslevel=1))
    [again] = await node.images.load(gz)
    assert again.id == built.config_digest


async def test_load_refuses_a_tampered_archive(node: Node, tmp_path: Path) -> None:
    await node.images.ensure_busybox()
    archive = tmp_path / "saved.tar"
    await save_to(node, ["busybox"], archive)
    with tarfile.open(archive) as tf:
        members = [(m, _read(tf, m)) for m in tf.getmembers()]
    manifest = json.loads(dict((m.name, data) for m, data in members)["manifest.json"])
    layer_name = manifest[0]["Layers"][0]
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as out:
        for m, data in members:
            changed = data.replace(b"root:x:0:0", b"root:x:0:1") if m.name == layer_name else data
            out.addfile(m, io.BytesIO(changed) if m.isfile() else None)
    await node.images.remove("busybox")
    with pytest.raises(errors.InvalidArgument) as info:
        await node.images.load(bad)
    assert info.value.reason == "DIGEST_MISMATCH"
    assert await node.images.list_images() == []

    junk = tmp_path / "junk.tar"
    junk.write_bytes(tar([f("hello.txt", b"not an image")]))
    with pytest.raises(errors.InvalidArgument) as refused:
        await node.images.load(junk)
    assert refused.value.reason == "ARCHIVE_INVALID"


def _read(tf: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tf.extractfile(member) if member.isfile() else None
    return f.read() if f is not None else b""


async def _rootfs(tmp_path: Path) -> Path:
    p = tmp_path / "rootfs.tar.gz"
    p.write_bytes(
        gzip.compress(
            tar([d("bin"), f("bin/tool", b"tool", 0o755), sym("bin/sh", "tool"), d("tmp", 0o1777)])
        )
    )
    return p


async def test_import_with_changes(node: Node, tmp_path: Path) -> None:
    image = await node.images.import_image(
        await _rootfs(tmp_path),
        reference="imported",
        changes=[
            'CMD ["/bin/sh"]',
            "ENV A=1 B=two",
            "LABEL team=core",
            "EXPOSE 8080",
            "WORKDIR /tmp",
            "USER 1000",
        ],
        message="from a tarball",
    )
    details = await node.images.inspect("imported:latest")
    assert details.id == str(image.id)
    assert details.comment == "from a tarball"
    assert details.config["Cmd"] == ["/bin/sh"]
    assert details.config["Env"] == ["A=1", "B=two"]
    assert details.config["Labels"] == {"team": "core"}
    assert details.config["ExposedPorts"] == {"8080/tcp": {}}
    assert (details.config["WorkingDir"], details.config["User"]) == ("/tmp", "1000")
    assert details.container_config == details.config
    config = await node.images.image_config("imported")
    assert config.cmd == ["/bin/sh"]
    [layer] = await node.images.rootfs_layers(str(image.id))
    assert (layer / "tmp").stat().st_mode & 0o1777 == 0o1777
    history = await node.images.history("imported")
    assert history[0].comment == "from a tarball"
    assert history[0].tags == ["imported:latest"]
    with pytest.raises(errors.InvalidArgument) as info:
        await node.images.import_image(await _rootfs(tmp_path), changes=["RUN rm -rf /"])
    assert info.value.reason == "CHANGE_INVALID"
