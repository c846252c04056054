"""EventBus: events fan out to subscribers, and the latest stay in memory for ``since``.

Publishing never waits: each subscriber has a bounded queue, and one that falls that far behind
is dropped (its stream ends) rather than slowing down the engine. History is a ring of the
newest events, so a subscriber may ask for what happened shortly before it connected.
Times are nanoseconds since the epoch, strictly increasing, so that ``since`` and ``until``
never cut between two events of the same instant.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator

from services.engine.events.filters import Filters, matches
from services.engine.events.models import Event

KEEP = 1024  # events remembered for since/until
QUEUE = 4096  # events a subscriber may fall behind before it is dropped


class _Subscriber:
    def __init__(self, filters: Filters) -> None:
        self.filters = filters
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE)

    def offer(self, event: Event) -> bool:
        if not matches(event, self.filters):
            return True
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True


class EventBus:
    def __init__(self, keep: int = KEEP) -> None:
        self._history: collections.deque[Event] = collections.deque(maxlen=keep)
        self._subscribers: set[_Subscriber] = set()
        self._last = 0

    def publish(
        self, type: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> Event:
        self._last = max(time.time_ns(), self._last + 1)
        event = Event(type, action, actor_id, dict(attributes or {}), self._last)
        self._history.append(event)
        for sub in list(self._subscribers):
            if not sub.offer(event):
                self._subscribers.discard(sub)
                sub.queue.get_nowait()  # room for the end mark
                sub.queue.put_nowait(None)
        return event

    def subscribe(
        self, filters: Filters, *, since: int = 0, until: int = 0
    ) -> AsyncIterator[Event]:
        """Past events from ``since`` (when either bound is given), then new ones; the stream
        ends at ``until`` (at once when it has passed). Bounds are Unix nanoseconds, 0 = none.

        The subscription is in place when this returns, before the first event is read: an
        event published after the call is never missed, and none is seen twice.
        """
        sub = _Subscriber(filters)
        past = list(self._history) if since or until else []
        self._subscribers.add(sub)
        return self._stream(sub, past, since, until)

    async def _stream(
        self, sub: _Subscriber, past: list[Event], since: int, until: int
    ) -> AsyncIterator[Event]:
        try:
            for old in past:
                in_range = old.time_nano >= since and (not until or old.time_nano <= until)
                if in_range and matches(old, sub.filters):
                    yield old
            while True:
                left = (until - time.time_ns()) / 1e9 if until else None
                if left is not None and left <= 0:
                    return
                event: Event | None
                try:
                    event = await asyncio.wait_for(sub.queue.get(), left)
                except TimeoutError:
                    return
                if event is None or (until and event.time_nano > until):
                    return
                yield event
        finally:
            self._subscribers.discard(sub)

    def close(self) -> None:
        """End every subscription (the engine is stopping)."""
        for sub in list(self._subscribers):
            self._subscribers.discard(sub)
            while True:
                try:
                    sub.queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    sub.queue.get_nowait()
