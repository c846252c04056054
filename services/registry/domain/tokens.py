"""Signed tokens (JWT, RFC 7519) of the Docker token protocol, with rotating HMAC keys.

The registry issues tokens and is the only one that checks them, so HMAC-SHA256 (HS256) with a
secret that never leaves the process and registry.db suffices. Each key has an id (``kid`` in
the JWT header). Rotation adds a key that signs from then on and retires the previous one,
which keeps verifying until every token it signed has expired; so tokens in flight survive a
rotation. Access tokens (``use`` = ``access``) carry the granted ``access`` list exactly as
the Docker token specification lays it out; refresh tokens (``use`` = ``refresh``) only say who
they belong to, and are traded at the token endpoint for access tokens.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from services.kit import errors
from services.registry.domain.access_models import SigningKey

ACCESS, REFRESH = "access", "refresh"
_VERIFIED_LIMIT = 10_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_invalid(why: str) -> errors.Unauthenticated:
    return errors.Unauthenticated(f"the token is not valid: {why}", reason="UNAUTHORIZED")


def new_key(now: float) -> SigningKey:
    return SigningKey(
        kid=secrets.token_hex(8), secret=secrets.token_bytes(32), created_at=now, retired_at=0.0
    )


@dataclasses.dataclass(frozen=True)
class Claims:
    """What a verified token says."""

    subject: str
    kind: str
    """"user", "robot" or "anonymous": whose name ``subject`` is."""
    use: str
    issued_at: float
    expires_at: float
    access: Mapping[tuple[str, str], frozenset[str]]
    """(type, name) → actions granted"""


class KeyRing:
    """The signing keys: the newest unretired one signs, any known one verifies."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.replace(keys)

    def replace(self, keys: list[SigningKey]) -> None:
        self._keys = {k.kid: k for k in keys}
        signing = [k for k in keys if not k.retired_at]
        self.current = max(signing, key=lambda k: k.created_at) if signing else None
        self._verified: dict[tuple[str, str, str], Claims] = {}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.current
        if key is None:
            raise errors.Unavailable("no signing key", reason="UNAVAILABLE")
        header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
        head = _b64(json.dumps(header, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(key.secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(signature)}"

    def verify(self, token: str, *, audience: str, issuer: str, now: float) -> Claims:
        """The claims of a token this registry signed and that has not expired."""
        key = (token, audience, issuer)
        claims = self._verified.get(key)
        if claims is None:
            claims = self._check(token, audience, issuer)
            if len(self._verified) >= _VERIFIED_LIMIT:
                self._verified.clear()
            self._verified[key] = claims
        if now >= claims.expires_at:
            raise token_invalid("it has expired")
        if now < claims.issued_at - 60:
            raise token_invalid("it is not valid yet")
        return claims

    def _check(self, token: str, audience: str, issuer: str) -> Claims:
        parts = token.split(".")
        if len(parts) != 3:
            raise token_invalid("not a JWT")
        try:
            header = json.loads(_unb64(parts[0]))
            payload = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except ValueError as exc:
            raise token_invalid("not a JWT") from exc
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise token_invalid("unsupported signing algorithm")
        key = self._keys.get(str(header.get("kid", "")))
        if key is None:
            raise token_invalid("signed with an unknown key")
        expected = hmac.new(key.secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.digest(), signature):
            raise token_invalid("bad signature")
        if not isinstance(payload, dict):
            raise token_invalid("its claims are not an object")
        if payload.get("aud") != audience or payload.get("iss") != issuer:
            raise token_invalid("issued for another service")
        try:
            access: dict[tuple[str, str], frozenset[str]] = {}
            for entry in payload.get("access", []):
                key_ = (str(entry["type"]), str(entry["name"]))
                access[key_] = access.get(key_, frozenset()) | frozenset(entry["actions"])
            return Claims(
                subject=str(payload.get("sub", "")),
                kind=str(payload["kind"]),
                use=str(payload["use"]),
                issued_at=float(payload["iat"]),
                expires_at=float(payload["exp"]),
                access=access,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise token_invalid("its claims are malformed") from exc
