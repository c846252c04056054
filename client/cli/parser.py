"""The full command line parser: every command, its flags and its help, built with argparse.

Only the module of the command being run is imported and given to the parser: a CLI that
imports everything spends more time starting than the daemon spends running a container.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

# command → the module (client.cli.<module>) that registers it; --help lists them all
COMMANDS = {
    "version": "system", "info": "system", "up": "daemon", "down": "daemon",
    "run": "containers", "create": "containers", "start": "containers", "stop": "containers",
    "restart": "containers", "kill": "containers", "rm": "containers", "ps": "containers",
    "logs": "containers", "attach": "containers", "wait": "containers", "rename": "containers",
    "pause": "containers", "unpause": "containers", "inspect": "containers",
    "exec": "inside", "cp": "inside", "diff": "inside", "commit": "inside", "export": "inside",
    "top": "inside", "port": "inside", "stats": "inside",
    "pull": "images", "push": "images", "images": "images", "rmi": "images", "tag": "images",
    "history": "images", "save": "images", "load": "images", "import": "images", "image": "images",
    "volume": "volumes", "network": "networks", "login": "login", "logout": "login",
    "node": "nodes",
    "events": "events",
    "registry": "registry", "completion": "completion", "build": "build", "builder": "build",
}  # fmt: skip
MODULES = list(dict.fromkeys(COMMANDS.values()))


def command_of(argv: list[str]) -> str | None:
    """The command word in ``argv`` (skipping -H/--host and its value)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
            continue
        if word in ("-H", "--host"):
            skip = True
            continue
        if not word.startswith("-"):
            return word
    return None


def _english_only() -> None:
    """argparse asks gettext for a translation of every string it registers, dozens per
    command and about 15 ms in all (each a search of the locale directories): estiba's
    messages are English, so its strings are used as they are."""
    argparse._ = lambda message: message  # type: ignore[attr-defined]
    argparse.ngettext = lambda one, many, n: one if n == 1 else many  # type: ignore[attr-defined]


class _Formatter(argparse.HelpFormatter):
    """argparse makes a formatter for every argument it registers; the stock one imports
    shutil (13 ms) and asks for the terminal's size each time. This one asks os, once."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or _columns())


_COLUMNS: list[int] = []


def _columns() -> int:
    if not _COLUMNS:
        try:
            _COLUMNS.append(os.get_terminal_size(sys.stdout.fileno()).columns - 2)
        except (OSError, ValueError):
            given = os.environ.get("COLUMNS", "")
            _COLUMNS.append((int(given) if given.isdigit() else 80) - 2)
    return _COLUMNS[0]


class _Parser(argparse.ArgumentParser):
    """Every parser, the subcommands' too (argparse makes them of the parent's class), with
    the formatter above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    _english_only()
    parser = _Parser(
        prog="estiba",
        description="Containers, images, networks and a registry: Docker's verbs, estiba's way.",
    )
    parser.add_argument(
        "-H",
        "--host",
        help="daemon socket (default: $ESTIBA_HOST or unix:///run/estiba/estiba.sock)",
    )
    # prog given: otherwise argparse makes a help formatter to work it out, importing shutil
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="estiba")
    modules = [COMMANDS[command]] if command in COMMANDS else MODULES
    for name in modules:
        importlib.import_module(f"client.cli.{name}").register(sub)
    return parser
