"""``GET /events``: the engine's event stream as dockerd writes it, one JSON object per line.

Headers go out once the engine has accepted the filters (so a bad filter is a 400, not a
broken stream); the body stays open until ``until`` passes or the client leaves.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

from aiohttp import web

from estiba.engine.v1 import events_pb2 as pb
from estiba.engine.v1 import events_pb2_grpc
from estiba.netd.v1 import netd_pb2
from services.gateway.docker import events_out, params
from services.gateway.nodes import backends_of
from services.gateway.routes import add
from services.kit import errors, reqctx
from services.kit.grpcclient import call, stream

if TYPE_CHECKING:
    from estiba.engine.v1.events_pb2_grpc import EventsAsyncStub


def _stub(request: web.Request) -> EventsAsyncStub:
    channel = backends_of(request).channels["engine"]
    return events_pb2_grpc.EventsStub(channel)


async def events(request: web.Request) -> web.StreamResponse:
    req = pb.SubscribeRequest(
        since_nano=events_out.timestamp(request.query.get("since"), "since"),
        until_nano=events_out.timestamp(request.query.get("until"), "until"),
    )
    params.filters_into(request, req.filters)
    replies = aiter(
        stream(_stub(request).Subscribe(req, metadata=reqctx.outgoing_metadata()), service="engine")
    )
    await anext(replies)  # "ready", or the engine's error before any header is written
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    async for reply in replies:
        line = json.dumps(events_out.message(reply.event), separators=(",", ":"))
        await response.write(line.encode() + b"\n")
    await response.write_eof()
    return response


async def announce(
    request: web.Request, type: str, action: str, actor_id: str, attributes: dict[str, str]
) -> None:
    """Tell the engine about something that happened outside it (a network created in netd).

    What was done is done: an engine that cannot be told costs the event, not the request.
    """
    event = pb.Event(type=type, action=action, actor_id=actor_id)
    event.attributes.update(attributes)
    with contextlib.suppress(errors.EstibaError):
        await call(
            _stub(request).Publish, pb.PublishRequest(event=event), service="engine", timeout=5
        )


async def network_event(
    request: web.Request, action: str, network: netd_pb2.Network, **extra: str
) -> None:
    attributes = {"name": network.name, "type": network.driver or "bridge", **extra}
    await announce(request, "network", action, network.id, attributes)


def setup(app: web.Application) -> None:
    add(app, "GET", "/events", events)
