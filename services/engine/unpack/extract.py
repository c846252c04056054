"""The safe layer extractor: one image layer tar → one directory, and nothing outside it.

Python 3.11.7's tarfile filters cannot be used here: ``data`` breaks real images (absolute
symlinks, setuid bits, ownership) and ``tar`` lets a hard link pull any host file into the layer.
So every entry goes through this module instead, and every file system call is made relative to
a directory file descriptor that was reached one component at a time with ``O_NOFOLLOW``:

* names are normalised; a ``..`` component is refused and a leading ``/`` is dropped, so an
  entry can only name something below the layer directory;
* a parent that is a symlink (or a file) is refused rather than followed, so ``evil -> /etc``
  followed by ``evil/passwd`` cannot write through it;
* an existing entry is unlinked before it is replaced, so a regular file never writes through an
  earlier symlink of the same name;
* a hard link must point at a non-directory entry written earlier by the same layer, and is made
  with ``linkat`` without following symlinks, so it can never reach a host file;
* device nodes are refused; the only ones created are overlayfs whiteouts (char 0/0);
* directory metadata is applied last, through an ``O_NOFOLLOW`` descriptor.

Whiteouts become what overlayfs understands: ``.wh.NAME`` a char device 0/0 named NAME,
``.wh..wh..opq`` the xattr ``trusted.overlay.opaque=y`` on its directory. Numeric owners, modes
(setuid, setgid, sticky), mtimes and ``SCHILY.xattr.*`` extended attributes are kept, except
``trusted.overlay.*``, which a layer must never set for itself.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import lzma
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from services.kit import errors

OPAQUE = ".wh..wh..opq"
WHITEOUT = ".wh."
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
Parts = tuple[str, ...]
_FD_CACHE = 64


class LayerError(errors.InvalidArgument):
    """A layer cannot be unpacked: it is not a tar, or an entry is unsafe or unsupported."""

    def __init__(self, message: str, *, reason: str = "LAYER_UNSAFE") -> None:
        super().__init__(message, reason=reason)


@dataclasses.dataclass(frozen=True)
class ExtractStats:
    entries: int
    size: int
    """Bytes of regular file content, which is what Docker reports as a layer's size."""


def extract(stream: BinaryIO, dest: Path) -> ExtractStats:
    """Unpack the uncompressed tar ``stream`` into the existing, empty directory ``dest``."""
    root = os.open(dest, _DIR_FLAGS)
    ex = _Extractor(root)
    name = ""
    try:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=1 << 16) as tf:
            for member in tf:
                name = member.name
                ex.member(tf, member)
            name = ""
            ex.finish()
    except tarfile.TarError as exc:
        raise LayerError(
            f"the layer is not a valid tar archive: {exc}", reason="LAYER_INVALID"
        ) from exc
    except (EOFError, zlib.error, lzma.LZMAError) as exc:
        raise LayerError(
            f"the layer is truncated or its compression is corrupt: {exc}", reason="LAYER_INVALID"
        ) from exc
    except OSError as exc:
        where = f"entry {name!r}" if name else "the layer"
        raise LayerError(
            f"cannot unpack {where}: {exc.strerror or exc}", reason="LAYER_INVALID"
        ) from exc
    finally:
        ex.close()
        os.close(root)
    return ExtractStats(ex.entries, ex.size)


def clean(name: str) -> Parts:
    """The components of an entry name below the layer root; refuses ``..`` anywhere."""
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise LayerError(f"entry {name!r} climbs out of the layer with '..'")
    return parts


class _Extractor:
    def __init__(self, root: int) -> None:
        self.root = root
        self.entries = 0
        self.size = 0
        self.dirs: dict[Parts, tarfile.TarInfo] = {}
        self.files: set[Parts] = set()
        self._fds: collections.OrderedDict[Parts, int] = collections.OrderedDict()

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])

    # -- walking ---------------------------------------------------------------------------

    def _step(self, fd: int, parts: Parts, i: int, *, create: bool) -> int:
        """Open component ``i`` of ``parts`` below ``fd``: a directory, never a symlink."""
        try:
            return os.open(parts[i], _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(parts[i], 0o755, dir_fd=fd)
            return os.open(parts[i], _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            where = "/".join(parts[: i + 1])
            raise LayerError(
                f"{where!r} is a symlink or a file, and an entry of the layer would be "
                "written through it"
            ) from exc

    def open_dir(self, parts: Parts, *, create: bool) -> int:
        """A new descriptor of the directory ``parts``, walked from the root (caller closes)."""
        fd = os.dup(self.root)
        try:
            for i in range(len(parts)):
                nfd = self._step(fd, parts, i, create=create)
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def parent(self, parts: Parts) -> int:
        """The descriptor of the directory ``parts``, created if missing; borrowed, valid until
        the next call. Recently used directories are kept open (at most ``_FD_CACHE``), and a
        walk starts from the nearest one, since a tar lists neighbours together."""
        fds = self._fds
        k = len(parts)
        while k and parts[:k] not in fds:
            k -= 1
        fd = self.root
        if k:
            fd = fds[parts[:k]]
            fds.move_to_end(parts[:k])
        for i in range(k, len(parts)):
            fd = self._step(fd, parts, i, create=True)
            fds[parts[: i + 1]] = fd
        while len(fds) > _FD_CACHE:  # the newest entry, the one returned, always stays
            os.close(fds.popitem(last=False)[1])
        return fd

    def remove(self, pfd: int, parts: Parts, *, keep_dir: bool) -> bool:
        """Remove what exists at ``parts``; True if it is a directory that was kept."""
        name = parts[-1]
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(name, dir_fd=pfd)
            self._forget_below(parts)
            return False
        os.unlink(name, dir_fd=pfd)
        self.files.discard(parts)
        return False

    def _forget_below(self, parts: Parts) -> None:
        n = len(parts)
        self.dirs = {k: v for k, v in self.dirs.items() if k[:n] != parts}
        self.files = {k for k in self.files if k[:n] != parts}
        for key in [k for k in self._fds if k[:n] == parts]:
            os.close(self._fds.pop(key))

    # -- entries ---------------------------------------------------------------------------

    def member(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        self.entries += 1
        parts = clean(m.name)
        if not parts:
            if not m.isdir():
                raise LayerError(f"entry {m.name!r} replaces the layer root with a non-directory")
            self.dirs[()] = m
            return
        base = parts[-1]
        if base == OPAQUE:
            os.setxattr(self.parent(parts[:-1]), "trusted.overlay.opaque", b"y")
            return
        if base.startswith(OPAQUE[:8]):  # ".wh..wh.": aufs bookkeeping, meaningless here
            return
        if base.startswith(WHITEOUT):
            self.whiteout((*parts[:-1], base[len(WHITEOUT) :]), m.name)
            return
        if m.ischr() or m.isblk():
            raise LayerError(f"entry {m.name!r} is a device node; layers may not create devices")
        if not (m.isdir() or m.isreg() or m.issym() or m.islnk() or m.isfifo()):
            raise LayerError(f"entry {m.name!r} has unsupported tar type {m.type!r}")
        pfd = self.parent(parts[:-1])
        if m.isdir():
            if not self.remove(pfd, parts, keep_dir=True):
                os.mkdir(base, 0o700, dir_fd=pfd)
            self.dirs[parts] = m
            return
        self.remove(pfd, parts, keep_dir=False)
        if m.isreg():
            self.regular(tf, m, pfd, base)
        elif m.issym():
            self.symlink(m, pfd, base)
        elif m.islnk():
            self.hardlink(m, pfd, base)
        else:
            os.mkfifo(base, 0o600, dir_fd=pfd)
            os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            os.chmod(base, stat.S_IMODE(m.mode), dir_fd=pfd)  # a fifo we just made
            os.utime(base, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)
        self.dirs.pop(parts, None)
        self.files.add(parts)

    def whiteout(self, victim: Parts, name: str) -> None:
        if victim[-1] in ("", ".", ".."):
            raise LayerError(f"whiteout {name!r} names no entry it could delete")
        pfd = self.parent(victim[:-1])
        self.remove(pfd, victim, keep_dir=False)
        self.dirs.pop(victim, None)
        os.mknod(victim[-1], stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)

    def regular(self, tf: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=pfd)
        try:
            src = tf.extractfile(m)
            if src is not None:
                with open(fd, "wb", closefd=False) as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, stat.S_IMODE(m.mode))  # after chown, which clears setuid
            for key, value in xattrs(m):  # after chown, which clears security.capability
                _setxattr(fd, key, value)
            os.utime(fd, (m.mtime, m.mtime))
        finally:
            os.close(fd)
        self.size += m.size

    def symlink(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        os.symlink(m.linkname, base, dir_fd=pfd)
        os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        for key, value in xattrs(m):
            if not key.startswith("user."):  # the kernel refuses user.* on symlinks
                _setxattr(f"/proc/self/fd/{pfd}/{base}", key, value)
        os.utime(base, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)

    def hardlink(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        target = clean(m.linkname)
        if target not in self.files:
            raise LayerError(
                f"hard link {m.name!r} points at {m.linkname!r}, which is not an earlier "
                "file of this layer"
            )
        tfd = self.open_dir(target[:-1], create=False)
        try:
            os.link(target[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)

    def finish(self) -> None:
        """Apply directory metadata, deepest first, through O_NOFOLLOW descriptors."""
        for parts in sorted(self.dirs, key=len, reverse=True):
            m = self.dirs[parts]
            fd = self.parent(parts) if parts else self.root
            os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, stat.S_IMODE(m.mode))
            for key, value in xattrs(m):
                _setxattr(fd, key, value)
            os.utime(fd, (m.mtime, m.mtime))


def xattrs(m: tarfile.TarInfo) -> Iterator[tuple[str, bytes]]:
    """The extended attributes a PAX entry carries, minus ``trusted.overlay.*``."""
    for key, value in m.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr.") :]
            if not name.startswith("trusted.overlay."):
                yield name, value.encode("utf-8", "surrogateescape")


def _setxattr(target: int | str, key: str, value: bytes) -> None:
    try:
        if isinstance(target, int):
            os.setxattr(target, key, value)
        else:
            os.setxattr(target, key, value, follow_symlinks=False)
    except OSError as exc:
        if exc.errno != errno.EOPNOTSUPP:  # e.g. security.selinux where SELinux is off
            raise
