"""Who may call which ``/v2/`` endpoint: the access middleware, in front of every route.

Each route needs one action on its repository: ``pull`` for GET/HEAD of manifests, blobs, tag
lists and referrers; ``push`` for uploads and manifest PUT; ``delete`` for DELETE. ``GET /v2/``
needs any valid credentials, the catalog a token for ``registry:catalog:*`` (and lists only the
repositories the caller may pull). Overwriting a tag (``overwrite``) and the source of a
cross-repository mount (``pull``) are checked by their handlers through ``caller(request)``.

Credentials: ``Authorization: Bearer <token>`` from the token endpoint, whose grants must cover
the request *and* still be held (so a user removed from a team, or a revoked robot, loses
access at once); ``Basic`` user and password (or robot name and secret); or none (anonymous:
what anonymous pull allows). The answers, in the spec's error envelope:

* 401 UNAUTHORIZED with ``WWW-Authenticate: Bearer realm=..,service=..,scope=..`` when no
  credentials or bad ones were given;
* 403 DENIED when the caller may not do it, or its token does not grant it, with the challenge
  and ``error="insufficient_scope"`` (RFC 6750 §3.1), so a client holding the permission
  fetches a token for the scope and retries;
* 429 TOOMANYREQUESTS with ``Retry-After`` while logins of an account or address are throttled.

With auth off the middleware lets everything through. Either way pushes and deletions are
written to the audit log, and so are 403 refusals.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import time

from aiohttp import hdrs, web

from services.kit import errors
from services.kit.log import get_logger
from services.registry.domain.access_models import (
    ANONYMOUS,
    DELETE,
    PULL,
    PUSH,
    AuditEntry,
    Principal,
)
from services.registry.domain.accounts import AccessService, AccessState
from services.registry.domain.authn import Authenticator
from services.registry.domain.scopes import CATALOG, REGISTRY, REPOSITORY, WILDCARD
from services.registry.domain.throttle import LoginThrottled
from services.registry.domain.tokens import Claims
from services.registry.http.errors import Handler, error_response

log = get_logger()

LOGIN = ""
"""The action of ``GET /v2/``: any valid credentials."""


@dataclasses.dataclass(frozen=True)
class Need:
    """What a request needs: ``action`` on ``repository``, or LOGIN, or CATALOG."""

    action: str
    repository: str = ""

    @property
    def scope(self) -> str:
        if self.action == CATALOG:
            return f"{REGISTRY}:{CATALOG}:{WILDCARD}"
        if not self.repository:
            return ""
        actions = "pull,push" if self.action == PUSH else self.action
        return f"{REPOSITORY}:{self.repository}:{actions}"


def need_of(request: web.Request) -> Need | None:
    """What the matched route needs; None for routes outside ``/v2/`` or no route at all."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    path = resource.canonical
    if path in ("/v2/", "/v2"):
        return Need(LOGIN)
    if path == "/v2/_catalog":
        return Need(CATALOG)
    if not path.startswith("/v2/{name"):
        return None
    name = request.match_info.get("name", "")
    method = request.method
    if "/blobs/uploads" in path:
        return Need(PUSH, name)
    if method == "DELETE":
        return Need(DELETE, name)
    if method == "PUT" and "/manifests/" in path:
        return Need(PUSH, name)
    return Need(PULL, name)


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who sent a request and, for a token, what the token grants."""

    principal: Principal
    state: AccessState | None
    """None when auth is off: everything is allowed."""
    token: Claims | None = None

    def holds(self, repository: str, action: str) -> bool:
        """Whether the principal itself may (regardless of the token's scope)."""
        if self.state is None:
            return True
        return self.state.permissions.allows(self.principal, repository, action)

    def may(self, repository: str, action: str) -> bool:
        """Whether this request may: the principal holds it and the token (if any) grants it."""
        if not self.holds(repository, action):
            return False
        if self.token is None:
            return True
        granted = self.token.access.get((REPOSITORY, repository), frozenset())
        return action in granted or WILDCARD in granted

    def may_list_catalog(self) -> bool:
        return self.token is None or (REGISTRY, CATALOG) in self.token.access


OPEN = Caller(ANONYMOUS, None)
CALLER = web.RequestKey("caller", Caller)


def caller(request: web.Request) -> Caller:
    found: Caller = request.get(CALLER, OPEN)
    return found


@dataclasses.dataclass
class Gate:
    """Authentication and authorization settings of the HTTP API, and the audit sink."""

    accounts: AccessService
    state: AccessState
    authenticator: Authenticator | None
    """None: auth is off."""
    realm: str = ""

    @property
    def enabled(self) -> bool:
        return self.authenticator is not None

    def challenge(self, request: web.Request, need: Need, *, insufficient: bool = False) -> str:
        assert self.authenticator is not None
        realm = self.realm or f"{request.scheme}://{request.host}/token"
        parts = [f'realm="{realm}"', f'service="{self.authenticator.settings.service}"']
        if need.scope:
            parts.append(f'scope="{need.scope}"')
        if insufficient:
            parts.append('error="insufficient_scope"')
        return "Bearer " + ",".join(parts)

    async def identify(self, request: web.Request) -> Caller:
        """The caller of ``request`` from its Authorization header (anonymous without one)."""
        assert self.authenticator is not None
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if not header:
            return Caller(ANONYMOUS, self.state)
        if scheme == "bearer":
            principal, claims = self.authenticator.from_token(value.strip())
            return Caller(principal, self.state, claims)
        if scheme == "basic":
            user, password = basic_credentials(value)
            principal = await self.authenticator.login(user, password, address_of(request))
            return Caller(principal, self.state)
        raise errors.Unauthenticated(
            f"unsupported authorization scheme {scheme[:20]!r}; use Bearer or Basic",
            reason="UNAUTHORIZED",
        )

    def refusal(self, request: web.Request, who: Caller, need: Need) -> web.Response | None:
        """The 401 or 403 for a request ``who`` may not make; None if it may."""
        anonymous = who.principal.kind == "anonymous"
        if need.action == LOGIN:
            if anonymous:
                return self._unauthorized(request, need, "authentication required")
            return None
        if need.action == CATALOG:
            if who.may_list_catalog() and not (anonymous and who.token is None):
                return None
            return self._unauthorized(request, need, "a token for the catalog is required")
        if who.may(need.repository, need.action):
            return None
        if anonymous:
            return self._unauthorized(
                request, need, f"authentication required to {need.action} {need.repository!r}"
            )
        if who.token is not None and who.holds(need.repository, need.action):
            message = "the token does not grant this; ask for a token with the scope given"
        else:
            message = (
                f"{who.principal.kind} {who.principal.name!r} may not {need.action} "
                f"{need.repository!r}"
            )
        error = errors.PermissionDenied(message, reason="DENIED")
        header = self.challenge(request, need, insufficient=True)
        return error_response(error, headers={hdrs.WWW_AUTHENTICATE: header})

    def _unauthorized(self, request: web.Request, need: Need, message: str) -> web.Response:
        header = self.challenge(request, need)
        return error_response(
            errors.Unauthenticated(message, reason="UNAUTHORIZED"),
            headers={hdrs.WWW_AUTHENTICATE: header},
        )

    async def audit(self, request: web.Request, who: Caller, need: Need, status: int) -> None:
        """Record pushes of manifests, deletions, and what known callers were denied (403).

        A 401 is the protocol's first step for every client (the challenge), and bad
        credentials are recorded by the login itself, so neither is written here.
        """
        changes = need.action in (PUSH, DELETE)
        if status == 401 or (not changes and status != 403):
            return
        if need.action == PUSH and status < 400 and "/manifests/" not in request.path:
            return  # blob uploads: the manifest push that follows says it all
        outcome = "ok" if status < 400 else ("denied" if status in (401, 403) else "failed")
        reference = request.match_info.get("reference") or request.match_info.get("digest", "")
        target = f"{need.repository}:{reference}" if reference else need.repository
        entry = AuditEntry(
            at=time.time(),
            actor=who.principal.label,
            action=need.action or "login",
            target=target,
            outcome=outcome,
            address=address_of(request),
            detail=f"{request.method} {status}",
        )
        try:
            await self.accounts.record([entry])
        except errors.EstibaError as exc:
            log.warning("audit_failed", error=str(exc))


GATE = web.AppKey("gate", Gate)


def basic_credentials(value: str) -> tuple[str, str]:
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise errors.Unauthenticated("malformed Basic credentials", reason="UNAUTHORIZED") from exc
    user, sep, password = raw.partition(":")
    if not sep or not user:
        raise errors.Unauthenticated("malformed Basic credentials", reason="UNAUTHORIZED")
    return user, password


def address_of(request: web.Request) -> str:
    return request.remote or ""


def throttled(exc: LoginThrottled) -> web.Response:
    return error_response(exc, headers={hdrs.RETRY_AFTER: str(exc.retry_after)})


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate and authorize ``/v2/`` requests; audit changes and refusals."""
    need = need_of(request)
    if need is None:
        return await handler(request)
    gate = request.app[GATE]
    if not gate.enabled:
        who = OPEN
    else:
        try:
            who = await gate.identify(request)
        except LoginThrottled as exc:
            return throttled(exc)
        except errors.Unauthenticated as exc:
            return error_response(
                exc, headers={hdrs.WWW_AUTHENTICATE: gate.challenge(request, need)}
            )
        refused = gate.refusal(request, who, need)
        if refused is not None:
            await gate.audit(request, who, need, refused.status)
            return refused
    request[CALLER] = who
    response = await handler(request)
    if need.action in (PUSH, DELETE):
        await gate.audit(request, who, need, response.status)
    return response
