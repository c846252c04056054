"""docker cp (archive HEAD/GET/PUT), export, diff and commit, over the engine's Filesystems."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from aiohttp import web

from estiba.engine.v1 import containers_pb2 as pb
from services.gateway.docker import params
from services.gateway.errors import json_response
from services.gateway.nodes import backends_of
from services.gateway.routes import add
from services.kit import errors, reqctx
from services.kit.grpcclient import call, stream
from services.kit.grpcerr import from_rpc_error

TIMEOUT = 30.0
CHUNK = 1 << 20
STAT_HEADER = "X-Docker-Container-Path-Stat"

# Go's os.FileMode type bits, which Docker clients decode from the stat header
GO_DIR, GO_SYMLINK, GO_DEVICE, GO_PIPE, GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
GO_CHAR, GO_SETUID, GO_SETGID, GO_STICKY = 1 << 21, 1 << 23, 1 << 22, 1 << 20


def _stub(request: web.Request) -> Any:
    return backends_of(request).filesystems


def go_mode(mode: int) -> int:
    bits = mode & 0o777
    kind = stat.S_IFMT(mode)
    bits |= {
        stat.S_IFDIR: GO_DIR,
        stat.S_IFLNK: GO_SYMLINK,
        stat.S_IFIFO: GO_PIPE,
        stat.S_IFSOCK: GO_SOCKET,
        stat.S_IFBLK: GO_DEVICE,
        stat.S_IFCHR: GO_DEVICE | GO_CHAR,
    }.get(kind, 0)
    if mode & stat.S_ISUID:
        bits |= GO_SETUID
    if mode & stat.S_ISGID:
        bits |= GO_SETGID
    if mode & stat.S_ISVTX:
        bits |= GO_STICKY
    return bits


def stat_header(s: pb.PathStat) -> str:
    mtime = datetime.fromtimestamp(s.mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "name": s.name,
        "size": s.size,
        "mode": go_mode(s.mode),
        "mtime": mtime,
        "linkTarget": s.link_target,
    }
    return base64.b64encode(json.dumps(body).encode()).decode()


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise errors.InvalidArgument("a path is required")
    return path


async def head_archive(request: web.Request) -> web.Response:
    req = pb.PathRequest(ref=request.match_info["id"], path=_path(request))
    s = await call(_stub(request).StatPath, req, service="engine", timeout=TIMEOUT)
    return web.Response(status=200, headers={STAT_HEADER: stat_header(s)})


async def _tar_response(request: web.Request, chunks: Any) -> web.StreamResponse:
    iterator = aiter(stream(chunks, service="engine"))
    first = await anext(iterator, None)
    headers = {"Content-Type": "application/x-tar"}
    if first is not None and first.WhichOneof("part") == "stat":
        headers[STAT_HEADER] = stat_header(first.stat)
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    async for chunk in iterator:
        await response.write(chunk.data)
    await response.write_eof()
    return response


async def get_archive(request: web.Request) -> web.StreamResponse:
    req = pb.PathRequest(ref=request.match_info["id"], path=_path(request))
    return await _tar_response(
        request, _stub(request).GetArchive(req, metadata=reqctx.outgoing_metadata())
    )


async def export(request: web.Request) -> web.StreamResponse:
    req = pb.GetContainerRequest(ref=request.match_info["id"])
    return await _tar_response(
        request, _stub(request).Export(req, metadata=reqctx.outgoing_metadata())
    )


async def put_archive(request: web.Request) -> web.Response:
    target = pb.PutArchiveTarget(
        ref=request.match_info["id"],
        path=_path(request),
        no_overwrite_dir_non_dir=params.flag(request, "noOverwriteDirNonDir"),
    )

    async def messages() -> AsyncIterator[pb.PutArchiveRequest]:
        yield pb.PutArchiveRequest(target=target)
        async for chunk in request.content.iter_chunked(CHUNK):
            yield pb.PutArchiveRequest(data=chunk)

    try:
        await _stub(request).PutArchive(messages(), metadata=reqctx.outgoing_metadata())
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc, service="engine") from exc
    return web.Response(status=200)


async def changes(request: web.Request) -> web.Response:
    req = pb.GetContainerRequest(ref=request.match_info["id"])
    reply = await call(_stub(request).Changes, req, service="engine", timeout=120)
    return json_response([{"Path": c.path, "Kind": c.kind} for c in reply.changes])


async def commit(request: web.Request) -> web.Response:
    repo = request.query.get("repo", "")
    tag = request.query.get("tag", "")
    reference = f"{repo}:{tag}" if repo and tag else repo
    req = pb.CommitRequest(
        ref=request.query.get("container", ""),
        reference=reference,
        comment=request.query.get("comment", ""),
        author=request.query.get("author", ""),
        changes=request.query.getall("changes", []),
        pause=params.flag(request, "pause", True),
    )
    reply = await call(_stub(request).Commit, req, service="engine", timeout=600)
    return json_response({"Id": reply.image_id}, status=201)


def setup(app: web.Application) -> None:
    add(app, "HEAD", "/containers/{id}/archive", head_archive)
    add(app, "GET", "/containers/{id}/archive", get_archive)
    add(app, "PUT", "/containers/{id}/archive", put_archive)
    add(app, "GET", "/containers/{id}/export", export)
    add(app, "GET", "/containers/{id}/changes", changes)
    add(app, "POST", "/commit", commit)
