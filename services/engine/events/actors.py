"""The attributes Docker gives each kind of actor, so every event reads as dockerd's would."""

from __future__ import annotations

import signal as signals

from services.engine.containers.models import Container
from services.engine.events.bus import EventBus
from services.engine.events.models import CONTAINER, IMAGE, NETWORK, VOLUME


def container(bus: EventBus, c: Container, action: str, **extra: str) -> None:
    """A container's labels, then its image as the user named it and its name."""
    attributes = {**c.resolved.labels, "image": c.spec.image, "name": c.name, **extra}
    bus.publish(CONTAINER, action, c.id, attributes)


def signal_number(name: str) -> str:
    """Docker's kill events carry the signal's number ("15"), not its name."""
    try:
        return str(signals.Signals[name].value)
    except KeyError:
        return name


def network(bus: EventBus, action: str, network_id: str, name: str, **extra: str) -> None:
    kind = {"none": "null", "host": "host"}.get(name, "bridge")
    bus.publish(NETWORK, action, network_id, {"name": name, "type": kind, **extra})


def connections(bus: EventBus, c: Container, action: str) -> None:
    """``connect`` or ``disconnect`` of ``c`` on each network it has an endpoint on."""
    for e in c.sandbox.endpoints if c.sandbox is not None else ():
        network(bus, action, e.network_id, e.network, container=c.id)


def mounts(bus: EventBus, c: Container, action: str) -> None:
    """``mount`` (or ``unmount``) of each named volume ``c`` uses."""
    for m in c.spec.mounts:
        if m.type == "volume":
            bus.publish(
                VOLUME,
                action,
                m.source,
                {
                    "container": c.id,
                    "destination": m.target,
                    "driver": "local",
                    "propagation": "",
                    "read/write": str(not m.read_only).lower(),
                },
            )


def volume(bus: EventBus, action: str, name: str) -> None:
    bus.publish(VOLUME, action, name, {"driver": "local"})


def image(
    bus: EventBus, action: str, actor_id: str, name: str, labels: dict[str, str] | None = None
) -> None:
    bus.publish(IMAGE, action, actor_id, {**(labels or {}), "name": name})
