"""``estiba login`` and ``estiba logout``: registry credentials in a file only the user reads."""

from __future__ import annotations

import getpass
import sys

from client import credentials
from client.cli import flags, output
from client.errors import ClientError
from client.transport import Transport


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("login", help="log in to a registry")
    p.add_argument("-u", "--username", default="")
    p.add_argument("-p", "--password", default="")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("server", nargs="?", default="")
    p.set_defaults(run=login)
    p = sub.add_parser("logout", help="forget the credentials of a registry")
    p.add_argument("server", nargs="?", default="")
    p.set_defaults(run=logout)


def _server(value: str) -> str:
    return value.removeprefix("https://").removeprefix("http://").rstrip("/") or (
        credentials.DOCKER_HUB
    )


def login(args: flags.Namespace, api: Transport) -> int:
    server = _server(args.server)
    user = args.username or input("Username: ")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = args.password or getpass.getpass("Password: ")
    if not user or not password:
        raise ClientError("a user name and a password are needed")
    body = {"username": user, "password": password, "serveraddress": server}
    api.request("POST", "/auth", body=body)
    path = credentials.store(server, user, password)
    output.line(f"Login Succeeded (credentials saved in {path}, readable only by you)")
    return 0


def logout(args: flags.Namespace, api: Transport) -> int:
    server = _server(args.server)
    if credentials.remove(server):
        output.line(f"Removing login credentials for {server}")
    else:
        output.line(f"Not logged in to {server}")
    return 0
