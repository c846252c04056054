"""``estiba events``: what happens on the node, as it happens (docker events)."""

from __future__ import annotations

import json
import sys
from datetime import datetime

from client.cli import flags, output, output_format
from client.cli.times import timestamp
from client.transport import Transport

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

BILLION = 1_000_000_000


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("events", help="show events as they happen")
    p.add_argument("--since", default="", help="also events since this time (10m, RFC 3339, Unix)")
    p.add_argument("--until", default="", help="stop at this time")
    p.add_argument(
        "-f", "--filter", action="append", default=[], help="type=, event=, container=, label=..."
    )
    p.add_argument(
        "--format", default="", help="'json' (one object per line) or a Go template ('{{.Action}}')"
    )
    p.set_defaults(run=events)


def events(args: flags.Namespace, api: Transport) -> int:
    as_json = args.format in ("json", "{{json .}}")
    template = output_format.compile_(args.format) if args.format and not as_json else None
    query: dict[str, str] = {}
    if args.since:
        query["since"] = timestamp(args.since)
    if args.until:
        query["until"] = timestamp(args.until)
    query |= output.filter_query(args.filter)
    for event in api.stream_json("GET", "/events", query=query):
        if as_json:
            line = json.dumps(event, separators=(",", ":"))
        elif template is not None:
            line = output_format.render(template, fields(event))
        else:
            line = pretty(event)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return 0


def fields(event: dict[str, Any]) -> dict[str, Any]:
    """The event as docker's templates see it: Go's field names (.Status, .ID, .TimeNano)."""
    names = {"status": "Status", "id": "ID", "from": "From", "scope": "Scope", "time": "Time"}
    out = {**event, **{go: event[key] for key, go in names.items() if key in event}}
    out["TimeNano"] = event.get("timeNano", 0)
    return out


def pretty(event: dict[str, Any]) -> str:
    """``<time> <type> <action> <actor id> (k=v, ...)``, the way docker events prints."""
    nanos = int(event.get("timeNano") or int(event.get("time") or 0) * BILLION)
    when = datetime.fromtimestamp(nanos // BILLION).astimezone()
    offset = when.strftime("%z")
    zone = "Z" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}"
    text = f"{when:%Y-%m-%dT%H:%M:%S}.{nanos % BILLION:09d}{zone} "
    actor = event.get("Actor") or {}
    text += f"{event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    attributes = actor.get("Attributes") or {}
    if attributes:
        text += " (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")"
    return text
