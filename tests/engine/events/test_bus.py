"""The event bus: fan-out, history for since/until, Docker's filters."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.engine.events import filters
from services.engine.events.bus import QUEUE, EventBus
from services.engine.events.models import Event
from services.kit import errors


async def _take(stream: object, n: int) -> list[Event]:
    out = []
    async for event in stream:  # type: ignore[attr-defined]
        out.append(event)
        if len(out) == n:
            break
    return out


async def test_live_events_reach_every_matching_subscriber() -> None:
    bus = EventBus()
    everything = bus.subscribe({})
    starts = bus.subscribe({"event": ["start"]})
    bus.publish("container", "create", "c1", {"name": "a"})
    bus.publish("container", "start", "c1", {"name": "a"})
    got = await asyncio.wait_for(_take(everything, 2), 2)
    assert [e.action for e in got] == ["create", "start"]
    assert [e.action for e in await asyncio.wait_for(_take(starts, 1), 2)] == ["start"]
    assert got[0].time_nano < got[1].time_nano
    assert got[0].scope == "local"


async def test_since_replays_history_and_until_ends_the_stream() -> None:
    bus = EventBus()
    first = bus.publish("image", "tag", "sha256:1", {"name": "a:1"})
    second = bus.publish("image", "untag", "sha256:1", {"name": "sha256:1"})
    third = bus.publish("volume", "create", "v", {"driver": "local"})
    past = [e async for e in bus.subscribe({}, since=second.time_nano, until=time.time_ns())]
    assert past == [second, third]
    upto = [e async for e in bus.subscribe({}, until=second.time_nano)]
    assert upto == [first, second]
    assert [e async for e in bus.subscribe({"type": ["volume"]}, until=time.time_ns())] == [third]
    later = bus.subscribe({"type": ["network"]}, until=time.time_ns() + 200_000_000)
    started = time.monotonic()
    assert [e async for e in later] == []  # nothing matched: it waited until "until"
    assert 0.1 < time.monotonic() - started < 2


async def test_history_is_bounded() -> None:
    bus = EventBus(keep=3)
    for n in range(5):
        bus.publish("container", "start", f"c{n}")
    replay = [e.actor_id async for e in bus.subscribe({}, until=time.time_ns())]
    assert replay == ["c2", "c3", "c4"]


async def test_close_ends_subscriptions() -> None:
    bus = EventBus()
    stream = bus.subscribe({})
    bus.close()
    assert [e async for e in stream] == []


def _event(type: str, action: str, actor: str, **attributes: str) -> Event:
    return Event(type, action, actor, attributes, 1)


def test_docker_filter_rules() -> None:
    start = _event("container", "start", "abc123", name="web", image="busybox", env="prod")
    health = _event("container", "health_status: healthy", "abc123", name="web", image="busybox")
    tag = _event("image", "tag", "sha256:ff", name="repo/app:1")
    volume = _event("volume", "create", "data", driver="local")
    assert filters.matches(start, {"container": ["web"]})
    assert filters.matches(start, {"container": ["abc"]})
    assert not filters.matches(volume, {"container": ["data"]})
    assert filters.matches(volume, {"volume": ["data"]})
    assert filters.matches(health, {"event": ["health_status"]})
    assert not filters.matches(health, {"event": ["start"]})
    assert filters.matches(start, {"event": ["start", "die"], "type": ["container"]})
    assert not filters.matches(start, {"event": ["start"], "type": ["image"]})
    assert filters.matches(tag, {"image": ["repo/app"]})
    assert filters.matches(tag, {"image": ["repo/app:1"]})
    assert filters.matches(start, {"image": ["busybox"]})
    assert not filters.matches(tag, {"image": ["repo"]})
    assert filters.matches(start, {"label": ["env=prod"]})
    assert filters.matches(start, {"label": ["env"]})
    assert not filters.matches(start, {"label": ["env=dev"]})
    assert not filters.matches(start, {"label": ["env", "tier"]})


@pytest.mark.parametrize(
    ("given", "message"),
    [({"colour": ["red"]}, "invalid filter"), ({"type": ["boat"]}, "Unknown event type")],
)
def test_bad_filters_are_refused(given: dict[str, list[str]], message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        filters.check(given)


async def test_a_subscriber_that_falls_too_far_behind_is_dropped() -> None:
    bus = EventBus()
    slow = bus.subscribe({})
    for n in range(QUEUE + 10):
        bus.publish("container", "start", f"c{n}")
    got = [e.actor_id async for e in slow]
    assert 0 < len(got) < QUEUE + 10  # it ended instead of holding the engine back
    bus.publish("container", "start", "after")  # nobody is left to block
