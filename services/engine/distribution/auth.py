"""Registry authentication: WWW-Authenticate challenges, Docker token flow, Basic.

A registry answers an unauthenticated request with 401 and a challenge. For ``Bearer`` the
client asks the challenge's ``realm`` for a token with the ``service`` and ``scope``
(``repository:<name>:pull,push``) as query parameters, sending Basic credentials if it has any
(anonymous tokens are how public images are pulled), then repeats the request with
``Authorization: Bearer <token>``. For ``Basic`` it simply sends the credentials.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import time
from typing import Any

import aiohttp

from services.kit import errors

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf"\s*({_TOKEN})\s*=\s*(?:\"((?:[^\"\\]|\\.)*)\"|({_TOKEN}))\s*,?")
_SCHEME = re.compile(rf"\s*,?\s*({_TOKEN})(?:\s+|$)")


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What a caller gives to log in to a registry; all empty means anonymous."""

    username: str = ""
    password: str = ""
    registry_token: str = ""
    """A bearer token obtained elsewhere, sent as is (Docker's ``registrytoken``)."""

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclasses.dataclass(frozen=True)
class Challenge:
    scheme: str
    """Lower case: "bearer" or "basic"."""
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """The challenges of one WWW-Authenticate header value (RFC 9110 §11.6.1)."""
    out: list[Challenge] = []
    pos = 0
    while pos < len(header):
        m = _SCHEME.match(header, pos)
        if m is None or not m.group(1):
            break
        scheme, pos = m.group(1).lower(), m.end()
        params: dict[str, str] = {}
        while pos < len(header):
            p = _PARAM.match(header, pos)
            if p is None:
                break
            value = p.group(2) if p.group(2) is not None else p.group(3)
            params[p.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            pos = p.end()
        out.append(Challenge(scheme, params))
    return out


@dataclasses.dataclass
class Token:
    value: str
    expires_at: float

    @property
    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at - 5


async def fetch_token(
    session: aiohttp.ClientSession,
    challenge: Challenge,
    scopes: list[str],
    creds: Credentials,
    *,
    registry: str,
    verify: bool = True,
) -> Token:
    """Ask the challenge's realm for a bearer token covering ``scopes``.

    ``verify`` False skips checking the realm's TLS certificate, as for the registry itself
    when it is an insecure registry (a self-signed certificate on a private network).
    """
    realm = challenge.params.get("realm", "")
    if not realm.startswith(("https://", "http://")):
        raise errors.Unavailable(
            f"registry {registry} sent a token realm that is not an HTTP URL: {realm!r}",
            reason="REGISTRY_AUTH_INVALID",
        )
    query = [("scope", s) for s in scopes]
    if challenge.params.get("service"):
        query.insert(0, ("service", challenge.params["service"]))
    headers = {}
    if creds.username:
        headers["Authorization"] = creds.basic_header()
    try:
        async with session.get(realm, params=query, headers=headers, ssl=verify) as resp:
            if resp.status in (401, 403):
                raise errors.Unauthenticated(
                    f"{registry}: the token service refused "
                    + ("the credentials" if creds.username else "anonymous access"),
                    reason="REGISTRY_UNAUTHORIZED",
                )
            if resp.status != 200:
                raise errors.Unavailable(
                    f"{registry}: the token service at {realm} answered HTTP {resp.status}",
                    reason="REGISTRY_AUTH_FAILED",
                )
            body: Any = await resp.json(content_type=None)
    except aiohttp.ClientError as exc:
        raise errors.Unavailable(
            f"{registry}: cannot reach the token service at {realm}: {exc}",
            reason="REGISTRY_UNREACHABLE",
        ) from exc
    except ValueError as exc:
        raise errors.Unavailable(
            f"{registry}: the token service sent something that is not JSON",
            reason="REGISTRY_AUTH_FAILED",
        ) from exc
    value = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise errors.Unavailable(
            f"{registry}: the token service's answer holds no token", reason="REGISTRY_AUTH_FAILED"
        )
    lifetime = body.get("expires_in")
    seconds = lifetime if isinstance(lifetime, int) and lifetime > 0 else 60
    return Token(value, time.monotonic() + seconds)
