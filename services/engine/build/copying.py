"""COPY and ADD: which files go where, their cache key, and the layer tar that holds them.

Docker's rules for the destination: it is relative to WORKDIR unless absolute; a source
directory's *contents* are copied into it; a file is copied *to* it, or *into* it when it ends
in ``/``, already is a directory in the image, or several sources are copied at once (which
then requires the trailing ``/``). New files and directories belong to 0:0 unless ``--chown``
says otherwise, and keep their modes unless ``--chmod`` does. The destination path is resolved
through the image's own symlinks (``/bin`` -> ``usr/bin`` stays a symlink), and every directory
above a copied file is written with the metadata it already has in the image, so a COPY never
changes the owner or mode of ``/usr``.

ADD also unpacks a local tar archive (plain, gzip, bzip2 or xz) into the destination, and
fetches a URL into it (``download``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import posixpath
import tarfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from services.engine.build import tarindex
from services.engine.build import tree as trees
from services.engine.runtime.users import resolve_user
from services.kit import errors

Opener = Callable[[], BinaryIO]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One thing the layer will hold, at ``path`` (clean, relative to the image root)."""

    path: str
    info: tarfile.TarInfo
    digest: str = ""
    """sha256 of a file's bytes; "" for directories and links."""
    opener: Opener | None = None
    archive: bool = False
    """ADD of a local archive: the entries of the tar ``opener`` reads go below ``path``."""


@dataclasses.dataclass(frozen=True)
class Source:
    """A source as the builder found it: in a tree (context or image), or inline bytes."""

    name: str
    tree: trees.Tree | None = None
    data: bytes | None = None
    """Heredoc content or a downloaded file's bytes (``tree`` is None then)."""
    mtime: int = 0
    mode: int = 0o644


@dataclasses.dataclass(frozen=True)
class Options:
    uid: int = 0
    gid: int = 0
    chmod: int | None = None
    extract: bool = False
    """ADD: unpack local tar archives."""


def not_found(name: str) -> errors.NotFound:
    return errors.NotFound(
        f"file not found in build context or excluded by .dockerignore: stat {name}: "
        "file does not exist",
        reason="BUILD_SOURCE_UNKNOWN",
    )


def expand_globs(tree: trees.Tree, name: str) -> list[str]:
    """The paths a source names; a glob may match several, a plain name must exist."""
    cleaned = trees.clean(name)
    if trees.has_glob(cleaned):
        found = trees.glob(tree, cleaned)
        if not found:
            raise errors.NotFound(
                f"no source files were specified or found for {name}",
                reason="BUILD_SOURCE_UNKNOWN",
            )
        return found
    return [cleaned]


def plan(
    sources: list[Source], dest: str, workdir: str, image: trees.Tree, options: Options
) -> list[Entry]:
    """What the layer will hold for copying ``sources`` to ``dest``."""
    wants_dir = dest.endswith("/") or dest in (".", "")
    target = posixpath.normpath(posixpath.join(workdir or "/", dest))
    real = trees.resolve(image, target)
    existing = image.lstat(real)
    into = wants_dir or len(sources) > 1 or (existing is not None and existing.isdir())
    if len(sources) > 1 and not wants_dir:
        raise errors.InvalidArgument(
            "When using COPY with more than one source file, the destination must be a "
            "directory and end with a /",
            reason="BUILD_DEST_NOT_DIR",
        )
    out: list[Entry] = []
    for source in sources:
        if source.tree is None:
            path = trees.join(real, posixpath.basename(source.name)) if into else real
            out.append(_inline(source, path, options))
            continue
        src = trees.resolve(source.tree, source.name)
        info = source.tree.lstat(src)
        if info is None:
            raise not_found(source.name)
        if info.isdir():
            if real:
                out.append(_directory(real, image, options))
            for rel, child in trees.walk(source.tree, src):
                out.append(_entry(source.tree, trees.join(src, rel), trees.join(real, rel),
                                  child, options))  # fmt: skip
            continue
        path = trees.join(real, posixpath.basename(src)) if into else real
        if not path:
            raise errors.InvalidArgument(f"cannot copy {source.name} over the root directory")
        entry = _entry(source.tree, src, path, info, options)
        if options.extract and info.isreg() and _is_archive(source.tree, src):
            entry = dataclasses.replace(entry, path=real, archive=True)
        out.append(entry)
    return out


def _entry(
    tree: trees.Tree,
    src: str,
    path: str,
    info: tarfile.TarInfo,
    options: Options,
) -> Entry:
    new = tarfile.TarInfo(path)
    new.type = tarfile.REGTYPE if info.islnk() else info.type  # a hard link: the file it names
    new.mode = info.mode if options.chmod is None or info.issym() else options.chmod
    new.uid, new.gid, new.mtime = options.uid, options.gid, info.mtime
    if new.type == tarfile.REGTYPE:
        new.size = info.size if not info.islnk() else tree_size(tree, src)
        return Entry(path, new, trees.file_digest(tree, src), lambda: tree.open(src))
    new.linkname = info.linkname if info.issym() else ""
    return Entry(path, new)


def tree_size(tree: trees.Tree, path: str) -> int:
    with tree.open(path) as handle:
        return len(handle.read())


def new_dir(path: str, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(trees.clean(path))
    info.type = tarfile.DIRTYPE
    info.mode, info.uid, info.gid, info.mtime = 0o755, uid, gid, int(time.time())
    return info


def _directory(path: str, image: trees.Tree, options: Options) -> Entry:
    """The destination directory of a directory copy: as the image has it, or new."""
    return Entry(path, _dir_as_in(image, path, options.uid, options.gid, int(time.time())))


def _dir_as_in(image: trees.Tree, path: str, uid: int, gid: int, mtime: int) -> tarfile.TarInfo:
    """``path`` as a directory entry: with the metadata the image gives it if it is a directory
    there, else new (0755, owned by ``uid``:``gid``, modified at ``mtime``)."""
    found = image.lstat(path)
    info = tarfile.TarInfo(path)
    info.type = tarfile.DIRTYPE
    if found is not None and found.isdir():
        info.mode, info.uid, info.gid, info.mtime = found.mode, found.uid, found.gid, found.mtime
    else:
        info.mode, info.uid, info.gid, info.mtime = 0o755, uid, gid, mtime
    return info


def _inline(source: Source, path: str, options: Options) -> Entry:
    data = source.data or b""
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = options.chmod if options.chmod is not None else source.mode
    info.uid, info.gid = options.uid, options.gid
    info.mtime = source.mtime or int(time.time())
    return Entry(path, info, hashlib.sha256(data).hexdigest(), lambda: _bytes_reader(data))


def _bytes_reader(data: bytes) -> BinaryIO:
    return io.BytesIO(data)


def _is_archive(tree: trees.Tree, path: str) -> bool:
    with tree.open(path) as handle:
        head = handle.read(512)
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return True
    return len(head) == 512 and head[257:262] == b"ustar"


def key_of(entries: list[Entry]) -> str:
    """What the copied files are, for the cache: names, types, modes, owners, link targets and
    content digests; never modification times."""
    h = hashlib.sha256()
    for e in entries:
        i = e.info
        row = [e.path, i.type.decode(), i.mode, i.uid, i.gid, i.linkname, e.digest, e.archive]
        h.update(json.dumps(row).encode() + b"\n")
    return h.hexdigest()


def write_layer(entries: list[Entry], image: trees.Tree, target: Path, now: int) -> None:
    """The layer tar at ``target``: the parents of every entry as the image has them (or new,
    0755 and owned like the entries), then the entries. Blocking: run in a thread."""
    written: set[str] = set()
    with open(target, "wb", buffering=1 << 20) as out:
        for e in entries:
            _parents(out, e, image, written, now)
            if e.archive:
                _unpack_into(out, e, written)
                continue
            if e.path in written or not e.path:
                continue
            written.add(e.path)
            out.write(tarindex.header(e.info))
            if e.opener is not None:
                with e.opener() as handle:
                    _copy_data(handle, out, e.info.size, e.path)
        out.write(tarindex.END_OF_ARCHIVE)


def _copy_data(handle: BinaryIO, out: BinaryIO, size: int, name: str) -> None:
    left = size
    while left > 0:
        chunk = handle.read(min(left, 1 << 20))
        if not chunk:
            raise errors.Internal(f"{name} is shorter than its header says")
        out.write(chunk)
        left -= len(chunk)
    out.write(tarindex.padding(size))


def _parents(out: BinaryIO, e: Entry, image: trees.Tree, written: set[str], now: int) -> None:
    parts = e.path.split("/")
    upto = len(parts) if e.archive else len(parts) - 1
    for i in range(1, upto + 1):
        parent = "/".join(parts[:i])
        if parent in written:
            continue
        written.add(parent)
        out.write(tarindex.header(_dir_as_in(image, parent, e.info.uid, e.info.gid, now)))


def _unpack_into(out: BinaryIO, e: Entry, written: set[str]) -> None:
    """ADD of a local archive: its members below ``e.path`` (names that would climb out of it
    are dropped; devices and fifos too)."""
    assert e.opener is not None
    with e.opener() as handle, tarfile.open(fileobj=handle, mode="r|*") as inner:
        for member in inner:
            name = posixpath.normpath(member.name).lstrip("/")
            if name in (".", "") or name == ".." or name.startswith("../"):
                continue
            if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
                continue
            info = tarfile.TarInfo(trees.join(e.path, name))
            info.type, info.mode, info.mtime = member.type, member.mode, member.mtime
            info.uid, info.gid = member.uid, member.gid
            if member.issym():
                info.linkname = member.linkname
            elif member.islnk():
                info.linkname = trees.join(e.path, posixpath.normpath(member.linkname).lstrip("/"))
            written.add(info.name)
            if member.isreg():
                info.size = member.size
                out.write(tarindex.header(info))
                data = inner.extractfile(member)
                assert data is not None
                _copy_data(data, out, member.size, info.name)  # type: ignore[arg-type]
            else:
                out.write(tarindex.header(info))


SAMPLE = 1 << 16


def gzip_level(entries: list[Entry]) -> int:
    """1 for what compresses, 0 (stored blocks: a valid gzip stream at the cost of a copy) when
    the largest file copied does not: compressing random or already compressed bytes costs
    most of a COPY's time and saves nothing. Blocking: run in a thread."""
    files = [e for e in entries if e.opener is not None and not e.archive]
    if not files:
        return 1
    largest = max(files, key=lambda e: e.info.size)
    if largest.info.size < SAMPLE:
        return 1
    assert largest.opener is not None
    with largest.opener() as handle:
        sample = handle.read(SAMPLE)
    return 0 if len(zlib.compress(sample, 1)) > 0.95 * len(sample) else 1


def sources_key(sources: list[Source]) -> str:
    """What the sources of a COPY or ADD are, for the cache key: for every file below them its
    relative name, type, mode, owner, link target and content digest (never its mtime)."""
    h = hashlib.sha256()
    for source in sources:
        if source.tree is None:
            data = source.data or b""
            h.update(
                json.dumps([source.name, source.mode, hashlib.sha256(data).hexdigest()]).encode()
            )
            continue
        src = trees.resolve(source.tree, source.name)
        info = source.tree.lstat(src)
        if info is None:
            raise not_found(source.name)
        h.update(json.dumps(["source", source.name]).encode())
        keyed = getattr(source.tree, "key", None)  # the context keeps a sorted index of its own
        if info.isdir() and keyed is not None:
            h.update(str(keyed(src)).encode())
            rows = [("", info)]
        else:
            rows = [("", info), *trees.walk(source.tree, src)] if info.isdir() else [("", info)]
        for rel, item in rows:
            is_file = item.isreg() or item.islnk()
            digest = trees.file_digest(source.tree, trees.join(src, rel)) if is_file else ""
            link = item.linkname if item.issym() else ""
            row = [rel, item.type.decode(), item.mode, item.uid, item.gid, link, digest]
            h.update(json.dumps(row).encode())
    return h.hexdigest()


def owner(root: Path, chown: str) -> tuple[int, int]:
    """``--chown=user[:group]`` resolved in the image at ``root``; a user alone gets the group
    of the same number (Docker's rule), 0:0 without the flag."""
    if not chown:
        return 0, 0
    user, sep, _ = chown.partition(":")
    uid, gid, _ = resolve_user(root, chown)
    if not sep:
        gid = uid if user.isdigit() else gid
    return uid, gid
