"""A container on several networks: the Container message, the network filter and the network
events list each one of them."""

from __future__ import annotations

import time

from services.engine.api.convert import container_to_proto
from services.engine.containers.filters import matches
from services.engine.containers.models import (
    Container,
    ContainerSpec,
    Endpoint,
    Resolved,
    Sandbox,
)
from services.engine.events import actors
from services.engine.events.bus import EventBus

CID = "c" * 64
FRONT = Endpoint("front", "1a" * 32, "10.1.0.2", 24, "10.1.0.1", "02:42:0a:01:00:02", "e" * 64,
                 ("svc",))  # fmt: skip
BACK = Endpoint("back", "2b" * 32, "10.2.0.3", 16, "10.2.0.1", "02:42:0a:02:00:03", "f" * 64)


def container(mode: str, *endpoints: Endpoint) -> Container:
    spec = ContainerSpec(image="busybox", network_mode="front", network_aliases=("svc",))
    resolved = Resolved(("true",), (), "/", "", "host", {}, "SIGTERM", 10)
    sandbox = Sandbox(mode, f"/run/netns/{CID}", "", "", endpoints)
    return Container(CID, "web", "sha256:" + "a" * 64, spec, resolved, "now", sandbox=sandbox)


def test_every_endpoint_is_a_network_of_the_message() -> None:
    msg = container_to_proto(container("bridge", FRONT, BACK), "/state")
    got = [
        (n.name, n.network_id, n.ip_address, n.prefix_length, n.gateway, n.mac_address,
         n.endpoint_id, list(n.aliases))
        for n in msg.networks
    ]  # fmt: skip
    assert got == [
        ("front", FRONT.network_id, "10.1.0.2", 24, "10.1.0.1", FRONT.mac_address, FRONT.id,
         ["svc"]),
        ("back", BACK.network_id, "10.2.0.3", 16, "10.2.0.1", BACK.mac_address, BACK.id, []),
    ]  # fmt: skip
    assert [n.name for n in container_to_proto(container("none"), "/s").networks] == ["none"]
    assert [n.name for n in container_to_proto(container("host"), "/s").networks] == ["host"]
    assert container_to_proto(container("bridge"), "/s").networks == []  # disconnected from all


def test_the_network_filter_matches_any_network() -> None:
    c = container("bridge", FRONT, BACK)
    for value in ("front", "back", FRONT.network_id, BACK.network_id[:12]):
        assert matches(c, {"network": [value]}), value
    for value in ("bridge", "none", "host", "fr", "3c", ""):
        assert not matches(c, {"network": [value]}), value
    assert matches(c, {"network": ["nowhere", "back"]})
    assert matches(container("none"), {"network": ["none"]})
    assert not matches(container("none"), {"network": ["host"]})


async def test_start_and_stop_announce_every_network() -> None:
    bus = EventBus()
    actors.connections(bus, container("bridge", FRONT, BACK), "connect")
    actors.connections(bus, container("none"), "connect")
    past = bus.subscribe({}, since=1, until=time.time_ns())
    seen = [(e.type, e.action, e.actor_id, e.attributes) async for e in past]
    assert seen == [
        ("network", "connect", FRONT.network_id, {"name": "front", "type": "bridge",
                                                   "container": CID}),
        ("network", "connect", BACK.network_id, {"name": "back", "type": "bridge",
                                                  "container": CID}),
    ]  # fmt: skip
