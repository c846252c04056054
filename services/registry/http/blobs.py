"""``/v2/<name>/blobs/<digest>``: fetch (with byte ranges), check and delete blobs.

A blob file is streamed in pieces of ``PIECE`` bytes, read in a worker thread one piece ahead
of the one being written, so a pull holds two pieces in memory whatever the blob's size. Plain
writes rather than sendfile: measured with skopeo pulling a 256 MiB layer here, sendfile's
bursts (over a MiB per call, whenever the socket drains) made the pull about 15% slower than
256 KiB writes, which also beat distribution's 32 KiB ones; the copy costs some CPU, well
within the budget (see bench/registry).

One ``bytes=`` range is served with 206 (an end past the blob is cut to its last byte). A Range
the blob cannot satisfy (``bytes=500-0``, a start past the end) or that is not one ``bytes=``
range is answered 416 with ``Content-Range: bytes */<size>`` and the RANGE_INVALID envelope.
A blob never changes, so its digest is its ETag: ``If-None-Match`` with it is answered 304.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import BinaryIO

from aiohttp import hdrs, web

from services.kit import errors
from services.registry.domain.blobs import BlobContent
from services.registry.http.context import DIGEST_HEADER, name_of, services
from services.registry.http.errors import error_response

routes = web.RouteTableDef()
PATH = "/v2/{name:.+}/blobs/{digest}"

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
PIECE = 256 * 1024
CACHE_FOREVER = "max-age=31536000"


class RangeNotSatisfiable(errors.OutOfRange):
    def __init__(self, value: str, size: int) -> None:
        super().__init__(
            f"range {value[:60]!r} cannot be satisfied by a blob of {size} bytes",
            reason="RANGE_INVALID",
        )
        self.size = size


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` bytes asked for, or None for the whole blob."""
    if value is None:
        return None
    match = _RANGE.fullmatch(value.strip())
    if match is None or (not match[1] and not match[2]):
        raise RangeNotSatisfiable(value, size)
    first, last = match[1], match[2]
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(value, size)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start > end or start >= size:
        raise RangeNotSatisfiable(value, size)
    return start, min(end, size - 1)


@routes.get(PATH)  # and HEAD, which aiohttp routes to the same handler
async def get_blob(request: web.Request) -> web.StreamResponse:
    """Send a blob, or only its headers for HEAD; 206 for a satisfiable Range."""
    blob = await services(request).blobs.stat(name_of(request), request.match_info["digest"])
    size = blob.info.size
    etag = f'"{blob.info.digest}"'
    headers = {
        DIGEST_HEADER: str(blob.info.digest),
        hdrs.ACCEPT_RANGES: "bytes",
        hdrs.CONTENT_TYPE: blob.media_type,
        hdrs.ETAG: etag,
        hdrs.CACHE_CONTROL: CACHE_FOREVER,
    }
    if request.headers.get(hdrs.IF_NONE_MATCH, "").strip() == etag:
        return web.Response(status=304, headers=headers)
    try:
        wanted = parse_range(request.headers.get(hdrs.RANGE), size)
    except RangeNotSatisfiable as exc:
        return error_response(exc, headers={hdrs.CONTENT_RANGE: f"bytes */{size}"})
    if request.method == "HEAD":
        return _head(headers, size, wanted)
    if blob.data is not None:
        return _from_memory(blob, headers, wanted)
    assert blob.path is not None
    return await _from_file(request, blob.path, size, headers, wanted)


async def _from_file(
    request: web.Request,
    path: Path,
    size: int,
    headers: dict[str, str],
    wanted: tuple[int, int] | None,
) -> web.StreamResponse:
    first, last = wanted if wanted is not None else (0, size - 1)
    if wanted is not None:
        headers[hdrs.CONTENT_RANGE] = f"bytes {first}-{last}/{size}"
    response = web.StreamResponse(status=200 if wanted is None else 206, headers=headers)
    response.content_length = last - first + 1
    loop = asyncio.get_running_loop()
    handle = await loop.run_in_executor(None, _open_at, path, first)
    left = last - first + 1
    pending: asyncio.Future[bytes] | None = None
    try:
        await response.prepare(request)
        if left:
            pending = loop.run_in_executor(None, handle.read, min(PIECE, left))
        while pending is not None:
            piece = await pending
            pending = None
            if not piece:  # shorter than its record: all a client can be told is a short body
                raise OSError(f"blob file {path} ended {left} bytes early")
            left -= len(piece)
            if left:  # read the next piece while this one is written
                pending = loop.run_in_executor(None, handle.read, min(PIECE, left))
            await response.write(piece)
    finally:
        if pending is not None:  # the client went away: let the read end before closing
            with contextlib.suppress(BaseException):
                await pending
        await loop.run_in_executor(None, handle.close)
    await response.write_eof()
    return response


def _open_at(path: Path, offset: int) -> BinaryIO:
    handle = path.open("rb")
    handle.seek(offset)
    return handle


def _head(headers: dict[str, str], size: int, wanted: tuple[int, int] | None) -> web.Response:
    if wanted is None:
        headers[hdrs.CONTENT_LENGTH] = str(size)
        return web.Response(status=200, headers=headers)
    first, last = wanted
    headers[hdrs.CONTENT_LENGTH] = str(last - first + 1)
    headers[hdrs.CONTENT_RANGE] = f"bytes {first}-{last}/{size}"
    return web.Response(status=206, headers=headers)


def _from_memory(
    blob: BlobContent, headers: dict[str, str], wanted: tuple[int, int] | None
) -> web.Response:
    data = blob.data or b""
    if wanted is None:
        return web.Response(status=200, body=data, headers=headers)
    first, last = wanted
    headers[hdrs.CONTENT_RANGE] = f"bytes {first}-{last}/{len(data)}"
    return web.Response(status=206, body=data[first : last + 1], headers=headers)


@routes.delete(PATH)
async def delete_blob(request: web.Request) -> web.Response:
    """Remove the blob from the repository: 202."""
    await services(request).blobs.delete(name_of(request), request.match_info["digest"])
    return web.Response(status=202)
