"""``/v2/<name>/manifests/<reference>``: pull, push and delete manifests by tag or digest.

Manifests are served exactly as pushed, with their media type as Content-Type. A client whose
``Accept`` header lists media types, none of which is the manifest's (and no wildcard), gets
MANIFEST_UNKNOWN, as the registry cannot convert between formats.
"""

from __future__ import annotations

import urllib.parse

from aiohttp import hdrs, web

from services.kit import errors
from services.registry.domain.access_models import OVERWRITE
from services.registry.http.auth import caller
from services.registry.http.context import DIGEST_HEADER, name_of, read_bounded, services

routes = web.RouteTableDef()
PATH = "/v2/{name:.+}/manifests/{reference}"
_WILDCARDS = frozenset({"*/*", "application/*"})


def accepts(request: web.Request, media_type: str) -> bool:
    """Whether the client's Accept headers allow ``media_type`` (no header allows anything)."""
    listed = {
        item.split(";", 1)[0].strip().lower()
        for header in request.headers.getall(hdrs.ACCEPT, [])
        for item in header.split(",")
        if item.strip()
    }
    return not listed or bool(listed & _WILDCARDS) or media_type in listed


@routes.get(PATH)  # and HEAD, which aiohttp routes to the same handler
async def get_manifest(request: web.Request) -> web.Response:
    name, reference = name_of(request), request.match_info["reference"]
    manifest = await services(request).manifests.get(name, reference)
    if not accepts(request, manifest.media_type):
        raise errors.NotFound(
            f"manifest {reference} is a {manifest.media_type}, which the Accept header does "
            "not list",
            reason="MANIFEST_UNKNOWN",
        )
    headers = {
        DIGEST_HEADER: str(manifest.digest),
        hdrs.ETAG: f'"{manifest.digest}"',
        hdrs.CONTENT_TYPE: manifest.media_type,
    }
    if request.method == "HEAD":
        headers[hdrs.CONTENT_LENGTH] = str(manifest.size)
        return web.Response(status=200, headers=headers)
    return web.Response(status=200, body=manifest.content, headers=headers)


@routes.put(PATH)
async def put_manifest(request: web.Request) -> web.Response:
    name, reference = name_of(request), request.match_info["reference"]
    svc = services(request).manifests
    body = await read_bounded(request, svc.max_bytes)
    result = await svc.put(
        name,
        reference,
        body,
        request.headers.get(hdrs.CONTENT_TYPE, ""),
        may_overwrite=caller(request).may(name, OVERWRITE),
    )
    headers = {
        hdrs.LOCATION: f"/v2/{urllib.parse.quote(name)}/manifests/{result.digest}",
        DIGEST_HEADER: str(result.digest),
    }
    if result.subject is not None:
        headers["OCI-Subject"] = str(result.subject)
    return web.Response(status=201, headers=headers)


@routes.delete(PATH)
async def delete_manifest(request: web.Request) -> web.Response:
    """By digest: the manifest and its tags. By tag: only that tag. 202 either way."""
    await services(request).manifests.delete(name_of(request), request.match_info["reference"])
    return web.Response(status=202)
