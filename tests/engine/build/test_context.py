"""The build context: indexing a tar, .dockerignore, and lookups that stay inside it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from services.engine.build import copying
from services.engine.build import tree as trees
from services.engine.build.context import ContextTree, Spool
from services.engine.build.dockerignore import Matcher
from services.kit import errors


def make_tar(path: Path, entries: list[tuple[str, bytes | str | None]]) -> Path:
    """Entries: (name, bytes) for files, (name, None) for dirs, (name, "->target") for links."""
    with tarfile.open(path, "w") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content.removeprefix("->")
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def test_symlinks_resolve_inside_the_context(tmp_path: Path) -> None:
    ctx = ContextTree.load(make_tar(tmp_path / "c.tar", [
        ("etc/passwd", b"mine"), ("abs", "->/etc/passwd"), ("rel", "->../../etc/passwd"),
        ("dir/f", b"f"), ("dirlink", "->dir"),
    ]))  # fmt: skip
    assert trees.resolve(ctx, "abs") == "etc/passwd"
    assert trees.resolve(ctx, "rel") == "etc/passwd"
    assert trees.resolve(ctx, "dirlink/f") == "dir/f"
    assert ctx.read("abs") == b"mine"
    with pytest.raises(errors.InvalidArgument, match="outside the build context"):
        trees.clean("../x")
    assert trees.clean("/etc/passwd") == "etc/passwd"
    ctx.close()


def test_entries_outside_are_refused(tmp_path: Path) -> None:
    for bad in ("../x", "/abs", "a/../../b"):
        path = make_tar(tmp_path / "bad.tar", [(bad, b"x")])
        with pytest.raises(errors.InvalidArgument, match="points outside the context"):
            ContextTree.load(path)


def test_dockerignore_hides_entries(tmp_path: Path) -> None:
    ctx = ContextTree.load(make_tar(tmp_path / "c.tar", [
        ("keep", b"k"), ("x.log", b"l"), ("vendor/a", b"a"), ("vendor/keep.go", b"g"),
    ]))  # fmt: skip
    ctx.ignore(Matcher.from_text("*.log\nvendor\n!vendor/keep.go\n"))
    assert ctx.lstat("x.log") is None
    assert ctx.lstat("vendor/a") is None
    assert ctx.lstat("vendor/keep.go") is not None
    assert sorted(trees.glob(ctx, "*")) == ["keep", "vendor"]
    ctx.close()


def test_gzip_context_is_ungzipped_while_spooled(tmp_path: Path) -> None:
    raw = make_tar(tmp_path / "c.tar", [("Dockerfile", b"FROM scratch\n")]).read_bytes()
    import gzip

    spool = Spool(tmp_path / "spooled.tar")
    data = gzip.compress(raw)
    spool.write(data[:10])
    spool.write(data[10:])
    spool.close()
    with ContextTree.load(spool.path) as ctx:
        assert ctx.read("Dockerfile") == b"FROM scratch\n"


def test_copy_plan_and_key_ignore_mtimes(tmp_path: Path) -> None:
    opened: list[ContextTree] = []

    def ctx_with(mtime: int, mode: int) -> ContextTree:
        path = tmp_path / f"c{mtime}{mode}.tar"
        with tarfile.open(path, "w") as tar:
            info = tarfile.TarInfo("src/a.txt")
            info.size, info.mtime, info.mode = 2, mtime, mode
            tar.addfile(info, io.BytesIO(b"a\n"))
        opened.append(ContextTree.load(path))
        return opened[-1]

    image = trees.DirTree(tmp_path / "empty-root")
    sources = [copying.Source("src", ctx_with(1, 0o644))]
    plan = copying.plan(sources, "/app/", "/", image, copying.Options(uid=5, gid=6))
    assert [(e.path, e.info.uid, e.info.gid) for e in plan] == [("app", 5, 6), ("app/a.txt", 5, 6)]
    again = copying.plan([copying.Source("src", ctx_with(2, 0o644))], "/app/", "/", image,
                         copying.Options(uid=5, gid=6))  # fmt: skip
    assert copying.key_of(plan) == copying.key_of(again)
    other = copying.plan([copying.Source("src", ctx_with(1, 0o600))], "/app/", "/", image,
                         copying.Options(uid=5, gid=6))  # fmt: skip
    assert copying.key_of(plan) != copying.key_of(other)
    with pytest.raises(errors.InvalidArgument, match="must be a directory and end with a /"):
        copying.plan(sources * 2, "/app", "/", image, copying.Options())
    for ctx in opened:
        ctx.close()


def test_index_while_uploading_matches_whole_reads(tmp_path: Path) -> None:
    import random

    from services.engine.build import tarindex

    long_name = "d/" + "n" * 150 + ".txt"
    path = make_tar(tmp_path / "c.tar", [
        ("a", b"x" * 1000), ("empty", b""), ("d", None), (long_name, b"long"),
        ("link", "->a"), ("big", bytes(range(256)) * 300),
    ])  # fmt: skip
    data = path.read_bytes()
    whole = tarindex.members(data)
    names = [m.info.name.rstrip("/") for m in whole]
    assert names == ["a", "empty", "d", long_name, "link", "big"]
    rng = random.Random(7)
    for _ in range(20):
        indexer = tarindex.Indexer()
        pos = 0
        while pos < len(data):
            step = rng.choice([1, 7, 511, 512, 513, 4096, 100000])
            indexer.feed(data[pos : pos + step])
            pos += step
        pieces = indexer.finish()
        assert [(m.info.name, m.offset, m.digest) for m in pieces] == [
            (m.info.name, m.offset, m.digest) for m in whole
        ]
    with tarfile.open(path) as tar:
        for m in whole:
            if m.info.isreg():
                handle = tar.extractfile(m.info.name)
                assert handle is not None
                assert data[m.offset : m.offset + m.info.size] == handle.read()
    truncated = tarindex.Indexer()
    truncated.feed(data[:700])
    with pytest.raises(tarindex.TarFormatError):
        truncated.finish()
    with pytest.raises(tarindex.TarFormatError, match="bad number"):
        tarindex.members(b"not a tar" * 100)


def test_layer_tar_headers_read_back_with_tarfile(tmp_path: Path) -> None:
    from services.engine.build import tarindex

    infos = []
    for name, kind, link, uid in (
        ("a/" + "n" * 140, tarfile.REGTYPE, "", 0),
        ("dir", tarfile.DIRTYPE, "", 3_000_000),
        ("sym", tarfile.SYMTYPE, "t" * 120, 5),
    ):
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.uid, info.gid, info.mode = kind, link, uid, 7, 0o4755
        info.mtime = 1_700_000_000
        info.size = 3 if kind == tarfile.REGTYPE else 0
        infos.append(info)
    data = b"".join(
        tarindex.header(i) + (b"abc" + tarindex.padding(3) if i.isreg() else b"") for i in infos
    )
    data += tarindex.END_OF_ARCHIVE
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        back = tar.getmembers()
        assert [(m.name.rstrip("/"), m.type, m.linkname, m.uid, m.gid, m.mode, m.mtime)
                for m in back] == [(i.name, i.type, i.linkname, i.uid, i.gid, i.mode, i.mtime)
                                   for i in infos]  # fmt: skip
        handle = tar.extractfile(back[0])
        assert handle is not None
        assert handle.read() == b"abc"
    assert [m.info.name.rstrip("/") for m in tarindex.members(data)] == [i.name for i in infos]


def test_a_dockerfile_alone_becomes_the_context(tmp_path: Path) -> None:
    for body in (b"FROM busybox\n", b"FROM busybox\n" + b"# padding\n" * 200):
        spool = Spool(tmp_path / "ctx.tar")
        spool.write(body)
        spool.close()
        with ContextTree.load(spool.path, spool.members) as ctx:
            assert ctx.read("Dockerfile") == body
    spool = Spool(tmp_path / "big.tar")
    spool.write(b"x" * (1 << 19))
    spool.write(b"x" * (1 << 19))
    with pytest.raises(errors.InvalidArgument, match="neither a tar archive nor a Dockerfile"):
        spool.write(b"x" * (1 << 19))
