"""``estiba volume create|ls|inspect|rm|prune``."""

from __future__ import annotations

import json

from client.cli import flags, output, output_format, output_rows
from client.errors import APIError
from client.transport import Transport

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("volume", help="manage named volumes")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    v = verbs.add_parser("create", help="create a volume")
    v.add_argument("-d", "--driver", default="local")
    v.add_argument("-l", "--label", action="append", default=[])
    v.add_argument("-o", "--opt", action="append", default=[])
    v.add_argument("name", nargs="?", default="")
    v.set_defaults(run=create)
    v = verbs.add_parser("ls", help="list volumes")
    v.add_argument("-q", "--quiet", action="store_true")
    v.add_argument("-f", "--filter", action="append", default=[])
    output.add_format_flag(v)
    v.set_defaults(run=ls)
    v = verbs.add_parser("inspect", help="show volumes as JSON")
    v.add_argument("-f", "--format", default="", help="'json' or a Go template")
    v.add_argument("names", nargs="+")
    v.set_defaults(run=inspect)
    v = verbs.add_parser("rm", help="remove volumes")
    v.add_argument("-f", "--force", action="store_true")
    v.add_argument("names", nargs="+")
    v.set_defaults(run=rm)
    v = verbs.add_parser("prune", help="remove volumes no container uses")
    v.add_argument("-f", "--force", action="store_true", help="do not ask")
    v.add_argument("--filter", action="append", default=[])
    v.set_defaults(run=prune)


def _pairs(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (item.partition("=") for item in items)}


def create(args: flags.Namespace, api: Transport) -> int:
    body = {
        "Name": args.name,
        "Driver": args.driver,
        "Labels": _pairs(args.label),
        "DriverOpts": _pairs(args.opt),
    }
    _, data = api.request("POST", "/volumes/create", body=body)
    output.line(json.loads(data)["Name"])
    return 0


def ls(args: flags.Namespace, api: Transport) -> int:
    query = output.filter_query(args.filter)
    volumes: list[dict[str, Any]] = api.get_json("/volumes", query=query)["Volumes"]
    if args.quiet:
        for volume in volumes:
            output.line(volume["Name"])
        return 0
    rows = [output_rows.volume(v) for v in volumes]
    output_format.rows(args.format, rows, output_rows.DEFAULT_VOLUMES, {"Name": "VOLUME NAME"})
    return 0


def inspect(args: flags.Namespace, api: Transport) -> int:
    found, failed = [], False
    for name in args.names:
        try:
            found.append(api.get_json(f"/volumes/{name}"))
        except APIError as exc:
            output.error(f"Error response from daemon: {exc.message}")
            failed = True
    output_format.objects(args.format, found)
    return 1 if failed else 0


def rm(args: flags.Namespace, api: Transport) -> int:
    failed = False
    for name in args.names:
        try:
            api.request("DELETE", f"/volumes/{name}", query={"force": "1" if args.force else "0"})
        except APIError as exc:
            output.error(f"Error response from daemon: {exc.message}")
            failed = True
            continue
        output.line(name)
    return 1 if failed else 0


def prune(args: flags.Namespace, api: Transport) -> int:
    _, data = api.request("POST", "/volumes/prune", query=output.filter_query(args.filter))
    reply = json.loads(data)
    deleted = reply.get("VolumesDeleted") or []
    if deleted:
        output.line("Deleted Volumes:")
        for name in deleted:
            output.line(name)
        output.line()
    output.line(f"Total reclaimed space: {output.human_bytes(reply.get('SpaceReclaimed', 0))}")
    return 0
