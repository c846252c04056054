"""``estiba up`` and ``estiba down``: start and stop the services on this machine."""

from __future__ import annotations

from pathlib import Path

from client import launcher
from client.cli import flags, output
from client.transport import Transport

DEFAULT_ROOT = Path("/var/lib/estiba")
DEFAULT_RUN_DIR = Path("/run/estiba")


def _dirs(p: flags.Parser) -> None:
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="state directory")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="sockets and pid files")


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("up", help="start estiba's services on this machine")
    _dirs(p)
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    p.add_argument(
        "--host", dest="listen", default="", help="where the gateway listens (unix:// or tcp://)"
    )
    p.add_argument("--registry-addr", default="", help="registry HTTP address HOST:PORT")
    p.add_argument("--config", type=Path, help="TOML configuration for the services")
    p.set_defaults(run=up)
    p = sub.add_parser("down", help="stop estiba's services on this machine")
    _dirs(p)
    p.set_defaults(run=down)


def up(args: flags.Namespace, api: Transport | None) -> int:
    root, run_dir = args.root.absolute(), args.run_dir.absolute()
    cmd = launcher.supervisor_command(root, run_dir, args.listen, args.registry_addr, args.config)
    if not args.detach:
        return launcher.up_foreground(cmd)
    try:
        url = launcher.up_detached(cmd, root, run_dir)
    except launcher.AlreadyRunning as exc:
        output.line(f"estiba is already running (supervisor pid {exc.pid})")
        output.line(f"export ESTIBA_HOST={launcher.gateway_url(run_dir, args.listen)}")
        return 0
    output.line(f"estiba is up; logs in {root / 'logs'}")
    output.line(f"export ESTIBA_HOST={url}")
    output.line(f"docker -H {url} info")
    return 0


def down(args: flags.Namespace, api: Transport | None) -> int:
    pid = launcher.down(args.run_dir.absolute())
    if pid is None:
        output.line("estiba is not running")
    else:
        output.line(f"estiba stopped (supervisor pid {pid})")
    return 0
