"""Query-string conventions of Docker clients: booleans and filters in two forms."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from services.kit import errors

TRUE = {"1", "true", "True", "TRUE", "yes"}


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """``1``/``true``/``True`` from the CLI and docker-py; absent means ``default``."""
    value = request.query.get(name)
    if value is None or value == "":
        return default
    return value in TRUE


def integer(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise errors.InvalidArgument(f"invalid value for {name}: {value!r}") from exc


def filters(request: web.Request) -> dict[str, list[str]]:
    """``{"k":{"v":true}}`` (the Go CLI) and ``{"k":["v"]}`` (docker-py, compose) alike."""
    raw = request.query.get("filters", "")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise errors.InvalidArgument(f"invalid filters: {raw}") from exc
    if not isinstance(data, dict):
        raise errors.InvalidArgument(f"invalid filters: {raw}")
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = [str(v) for v, on in value.items() if on]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif isinstance(value, str):
            out[key] = [value]
        else:
            raise errors.InvalidArgument(f"invalid filter value for {key!r}")
    return out


def filters_into(request: web.Request, target: Any) -> dict[str, list[str]]:
    """The request's filters, copied into ``target`` too: a request message's ``filters`` map
    of name to ``values``."""
    found = filters(request)
    for key, values in found.items():
        target[key].values.extend(values)
    return found


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body is ``{}``."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise errors.InvalidArgument(f"invalid JSON body: {exc}") from exc
    if not isinstance(data, dict):
        raise errors.InvalidArgument("the request body must be a JSON object")
    return data
