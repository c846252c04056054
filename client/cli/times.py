"""Times as ``--since``/``--until`` take them: its own module so that ``events`` need not import
the container commands."""

from __future__ import annotations

import time

from client.errors import ClientError


def timestamp(value: str) -> str:
    """Docker's forms: a Unix time, an RFC 3339 time, or a duration like 10m, 2h, 30s."""
    units = {"s": 1, "m": 60, "h": 3600}
    if value[-1:] in units and value[:-1].replace(".", "", 1).isdigit():
        return f"{time.time() - float(value[:-1]) * units[value[-1]]:.3f}"
    try:
        return f"{float(value):.3f}"
    except ValueError:
        pass
    from datetime import datetime  # only the commands given a date pay for it

    try:
        return f"{datetime.fromisoformat(value.replace('Z', '+00:00')).timestamp():.3f}"
    except ValueError as exc:
        raise ClientError(f"invalid time: {value!r}") from exc
