"""``estiba network create|ls|inspect|rm|prune|connect|disconnect``, as docker's."""

from __future__ import annotations

import json
import sys

from client import urls
from client.cli import flags, output, output_format, output_rows
from client.errors import APIError, NotFound
from client.transport import Transport

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

PRUNE_WARNING = (
    "WARNING! This will remove all custom networks not used by at least one container.\n"
    "Are you sure you want to continue? [y/N] "
)


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("network", help="manage networks")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    v = verbs.add_parser("create", help="create a network")
    v.add_argument("-d", "--driver", default="bridge")
    v.add_argument("--subnet", default="", help="IPv4 subnet in CIDR notation")
    v.add_argument("--gateway", default="", help="the bridge's address in the subnet")
    v.add_argument("--ip-range", default="", help="where container addresses come from")
    v.add_argument("--internal", action="store_true", help="no way out of the network")
    v.add_argument("--attachable", action="store_true")
    v.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    v.add_argument("-o", "--opt", action="append", default=[], metavar="KEY=VALUE")
    v.add_argument("name")
    v.set_defaults(run=create)
    v = verbs.add_parser("ls", help="list networks")
    v.add_argument("-q", "--quiet", action="store_true", help="only the ids")
    v.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE")
    v.add_argument("--no-trunc", action="store_true")
    output.add_format_flag(v)
    v.set_defaults(run=ls)
    v = verbs.add_parser("inspect", help="show networks as JSON")
    v.add_argument("-f", "--format", default="", help="'json' or a Go template")
    v.add_argument("networks", nargs="+")
    v.set_defaults(run=inspect)
    v = verbs.add_parser("rm", help="remove networks")
    v.add_argument("networks", nargs="+")
    v.set_defaults(run=rm)
    v = verbs.add_parser("prune", help="remove networks no container uses")
    v.add_argument("-f", "--force", action="store_true", help="do not ask")
    v.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE")
    v.set_defaults(run=prune)
    v = verbs.add_parser("connect", help="connect a container to a network")
    v.add_argument("--ip", default="", help="a static IPv4 address on the network")
    v.add_argument("--alias", action="append", default=[], help="another name on the network")
    v.add_argument("network")
    v.add_argument("container")
    v.set_defaults(run=connect)
    v = verbs.add_parser("disconnect", help="disconnect a container from a network")
    v.add_argument("-f", "--force", action="store_true")
    v.add_argument("network")
    v.add_argument("container")
    v.set_defaults(run=disconnect)


def _pairs(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (item.partition("=") for item in items)}


def _path(network: str, tail: str = "") -> str:
    return f"/networks/{urls.quote(network, safe='')}{tail}"


def create(args: flags.Namespace, api: Transport) -> int:
    config = {"Subnet": args.subnet, "Gateway": args.gateway, "IPRange": args.ip_range}
    body = {
        "Name": args.name,
        "Driver": args.driver,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{k: v for k, v in config.items() if v}] if args.subnet else [],
        },
        "Internal": args.internal,
        "Attachable": args.attachable,
        "Options": _pairs(args.opt),
        "Labels": _pairs(args.label),
    }
    if not args.subnet and (args.gateway or args.ip_range):
        body["IPAM"]["Config"] = [{k: v for k, v in config.items() if v}]
    _, data = api.request("POST", "/networks/create", body=body)
    output.line(json.loads(data)["Id"])
    return 0


def ls(args: flags.Namespace, api: Transport) -> int:
    found: list[dict[str, Any]] = api.get_json("/networks", query=output.filter_query(args.filter))
    found.sort(key=lambda n: str(n["Name"]))
    ids = [n["Id"] if args.no_trunc else n["Id"][:12] for n in found]
    if args.quiet:
        for network_id in ids:
            output.line(network_id)
        return 0
    rows = [output_rows.network(n, no_trunc=args.no_trunc) for n in found]
    output_format.rows(args.format, rows, output_rows.DEFAULT_NETWORKS, {"ID": "NETWORK ID"})
    return 0


def inspect(args: flags.Namespace, api: Transport) -> int:
    found: list[Any] = []
    failed = False
    for name in args.networks:
        try:
            found.append(api.get_json(_path(name)))
        except NotFound:
            output.error(f"Error: No such network: {name}")
            failed = True
    output_format.objects(args.format, found)
    return 1 if failed else 0


def rm(args: flags.Namespace, api: Transport) -> int:
    failed = False
    for name in args.networks:
        try:
            api.request("DELETE", _path(name))
        except APIError as exc:
            output.error(f"Error response from daemon: {exc.message}")
            failed = True
            continue
        output.line(name)
    return 1 if failed else 0


def prune(args: flags.Namespace, api: Transport) -> int:
    if not args.force:
        sys.stdout.write(PRUNE_WARNING)
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    _, data = api.request("POST", "/networks/prune", query=output.filter_query(args.filter))
    deleted = json.loads(data).get("NetworksDeleted") or []
    if deleted:
        output.line("Deleted Networks:")
        for name in deleted:
            output.line(name)
    return 0


def connect(args: flags.Namespace, api: Transport) -> int:
    endpoint: dict[str, Any] = {"Aliases": args.alias}
    if args.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": args.ip}
    body = {"Container": args.container, "EndpointConfig": endpoint}
    api.request("POST", _path(args.network, "/connect"), body=body)
    return 0


def disconnect(args: flags.Namespace, api: Transport) -> int:
    body = {"Container": args.container, "Force": args.force}
    api.request("POST", _path(args.network, "/disconnect"), body=body)
    return 0
