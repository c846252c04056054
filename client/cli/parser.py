"""The full command line parser: every command, its flags and its help (see client.cli.flags).

Only the module of the command being run is imported and given to the parser: a CLI that
imports everything spends more time starting than the daemon spends running a container.
"""

from __future__ import annotations

from client.cli import flags

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


def build_parser(command: str | None = None) -> flags.Parser:
    parser = flags.Parser(
        prog="estiba",
        description="Containers, images, networks and a registry: Docker's verbs, estiba's way.",
    )
    parser.add_argument(
        "-H",
        "--host",
        help="daemon socket (default: $ESTIBA_HOST or unix:///run/estiba/estiba.sock)",
    )
    if command in COMMANDS:  # only that command's parser is built, and only its module imported
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", only=command)
        modules = [COMMANDS[command]]
    else:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        modules = MODULES
    for name in modules:
        # __import__ rather than importlib.import_module: importlib costs a command's start
        # half a millisecond of imports (importlib, warnings)
        __import__(f"client.cli.{name}", fromlist=["register"]).register(sub)
    return parser
