"""Who is asking: passwords and robot secrets (Basic), access and refresh tokens (Bearer), and
the tokens the token endpoint hands out.

* ``login`` checks a user's password (scrypt, in a worker thread) or a robot's secret, behind
  the per-account and per-address throttle; a success is remembered for a minute (keyed by a
  hash of the credentials, forgotten when anything about access changes), so a client that
  sends Basic credentials with every request pays for scrypt once.
* ``issue`` signs an access token granting, for each scope asked, the actions asked that the
  principal holds: exactly those, possibly none.
* ``from_token`` verifies an access token and returns its principal, which must still exist
  and be usable (a revoked or expired robot, a deleted user, or a token older than the user's
  last password change is refused).
* Signing keys rotate every ``key_rotation`` seconds (checked when a token is issued) or on
  demand; retired keys verify until the longest-lived token they signed has expired.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import secrets
import time
from typing import Any

from services.kit import errors
from services.kit.log import get_logger
from services.registry.domain.access_models import (
    ROBOT_SEPARATOR,
    AuditEntry,
    Principal,
)
from services.registry.domain.accounts import AccessService, AccessState
from services.registry.domain.passwords import verify_password, verify_secret
from services.registry.domain.ports import Metadata
from services.registry.domain.rules import Clock
from services.registry.domain.scopes import REGISTRY, WILDCARD, Scope
from services.registry.domain.throttle import LoginThrottle
from services.registry.domain.tokens import ACCESS, REFRESH, Claims, KeyRing, new_key, token_invalid

log = get_logger()
LOGIN_CACHE_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class AuthSettings:
    service: str = "estiba-registry"
    """The ``service`` of challenges and the audience of tokens."""
    issuer: str = "estiba-registry"
    token_ttl: float = 300.0
    refresh_ttl: float = 7 * 86400.0
    key_rotation: float = 86400.0


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: float
    access: list[dict[str, Any]]
    refresh_token: str = ""


def bad_credentials() -> errors.Unauthenticated:
    return errors.Unauthenticated("the user name or password is wrong", reason="UNAUTHORIZED")


class Authenticator:
    def __init__(
        self,
        meta: Metadata,
        state: AccessState,
        accounts: AccessService,
        settings: AuthSettings,
        throttle: LoginThrottle,
        clock: Clock = time.time,
    ) -> None:
        self._meta = meta
        self._state = state
        self._accounts = accounts
        self.settings = settings
        self._throttle = throttle
        self._clock = clock
        self._keys = KeyRing([])
        self._logins: dict[bytes, tuple[str, str, float, object]] = {}
        self._rotating = asyncio.Lock()

    async def start(self) -> None:
        """Load the signing keys, making the first one if there is none."""
        async with self._meta.read() as tx:
            self._keys.replace(await tx.signing_keys())
        if self._keys.current is None:
            await self.rotate_key()

    # -- credentials --------------------------------------------------------------------------

    async def login(self, username: str, password: str, address: str) -> Principal:
        """The principal of a user name and password (or robot name and secret)."""
        perms = self._state.permissions
        key = hashlib.sha256(f"{username}\0{password}".encode()).digest()
        cached = self._logins.get(key)
        now = self._clock()
        if cached is not None and cached[3] is perms and cached[2] > now:
            found = perms.principal(cached[0], cached[1], now)
            if found is not None:
                return found
        self._throttle.check(username, address)
        kind = "robot" if ROBOT_SEPARATOR in username else "user"
        async with self._meta.read() as tx:
            if kind == "robot":
                stored = await tx.robot_secret_hash(username)
            else:
                stored = await tx.user_password_hash(username)
        if kind == "robot":
            ok = stored is not None and verify_secret(password, stored)
        else:
            ok = stored is not None and await asyncio.to_thread(verify_password, password, stored)
        principal = perms.principal(kind, username, now) if ok else None
        if principal is None:
            self._throttle.failed(username, address)
            await self._audit(username or "anonymous", "login", "failed", address)
            raise bad_credentials()
        self._throttle.succeeded(username)
        if len(self._logins) > 10_000:
            self._logins.clear()
        self._logins[key] = (kind, username, now + LOGIN_CACHE_SECONDS, perms)
        await self._audit(username, "login", "ok", address)
        return principal

    def from_token(self, token: str) -> tuple[Principal, Claims]:
        """The principal of a valid access token, and what the token grants."""
        return self._verified(token, ACCESS, "a refresh token is not an access token")

    async def from_refresh_token(self, token: str) -> Principal:
        return self._verified(token, REFRESH, "not a refresh token")[0]

    def _verified(self, token: str, use: str, wrong_use: str) -> tuple[Principal, Claims]:
        """A valid token of ``use`` and its principal, which must still be able to log in."""
        now = self._clock()
        claims = self._keys.verify(
            token, audience=self.settings.service, issuer=self.settings.issuer, now=now
        )
        if claims.use != use:
            raise token_invalid(wrong_use)
        perms = self._state.permissions
        principal = perms.principal(claims.kind, claims.subject, now)
        if principal is None:
            raise token_invalid(f"{claims.kind} {claims.subject!r} may no longer log in")
        if claims.issued_at < perms.tokens_after(principal):
            raise token_invalid("it was issued before the account's credentials changed")
        return principal, claims

    # -- tokens -------------------------------------------------------------------------------

    async def issue(self, principal: Principal, scopes: list[Scope], offline: bool) -> IssuedToken:
        """An access token granting what ``principal`` holds of ``scopes``."""
        await self._rotate_if_due()
        perms = self._state.permissions
        granted: dict[tuple[str, str], list[str]] = {}
        for scope in scopes:
            if scope.type == REGISTRY:
                held = [WILDCARD]
            else:
                mine = perms.actions(principal, scope.name)
                wanted = mine if WILDCARD in scope.actions else set(scope.actions) & mine
                held = sorted(wanted)
            if held:
                entry = granted.setdefault((scope.type, scope.name), [])
                entry += [a for a in held if a not in entry]
        access = [{"type": t, "name": n, "actions": a} for (t, n), a in granted.items()]
        now = self._clock()
        ttl = self.settings.token_ttl
        token = self._keys.sign(self._claims(principal, ACCESS, now, ttl) | {"access": access})
        refresh = ""
        if offline and principal.kind != "anonymous":
            refresh = self._keys.sign(
                self._claims(principal, REFRESH, now, self.settings.refresh_ttl)
            )
        return IssuedToken(token, int(ttl), now, access, refresh)

    def _claims(self, principal: Principal, use: str, now: float, ttl: float) -> dict[str, Any]:
        return {
            "iss": self.settings.issuer,
            "sub": principal.name,
            "aud": self.settings.service,
            "exp": now + ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(12),
            "kind": principal.kind,
            "use": use,
        }

    async def rotate_key(self, *, only_if_due: bool = False) -> str:
        """Sign with a new key from now on; the old ones keep verifying tokens in flight."""
        async with self._rotating:
            now = self._clock()
            current = self._keys.current
            if only_if_due and current is not None and not self._due(current.created_at, now):
                return current.kid
            key = new_key(now)
            keep = max(self.settings.token_ttl, self.settings.refresh_ttl)
            async with self._meta.write() as tx:
                await tx.add_signing_key(key)
                await tx.drop_signing_keys(now - keep)
                self._keys.replace(await tx.signing_keys())
            log.info("signing_key_rotated", kid=key.kid)
            return key.kid

    async def _rotate_if_due(self) -> None:
        current = self._keys.current
        if current is None or self._due(current.created_at, self._clock()):
            await self.rotate_key(only_if_due=True)

    def _due(self, created_at: float, now: float) -> bool:
        rotation = self.settings.key_rotation
        return rotation > 0 and created_at + rotation <= now

    async def _audit(self, actor: str, action: str, outcome: str, address: str) -> None:
        entry = AuditEntry(self._clock(), actor, action, "", outcome, address)
        await self._accounts.record([entry])
