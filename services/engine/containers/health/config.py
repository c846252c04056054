"""Which healthcheck a container gets: its own settings over its image's, as Docker merges them.

Pure functions. Durations are nanoseconds, as in Docker's API and image configs.
"""

from __future__ import annotations

from typing import Any

from services.engine.containers.models import Healthcheck
from services.kit import errors

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MIN_DURATION = SECOND // 1000  # Docker refuses intervals and timeouts below 1 ms
KINDS = ("NONE", "CMD", "CMD-SHELL")


def from_docker(data: Any) -> Healthcheck | None:
    """Docker's ``{"Test": [...], "Interval": ns, ...}`` (create body or image config)."""
    if not data:
        return None
    if not isinstance(data, dict):
        raise errors.InvalidArgument("Healthcheck must be an object")
    test = data.get("Test") or []
    if not isinstance(test, list) or not all(isinstance(t, str) for t in test):
        raise errors.InvalidArgument("Healthcheck.Test must be a list of strings")
    try:
        check = Healthcheck(
            test=tuple(test),
            interval=int(data.get("Interval") or 0),
            timeout=int(data.get("Timeout") or 0),
            start_period=int(data.get("StartPeriod") or 0),
            start_interval=int(data.get("StartInterval") or 0),
            retries=int(data.get("Retries") or 0),
        )
    except (TypeError, ValueError) as exc:
        raise errors.InvalidArgument(f"invalid Healthcheck: {exc}") from exc
    validate(check)
    return check


def validate(check: Healthcheck) -> None:
    """Docker's rules for a healthcheck given at create, with its messages."""
    if check.test and check.test[0] not in KINDS:
        raise errors.InvalidArgument(
            f"unknown type of healthcheck {check.test[0]!r}: must be one of {', '.join(KINDS)}"
        )
    if check.test and check.test[0] != "NONE" and len(check.test) < 2:
        raise errors.InvalidArgument(f"healthcheck {check.test[0]} needs a command")
    for name in ("interval", "timeout", "start_period", "start_interval"):
        value = getattr(check, name)
        if value < 0:
            raise errors.InvalidArgument(f"Healthcheck {name} can't be negative")
        if 0 < value < MIN_DURATION and name != "start_period":
            raise errors.InvalidArgument(f"Healthcheck {name} cannot be less than 1ms")
    if check.retries < 0:
        raise errors.InvalidArgument("Healthcheck retries can't be negative")


def merge(own: Healthcheck | None, image: Healthcheck | None) -> Healthcheck | None:
    """The container's settings, each unset one taken from the image; None when there is no
    test to run (none configured, or ["NONE"])."""
    if own is None:
        merged = image
    elif image is None:
        merged = own
    else:
        merged = Healthcheck(
            test=own.test or image.test,
            interval=own.interval or image.interval,
            timeout=own.timeout or image.timeout,
            start_period=own.start_period or image.start_period,
            start_interval=own.start_interval or image.start_interval,
            retries=own.retries or image.retries,
        )
    if merged is None or not merged.test or merged.test[0] == "NONE":
        return None
    return merged


def command(check: Healthcheck) -> tuple[str, ...]:
    """The probe's argv: CMD's as given, CMD-SHELL's through /bin/sh -c."""
    if check.test[0] == "CMD-SHELL":
        return ("/bin/sh", "-c", " ".join(check.test[1:]))
    return check.test[1:]


def from_image(data: Any) -> Healthcheck | None:
    """An image's healthcheck; one the engine cannot make sense of counts as none, so an odd
    image config never stops its containers from being created."""
    try:
        return from_docker(data)
    except errors.InvalidArgument:
        return None
