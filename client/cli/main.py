"""``estiba``: parse the command line, run one command, map failures to Docker's exit codes.

Exit codes, as docker's: the command's own code on success or a container's code for ``run``;
125 when estiba itself fails (cannot connect, an error from the daemon), with one line on stderr
and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from client.cli import containers, daemon, images, inside, output, registry, system, volumes
from client.errors import ClientError
from client.transport import Transport, resolve_host

EXIT_ESTIBA_ERROR = 125

Command = Callable[[argparse.Namespace, Transport], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="estiba",
        description="Containers, images, networks and a registry: Docker's verbs, estiba's way.",
    )
    parser.add_argument(
        "-H",
        "--host",
        help="daemon socket (default: $ESTIBA_HOST or unix:///run/estiba/estiba.sock)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (system, daemon, containers, inside, images, volumes, registry):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        sys.exit(0)
    api = Transport(resolve_host(args.host))
    try:
        code = args.run(args, api)
    except ClientError as exc:
        output.error(f"estiba: {exc}")
        code = EXIT_ESTIBA_ERROR
    except KeyboardInterrupt:
        code = 130
    finally:
        api.close()
    sys.exit(code)
