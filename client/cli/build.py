"""``estiba build`` and ``estiba builder prune``: Docker's classic builder, from the CLI.

The context directory is sent as a tar with every owner set to 0:0 (as the docker CLI sends
it); symlinks travel as symlinks and are resolved inside the context by the engine, which
also applies ``.dockerignore``. A Dockerfile outside the context (``-f ../Dockerfile``) is
added to the tar under a private name, as docker does.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import stat
import sys
import tarfile
import tempfile
import urllib.parse
from typing import IO, BinaryIO

from client import progress
from client.cli import output
from client.errors import ClientError
from client.transport import Transport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def query(args: argparse.Namespace, dockerfile: str) -> list[tuple[str, str]]:
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


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    return info


def write_context(root: str, out: IO[bytes], extra: tuple[str, bytes] | None) -> None:
    """The directory ``root`` as a tar on ``out``, parents first, names sorted."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for directory, dirs, files in os.walk(root):
            dirs.sort()
            rel_dir = os.path.relpath(directory, root)
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(directory, name)
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                st = os.lstat(full)
                info = _info(rel, st)
                if stat.S_ISDIR(st.st_mode):
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif stat.S_ISLNK(st.st_mode):
                    info.type = tarfile.SYMTYPE
                    info.linkname = os.readlink(full)
                    tar.addfile(info)
                elif stat.S_ISREG(st.st_mode):
                    info.size = st.st_size
                    with open(full, "rb") as handle:
                        tar.addfile(info, handle)
        if extra is not None:
            info = tarfile.TarInfo(extra[0])
            info.size, info.mode = len(extra[1]), 0o644
            tar.addfile(info, io.BytesIO(extra[1]))


def _context(args: argparse.Namespace) -> tuple[BinaryIO, str]:
    """The context tar (a temporary file) and the Dockerfile's name in it."""
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
        name = f".dockerfile.{secrets.token_hex(10)}"
        extra = (name, data)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
    write_context(root, spool, extra)
    spool.seek(0)
    return spool, name


def build(args: argparse.Namespace, api: Transport) -> int:
    source, dockerfile = _context(args)
    path = "/build?" + urllib.parse.urlencode(query(args, dockerfile))
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


def prune(args: argparse.Namespace, api: Transport) -> int:
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
