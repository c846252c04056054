"""The HTTP hop of the error vocabulary for Docker Engine API routes.

Docker clients read ``{"message": "..."}`` with a Content-Type of exactly ``application/json``
(with ``; charset=utf-8`` the docker CLI prints the raw JSON), and act on the status code: 404
makes ``docker run`` pull, 409 is a conflict, 304 "already in that state". The status comes from
the error class (services.kit.errors); this module only writes the body.
"""

from __future__ import annotations

import json

from aiohttp import web

from services.kit import errors

JSON = "application/json"


def docker_error(status: int, message: str) -> web.Response:
    """A Docker-style error response."""
    body = json.dumps({"message": message}).encode()
    return web.Response(status=status, body=body, headers={"Content-Type": JSON})


def from_error(exc: errors.EstibaError) -> web.Response:
    if isinstance(exc, errors.Internal):
        return docker_error(500, exc.message)
    return docker_error(exc.http_status, exc.message)


def json_response(data: object, *, status: int = 200) -> web.Response:
    """A JSON body with Docker's exact Content-Type."""
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": JSON}
    )
