"""``estiba build`` and ``estiba builder prune``: Docker's classic builder, from the CLI.

The context directory is sent as a tar with every owner set to 0:0 (as the docker CLI sends
it); symlinks travel as symlinks and are resolved inside the context by the engine, which
also applies ``.dockerignore``. A Dockerfile outside the context (``-f ../Dockerfile``) is
added to the tar under a private name, as docker does.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tarfile

from client import progress, urls
from client.cli import flags, output
from client.errors import ClientError
from client.transport import Transport

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("build", help="build an image from a Dockerfile")
    p.add_argument("-t", "--tag", action="append", default=[], help="name[:tag] (repeatable)")
    p.add_argument("-f", "--file", default="", help="the Dockerfile (default: PATH/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], metavar="KEY[=VALUE]")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--target", default="", help="the stage to build")
    p.add_argument("--no-cache", action="store_true", help="run every step")
    p.add_argument("--pull", action="store_true", help="always pull base images")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image id")
    p.add_argument("--rm", default="true", choices=["true", "false"])
    p.add_argument("--force-rm", action="store_true")
    p.add_argument("--platform", default="")
    p.add_argument("path", help="the build context: a directory, or - for a tar on stdin")
    p.set_defaults(run=build)
    p = sub.add_parser("builder", help="manage the build cache")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    v = verbs.add_parser("prune", help="remove the build cache")
    v.add_argument("-a", "--all", action="store_true")
    v.add_argument("-f", "--force", action="store_true")
    v.set_defaults(run=prune)


def query(args: flags.Namespace, dockerfile: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = [("t", t) for t in args.tag]
    if dockerfile:
        out.append(("dockerfile", dockerfile))
    build_args: dict[str, str | None] = {}
    for item in args.build_arg:
        key, eq, value = item.partition("=")
        build_args[key] = value if eq else os.environ.get(key)
    if build_args:
        out.append(("buildargs", json.dumps(build_args)))
    labels = dict(item.partition("=")[::2] for item in args.label)
    if labels:
        out.append(("labels", json.dumps(labels)))
    for name, on in (("nocache", args.no_cache), ("pull", args.pull), ("q", args.quiet),
                     ("forcerm", args.force_rm)):  # fmt: skip
        if on:
            out.append((name, "1"))
    out.append(("rm", "1" if args.rm == "true" else "0"))
    if args.target:
        out.append(("target", args.target))
    if args.platform:
        out.append(("platform", args.platform))
    return out


BLOCK = 512
CHUNK = 1 << 20
SMALL = 1 << 16


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def header(name: str, kind: bytes, *, mode: int, size: int = 0, mtime: int = 0,
           link: str = "") -> bytes:  # fmt: skip
    """A ustar header (owner 0:0, as docker sends a context), with a PAX header first when a
    name, a link target or a size does not fit."""
    raw_name, raw_link = (
        name.encode("utf-8", "surrogateescape"),
        link.encode("utf-8", "surrogateescape"),
    )
    pax: list[tuple[str, bytes]] = []
    if len(raw_name) > 100:
        pax.append(("path", raw_name))
    if len(raw_link) > 100:
        pax.append(("linkpath", raw_link))
    if size >= 8**11:
        pax.append(("size", str(size).encode()))
    out = b""
    if pax:
        records = b"".join(_pax_record(k, v) for k, v in pax)
        out = header("././@PaxHeader", b"x", mode=0o644, size=len(records)) + _padded(records)
    block = bytearray(BLOCK)
    block[0:100] = raw_name[:100].ljust(100, b"\0")
    block[100:108] = _octal(mode & 0o7777, 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[124:136] = _octal(size if size < 8**11 else 0, 12)
    block[136:148] = _octal(max(mtime, 0), 12)
    block[148:156] = b" " * 8
    block[156:157] = kind
    block[157:257] = raw_link[:100].ljust(100, b"\0")
    block[257:265] = b"ustar\x0000"
    block[148:156] = b"%06o\0 " % sum(block)
    return out + bytes(block)


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    length = len(body) + len(str(len(body)))
    if len(str(length)) != len(str(len(body))):
        length += 1
    return str(length).encode() + body


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def context_tar(root: str, extra: tuple[str, bytes] | None) -> Iterator[bytes]:
    """The directory ``root`` as a tar, made as it is read: parents first, names sorted."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        rel_dir = os.path.relpath(directory, root)
        for name in sorted(dirs) + sorted(files):
            full = os.path.join(directory, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(full)
            mode, mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
            if stat.S_ISDIR(st.st_mode):
                yield header(rel, tarfile.DIRTYPE, mode=mode, mtime=mtime)
            elif stat.S_ISLNK(st.st_mode):
                link = os.readlink(full)
                yield header(rel, tarfile.SYMTYPE, mode=mode, mtime=mtime, link=link)
            elif stat.S_ISREG(st.st_mode):
                yield from _file(full, rel, mode, mtime)
    if extra is not None:
        yield header(extra[0], tarfile.REGTYPE, mode=0o644, size=len(extra[1]))
        yield _padded(extra[1])
    yield b"\0" * (2 * BLOCK)


def _file(full: str, rel: str, mode: int, mtime: int) -> Iterator[bytes]:
    with open(full, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        head = header(rel, tarfile.REGTYPE, mode=mode, size=size, mtime=mtime)
        if size <= SMALL:  # one piece: header, data, padding
            data = handle.read(size + 1)
            if len(data) != size:
                raise ClientError(f"{full} changed while it was sent")
            yield head + data + b"\0" * (-size % BLOCK)
            return
        yield head
        left = size
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                raise ClientError(f"{full} shrank while it was sent")
            left -= len(chunk)
            yield chunk
        yield b"\0" * (-size % BLOCK)


class TarReader:
    """``context_tar`` as a file object for the transport. ``read(n)`` answers at least ``n``
    bytes (unless the tar ends), possibly a few more: the pieces are sent as they come."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces

    def read(self, size: int = -1) -> bytes:
        out: list[bytes] = []
        got = 0
        for piece in self._pieces:
            out.append(piece)
            got += len(piece)
            if 0 <= size <= got:
                break
        return b"".join(out)

    def close(self) -> None:
        pass


def _context(args: flags.Namespace) -> tuple[BinaryIO, str]:
    """The context tar (made as it is read) and the Dockerfile's name in it."""
    if args.path == "-":
        return sys.stdin.buffer, args.file
    root = os.path.abspath(args.path)
    if not os.path.isdir(root):
        raise ClientError(f"unable to prepare context: path {args.path!r} not found")
    dockerfile = args.file or os.path.join(root, "Dockerfile")
    full = os.path.abspath(dockerfile)
    extra = None
    name = ""
    if os.path.commonpath([full, root]) == root:
        name = os.path.relpath(full, root) if args.file else ""
    else:
        try:
            with open(full, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ClientError(f"unable to read the Dockerfile {dockerfile}: {exc}") from exc
        name = f".dockerfile.{os.urandom(10).hex()}"
        extra = (name, data)
    return TarReader(context_tar(root, extra)), name  # type: ignore[return-value]


def build(args: flags.Namespace, api: Transport) -> int:
    source, dockerfile = _context(args)
    path = "/build?" + urls.urlencode(query(args, dockerfile))
    aux: dict[str, object] = {}
    try:
        messages = api.upload_json("POST", path, source)
        for message in messages:
            if message.get("errorDetail") or message.get("error"):
                detail = message.get("errorDetail") or {}
                output.error(str(detail.get("message") or message.get("error")))
                return int(detail.get("code") or 1)
            if isinstance(message.get("aux"), dict):
                aux = message["aux"]
            elif "stream" in message and not args.quiet:
                sys.stdout.write(str(message["stream"]))
                sys.stdout.flush()
    except progress.StreamError as exc:
        output.error(str(exc))
        return 1
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    if args.quiet and aux.get("ID"):
        output.line(str(aux["ID"]))
    return 0


def prune(args: flags.Namespace, api: Transport) -> int:
    _, data = api.request("POST", "/build/prune", query={"all": "1" if args.all else "0"})
    reply = json.loads(data or b"{}")
    deleted = reply.get("CachesDeleted") or []
    if deleted:
        output.line("Deleted build cache objects:")
        for item in deleted:
            output.line(str(item))
    freed = int(reply.get("SpaceReclaimed") or 0)
    output.line(f"Total reclaimed space: {output.human_bytes(freed)}")
    return 0
