"""One event, in the words of Docker's events API."""

from __future__ import annotations

import dataclasses

CONTAINER, IMAGE, VOLUME, NETWORK, DAEMON = "container", "image", "volume", "network", "daemon"
TYPES = (CONTAINER, IMAGE, VOLUME, NETWORK, DAEMON, "plugin", "node", "service", "secret", "config")


@dataclasses.dataclass(frozen=True)
class Event:
    """``type`` and ``action`` as Docker names them ("container", "die"); the actor is the
    object it happened to, with attributes such as its name, image, labels and exit code."""

    type: str
    action: str
    actor_id: str
    attributes: dict[str, str]
    time_nano: int
    scope: str = "local"
