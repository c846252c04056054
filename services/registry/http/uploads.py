"""``/v2/<name>/blobs/uploads/``: push blobs, monolithic, chunked or streamed, and mount them.

* ``POST`` opens a session (202 with ``Location``); ``?mount=<digest>&from=<repo>`` links a blob
  of another repository instead (201), or opens a session when that repository lacks it or the
  caller may not pull from it (the client then uploads the bytes itself);
  ``?digest=<digest>`` with a body stores the whole blob at once (201).
* ``PATCH <location>`` appends a chunk: with ``Content-Range: <first>-<last>`` the first byte
  must be the current size (else 416); without it the body is appended as it streams.
* ``GET <location>`` reports progress (204 with ``Range``); ``PUT <location>?digest=`` adds an
  optional last chunk and commits (201); ``DELETE <location>`` cancels (204).
"""

from __future__ import annotations

import re
import urllib.parse

from aiohttp import hdrs, web

from services.kit import errors
from services.registry.domain.access_models import PULL
from services.registry.domain.digest import Digest
from services.registry.domain.models import BlobInfo, UploadSession
from services.registry.domain.uploads import UploadOutOfOrder
from services.registry.http.auth import caller
from services.registry.http.context import DIGEST_HEADER, body_chunks, name_of, services
from services.registry.http.errors import error_response

routes = web.RouteTableDef()
START = "/v2/{name:.+}/blobs/uploads/"
SESSION = "/v2/{name:.+}/blobs/uploads/{upload_id}"

_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?")


def upload_headers(session: UploadSession) -> dict[str, str]:
    """``Location``, ``Range`` and ``Docker-Upload-UUID`` of a session."""
    name = urllib.parse.quote(session.repository)
    last = max(session.size - 1, 0)
    return {
        hdrs.LOCATION: f"/v2/{name}/blobs/uploads/{session.id}",
        hdrs.RANGE: f"0-{last}",
        "Docker-Upload-UUID": session.id,
    }


def created(name: str, blob: BlobInfo) -> web.Response:
    """201 for a stored blob."""
    headers = {
        hdrs.LOCATION: f"/v2/{urllib.parse.quote(name)}/blobs/{blob.digest}",
        DIGEST_HEADER: str(blob.digest),
    }
    return web.Response(status=201, headers=headers)


def chunk_range(request: web.Request) -> tuple[int | None, int | None]:
    """``(start, length)`` of a chunk from Content-Range, checked against Content-Length."""
    value = request.headers.get(hdrs.CONTENT_RANGE)
    if value is None:
        return None, None
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if match is None or int(match[2]) < int(match[1]):
        raise errors.OutOfRange(f"invalid Content-Range {value[:60]!r}", reason="RANGE_INVALID")
    start, length = int(match[1]), int(match[2]) - int(match[1]) + 1
    declared = request.content_length
    if declared is not None and declared != length:
        raise errors.InvalidArgument(
            f"Content-Range {value!r} covers {length} bytes; Content-Length says {declared}",
            reason="SIZE_INVALID",
        )
    return start, length


@routes.post(START)
@routes.post("/v2/{name:.+}/blobs/uploads")
async def start_upload(request: web.Request) -> web.Response:
    name = name_of(request)
    svc = services(request)
    query = request.query
    if "mount" in query:
        digest = Digest.parse(query["mount"])
        source = query.get("from")
        readable = source and caller(request).may(source, PULL)
        blob = await svc.blobs.mount(name, digest, source) if source and readable else None
        if blob is not None:
            return created(name, blob)
    if "digest" in query and request.body_exists:
        blob = await svc.uploads.monolithic(name, query["digest"], body_chunks(request))
        return created(name, blob)
    session = await svc.uploads.start(name)
    return web.Response(status=202, headers=upload_headers(session))


@routes.get(SESSION)
async def upload_status(request: web.Request) -> web.Response:
    svc = services(request)
    session = await svc.uploads.status(name_of(request), request.match_info["upload_id"])
    return web.Response(status=204, headers=upload_headers(session))


@routes.patch(SESSION)
async def append_chunk(request: web.Request) -> web.Response:
    start, length = chunk_range(request)
    svc = services(request)
    try:
        session = await svc.uploads.append(
            name_of(request),
            request.match_info["upload_id"],
            body_chunks(request),
            start=start,
            length=length,
        )
    except UploadOutOfOrder as exc:
        return error_response(exc, headers=upload_headers(exc.session))
    return web.Response(status=202, headers=upload_headers(session))


@routes.put(SESSION)
async def finish_upload(request: web.Request) -> web.Response:
    digest = request.query.get("digest")
    if not digest:
        raise errors.InvalidArgument(
            "the digest query parameter is required to finish an upload", reason="DIGEST_INVALID"
        )
    start, length = chunk_range(request)
    name = name_of(request)
    try:
        blob = await services(request).uploads.complete(
            name,
            request.match_info["upload_id"],
            digest,
            body_chunks(request),
            start=start,
            length=length,
        )
    except UploadOutOfOrder as exc:
        return error_response(exc, headers=upload_headers(exc.session))
    return created(name, blob)


@routes.delete(SESSION)
async def cancel_upload(request: web.Request) -> web.Response:
    await services(request).uploads.cancel(name_of(request), request.match_info["upload_id"])
    return web.Response(status=204)
