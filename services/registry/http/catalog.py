"""``GET /v2/_catalog``: repository names, sorted, paginated with ``n`` and ``last``.

With auth on, only the repositories the caller may pull are listed. When more names follow,
``Link: </v2/_catalog?n=..&last=..>; rel="next"`` (RFC 5988) says where.
"""

from __future__ import annotations

from aiohttp import web

from services.registry.domain.access_models import PULL
from services.registry.http.auth import caller
from services.registry.http.context import json_response, link_header, page_query, services

routes = web.RouteTableDef()


@routes.get("/v2/_catalog")
async def catalog(request: web.Request) -> web.Response:
    n, last = page_query(request)
    who = caller(request)
    visible = None if who.state is None else (lambda name: who.holds(name, PULL))
    page = await services(request).repositories.catalog(n, last, visible)
    headers = link_header("/v2/_catalog", page, n)
    return json_response({"repositories": list(page.items)}, headers=headers)
