"""The sources of COPY and ADD; ADD <url> is fetched at every build (its bytes are part of
the cache key).

As in Docker, the file is stored with mode 0600 under the URL path's last component (when the
destination is a directory) and the modification time the server announces; it is never
unpacked, even when it is an archive.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import posixpath
import urllib.parse

import aiohttp

from services.engine.build.copying import Source, expand_globs
from services.engine.build.dockerfile import Instruction
from services.engine.build.tree import Tree
from services.engine.build.words import Expander
from services.kit import errors

LIMIT = 1 << 30
TIMEOUT = aiohttp.ClientTimeout(total=600, sock_connect=30)


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def file_name(url: str) -> str:
    path = urllib.parse.urlparse(url).path
    name = posixpath.basename(path.rstrip("/"))
    if not name:
        raise errors.InvalidArgument(
            f"cannot determine a filename from url: {url}", reason="BUILD_URL_INVALID"
        )
    return name


async def download(url: str) -> tuple[bytes, int]:
    """The body and the Last-Modified time (0 if none) of ``url``."""
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                raise errors.FailedPrecondition(
                    f"failed to GET {url} with status {response.status} {response.reason}",
                    reason="BUILD_URL_FAILED",
                )
            data = bytearray()
            async for chunk in response.content.iter_chunked(1 << 20):
                data += chunk
                if len(data) > LIMIT:
                    raise errors.ResourceExhausted(f"{url} is larger than {LIMIT} bytes")
            modified = response.headers.get("Last-Modified", "")
    except aiohttp.ClientError as exc:
        raise errors.FailedPrecondition(
            f"failed to GET {url}: {exc}", reason="BUILD_URL_FAILED"
        ) from exc
    when = 0
    if modified:
        try:
            when = int(email.utils.parsedate_to_datetime(modified).timestamp())
        except (TypeError, ValueError):
            when = 0
    return bytes(data), when


def check(url: str, data: bytes, expected: str) -> None:
    """ADD --checksum=sha256:<hex>: the fetched bytes must have that digest."""
    if not expected:
        return
    algorithm, _, hexdigest = expected.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64:
        raise errors.InvalidArgument(f"invalid checksum {expected!r}: use sha256:<64 hex digits>")
    got = hashlib.sha256(data).hexdigest()
    if got != hexdigest.lower():
        raise errors.InvalidArgument(
            f"digest mismatch for {url}: expected {expected}, got sha256:{got}",
            reason="DIGEST_MISMATCH",
        )


async def sources(
    instruction: Instruction, expander: Expander, tree: Tree, names: list[str], *, add: bool
) -> list[Source]:
    """What COPY or ADD names: here-documents, (ADD) URLs fetched now, else paths and globs of
    ``tree``."""
    heredocs = {d.name: d for d in instruction.heredocs}
    out: list[Source] = []
    for name in names:
        doc = heredocs.get(name.lstrip("<-").strip("\"'")) if name.startswith("<<") else None
        if doc is not None:
            content = expander.text(doc.content) if doc.expand else doc.content
            out.append(Source(doc.name, data=content.encode()))
        elif add and is_url(name):
            data, mtime = await download(name)
            check(name, data, instruction.flag("checksum"))
            out.append(Source(file_name(name), data=data, mtime=mtime, mode=0o600))
        else:
            found = await asyncio.to_thread(expand_globs, tree, name)
            out += [Source(path, tree) for path in found]
    return out
