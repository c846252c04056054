"""Blob upload sessions: start, append chunks in order, report progress, verify and commit, cancel.

A session's state lives in the database (its acknowledged size and expiry) and in its data file,
so the registry can restart in the middle of an upload and the client resume it. Each chunk is
all or nothing: when a request fails half-way, the file is cut back to the size last
acknowledged. Bytes are hashed (sha256) while they are written, in a worker thread, one chunk
while the next arrives; a digest of another algorithm, or a session resumed after a restart, is
verified by hashing the file again. A wrong digest ends the session and stores nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import uuid
from collections.abc import AsyncIterator

from services.kit import errors
from services.registry.domain.blobs import BlobService
from services.registry.domain.digest import CANONICAL, Digest, Hasher
from services.registry.domain.models import BlobInfo, UploadSession
from services.registry.domain.names import validate_name
from services.registry.domain.ports import ContentStore, Metadata, UploadFile
from services.registry.domain.quotas import QuotaExceeded
from services.registry.domain.rules import Rules

Chunks = AsyncIterator[bytes]
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class UploadOutOfOrder(errors.OutOfRange):
    """A chunk that does not start where the upload ends; carries the session to report."""

    def __init__(self, session: UploadSession, start: int) -> None:
        super().__init__(
            f"chunk starts at byte {start}, but the upload has {session.size} bytes",
            reason="RANGE_INVALID",
        )
        self.session = session


def upload_unknown(upload_id: str) -> errors.NotFound:
    shown = upload_id if len(upload_id) <= 64 else upload_id[:61] + "..."
    return errors.NotFound(
        f"upload {shown!r} is unknown, finished, cancelled or expired",
        reason="BLOB_UPLOAD_UNKNOWN",
    )


def size_invalid(message: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(message, reason="SIZE_INVALID")


class UploadService:
    def __init__(
        self, meta: Metadata, content: ContentStore, blobs: BlobService, rules: Rules
    ) -> None:
        self._meta = meta
        self._content = content
        self._blobs = blobs
        self._rules = rules
        self._hashers: dict[str, Hasher] = {}
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    def active(self) -> frozenset[str]:
        """Upload ids with a request in progress; garbage collection leaves them alone."""
        return frozenset(self._locks)

    async def start(self, name: str) -> UploadSession:
        """Open a session in repository ``name``; TOOMANYREQUESTS past the configured limit."""
        validate_name(name)
        self._rules.check_writable()
        now = self._rules.clock()
        ttl = self._rules.upload_ttl
        session = UploadSession(uuid.uuid4().hex, name, 0, now, now, now + ttl)
        await self._content.create_upload(session.id)
        try:
            async with self._meta.write() as tx:
                if await tx.count_uploads(now) >= self._rules.max_uploads:
                    raise errors.ResourceExhausted(
                        f"{self._rules.max_uploads} uploads are in progress; retry later",
                        reason="TOOMANYREQUESTS",
                    )
                await tx.add_upload(session)
        except BaseException:
            await self._content.remove_upload(session.id)
            raise
        self._hashers[session.id] = Hasher(CANONICAL)
        return session

    async def status(self, name: str, upload_id: str) -> UploadSession:
        return await self._session(name, upload_id)

    async def append(
        self, name: str, upload_id: str, chunks: Chunks, *, start: int | None, length: int | None
    ) -> UploadSession:
        """Add a chunk; ``start`` (from Content-Range) must be the current size, else 416."""
        self._rules.check_writable()
        async with self._locked(upload_id):
            session = await self._session(name, upload_id)
            return await self._append(session, chunks, start, length)

    async def complete(
        self,
        name: str,
        upload_id: str,
        digest: str,
        chunks: Chunks,
        *,
        start: int | None,
        length: int | None,
    ) -> BlobInfo:
        """Add the last chunk (maybe empty), check the digest, and commit the blob."""
        self._rules.check_writable()
        wanted = Digest.parse(digest)
        async with self._locked(upload_id):
            session = await self._session(name, upload_id)
            session = await self._append(session, chunks, start, length)
            try:
                await self._verify(session, wanted)
            except errors.EstibaError:
                await self._discard(session.id)
                raise
            try:
                info = await self._blobs.commit(session, wanted)
            except QuotaExceeded:
                await self._discard(session.id)
                raise
            self._hashers.pop(session.id, None)
            return info

    async def monolithic(self, name: str, digest: str, chunks: Chunks) -> BlobInfo:
        """A whole blob in one request (POST ?digest= with a body)."""
        Digest.parse(digest)
        session = await self.start(name)
        try:
            return await self.complete(name, session.id, digest, chunks, start=None, length=None)
        except BaseException:
            await self._discard(session.id)
            raise

    async def cancel(self, name: str, upload_id: str) -> None:
        async with self._locked(upload_id):
            session = await self._session(name, upload_id)
            await self._discard(session.id)

    async def sessions(self, repository: str | None) -> list[UploadSession]:
        """Sessions not yet expired, oldest first; all repositories when ``repository`` is None."""
        if repository is not None:
            validate_name(repository)
        now = self._rules.clock()
        async with self._meta.read() as tx:
            sessions = await tx.list_uploads(repository)
        return [s for s in sessions if s.expires_at > now]

    async def abort(self, upload_id: str) -> UploadSession:
        """End a session of any repository (administration)."""
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise upload_unknown(upload_id)
        async with self._locked(upload_id):
            async with self._meta.read() as tx:
                session = await tx.upload(upload_id)
            if session is None:
                raise upload_unknown(upload_id)
            await self._discard(session.id)
            return session

    async def expired(self, now: float) -> list[UploadSession]:
        """Sessions past their expiry with no request in progress."""
        async with self._meta.read() as tx:
            sessions = await tx.list_uploads(None)
        active = self.active()
        return [s for s in sessions if s.expires_at <= now and s.id not in active]

    async def discard(self, upload_id: str) -> bool:
        """Remove a session and its data unless a request is using it (garbage collection)."""
        if upload_id in self._locks:
            return False
        async with self._locked(upload_id):
            await self._discard(upload_id)
        return True

    async def _discard(self, upload_id: str) -> None:
        async with self._meta.write() as tx:
            await tx.delete_upload(upload_id)
        await self._content.remove_upload(upload_id)
        self._hashers.pop(upload_id, None)

    async def _session(self, name: str, upload_id: str) -> UploadSession:
        validate_name(name)
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise upload_unknown(upload_id)
        async with self._meta.read() as tx:
            session = await tx.upload(upload_id)
        if session is None or session.repository != name:
            raise upload_unknown(upload_id)
        if session.expires_at <= self._rules.clock():
            raise upload_unknown(upload_id)
        return session

    async def _append(
        self, session: UploadSession, chunks: Chunks, start: int | None, length: int | None
    ) -> UploadSession:
        if start is not None and start != session.size:
            raise UploadOutOfOrder(session, start)
        hasher = self._hashers.get(session.id)
        if hasher is not None and hasher.size != session.size:
            hasher = None
        if hasher is None and session.size == 0:
            hasher = Hasher(CANONICAL)
        try:
            file = await self._content.open_upload(session.id, session.size)
        except errors.EstibaError:
            await self._discard(session.id)  # its data is gone: it can never complete
            raise
        try:
            written = await _pump(chunks, file, hasher, length)
        except BaseException:
            self._hashers.pop(session.id, None)
            await asyncio.to_thread(file.truncate, session.size)
            raise
        finally:
            await asyncio.to_thread(file.close)
        if hasher is None:
            self._hashers.pop(session.id, None)
        else:
            self._hashers[session.id] = hasher
        if written == 0:
            return session
        now = self._rules.clock()
        expires = now + self._rules.upload_ttl
        updated = dataclasses.replace(
            session, size=session.size + written, updated_at=now, expires_at=expires
        )
        async with self._meta.write() as tx:
            await tx.update_upload(updated)
        return updated

    async def _verify(self, session: UploadSession, wanted: Digest) -> None:
        hasher = self._hashers.get(session.id)
        if hasher is None or hasher.algorithm != wanted.algorithm or hasher.size != session.size:
            hasher = await self._content.hash_upload(session.id, wanted.algorithm)
        if hasher.size != session.size:
            raise errors.InvalidArgument(
                f"upload data holds {hasher.size} of {session.size} bytes; upload the blob again",
                reason="BLOB_UPLOAD_INVALID",
            )
        actual = hasher.digest()
        if actual != wanted:
            raise errors.InvalidArgument(
                f"the uploaded {session.size} bytes have digest {actual}, not {wanted}",
                reason="DIGEST_INVALID",
            )

    @contextlib.asynccontextmanager
    async def _locked(self, upload_id: str) -> AsyncIterator[None]:
        """Serialize requests on one upload id (a client retrying while a chunk is in flight)."""
        entry = self._locks.get(upload_id)
        if entry is None:
            entry = self._locks[upload_id] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[upload_id]


async def _pump(chunks: Chunks, file: UploadFile, hasher: Hasher | None, length: int | None) -> int:
    """Write ``chunks`` to ``file`` in a worker thread, one chunk while the next arrives."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    total = 0
    try:
        async for chunk in chunks:
            total += len(chunk)
            if length is not None and total > length:
                raise size_invalid(f"the chunk is longer than the {length} bytes announced")
            if pending is not None:
                await asyncio.shield(pending)
            pending = loop.run_in_executor(None, file.write, chunk, hasher)
        if pending is not None:
            await asyncio.shield(pending)
    finally:
        if pending is not None:
            if not pending.done():
                await asyncio.wait([pending])  # never cut or close the file under a write
            if not pending.cancelled():
                pending.exception()  # a write that failed after the body did is not news
    if length is not None and total != length:
        raise size_invalid(f"the chunk has {total} bytes, not the {length} announced")
    return total
