"""What every route module shares: the services, request parsing helpers, response headers."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import AsyncIterator, Mapping

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from services.kit import errors
from services.registry.domain.accounts import AccessService
from services.registry.domain.blobs import BlobService
from services.registry.domain.manifests import ManifestService
from services.registry.domain.models import Page
from services.registry.domain.repositories import RepositoryService
from services.registry.domain.uploads import UploadService

# Bytes handed to the domain at a time while a request body streams in.
CHUNK = 1 << 20
DIGEST_HEADER = "Docker-Content-Digest"


@dataclasses.dataclass(frozen=True)
class Services:
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    repositories: RepositoryService
    access: AccessService


SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def name_of(request: web.Request) -> str:
    return request.match_info["name"]


def json_response(
    data: object,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(status=200, body=body, content_type=content_type, headers=headers)


def page_query(request: web.Request) -> tuple[int | None, str]:
    """``n`` and ``last`` of a paginated listing."""
    raw = request.query.get("n")
    n = None
    if raw is not None:
        if not raw.isdigit():
            raise errors.InvalidArgument(
                f"n must be a non-negative integer, not {raw[:20]!r}",
                reason="PAGINATION_NUMBER_INVALID",
            )
        n = int(raw)
    return n, request.query.get("last", "")


def link_header(path: str, page: Page, n: int | None) -> dict[str, str]:
    """``Link: <path?n=..&last=..>; rel="next"`` (RFC 5988) when another page exists."""
    if not page.more:
        return {}
    query = {"n": str(n if n is not None else len(page.items)), "last": page.last}
    return {"Link": f'<{path}?{urllib.parse.urlencode(query)}>; rel="next"'}


async def body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The request body in pieces of about ``CHUNK`` bytes, as it arrives.

    A body that ends before its Content-Length (the client went away) is SIZE_INVALID, a
    malformed chunked body BLOB_UPLOAD_INVALID; the domain then cuts the upload back to its
    last acknowledged size.
    """
    buffer = bytearray()
    try:
        async for data in request.content.iter_any():
            buffer += data
            if len(buffer) >= CHUNK:
                yield bytes(buffer)
                buffer.clear()
    except ConnectionError as exc:
        raise errors.InvalidArgument(
            f"the request body ended early: {exc}", reason="SIZE_INVALID"
        ) from exc
    except HttpProcessingError as exc:
        raise errors.InvalidArgument(
            f"the request body is malformed: {exc.message}", reason="BLOB_UPLOAD_INVALID"
        ) from exc
    if buffer:
        yield bytes(buffer)


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """The whole (small) body, refused with 413 once it grows past ``limit`` bytes."""
    too_large = errors.InvalidArgument(
        f"the body is larger than the limit of {limit} bytes", reason="MANIFEST_TOO_LARGE"
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    async for chunk in body_chunks(request):
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)
