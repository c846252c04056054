"""The extractor against hostile layers: nothing may be written outside the layer directory.

Each case is a layer built with tarfile. Refused layers must leave no partial layer behind;
contained ones land inside the layer. Either way the host directory next to the store, with a
secret file in it, must be exactly as before: same names, same content, nlink still 1.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from services.engine.unpack.extract import LayerError
from services.engine.unpack.layers import LayerStore
from tests.engine.images.conftest import uid0
from tests.engine.images.layers import Entry, d, f, hard, sym, tar

pytestmark = pytest.mark.skipif(not uid0(), reason="unpacking layers needs root (chown, mknod)")

SECRET = b"host secret\n"


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A host directory the layers aim at, holding a secret file."""
    h = tmp_path / "host"
    h.mkdir(mode=0o750)
    (h / "secret").write_bytes(SECRET)
    return h


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            out[str(p.relative_to(root))] = (st.st_mode, st.st_nlink, data)
    return out


def unpack(store: LayerStore, data: bytes) -> Path:
    done = store.unpack(io.BytesIO(data), parent=None, diff_id=None)
    return store.path(done.chain_id)


REFUSED: dict[str, list[Entry]] = {
    "dotdot": [f("../../host/evil", b"x")],
    "dotdot-inside": [d("sub"), f("sub/../../host/evil", b"x")],
    "symlink-parent-absolute": [sym("evil", "HOST"), f("evil/pwned", b"x")],
    "symlink-parent-relative": [sym("up", "../../.."), f("up/pwned", b"x")],
    "symlink-deep-parent": [d("a"), sym("a/b", "HOST"), f("a/b/c/pwned", b"x")],
    "dir-then-symlink-then-write": [d("dd"), sym("dd", "HOST"), f("dd/pwned", b"x")],
    "hardlink-absolute": [hard("hl", "HOST/secret")],
    "hardlink-dotdot": [hard("hl", "../../host/secret")],
    "hardlink-not-in-layer": [hard("hl", "etc/passwd")],
    "hardlink-through-symlink-dir": [sym("s", "HOST"), hard("hl", "s/secret")],
    "char-device": [Entry("dev/mem", tarfile.CHRTYPE, devmajor=1, devminor=1)],
    "block-device": [Entry("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0)],
    "whiteout-dotdot": [d("x"), f("x/.wh..."), f("x/y", b"y")],
    "whiteout-dot": [d("x"), f("x/.wh..")],
    "whiteout-empty": [f(".wh.")],
    "root-replaced": [f("./", b"")],
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_and_nothing_left(case: str, tmp_path: Path, host: Path) -> None:
    store = LayerStore(tmp_path / "store" / "layers")
    store.prepare()
    entries = [
        Entry(
            e.name.replace("HOST", str(host)),
            e.type,
            e.data,
            e.mode,
            link=e.link.replace("HOST", str(host)),
            devmajor=e.devmajor,
            devminor=e.devminor,
        )
        for e in REFUSED[case]
    ]
    before = snapshot(host)
    with pytest.raises(LayerError) as info:
        unpack(store, tar(entries))
    assert info.value.reason in ("LAYER_UNSAFE", "LAYER_INVALID")
    assert snapshot(host) == before
    assert (host / "secret").stat().st_nlink == 1
    assert list(store.root.iterdir()) == []  # the partial layer is gone


def test_absolute_names_land_inside_the_layer(tmp_path: Path, host: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    before = snapshot(host)
    layer = unpack(store, tar([f(f"{host}/planted", b"p"), f("/etc/motd", b"m")]))
    assert snapshot(host) == before
    assert (layer / str(host).lstrip("/") / "planted").read_bytes() == b"p"
    assert (layer / "etc/motd").read_bytes() == b"m"


def test_file_replacing_a_symlink_does_not_write_through_it(tmp_path: Path, host: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    layer = unpack(store, tar([sym("x", f"{host}/secret"), f("x", b"overwritten")]))
    assert (host / "secret").read_bytes() == SECRET
    assert not (layer / "x").is_symlink()
    assert (layer / "x").read_bytes() == b"overwritten"


def test_hardlink_to_an_outward_symlink_links_the_symlink(tmp_path: Path, host: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    layer = unpack(store, tar([sym("s", f"{host}/secret"), hard("h", "s")]))
    assert (host / "secret").stat().st_nlink == 1
    assert (layer / "h").is_symlink()
    assert (layer / "s").lstat().st_nlink == 2


def test_directory_mode_is_not_applied_through_a_later_symlink(tmp_path: Path, host: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    mode = host.stat().st_mode
    layer = unpack(store, tar([d("dd", 0o777), sym("dd", str(host))]))
    assert host.stat().st_mode == mode
    assert (layer / "dd").is_symlink()


def test_layers_may_not_set_overlay_xattrs(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    evil = {"trusted.overlay.opaque": "y", "trusted.overlay.redirect": "/etc"}
    layer = unpack(store, tar([d("dir", xattrs=evil), f("file", b"", xattrs=evil)]))
    for name in ("dir", "file"):
        assert not [x for x in os.listxattr(layer / name) if x.startswith("trusted.overlay.")]


def test_truncated_and_garbage_layers_are_refused(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    store.prepare()
    good = tar([f("a", b"x" * 4096)])
    for data in (good[:700], b"\x1f\x8b" + b"junk" * 100):
        with pytest.raises(LayerError) as info:
            unpack(store, data)
        assert info.value.reason == "LAYER_INVALID"
    assert list(store.root.iterdir()) == []
