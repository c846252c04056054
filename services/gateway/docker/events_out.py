"""Engine events → Docker's EventMessage, and Docker's since/until → Unix nanoseconds."""

from __future__ import annotations

from typing import Any

from estiba.engine.v1 import events_pb2 as pb
from services.kit import errors

BILLION = 1_000_000_000


def message(e: pb.Event) -> dict[str, Any]:
    """Container and image events also carry the deprecated status, id and from, which older
    clients (and docker run below API 1.30) still read."""
    out: dict[str, Any] = {}
    if e.type in ("container", "image"):
        out["status"], out["id"] = e.action, e.actor_id
        if e.type == "container" and e.attributes.get("image"):
            out["from"] = e.attributes["image"]
    out.update(
        {
            "Type": e.type,
            "Action": e.action,
            "Actor": {"ID": e.actor_id, "Attributes": dict(e.attributes)},
            "scope": e.scope,
            "time": e.time_nano // BILLION,
            "timeNano": e.time_nano,
        }
    )
    return out


def timestamp(value: str | None, name: str) -> int:
    """``1700000000`` or ``1700000000.123456789`` (what the docker CLI sends) in ns; 0 if none."""
    if not value:
        return 0
    seconds, _, fraction = value.partition(".")
    if not seconds.lstrip("-").isdigit() or (fraction and not fraction.isdigit()):
        raise errors.InvalidArgument(f"invalid value for {name}: {value!r}")
    nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
    return max(0, int(seconds) * BILLION + nanos)
