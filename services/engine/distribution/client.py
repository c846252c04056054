"""HTTP calls of the OCI Distribution API, with authentication, plain HTTP where allowed, and
foreign errors translated once, here, into ``services.kit.errors``.

``Registries`` owns the aiohttp session and the policy (which registries may be spoken to over
plain HTTP); ``Registries.open`` pings a registry, authenticates for one repository and returns a
``Repository`` whose methods are the protocol's operations. Blob bodies stream through: a
download goes chunk by chunk to a sink, an upload comes from an async iterator.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import yarl

from services.engine.content import mediatypes as mt
from services.engine.content.manifest import MAX_MANIFEST_SIZE
from services.engine.distribution.auth import Challenge, Credentials, fetch_token, parse_challenges
from services.kit import errors

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
Sink = Callable[[bytes], Awaitable[None]]


class Registries:
    """Every registry the engine talks to, through one HTTP session."""

    def __init__(self, insecure: Sequence[str], *, user_agent: str = "estiba-engine") -> None:
        self._insecure_nets = []
        self._insecure_hosts = set()
        for item in insecure:
            try:
                self._insecure_nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self._insecure_hosts.add(item.lower())
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=30, sock_read=120),
                headers={"User-Agent": self._user_agent},
                trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def insecure(self, registry: str) -> bool:
        """May ``registry`` (``host[:port]``) be spoken to over plain HTTP?"""
        if registry.lower() in self._insecure_hosts:
            return True
        host = yarl.URL(f"//{registry}").host or registry
        if host.lower() in self._insecure_hosts:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self._insecure_nets)

    async def open(
        self, registry: str, repository: str, creds: Credentials, *, push: bool = False
    ) -> Repository:
        """Reach ``registry`` and authenticate for ``repository`` (pull, or pull and push)."""
        host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
        repo = Repository(self.session(), registry, host, repository, creds, push=push)
        await repo.ping(plain_http_allowed=self.insecure(registry))
        return repo


async def login(registries: Registries, registry: str, creds: Credentials) -> None:
    """Check ``creds`` against ``registry`` as docker login does; Unauthenticated if refused.

    GET /v2/; a Bearer challenge is answered by asking its token service for a token with no
    scope (an account token); a Basic one by repeating the request with the credentials.
    """
    host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
    plain = registries.insecure(registry)
    session = registries.session()
    status, header, base = 0, "", ""
    for scheme in ["https", "http"] if plain else ["https"]:
        base = f"{scheme}://{host}/v2/"
        try:
            async with session.get(base, ssl=not plain) as resp:
                status, header = resp.status, resp.headers.get("WWW-Authenticate", "")
            break
        except (TimeoutError, aiohttp.ClientError) as exc:
            if scheme == "http" or not plain:
                raise unreachable(registry, exc) from exc
    if status == 200:
        return  # the registry asks for no credentials at all
    for challenge in parse_challenges(header):
        if challenge.scheme == "bearer":
            await fetch_token(session, challenge, [], creds, registry=registry, verify=not plain)
            return
        if challenge.scheme == "basic":
            try:
                async with session.get(
                    base, ssl=not plain, headers={"Authorization": creds.basic_header()}
                ) as resp:
                    ok = resp.status == 200
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise unreachable(registry, exc) from exc
            if not ok:
                raise errors.Unauthenticated(
                    f"{registry}: the credentials were refused", reason="REGISTRY_UNAUTHORIZED"
                )
            return
    raise errors.Unavailable(f"{registry} answered GET /v2/ with {status}", reason="REGISTRY_ERROR")


class Repository:
    """One repository of one registry, authenticated."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        registry: str,
        host: str,
        name: str,
        creds: Credentials,
        *,
        push: bool,
    ) -> None:
        self._session = session
        self.registry = registry
        self.name = name
        self._host = host
        self._creds = creds
        self._base = yarl.URL(f"https://{host}")
        self._actions = "pull,push" if push else "pull"
        self._auth: dict[str, str] = {}
        self._verify = True
        if creds.registry_token:
            self._auth = {"Authorization": f"Bearer {creds.registry_token}"}

    # -- connection and authentication ----------------------------------------------------

    async def ping(self, *, plain_http_allowed: bool) -> None:
        """GET /v2/ over HTTPS (or plain HTTP where allowed) and answer its challenge."""
        schemes = ["https", "http"] if plain_http_allowed else ["https"]
        self._verify = not plain_http_allowed
        for i, scheme in enumerate(schemes):
            self._base = yarl.URL(f"{scheme}://{self._host}")
            try:
                async with self._session.get(
                    self._base / "v2/",
                    headers=self._auth,
                    ssl=not plain_http_allowed,
                ) as resp:
                    status, header = resp.status, resp.headers.get("WWW-Authenticate", "")
                break
            except (TimeoutError, aiohttp.ClientError) as exc:
                if i + 1 < len(schemes):
                    continue
                raise unreachable(self.registry, exc) from exc
        if status == 401:
            await self._answer(parse_challenges(header), [])
        elif status != 200:
            raise errors.Unavailable(
                f"{self.registry} does not speak the registry API (GET /v2/ answered {status})",
                reason="REGISTRY_ERROR",
            )

    async def _answer(self, challenges: list[Challenge], extra_scopes: list[str]) -> None:
        for ch in challenges:
            if ch.scheme == "bearer":
                scopes = [f"repository:{self.name}:{self._actions}", *extra_scopes]
                token = await fetch_token(
                    self._session, ch, scopes, self._creds, registry=self.registry,
                    verify=self._verify,
                )  # fmt: skip
                self._auth = {"Authorization": f"Bearer {token.value}"}
                return
            if ch.scheme == "basic":
                if not self._creds.username:
                    raise errors.Unauthenticated(
                        f"{self.registry} requires a user name and password",
                        reason="REGISTRY_UNAUTHORIZED",
                    )
                self._auth = {"Authorization": self._creds.basic_header()}
                return
        raise errors.Unauthenticated(
            f"{self.registry} asks for an authentication scheme estiba does not speak",
            reason="REGISTRY_UNAUTHORIZED",
        )

    async def request(
        self,
        method: str,
        url: yarl.URL | str,
        *,
        headers: dict[str, str] | None = None,
        data: Any = None,
        extra_scopes: list[str] | None = None,
    ) -> aiohttp.ClientResponse:
        """Send one request; a 401 is answered once (with a fresh token) if the body allows."""
        target = url if isinstance(url, yarl.URL) else self._base.join(yarl.URL(url))
        replayable = data is None or isinstance(data, bytes)
        for attempt in range(2):
            try:
                resp = await self._session.request(
                    method,
                    target,
                    headers={**(headers or {}), **self._auth},
                    data=data,
                    ssl=self._verify,
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise unreachable(self.registry, exc) from exc
            if resp.status != 401 or attempt or not replayable:
                return resp
            challenges = parse_challenges(resp.headers.get("WWW-Authenticate", ""))
            resp.release()
            await self._answer(challenges, extra_scopes or [])
        raise AssertionError("unreachable")

    def url(self, *parts: str) -> yarl.URL:
        return self._base.join(yarl.URL(f"/v2/{self.name}/")).joinpath(*parts, encoded=False)

    # -- manifests ------------------------------------------------------------------------

    async def get_manifest(self, reference: str) -> tuple[str, bytes, str]:
        """(media type, bytes, Docker-Content-Digest header or "") of a manifest or index."""
        accept = {"Accept": ", ".join(mt.ACCEPT)}
        resp = await self.request("GET", self.url("manifests", reference), headers=accept)
        async with resp:
            if resp.status != 200:
                raise await status_error(resp, f"manifest {self.name}:{reference}")
            data = await read_limited(resp, MAX_MANIFEST_SIZE)
            return (
                resp.headers.get("Content-Type", ""),
                data,
                resp.headers.get("Docker-Content-Digest", ""),
            )

    async def put_manifest(self, reference: str, media_type: str, data: bytes) -> str:
        """Upload a manifest under a tag (or digest); returns the digest the registry reports."""
        resp = await self.request(
            "PUT",
            self.url("manifests", reference),
            headers={"Content-Type": media_type},
            data=data,
        )
        async with resp:
            if resp.status not in (200, 201):
                raise await status_error(resp, f"manifest {self.name}:{reference}")
            return resp.headers.get("Docker-Content-Digest", "")

    # -- blobs ----------------------------------------------------------------------------

    async def fetch_blob(self, digest: str, sink: Sink, chunk: int = 1 << 16) -> None:
        """Stream a blob's bytes into ``sink``; the caller verifies them."""
        resp = await self.request("GET", self.url("blobs", digest))
        async with resp:
            if resp.status != 200:
                raise await status_error(resp, f"blob {digest}")
            try:
                async for data in resp.content.iter_chunked(chunk):
                    await sink(data)
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise unreachable(self.registry, exc) from exc

    async def blob_size(self, digest: str) -> int | None:
        """The size of a blob the repository holds, or None if it does not hold it."""
        resp = await self.request("HEAD", self.url("blobs", digest))
        async with resp:
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise await status_error(resp, f"blob {digest}")
            return int(resp.headers.get("Content-Length", "0"))

    async def mount_blob(self, digest: str, source: str) -> bool:
        """Ask for a cross-repository mount of ``digest`` from ``source``; True if it worked."""
        url = self.url("blobs", "uploads/").with_query(mount=digest, **{"from": source})
        resp = await self.request(
            "POST", url, extra_scopes=[f"repository:{source}:pull"], headers={"Content-Length": "0"}
        )
        async with resp:
            if resp.status == 201:
                return True
            if resp.status == 202:  # the registry opened an upload instead; leave it to expire
                return False
            raise await status_error(resp, f"blob {digest}")

    async def upload_blob(self, digest: str, size: int, body: AsyncIterable[bytes]) -> None:
        """POST an upload session, then PUT the whole blob into it (OCI "monolithic" push)."""
        resp = await self.request("POST", self.url("blobs", "uploads/"))
        async with resp:
            if resp.status != 202 or "Location" not in resp.headers:
                raise await status_error(resp, f"upload of blob {digest}")
            location = self._base.join(yarl.URL(resp.headers["Location"]))
        target = location.update_query(digest=digest)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        resp = await self.request("PUT", target, headers=headers, data=body)
        async with resp:
            if resp.status != 201:
                raise await status_error(resp, f"upload of blob {digest}")


def unreachable(registry: str, exc: BaseException) -> errors.EstibaError:
    if isinstance(exc, asyncio.TimeoutError):
        return errors.DeadlineExceeded(f"registry {registry} did not answer in time")
    return errors.Unavailable(
        f"cannot reach registry {registry}: {exc}", reason="REGISTRY_UNREACHABLE"
    )


async def read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    async for data in resp.content.iter_chunked(1 << 16):
        total += len(data)
        if total > limit:
            raise errors.InvalidArgument(
                f"the registry sent more than {limit} bytes where a manifest was expected",
                reason="MANIFEST_INVALID",
            )
        parts.append(data)
    return b"".join(parts)


async def status_error(resp: aiohttp.ClientResponse, what: str) -> errors.EstibaError:
    """The estiba error for a registry's error answer, with the registry's own message."""
    detail = ""
    code = ""
    try:
        body = json.loads(await resp.content.read(1 << 16) or b"{}")
        first = body["errors"][0]
        code, detail = str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, KeyError, IndexError, TypeError, aiohttp.ClientError):
        pass
    text = f"{what}: {detail or f'HTTP {resp.status}'}"
    status = resp.status
    if status == 401:
        return errors.Unauthenticated(text, reason="REGISTRY_UNAUTHORIZED")
    if status == 403:
        return errors.PermissionDenied(text, reason="REGISTRY_DENIED")
    if status == 404:
        return errors.NotFound(text, reason=code or "MANIFEST_UNKNOWN")
    if status == 429:
        return errors.ResourceExhausted(text, reason="TOOMANYREQUESTS")
    if status >= 500:
        return errors.Unavailable(text, reason="REGISTRY_ERROR")
    return errors.InvalidArgument(text, reason=code or "REGISTRY_REFUSED")
