"""``estiba node ls``: the nodes behind the gateway, their health and what each one holds."""

from __future__ import annotations

from client.cli import flags, output, output_format
from client.transport import Transport

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

DEFAULT_NODES = (
    "table {{.Name}}\t{{.Status}}\t{{.Engine}}\t{{.Netd}}\t{{.Containers}}\t{{.Images}}"
    "\t{{.Version}}\t{{.Address}}"
)
HEADERS = {"Containers": "CONTAINERS (RUNNING/ALL)", "Address": "ENGINE ADDRESS"}


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("node", help="list the nodes behind the gateway")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    v = verbs.add_parser("ls", help="list nodes with their health and counts")
    v.add_argument("-q", "--quiet", action="store_true", help="only the names")
    output.add_format_flag(v)
    v.set_defaults(run=ls)


def row(n: dict[str, Any]) -> dict[str, Any]:
    """A node as the table and templates see it (``{{.Name}}``, ``{{.Containers}}``, ...)."""
    return {
        "Name": n["Name"],
        "Status": n["Status"],
        "Engine": n["Engine"]["Status"],
        "Netd": n["Netd"]["Status"],
        "Containers": f"{n['ContainersRunning']}/{n['Containers']}",
        "Images": str(n["Images"]),
        "Version": n["Version"] or "-",
        "Address": n["Engine"]["Address"],
        "Error": n["Engine"]["Error"] or n["Netd"]["Error"],
    }


def ls(args: flags.Namespace, api: Transport) -> int:
    """Exit 0 when every node is healthy, 1 otherwise (the list is printed either way)."""
    nodes: list[dict[str, Any]] = api.get_json("/estiba/v1/nodes", versioned=False)
    if args.quiet:
        for n in nodes:
            output.line(n["Name"])
    elif args.format.strip() == "json":
        output_format.objects("json", nodes)
    else:
        output_format.rows(args.format, [row(n) for n in nodes], DEFAULT_NODES, HEADERS)
        for n in nodes:
            if n["Status"] != "healthy":
                output.error(f"node {n['Name']} is {n['Status']}: {row(n)['Error']}")
    return 0 if all(n["Status"] == "healthy" for n in nodes) else 1
