"""estiba.engine.v1.Events: a thin layer over the EventBus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from estiba.engine.v1 import events_pb2 as pb
from estiba.engine.v1 import events_pb2_grpc
from services.engine.events import filters
from services.engine.events.bus import EventBus
from services.engine.events.models import TYPES, Event
from services.kit import errors

Ctx = grpc.aio.ServicerContext[Any, Any]


class EventsServicer(events_pb2_grpc.EventsServicer):
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    def register(self, server: grpc.aio.Server) -> None:
        events_pb2_grpc.add_EventsServicer_to_server(self, server)

    async def Subscribe(
        self, request: pb.SubscribeRequest, context: Ctx
    ) -> AsyncIterator[pb.SubscribeResponse]:
        wanted = filters.check({k: list(v.values) for k, v in request.filters.items()})
        if request.since_nano and request.until_nano and request.until_nano < request.since_nano:
            raise errors.InvalidArgument("`since` time cannot be after `until` time")
        stream = self._bus.subscribe(wanted, since=request.since_nano, until=request.until_nano)
        yield pb.SubscribeResponse(ready=True)
        async for event in stream:
            yield pb.SubscribeResponse(event=to_proto(event))

    async def Publish(self, request: pb.PublishRequest, context: Ctx) -> pb.PublishResponse:
        e = request.event
        if e.type not in TYPES or not e.action or not e.actor_id:
            raise errors.InvalidArgument("an event needs a known type, an action and an actor")
        self._bus.publish(e.type, e.action, e.actor_id, dict(e.attributes))
        return pb.PublishResponse()


def to_proto(event: Event) -> pb.Event:
    msg = pb.Event(
        type=event.type,
        action=event.action,
        actor_id=event.actor_id,
        scope=event.scope,
        time_nano=event.time_nano,
    )
    msg.attributes.update(event.attributes)
    return msg
