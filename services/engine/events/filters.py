"""Docker's event filters: which events a subscriber sees.

Keys are ANDed, values of one key ORed. ``container``, ``volume`` and ``network`` match the
start of the actor's id or name and only events of that type; ``image`` matches an image's id
or name exactly, with or without its tag; ``label`` needs every ``k`` or ``k=v`` given;
``event`` matches the action, and "health_status", "exec_create" and "exec_start" match every
action that starts with them (those actions carry a detail after a colon).
"""

from __future__ import annotations

from services.engine.events.models import CONTAINER, NETWORK, TYPES, VOLUME, Event
from services.kit import errors

KEYS = {
    "type", "event", "container", "image", "volume", "network", "label", "scope", "daemon",
    "plugin", "node", "service", "secret", "config",
}  # fmt: skip
PREFIX_ACTIONS = {"health_status", "exec_create", "exec_start"}

Filters = dict[str, list[str]]


def check(filters: Filters) -> Filters:
    for key, values in filters.items():
        if key not in KEYS:
            raise errors.InvalidArgument(f"invalid filter '{key}'")
        if key == "type":
            for value in values:
                if value not in TYPES:
                    raise errors.InvalidArgument(f"Unknown event type: {value}")
        if key == "scope":
            for value in values:
                if value not in ("local", "swarm"):
                    raise errors.InvalidArgument(f"Unknown scope: {value}")
    return {k: v for k, v in filters.items() if v}


def matches(event: Event, filters: Filters) -> bool:
    return (
        _action(event, filters.get("event"))
        and _exact(filters.get("type"), event.type)
        and _exact(filters.get("scope"), event.scope)
        and _named(event, filters.get("container"), CONTAINER)
        and _named(event, filters.get("volume"), VOLUME)
        and _named(event, filters.get("network"), NETWORK)
        and _image(event, filters.get("image"))
        and _labels(event, filters.get("label"))
        and all(not filters.get(k) for k in ("daemon", "plugin", "node", "service", "secret"))
        and not filters.get("config")
    )


def _exact(values: list[str] | None, source: str) -> bool:
    return not values or source in values


def _prefix(values: list[str] | None, source: str) -> bool:
    return not values or any(source.startswith(v) for v in values)


def _action(event: Event, values: list[str] | None) -> bool:
    if values and PREFIX_ACTIONS.intersection(values):
        return _prefix(values, event.action)
    return _exact(values, event.action)


def _named(event: Event, values: list[str] | None, kind: str) -> bool:
    if not values:
        return True
    if event.type != kind:
        return False
    return _prefix(values, event.actor_id) or _prefix(values, event.attributes.get("name", ""))


def _image(event: Event, values: list[str] | None) -> bool:
    if not values:
        return True
    name = event.attributes.get("name" if event.type == "image" else "image", "")
    candidates = {event.actor_id, name, _strip_tag(event.actor_id), _strip_tag(name)}
    return bool(candidates.intersection(values))


def _strip_tag(ref: str) -> str:
    """``repo:tag`` → ``repo`` (a registry's port is not a tag); digests stay as they are."""
    if "@" in ref or ref.startswith("sha256:"):
        return ref
    name, sep, tag = ref.rpartition(":")
    return name if sep and "/" not in tag else ref


def _labels(event: Event, values: list[str] | None) -> bool:
    for value in values or ():
        key, sep, want = value.partition("=")
        if key not in event.attributes or (sep and event.attributes[key] != want):
            return False
    return True
