"""Answers that come from every node: one request run once per node, the answers joined, each
item labelled with its node, and the nodes that did not answer turned into warnings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from services.gateway.docker import params
from services.gateway.errors import json_response
from services.gateway.nodes.where import NODE, NODE_LABEL, Node, Nodes, down_message
from services.kit import errors

LIST_TIMEOUT = 10.0
"""Seconds a list waits for a node before leaving it out: a node that accepts connections but
never answers must not hold every ``ps`` for the handlers' own 30 s."""


async def each(
    request: web.Request, handler: Handler, nodes: list[Node], timeout: float | None
) -> tuple[list[tuple[Node, Any]], list[str]]:
    """``handler`` run once per node of ``nodes`` on a copy of ``request`` routed there: the
    decoded JSON answers of the nodes that answered (within ``timeout`` seconds, if given),
    and a warning for each that did not."""

    async def one(node: Node) -> Any:
        copy = request.clone()
        copy[NODE] = node
        try:
            async with asyncio.timeout(timeout):
                response = await handler(copy)
        except TimeoutError:
            raise errors.DeadlineExceeded(f"no answer within {timeout:g}s") from None
        if not isinstance(response, web.Response) or response.status != 200:
            raise errors.Internal(f"the handler for {request.path} did not answer 200")
        return json_of(response)

    answers = await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True)
    found: list[tuple[Node, Any]] = []
    warnings: list[str] = []
    for node, answer in zip(nodes, answers, strict=True):
        if isinstance(answer, (errors.Unavailable, errors.DeadlineExceeded)):
            warnings.append(down_message(node, answer))
        elif isinstance(answer, BaseException):
            raise answer
        else:
            found.append((node, answer))
    return found, warnings


async def merged(
    request: web.Request, handler: Handler, nodes: Nodes, path: str
) -> web.StreamResponse:
    """One answer from every node's (or those a ``label=estiba.node=NAME`` filter names), list
    items labelled with their node; a node that does not answer is a warning."""
    chosen, request = _narrowed(request, nodes)
    timeout = LIST_TIMEOUT if request.method == "GET" else None  # a prune takes what it takes
    answers, warnings = await each(request, handler, chosen, timeout)
    if not answers and warnings:
        raise errors.Unavailable("no node answered: " + "; ".join(warnings))
    if not answers:  # a filter no node can match
        return json_response({"Volumes": [], "Warnings": None} if path == "/volumes" else [])
    merged: Any
    if isinstance(answers[0][1], list):
        merged = [_tag(item, n) for n, a in answers for item in a or []]
    else:
        merged = _merge_objects(answers, tag=path == "/volumes")
    if path == "/volumes":
        merged["Warnings"] = (merged.get("Warnings") or []) + warnings or None
    if path == "/containers/json":
        merged.sort(key=lambda c: -int(c.get("Created") or 0))
        limit = request.query.get("limit", "")
        if limit.lstrip("-").isdigit() and int(limit) > 0:
            merged = merged[: int(limit)]
    response = json_response(merged)
    if warnings:  # RFC 7234's Warning: one header, the warnings separated by commas
        response.headers["Warning"] = ", ".join(f'199 estiba "{_quoted(t)}"' for t in warnings)
    return response


def _narrowed(request: web.Request, nodes: Nodes) -> tuple[list[Node], web.Request]:
    """The nodes a ``label`` filter ``estiba.node=NAME`` picks, and the request without that
    filter (no engine stores the label: the gateway adds it to what it lists)."""
    filters = params.filters(request)
    labels = filters.get("label", [])
    ours = [v for v in labels if v.partition("=")[0] == NODE_LABEL]
    if not ours:
        return list(nodes.nodes.values()), request
    names = {v.partition("=")[2] for v in ours} - {""}  # "estiba.node" alone: any node
    chosen = [nodes.named(name) for name in names] if names else list(nodes.nodes.values())
    if len(names) > 1:
        chosen = []  # every label filter must hold, and an item has one node
    rest = [v for v in labels if v not in ours]
    if rest:
        filters["label"] = rest
    else:
        filters.pop("label")
    query = {k: v for k, v in request.query.items() if k != "filters"}
    if filters:
        query["filters"] = json.dumps(filters)
    return chosen, request.clone(rel_url=request.rel_url.with_query(query))


def _merge_objects(answers: list[tuple[Node, Any]], *, tag: bool) -> dict[str, Any]:
    """Object answers (prunes, df, the volume list) field by field: lists joined, numbers
    added; ``tag`` labels the items of the lists with their node."""
    merged: dict[str, Any] = {}
    for node, answer in answers:
        for key, value in (answer or {}).items():
            if isinstance(value, list):
                items = [_tag(v, node) if tag and isinstance(v, dict) else v for v in value]
                merged[key] = (merged.get(key) or []) + items
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                merged[key] = merged.get(key, 0) + value
            else:
                merged.setdefault(key, value)
    return merged


def _tag(item: dict[str, Any], node: Node) -> dict[str, Any]:
    item["Labels"] = {**(item.get("Labels") or {}), NODE_LABEL: node.name}
    return item


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def json_of(response: web.Response) -> Any:
    """The decoded body of a JSON answer the gateway's own handler made (always bytes)."""
    body = response.body
    return json.loads(body if isinstance(body, bytes) else b"null")
