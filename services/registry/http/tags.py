"""``GET /v2/<name>/tags/list``: a repository's tags, sorted, paginated with ``n`` and ``last``.

When more tags follow, a ``Link: <...>; rel="next"`` header (RFC 5988) gives the next page.
"""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from services.registry.http.context import (
    json_response,
    link_header,
    name_of,
    page_query,
    services,
)

routes = web.RouteTableDef()


@routes.get("/v2/{name:.+}/tags/list")
async def list_tags(request: web.Request) -> web.Response:
    name = name_of(request)
    n, last = page_query(request)
    page = await services(request).repositories.tags(name, n, last)
    headers = link_header(f"/v2/{urllib.parse.quote(name)}/tags/list", page, n)
    return json_response({"name": name, "tags": list(page.items)}, headers=headers)
