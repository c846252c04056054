"""Read-only file trees a build copies from, and path rules that keep lookups inside them.

Two kinds of tree exist: the build context (a tar, ``context.ContextTree``) and an image's root
filesystem mounted read-only (``DirTree``, for ``COPY --from``). Both answer ``lstat``,
``listdir``, ``readlink`` and ``open`` for clean relative paths; ``resolve`` follows symlinks the
way a chroot would (an absolute target or ``..`` never leaves the tree's root), so a context
symlink pointing at ``/etc/passwd`` names the context's own ``etc/passwd``, not the host's.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import re
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from services.kit import errors

MAX_LINKS = 255


class Tree(Protocol):
    def lstat(self, path: str) -> tarfile.TarInfo | None:
        """The entry at the clean relative ``path`` ("" is the root), None if absent."""
        ...

    def listdir(self, path: str) -> list[str]: ...

    def open(self, path: str) -> BinaryIO: ...


def clean(path: str) -> str:
    """``path`` relative to the tree's root: a leading ``/`` is dropped (the root is the
    context's, not the host's) and ``..`` that would climb out of the root is refused."""
    norm = posixpath.normpath(path) if path else "."
    if norm == ".." or norm.startswith("../"):
        raise errors.InvalidArgument(
            f"forbidden path outside the build context: {path}", reason="PATH_OUTSIDE_CONTEXT"
        )
    norm = norm.lstrip("/")
    return "" if norm == "." else norm


def join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def resolve(tree: Tree, path: str, *, follow_last: bool = True) -> str:
    """The clean path ``path`` names with every symlink followed inside the tree."""
    parts = [p for p in clean(path).split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        candidate = join(*done, name)
        info = tree.lstat(candidate)
        if info is not None and info.issym() and (parts or follow_last):
            hops += 1
            if hops > MAX_LINKS:
                raise errors.InvalidArgument(f"too many levels of symbolic links: {path}")
            target = info.linkname
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        done.append(name)
    return join(*done)


def has_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def glob(tree: Tree, pattern: str) -> list[str]:
    """Paths of the tree matching ``pattern`` component by component (Go's filepath.Match)."""
    parts = [p for p in clean(pattern).split("/") if p]
    found = [""]
    for part in parts:
        nxt = []
        for base in found:
            real = resolve(tree, base) if base else ""
            if not has_glob(part):
                candidate = join(base, part)
                if tree.lstat(resolve(tree, candidate, follow_last=False)) is not None:
                    nxt.append(candidate)
                continue
            info = tree.lstat(real)
            if info is None or not info.isdir():
                continue
            rx = re.compile(fnmatch.translate(part))
            nxt += [join(base, n) for n in sorted(tree.listdir(real)) if rx.match(n)]
        found = nxt
        if not found:
            break
    return found


def walk(tree: Tree, path: str) -> Iterator[tuple[str, tarfile.TarInfo]]:
    """Every entry below the directory ``path`` (relative names, parents first, sorted)."""
    stack = [""]
    while stack:
        rel = stack.pop()
        names = sorted(tree.listdir(join(path, rel)), reverse=True)
        subdirs = []
        entries = []
        for name in reversed(names):
            child = join(rel, name)
            info = tree.lstat(join(path, child))
            if info is None:
                continue
            entries.append((child, info))
            if info.isdir():
                subdirs.append(child)
        yield from entries
        stack += reversed(subdirs)


class DirTree:
    """A directory on this host seen as a tree; nothing is ever followed by the OS."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def lstat(self, path: str) -> tarfile.TarInfo | None:
        full = os.path.join(self.root, path) if path else str(self.root)
        try:
            st = os.lstat(full)
        except OSError:
            return None
        info = tarfile.TarInfo(path)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mtime = int(st.st_mtime)
        if stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(st.st_mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(full)
        elif stat.S_ISREG(st.st_mode):
            info.type = tarfile.REGTYPE
            info.size = st.st_size
        elif stat.S_ISFIFO(st.st_mode):
            info.type = tarfile.FIFOTYPE
        else:
            return None  # devices and sockets are not copied
        return info

    def listdir(self, path: str) -> list[str]:
        try:
            return os.listdir(os.path.join(self.root, path) if path else self.root)
        except OSError:
            return []

    def open(self, path: str) -> BinaryIO:
        fd = os.open(os.path.join(self.root, path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        return os.fdopen(fd, "rb")


def file_digest(tree: Tree, path: str) -> str:
    """sha256 of a file's content (the context caches its own)."""
    cached = getattr(tree, "digest", None)
    if cached is not None:
        return str(cached(path))
    h = hashlib.sha256()
    with tree.open(path) as handle:
        while chunk := handle.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
