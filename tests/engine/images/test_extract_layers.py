"""A real three-layer image unpacked layer by layer, then stacked with overlayfs.

Checks what a root filesystem needs: whiteouts as char 0/0, the opaque directory xattr, setuid
and sticky modes, numeric owners, user xattrs, hard links, absolute symlinks kept as written;
and that the merged overlay view shows the deletions.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from services.engine.content.digest import Digest, DigestMismatch, chain_ids
from services.engine.unpack.layers import LayerStore
from tests.engine.images.conftest import uid0
from tests.engine.images.layers import f, sha256, tar, three_layers

pytestmark = pytest.mark.skipif(not uid0(), reason="unpacking layers needs root (chown, mknod)")


def unpack_all(store: LayerStore, layers: list[bytes]) -> list[Path]:
    dirs: list[Path] = []
    parent = None
    for data in layers:
        done = store.unpack(io.BytesIO(data), parent=parent, diff_id=Digest.parse(sha256(data)))
        parent = done.chain_id
        dirs.append(store.path(done.chain_id))
    return dirs


def test_three_layers_keep_everything_a_rootfs_needs(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    layers = three_layers()
    base, add, delete = unpack_all(store, layers)
    chains = chain_ids([Digest.parse(sha256(x)) for x in layers])
    assert [p.name for p in (base, add, delete)] == [c.hex for c in chains]
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700

    su = (base / "usr/bin/su").stat()
    assert stat.S_IMODE(su.st_mode) == 0o4755
    assert (su.st_uid, su.st_gid) == (1000, 1000)
    assert stat.S_IMODE((base / "tmp").stat().st_mode) == 0o1777
    assert os.readlink(base / "usr/bin/env") == "/bin/tool"
    assert os.readlink(base / "bin/sh") == "tool"
    assert os.getxattr(base / "data.bin", "user.note") == b"hello"
    assert (base / "data.hard").stat().st_ino == (base / "data.bin").stat().st_ino
    assert (base / "data.bin").stat().st_nlink == 2

    for whiteout in (delete / "etc/foo", delete / "app/hello.sh"):
        st = whiteout.lstat()
        assert stat.S_ISCHR(st.st_mode)
        assert st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(delete / "data/dir", "trusted.overlay.opaque") == b"y"
    assert not (delete / "data/dir/.wh..wh..opq").exists()
    assert (delete / "data/dir/new").read_bytes() == b"new"


def test_the_merged_overlay_shows_the_deletions(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    dirs = unpack_all(store, three_layers())
    merged = tmp_path / "merged"
    merged.mkdir()
    lower = ":".join(str(p) for p in reversed(dirs))
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower}", str(merged)], check=True
    )
    try:
        assert sorted(os.listdir(merged / "etc")) == ["bar"]
        assert sorted(os.listdir(merged / "data/dir")) == ["new"]
        assert sorted(os.listdir(merged / "app")) == ["hello2.sh"]
        assert (merged / "usr/bin/su").stat().st_mode & stat.S_ISUID
    finally:
        subprocess.run(["umount", str(merged)], check=True)


def test_a_wrong_diff_id_is_refused_and_nothing_stays(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    data = tar([f("a", b"a")])
    with pytest.raises(DigestMismatch):
        store.unpack(io.BytesIO(data), parent=None, diff_id=Digest.parse(sha256(b"other")))
    assert list(store.root.iterdir()) == []


def test_an_interrupted_unpack_is_cleaned_at_start(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    (store.root / ".tmp-deadbeef" / "half").mkdir(parents=True)
    store.prepare()
    assert list(store.root.iterdir()) == []


def test_unpack_throughput(tmp_path: Path) -> None:
    """About 40 MiB in 600 files; prints MB/s (the figure in the report comes from here)."""
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    blob = os.urandom(1 << 16)
    data = tar([f(f"d{i // 100}/f{i}", blob) for i in range(600)])
    start = time.perf_counter()
    done = store.unpack(io.BytesIO(data), parent=None, diff_id=None)
    seconds = time.perf_counter() - start
    assert done.size == 600 * len(blob)
    assert done.tar_size == len(data)
    print(
        f"unpack: {len(data) / seconds / 1e6:.0f} MB/s ({len(data) / 1e6:.0f} MB, {seconds:.2f} s)"
    )
