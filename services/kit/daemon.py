"""The outer shell of every service process: arguments, config, logging, signals, exit codes.

``run(name, cls, main)`` parses ``--config``, loads ``cls`` through ``kit.config``, sets up
logging and runs ``main(config, stop)`` on a fresh event loop. SIGTERM and SIGINT set ``stop``;
``main`` then shuts down in reverse order of start-up. A bad configuration exits 2 with one line
on stderr; an error at start-up exits 1 after logging it once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from services.kit import config as kconfig
from services.kit import log as klog
from services.kit.version import GIT_COMMIT, VERSION


class LogSettings(Protocol):
    @property
    def log_level(self) -> str: ...
    @property
    def log_format(self) -> str: ...


C = TypeVar("C", bound=LogSettings)

STARTED_AT = datetime.now(UTC)
STARTED_MONOTONIC = time.monotonic()


def started_at() -> str:
    """When this process started, RFC 3339 UTC."""
    return STARTED_AT.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run(name: str, cls: type[C], main: Callable[[C, asyncio.Event], Awaitable[None]]) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--version", action="version", version=f"estiba {name} {VERSION}")
    args = parser.parse_args()
    try:
        cfg = kconfig.load(cls, name, path=args.config)
    except kconfig.ConfigError as exc:
        print(f"estiba {name}: {exc}", file=sys.stderr)
        sys.exit(2)
    klog.configure(name, level=cfg.log_level, fmt=cfg.log_format)
    log = klog.get_logger()
    log.info("service_starting", version=VERSION, commit=GIT_COMMIT, pid=os.getpid())
    try:
        asyncio.run(_main(cfg, main))
    except Exception as exc:
        log.exception("service_failed", error=str(exc))
        sys.exit(1)
    log.info("service_stopped")


async def _main(cfg: C, main: Callable[[C, asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await main(cfg, stop)
