"""Docker's image endpoints over the engine's Images service; progress as Docker's JSON stream."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from estiba.engine.v1 import images_pb2 as pb
from services.gateway.docker import images_out, params
from services.gateway.errors import json_response
from services.gateway.nodes import backends_of
from services.gateway.routes import add
from services.kit import errors, reqctx
from services.kit.grpcclient import call, stream

TIMEOUT = 30.0
CHUNK = 1 << 20


def _stub(request: web.Request) -> Any:
    return backends_of(request).images


def registry_auth(request: web.Request) -> pb.RegistryAuth:
    """X-Registry-Auth: base64url of {"username","password","serveraddress"} or a token."""
    raw = request.headers.get("X-Registry-Auth", "")
    if not raw:
        return pb.RegistryAuth()
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)) or b"{}")
    except (ValueError, binascii.Error) as exc:
        raise errors.InvalidArgument("invalid X-Registry-Auth header") from exc
    if not isinstance(data, dict):
        return pb.RegistryAuth()
    return pb.RegistryAuth(
        username=str(data.get("username") or ""),
        password=str(data.get("password") or ""),
        registry_token=str(data.get("registrytoken") or data.get("identitytoken") or ""),
    )


async def _progress_stream(
    request: web.Request,
    events: AsyncIterator[Any],
    *,
    first: dict[str, Any] | None = None,
    last: Any = None,
) -> web.StreamResponse:
    """Chunked JSON lines; an error after the 200 goes in-band, as Docker sends it."""
    iterator = aiter(events)
    try:
        head = await anext(iterator)  # errors before anything happened are plain HTTP errors
    except StopAsyncIteration:
        head = None
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    if first:
        await response.write(json.dumps(first).encode() + b"\r\n")
    seen: list[Any] = []
    try:
        if head is not None:
            seen.append(head)
            await response.write(json.dumps(images_out.progress(head)).encode() + b"\r\n")
        async for event in iterator:
            seen.append(event)
            await response.write(json.dumps(images_out.progress(event)).encode() + b"\r\n")
        if last is not None:
            for message in last(seen):
                await response.write(json.dumps(message).encode() + b"\r\n")
    except errors.EstibaError as exc:
        error = {"errorDetail": {"message": exc.message}, "error": exc.message}
        await response.write(json.dumps(error).encode() + b"\r\n")
    await response.write_eof()
    return response


async def create(request: web.Request) -> web.StreamResponse:
    """``POST /images/create``: pull (fromImage) or import (fromSrc)."""
    image = request.query.get("fromImage", "")
    if not image:
        if request.query.get("fromSrc"):
            return await _import(request)
        raise errors.InvalidArgument("fromImage or fromSrc is required")
    tag = request.query.get("tag", "")
    if tag:
        image += ("@" if tag.startswith("sha256:") else ":") + tag
    req = pb.PullImageRequest(
        reference=image, auth=registry_auth(request), platform=request.query.get("platform", "")
    )
    events = stream(_stub(request).Pull(req, metadata=reqctx.outgoing_metadata()), service="engine")
    return await _progress_stream(request, events)


async def _import(request: web.Request) -> web.StreamResponse:
    source = request.query["fromSrc"]
    reference = request.query.get("repo", "")
    if reference and request.query.get("tag"):
        reference += ":" + request.query["tag"]
    options = pb.ImportOptions(
        reference=reference,
        changes=request.query.getall("changes", []),
        message=request.query.get("message", ""),
        platform=request.query.get("platform", ""),
    )
    if source != "-":
        raise errors.InvalidArgument("import from a URL is not supported; send the tarball")

    async def messages() -> AsyncIterator[pb.ImportImageRequest]:
        yield pb.ImportImageRequest(options=options)
        async for chunk in request.content.iter_chunked(CHUNK):
            yield pb.ImportImageRequest(data=chunk)

    call_ = _stub(request).Import(messages(), metadata=reqctx.outgoing_metadata())
    return await _progress_stream(request, stream(call_, service="engine"))


async def list_(request: web.Request) -> web.Response:
    req = pb.ListImagesRequest(all=params.flag(request, "all"))
    for name, values in params.filters(request).items():
        for value in values:
            req.filters.add(name=name, value=value)
    reply = await call(_stub(request).List, req, service="engine", timeout=TIMEOUT)
    return json_response([images_out.summary(i) for i in reply.images])


async def inspect(request: web.Request) -> web.Response:
    req = pb.InspectImageRequest(image=request.match_info["name"])
    reply = await call(_stub(request).Inspect, req, service="engine", timeout=TIMEOUT)
    return json_response(images_out.inspect(reply.image))


async def history(request: web.Request) -> web.Response:
    req = pb.ImageHistoryRequest(image=request.match_info["name"])
    reply = await call(_stub(request).History, req, service="engine", timeout=TIMEOUT)
    return json_response([images_out.history(e) for e in reply.entries])


async def tag(request: web.Request) -> web.Response:
    repo = request.query.get("repo", "")
    if not repo:
        raise errors.InvalidArgument("repository name must have at least one component")
    target = repo + (":" + request.query["tag"] if request.query.get("tag") else "")
    req = pb.TagImageRequest(source=request.match_info["name"], target=target)
    await call(_stub(request).Tag, req, service="engine", timeout=TIMEOUT)
    return web.Response(status=201)


async def remove(request: web.Request) -> web.Response:
    req = pb.RemoveImageRequest(
        image=request.match_info["name"],
        force=params.flag(request, "force"),
        no_prune=params.flag(request, "noprune"),
    )
    reply = await call(_stub(request).Remove, req, service="engine", timeout=TIMEOUT)
    return json_response(images_out.deleted(reply.items))


async def push(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    tag_ = request.query.get("tag", "")
    reference = f"{name}:{tag_}" if tag_ else name
    req = pb.PushImageRequest(reference=reference, auth=registry_auth(request))
    events = stream(_stub(request).Push(req, metadata=reqctx.outgoing_metadata()), service="engine")

    def summary(seen: list[Any]) -> list[dict[str, Any]]:
        return [
            {"progressDetail": {}, "aux": {"Tag": e.tag, "Digest": e.digest, "Size": e.size}}
            for e in seen
            if e.tag and e.digest
        ]

    return await _progress_stream(request, events, last=summary)


async def save(request: web.Request) -> web.StreamResponse:
    names = request.query.getall("names", []) or [request.match_info.get("name", "")]
    req = pb.SaveImagesRequest(names=[n for n in names if n])
    chunks = stream(_stub(request).Save(req, metadata=reqctx.outgoing_metadata()), service="engine")
    iterator = aiter(chunks)
    first = await anext(iterator, None)
    response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
    await response.prepare(request)
    if first is not None:
        await response.write(first.data)
        async for chunk in iterator:
            await response.write(chunk.data)
    await response.write_eof()
    return response


async def load(request: web.Request) -> web.StreamResponse:
    async def messages() -> AsyncIterator[pb.LoadImagesRequest]:
        yield pb.LoadImagesRequest(source=pb.LoadSource())
        async for chunk in request.content.iter_chunked(CHUNK):
            yield pb.LoadImagesRequest(data=chunk)

    events = stream(
        _stub(request).Load(messages(), metadata=reqctx.outgoing_metadata()), service="engine"
    )
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    try:
        async for event in events:
            await response.write(json.dumps({"stream": event.status + "\n"}).encode() + b"\r\n")
    except errors.EstibaError as exc:
        error = {"errorDetail": {"message": exc.message}, "error": exc.message}
        await response.write(json.dumps(error).encode() + b"\r\n")
    await response.write_eof()
    return response


async def bootstrap(request: web.Request) -> web.StreamResponse:
    """``POST /estiba/v1/images/bootstrap``: a Debian image from Debian's mirror."""
    body = await params.json_body(request)
    req = pb.BootstrapImageRequest(
        reference=str(body.get("reference") or ""),
        suite=str(body.get("suite") or ""),
        mirror=str(body.get("mirror") or ""),
        variant=str(body.get("variant") or ""),
    )
    events = stream(
        _stub(request).Bootstrap(req, metadata=reqctx.outgoing_metadata()), service="engine"
    )
    return await _progress_stream(request, events)


async def auth(request: web.Request) -> web.Response:
    """``POST /auth`` (docker login): the engine checks the credentials with the registry."""
    body = await params.json_body(request)
    req = pb.LoginRequest(
        registry=str(body.get("serveraddress") or ""),
        auth=pb.RegistryAuth(
            username=str(body.get("username") or ""), password=str(body.get("password") or "")
        ),
    )
    await call(_stub(request).Login, req, service="engine", timeout=60)
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})


def setup(app: web.Application) -> None:
    add(app, "POST", "/auth", auth)
    app.router.add_post("/estiba/v1/images/bootstrap", bootstrap)
    add(app, "POST", "/images/create", create)
    add(app, "GET", "/images/json", list_)
    add(app, "GET", "/images/get", save)
    add(app, "POST", "/images/load", load)
    add(app, "GET", "/images/{name:.+}/json", inspect)
    add(app, "GET", "/images/{name:.+}/history", history)
    add(app, "GET", "/images/{name:.+}/get", save)
    add(app, "POST", "/images/{name:.+}/tag", tag)
    add(app, "POST", "/images/{name:.+}/push", push)
    add(app, "DELETE", "/images/{name:.+}", remove)
