"""``python -m services.supervisor``: what ``estiba up`` runs.

It starts netd, engine, registry and gateway as separate processes (each in its own session, so
a Ctrl-C reaches only the supervisor), writes each one's output to ``<root>/logs/<name>.log``,
restarts a child that dies with back-off and logs why, and on SIGTERM or SIGINT stops them in
reverse order. It holds an exclusive lock on ``<run_dir>/supervisor.pid`` so one run dir has one
supervisor. Once all four are healthy it writes ``ready`` to ``--ready-fd`` (how ``up -d`` knows).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import signal
import sys
from pathlib import Path
from typing import IO

from services.kit import log as klog
from services.kit.tasks import spawn
from services.supervisor.children import Child
from services.supervisor.health import HealthWatch

ORDER = ("netd", "engine", "registry", "gateway")  # start order; stop is the reverse
READY_TIMEOUT = 60.0
EXIT_ALREADY_RUNNING = 3
EXIT_NOT_READY = 4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.supervisor")
    parser.add_argument("--root", type=Path, default=Path("/var/lib/estiba"))
    parser.add_argument("--run-dir", type=Path, default=Path("/run/estiba"))
    parser.add_argument("--host", default="", help="gateway listen URL (unix:// or tcp://)")
    parser.add_argument("--registry-addr", default="", help="registry HTTP HOST:PORT")
    parser.add_argument("--config", type=Path, help="TOML configuration passed to each service")
    parser.add_argument("--ready-fd", type=int, default=-1, help="write 'ready' here when up")
    return parser.parse_args(argv)


def child_env(args: argparse.Namespace) -> dict[str, str]:
    """The services' environment: ours, with ESTIBA_* settings passed through (see kit.config)
    and the instance's own directories and addresses on top."""
    env = {k: v for k, v in os.environ.items() if k not in ("ESTIBA_HOST", "ESTIBA_CONFIG")}
    env.update(
        ESTIBA_ROOT=str(args.root.absolute()),
        ESTIBA_RUN_DIR=str(args.run_dir.absolute()),
        ESTIBA_LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    if args.config:
        env["ESTIBA_CONFIG"] = str(args.config.absolute())
    if args.host:
        env["ESTIBA_GATEWAY_LISTEN"] = args.host
    if args.registry_addr:
        env["ESTIBA_REGISTRY_HTTP_ADDR"] = args.registry_addr
    return env


def lock_pidfile(path: Path) -> IO[str] | None:
    """Hold ``path`` locked for this process's life and write our pid into it; None if taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


async def supervise(args: argparse.Namespace) -> int:
    log = klog.get_logger()
    env = child_env(args)
    logs = args.root.absolute() / "logs"
    children = [Child(name, env, logs / f"{name}.log") for name in ORDER]
    run_dir = args.run_dir.absolute()
    gateway_url = args.host or f"unix://{run_dir / 'estiba.sock'}"
    watch = HealthWatch({n: f"unix://{run_dir / f'{n}.sock'}" for n in ORDER})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    for child in children:
        await child.start()
    keepers = [spawn(c.keep_running(), name=f"keep-{c.name}") for c in children]
    status = await watch.wait_healthy(loop.time() + READY_TIMEOUT)
    code = 0
    if all(status.values()):
        log.info("instance_ready", gateway=gateway_url, pid=os.getpid())
        _notify_ready(args.ready_fd, gateway_url)
        await stop.wait()
    else:
        down = [name for name, ok in status.items() if not ok]
        log.error("instance_not_ready", down=down, timeout=READY_TIMEOUT)
        code = EXIT_NOT_READY
    for child in reversed(children):
        await child.stop()
    for keeper in keepers:
        keeper.cancel()
    await asyncio.gather(*keepers, return_exceptions=True)
    await watch.close()
    return code


def _notify_ready(fd: int, gateway_url: str) -> None:
    if fd < 0:
        print(f"estiba is up: {gateway_url}", file=sys.stderr, flush=True)
        return
    try:
        os.write(fd, f"ready {gateway_url}\n".encode())
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    klog.configure("supervisor", level=os.environ.get("ESTIBA_LOG_LEVEL", "info"))
    pidfile = lock_pidfile(args.run_dir.absolute() / "supervisor.pid")
    if pidfile is None:
        print(f"estiba already runs with run dir {args.run_dir}", file=sys.stderr)
        sys.exit(EXIT_ALREADY_RUNNING)
    try:
        code = asyncio.run(supervise(args))
    finally:
        Path(pidfile.name).unlink(missing_ok=True)
        pidfile.close()
    sys.exit(code)
