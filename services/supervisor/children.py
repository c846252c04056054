"""One supervised child process: started, watched, restarted with back-off, stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import time
from pathlib import Path

from services.kit.log import get_logger

log = get_logger()

FIRST_BACKOFF = 0.25
MAX_BACKOFF = 8.0
STABLE_AFTER = 10.0  # a child that ran this long gets its back-off reset
STOP_TIMEOUT = 10.0


@dataclasses.dataclass
class Child:
    """A service the supervisor runs as ``python -m services.<name>``."""

    name: str
    env: dict[str, str]
    log_path: Path
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    stopping: bool = False
    _backoff: float = FIRST_BACKOFF

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", f"services.{self.name}",
                env=self.env, stdin=asyncio.subprocess.DEVNULL, stdout=fd, stderr=fd,
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops us in order
            )  # fmt: skip
        finally:
            os.close(fd)
        log.info("service_started", child=self.name, pid=self.proc.pid)

    async def keep_running(self) -> None:
        """Restart the child whenever it dies, until ``stop`` is called."""
        while not self.stopping:
            if self.proc is None:
                await self.start()
            assert self.proc is not None
            began = time.monotonic()
            code = await self.proc.wait()
            if self.is_stopping():
                return
            lived = time.monotonic() - began
            if lived >= STABLE_AFTER:
                self._backoff = FIRST_BACKOFF
            log.warning(
                "service_exited",
                child=self.name,
                pid=self.proc.pid,
                why=describe_exit(code),
                ran_seconds=round(lived, 2),
                restart_in=self._backoff,
                log_file=str(self.log_path),
            )
            self.proc = None
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)
            self.restarts += 1

    def is_stopping(self) -> bool:
        return self.stopping

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if the child is still there after STOP_TIMEOUT."""
        self.stopping = True
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("service_killed", child=self.name, pid=proc.pid, after=STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        log.info("service_stopped", child=self.name, why=describe_exit(await proc.wait()))


def describe_exit(code: int) -> str:
    """How a child ended, from asyncio's return code: "exit code 1", "killed by SIGKILL"."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
