"""The OCI Distribution HTTP API (``/v2/...``) of the registry."""

from __future__ import annotations

from aiohttp import web

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}


async def base(request: web.Request) -> web.Response:
    """``GET /v2/``: the spec's end-1 check that this is a registry speaking the API."""
    return web.Response(
        status=200, body=b"{}", content_type="application/json", headers=API_VERSION_HEADER
    )


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/v2/", base)
    app.router.add_get("/v2", base)
    return app
