"""The build context: the tar a client sends, indexed in place rather than unpacked.

The tar is spooled to a file (gzip is undone on the way in) and its members are indexed by
clean relative path; COPY reads a member's bytes straight from the spooled file. Nothing is ever
written on the host from the context's names, so an entry cannot land outside it, but entries
named absolutely or with ``..`` are refused all the same: no honest client sends them.
``.dockerignore`` is applied to the index, so an ignored file is invisible to every step.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import mmap
import posixpath
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

from services.engine.build import dockerignore, tarindex
from services.engine.build import tree as trees
from services.kit import errors

GZIP_MAGIC = b"\x1f\x8b"
DOCKERFILE_LIMIT = 1 << 20


class Spool:
    """Writes the context's bytes to ``path`` as they arrive, ungzipping if they are gzip, and
    indexes and hashes the tar on the way (``members`` once closed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self._gunzip: zlib._Decompress | None = None
        self._first = True
        self._indexer = tarindex.Indexer()
        self._plain = False
        """Not a tar: the body is a Dockerfile alone (``docker build - < Dockerfile``)."""
        self.size = 0
        self.members: list[tarindex.Member] | None = None

    def write(self, data: bytes) -> None:
        if self._first and data:
            self._first = False
            if data[:2] == GZIP_MAGIC:
                self._gunzip = zlib.decompressobj(wbits=31)
        if self._gunzip is not None:
            try:
                data = self._gunzip.decompress(data)
            except zlib.error as exc:
                raise _invalid(f"the gzip stream is corrupt ({exc})") from exc
        self.size += len(data)
        self._file.write(data)
        self._index(data)

    def _index(self, data: bytes) -> None:
        if self._plain:
            if self.size > DOCKERFILE_LIMIT:
                self.discard()
                raise _invalid("neither a tar archive nor a Dockerfile")
            return
        try:
            self._indexer.feed(data)
        except tarindex.TarFormatError as exc:
            if self._indexer.members or self.size > DOCKERFILE_LIMIT:
                self.discard()
                raise _invalid(f"not a tar archive ({exc})") from exc
            self._plain = True

    def close(self) -> None:
        if self._gunzip is not None:
            try:
                rest = self._gunzip.flush()
            except zlib.error as exc:
                self.discard()
                raise _invalid(f"the gzip stream is corrupt ({exc})") from exc
            self._file.write(rest)
            self._index(rest)
        self._file.close()
        if self._plain:
            self._wrap_dockerfile()
        elif self.size:
            try:
                self.members = self._indexer.finish()
            except tarindex.TarFormatError as exc:
                if self._indexer.members or self.size > DOCKERFILE_LIMIT:
                    self.discard()
                    raise _invalid(f"not a tar archive ({exc})") from exc
                self._wrap_dockerfile()  # shorter than one tar header: a Dockerfile

    def _wrap_dockerfile(self) -> None:
        """The body was a Dockerfile: make it the context's only file."""
        data = self.path.read_bytes()
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mode = len(data), 0o644
        tar = tarindex.header(info) + data + tarindex.padding(len(data))
        tar += tarindex.END_OF_ARCHIVE
        self.path.write_bytes(tar)
        self.members = tarindex.members(tar)

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def _invalid(why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid build context: {why}", reason="CONTEXT_INVALID")


class ContextTree:
    """The context's files by path; implements ``tree.Tree``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = path.open("rb")
        self._map: mmap.mmap | None = None
        self.entries: dict[str, tarfile.TarInfo] = {"": _dir_info("")}
        self.children: dict[str, set[str]] = {"": set()}
        self._data: dict[str, tuple[int, int, str]] = {}
        """path -> (offset, size, sha256) of every regular file (hard links: their target's)."""
        self._names: list[str] | None = None

    @classmethod
    def load(cls, path: Path, members: list[tarindex.Member] | None = None) -> ContextTree:
        """The tar at ``path``, indexed (and hashed) unless ``members`` (a Spool's) says what
        it holds. Blocking: run in a thread."""
        ctx = cls(path)
        if path.stat().st_size == 0:
            return ctx
        try:
            ctx._map = mmap.mmap(ctx._raw.fileno(), 0, access=mmap.ACCESS_READ)
            found = tarindex.members(ctx._map) if members is None else members
            for member in found:
                ctx._add(member)
        except tarindex.TarFormatError as exc:
            ctx.close()
            raise _invalid(f"not a tar archive ({exc})") from exc
        except BaseException:
            ctx.close()
            raise
        return ctx

    def __enter__(self) -> ContextTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add(self, found: tarindex.Member) -> None:
        member = found.info
        raw = member.name
        if raw.startswith("/") or (".." in raw and ".." in raw.split("/")):
            raise _invalid(f"the entry {raw!r} points outside the context")
        name = raw if _clean(raw) else posixpath.normpath(raw).lstrip("/")
        if name in (".", ""):
            return
        if not (member.isdir() or member.isreg() or member.issym() or member.islnk()):
            return  # devices and fifos are never copied
        if member.islnk():
            target = posixpath.normpath(member.linkname).lstrip("/")
            if target.startswith("..") or target not in self._data:
                raise _invalid(f"the hard link {raw!r} points outside the context")
            self._data[name] = self._data[target]
        elif member.isreg():
            self._data[name] = (found.offset, member.size, found.digest)
        self.entries[name] = member
        parent, _, base = name.rpartition("/")
        self._ensure_dir(parent)
        self.children[parent].add(base)
        if member.isdir():
            self.children.setdefault(name, set())

    def _ensure_dir(self, path: str) -> None:
        if path in self.children:
            return
        parent, _, base = path.rpartition("/")
        self._ensure_dir(parent)
        self.entries.setdefault(path, _dir_info(path))
        self.children[path] = set()
        self.children[parent].add(base)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        self._raw.close()

    # -- the Tree protocol -----------------------------------------------------------------

    def lstat(self, path: str) -> tarfile.TarInfo | None:
        return self.entries.get(path)

    def listdir(self, path: str) -> list[str]:
        return sorted(self.children.get(path, ()))

    def open(self, path: str) -> BinaryIO:
        offset, size, _ = self._data[path]
        if self._map is None:
            return io.BytesIO()
        return io.BytesIO(self._map[offset : offset + size])

    # -- what the builder asks ---------------------------------------------------------------

    def read(self, path: str, *, limit: int = 16 << 20) -> bytes | None:
        """A small file's bytes (the Dockerfile, .dockerignore), symlinks followed inside."""
        real = trees.resolve(self, trees.clean(path))
        info = self.entries.get(real)
        if info is None or not (info.isreg() or info.islnk()):
            return None
        if info.size > limit:
            raise _invalid(f"{path} is larger than {limit} bytes")
        with self.open(real) as handle:
            return handle.read()

    def ignore(self, matcher: dockerignore.Matcher) -> None:
        """Drop every entry ``.dockerignore`` excludes (and directories left with nothing)."""
        if not matcher.rules:
            return
        for name in sorted(self.entries, key=lambda n: n.count("/"), reverse=True):
            if not name or not matcher.excluded(name):
                continue
            if self.children.get(name):
                continue  # a directory that still holds an exception stays
            del self.entries[name]
            self._data.pop(name, None)
            self.children.pop(name, None)
            parent, _, base = name.rpartition("/")
            self.children[parent].discard(base)

    def digest(self, path: str) -> str:
        """sha256 of a file's content (computed while the context was indexed)."""
        return self._data[path][2]

    def key(self, path: str) -> str:
        """What the directory ``path`` holds, for the cache: every entry below it with its
        type, mode, owner, link target and content digest; never modification times."""
        if self._names is None:
            self._names = sorted(self.entries)
        prefix = path + "/" if path else ""
        start = bisect.bisect_left(self._names, prefix)
        rows = []
        for name in self._names[start:]:
            if not name.startswith(prefix):
                break
            i = self.entries[name]
            digest = self._data[name][2] if name in self._data else ""
            rows.append((name[len(prefix) :], i.type, i.mode, i.uid, i.gid, i.linkname, digest))
        return hashlib.sha256(repr(rows).encode()).hexdigest()


def _clean(name: str) -> bool:
    """Already normalised (what clients send): no empty, "." or trailing components."""
    return not (
        "//" in name or name.endswith("/") or name.startswith("./") or "/./" in name
        or name.endswith("/.") or name == "."
    )  # fmt: skip


def _dir_info(path: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info
