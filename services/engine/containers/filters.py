"""Docker's container list filters: label, name, id, status, ancestor, exited, network, ..."""

from __future__ import annotations

import re

from services.engine.containers.models import Container, Sandbox
from services.kit import errors

KNOWN = {
    "label",
    "name",
    "id",
    "status",
    "ancestor",
    "exited",
    "before",
    "since",
    "network",
    "health",
    "volume",
    "publish",
    "expose",
    "is-task",
}
STATUSES = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}
HEALTH = {"starting", "healthy", "unhealthy", "none"}


def matches(c: Container, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key not in KNOWN:
            raise errors.InvalidArgument(f"invalid filter '{key}'")
        # several labels must all be there (compose asks for project AND service); several
        # values of any other key: any one of them, as Docker's filters do
        combine = all if key == "label" else any
        if values and not combine(_one(c, key, value) for value in values):
            return False
    return True


def _one(c: Container, key: str, value: str) -> bool:
    if key == "label":
        name, sep, want = value.partition("=")
        labels = c.resolved.labels
        return name in labels and (not sep or labels[name] == want)
    if key == "name":
        return re.search(value.lstrip("/"), c.name) is not None
    if key == "id":
        return c.id.startswith(value)
    if key == "status":
        if value not in STATUSES:
            raise errors.InvalidArgument(f"invalid filter 'status={value}'")
        return c.state == value
    if key == "ancestor":
        return (
            value in (c.spec.image, c.image_id)
            or c.image_id.startswith(value)
            or (c.image_id.removeprefix("sha256:").startswith(value))
        )
    if key == "exited":
        return c.state == "exited" and str(c.exit_code) == value
    if key == "health":
        if value not in HEALTH:
            raise errors.InvalidArgument(f"Unrecognised filter value for health: {value}")
        has_check = c.resolved.healthcheck is not None and c.health is not None
        return (c.health.status if has_check and c.health else "none") == value
    if key == "network":
        return c.sandbox is not None and _on_network(c.sandbox, value)
    return True


def _on_network(s: Sandbox, network: str) -> bool:
    """Whether any of the container's networks is ``network``: by name, id or id prefix, as
    dockerd matches; "none" and "host" by the container's mode, having no endpoint."""
    if network in ("none", "host"):
        return s.mode == network
    return bool(network) and any(
        network == e.network or e.network_id.startswith(network) for e in s.endpoints
    )
