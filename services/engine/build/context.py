"""The build context: the tar a client sends, indexed in place rather than unpacked.

The tar is spooled to a file (gzip is undone on the way in) and its members are indexed by
clean relative path; COPY reads a member's bytes straight from the spooled file. Nothing is ever
written on the host from the context's names, so an entry cannot land outside it, but entries
named absolutely or with ``..`` are refused all the same: no honest client sends them.
``.dockerignore`` is applied to the index, so an ignored file is invisible to every step.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

from services.engine.build import dockerignore
from services.engine.build import tree as trees
from services.kit import errors

GZIP_MAGIC = b"\x1f\x8b"


class Spool:
    """Writes the context's bytes to ``path`` as they arrive, ungzipping if they are gzip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self._gunzip: zlib._Decompress | None = None
        self._first = True
        self.size = 0

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

    def close(self) -> None:
        if self._gunzip is not None:
            try:
                self._file.write(self._gunzip.flush())
            except zlib.error as exc:
                self.discard()
                raise _invalid(f"the gzip stream is corrupt ({exc})") from exc
        self._file.close()

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
        self._tar: tarfile.TarFile | None = None
        self.entries: dict[str, tarfile.TarInfo] = {"": _dir_info("")}
        self.children: dict[str, set[str]] = {"": set()}
        self._digests: dict[str, str] = {}

    @classmethod
    def load(cls, path: Path) -> ContextTree:
        """Index the tar at ``path``. Blocking: run in a thread."""
        ctx = cls(path)
        if path.stat().st_size == 0:
            return ctx
        try:
            ctx._tar = tarfile.open(fileobj=ctx._raw, mode="r:")  # noqa: SIM115 - closed with ctx
            for member in ctx._tar:
                ctx._add(member)
        except tarfile.TarError as exc:
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

    def _add(self, member: tarfile.TarInfo) -> None:
        raw = member.name
        if raw.startswith("/") or ".." in raw.split("/"):
            raise _invalid(f"the entry {raw!r} points outside the context")
        name = posixpath.normpath(raw).lstrip("/")
        if name in (".", ""):
            return
        if not (member.isdir() or member.isreg() or member.issym() or member.islnk()):
            return  # devices and fifos are never copied
        if member.islnk():
            target = posixpath.normpath(member.linkname).lstrip("/")
            if target.startswith("..") or target not in self.entries:
                raise _invalid(f"the hard link {raw!r} points outside the context")
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
        self._raw.close()

    # -- the Tree protocol -----------------------------------------------------------------

    def lstat(self, path: str) -> tarfile.TarInfo | None:
        return self.entries.get(path)

    def listdir(self, path: str) -> list[str]:
        return sorted(self.children.get(path, ()))

    def open(self, path: str) -> BinaryIO:
        member = self.entries[path]
        if self._tar is None:
            return io.BytesIO()
        if member.islnk():
            member = self.entries[posixpath.normpath(member.linkname).lstrip("/")]
        handle = self._tar.extractfile(member)
        if handle is None:
            raise _invalid(f"{path} is not a file")
        return handle  # type: ignore[return-value]

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
            self.children.pop(name, None)
            parent, _, base = name.rpartition("/")
            self.children[parent].discard(base)

    def digest(self, path: str) -> str:
        """sha256 of a file's content, computed once per build."""
        found = self._digests.get(path)
        if found is None:
            h = hashlib.sha256()
            with self.open(path) as handle:
                while chunk := handle.read(1 << 20):
                    h.update(chunk)
            found = self._digests[path] = h.hexdigest()
        return found


def _dir_info(path: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info
