"""``/token``: the token endpoint of the Docker token authentication protocol.

* ``GET /token?service=..&scope=..&scope=..[&offline_token=true]`` with Basic credentials (a
  user and password, or a robot name and secret) or none (an anonymous token);
* ``POST /token`` with a form: ``grant_type=password`` (``username``, ``password``) or
  ``grant_type=refresh_token`` (``refresh_token``), ``service``, ``scope`` (space-separated),
  ``access_type=offline`` for a refresh token (the OAuth2 variant docker uses).

The answer is ``{"token", "access_token", "expires_in", "issued_at"[, "refresh_token"]}``: a
signed JWT granting, for each scope, the actions asked that the caller holds (maybe none; the
registry answers 403 to what it does not cover). A ``service`` other than the registry's is
SERVICE_UNKNOWN, a malformed scope SCOPE_INVALID (both 400), bad credentials 401, too many
failed logins 429 with ``Retry-After``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import hdrs, web

from services.kit import errors
from services.registry.domain.access_models import ANONYMOUS, Principal
from services.registry.domain.authn import Authenticator, IssuedToken
from services.registry.domain.scopes import Scope, parse_scopes
from services.registry.domain.throttle import LoginThrottled
from services.registry.http.auth import GATE, address_of, basic_credentials, throttled
from services.registry.http.context import json_response
from services.registry.http.errors import error_response

routes = web.RouteTableDef()
PATH = "/token"
MAX_FORM_BYTES = 64 << 10


def _authenticator(request: web.Request) -> Authenticator:
    authenticator = request.app[GATE].authenticator
    if authenticator is None:
        raise errors.NotFound("authentication is off; no token is needed", reason="ROUTE_UNKNOWN")
    return authenticator


def _check_service(authenticator: Authenticator, service: str | None) -> None:
    if service is not None and service != authenticator.settings.service:
        raise errors.InvalidArgument(
            f"unknown service {service[:80]!r}; this registry is "
            f"{authenticator.settings.service!r}",
            reason="SERVICE_UNKNOWN",
        )


def _answer(issued: IssuedToken) -> web.Response:
    body: dict[str, object] = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": datetime.fromtimestamp(issued.issued_at, UTC).isoformat(),
    }
    if issued.refresh_token:
        body["refresh_token"] = issued.refresh_token
    return json_response(body, headers={hdrs.CACHE_CONTROL: "no-store"})


def _refused(authenticator: Authenticator, exc: errors.Unauthenticated) -> web.Response:
    realm = authenticator.settings.service
    return error_response(exc, headers={hdrs.WWW_AUTHENTICATE: f'Basic realm="{realm}"'})


@routes.get(PATH)
async def get_token(request: web.Request) -> web.Response:
    authenticator = _authenticator(request)
    _check_service(authenticator, request.query.get("service"))
    scopes = parse_scopes(request.query.getall("scope", []))
    offline = request.query.get("offline_token", "").lower() == "true"
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, value = header.partition(" ")
    try:
        principal: Principal = ANONYMOUS
        if header and scheme.lower() == "basic":
            user, password = basic_credentials(value)
            principal = await authenticator.login(user, password, address_of(request))
        elif header:
            raise errors.Unauthenticated(
                "the token endpoint takes Basic credentials or none", reason="UNAUTHORIZED"
            )
    except LoginThrottled as exc:
        return throttled(exc)
    except errors.Unauthenticated as exc:
        return _refused(authenticator, exc)
    return _answer(await authenticator.issue(principal, scopes, offline))


@routes.post(PATH)
async def post_token(request: web.Request) -> web.Response:
    authenticator = _authenticator(request)
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise errors.InvalidArgument("the form is too large", reason="BODY_TOO_LARGE")
    form = await request.post()
    field = {k: v for k, v in form.items() if isinstance(v, str)}
    _check_service(authenticator, field.get("service"))
    scopes: list[Scope] = parse_scopes([field.get("scope", "")])
    grant = field.get("grant_type", "")
    try:
        if grant == "password":
            principal = await authenticator.login(
                field.get("username", ""), field.get("password", ""), address_of(request)
            )
        elif grant == "refresh_token":
            principal = await authenticator.from_refresh_token(field.get("refresh_token", ""))
        else:
            raise errors.InvalidArgument(
                f"grant_type must be password or refresh_token, not {grant[:40]!r}",
                reason="GRANT_TYPE_INVALID",
            )
    except LoginThrottled as exc:
        return throttled(exc)
    except errors.Unauthenticated as exc:
        return _refused(authenticator, exc)
    offline = field.get("access_type") == "offline" or grant == "refresh_token"
    issued = await authenticator.issue(principal, scopes, offline)
    if grant == "refresh_token":
        issued = IssuedToken(
            issued.token,
            issued.expires_in,
            issued.issued_at,
            issued.access,
            field.get("refresh_token", ""),
        )
    return _answer(issued)
