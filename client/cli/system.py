"""``estiba version`` and ``estiba info``."""

from __future__ import annotations

import json
import platform

from client.cli import flags, output, output_format
from client.errors import ClientError
from client.transport import Transport

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

CLIENT_VERSION = "0.1.0"


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("version", help="show the client's and the server's versions")
    p.add_argument(
        "-f", "--format", default="", help="'json' or a Go template: '{{.Server.Version}}'"
    )
    p.set_defaults(run=version)
    p = sub.add_parser("info", help="show what estiba runs and holds, and its services' health")
    p.add_argument("-f", "--format", default="", help="'json' or a Go template: '{{.Name}}'")
    p.set_defaults(run=info)


def _client() -> dict[str, Any]:
    return {
        "Platform": {"Name": "estiba"},
        "Version": CLIENT_VERSION,
        "ApiVersion": "1.44",
        "DefaultAPIVersion": "1.44",
        "PythonVersion": platform.python_version(),
        "Os": "linux",
        "Arch": platform.machine(),
    }


def version(args: flags.Namespace, api: Transport) -> int:
    client = _client()
    if args.format:
        # docker's shape: {"Client": ..., "Server": ...}; the server may be unreachable
        server: dict[str, Any] | None
        try:
            server = api.get_json("/version")
        except ClientError as exc:
            server, failure = None, exc
        both = {"Client": client, "Server": server}
        if args.format == "json":
            output.line(json.dumps(both, separators=(",", ":")))
        else:
            output_format.objects(args.format, [both])
        if server is None:
            raise failure
        return 0
    output.line("Client: estiba")
    output.fields(
        [
            ("Version", client["Version"]),
            ("API version", client["ApiVersion"]),
            ("Python version", client["PythonVersion"]),
            ("OS/Arch", f"linux/{client['Arch']}"),
        ]
    )
    try:
        server = api.get_json("/version")
    except ClientError as exc:
        output.line()
        raise exc
    output.line()
    output.line(f"Server: {server.get('Platform', {}).get('Name', 'estiba')}")
    for component in server.get("Components", []):
        output.line(f" {component['Name']}:")
        pairs: list[tuple[str, object]] = [("Version", component.get("Version", ""))]
        pairs += [(k, v) for k, v in component.get("Details", {}).items()]
        output.fields(pairs, indent=2)
    return 0


def info(args: flags.Namespace, api: Transport) -> int:
    data: dict[str, Any] = api.get_json("/info")
    if args.format == "json":
        output.line(json.dumps(data, indent=2))
        return 0
    if args.format:
        output_format.objects(args.format, [data])
        return 0
    estiba = data.get("Estiba", {})
    output.line(f"Server: estiba {data.get('ServerVersion', '')} on {data.get('Name', '')}")
    output.fields(
        [
            ("Node", estiba.get("Node", "")),
            ("Endpoint", estiba.get("Listen", "")),
            ("Root", data.get("DockerRootDir", "")),
            ("Containers", data.get("Containers", 0)),
            (" Running", data.get("ContainersRunning", 0)),
            (" Paused", data.get("ContainersPaused", 0)),
            (" Stopped", data.get("ContainersStopped", 0)),
            ("Images", data.get("Images", 0)),
            ("Networks", estiba.get("Networks", 0)),
            ("Registry", estiba.get("Registry", {}).get("Address", "")),
            ("Runtime", data.get("DefaultRuntime", "")),
            ("Kernel", data.get("KernelVersion", "")),
            ("OS", data.get("OperatingSystem", "")),
            ("CPUs", data.get("NCPU", 0)),
            ("Memory", output.human_bytes(data.get("MemTotal", 0))),
        ]
    )
    output.line()
    services = estiba.get("Services", [])
    output.table(
        ["SERVICE", "STATUS", "PID", "VERSION", "ADDRESS", "ERROR"],
        [
            [s["Name"], s["Status"], s["Pid"] or "-", s["Version"] or "-", s["Address"] or "-",
             s["Error"]]
            for s in services
        ],
    )  # fmt: skip
    for warning in data.get("Warnings") or []:
        output.error(warning)
    down = [s["Name"] for s in services if s["Status"] != "healthy"]
    return 1 if down else 0
