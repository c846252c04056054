"""Start and stop the services of one estiba instance on this machine.

``up`` runs ``python -m services.supervisor`` (by module name: the client imports no service
code). With ``detach`` the supervisor runs in a new session with its output in
``<root>/logs/supervisor.log``; ``up`` waits until it writes ``ready`` on a pipe, which it does
once all four services answer their health checks, or until it exits. ``down`` sends SIGTERM to
the supervisor named in ``<run_dir>/supervisor.pid`` and waits until it is gone.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from client.errors import ClientError

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0
EXIT_ALREADY_RUNNING = 3


def supervisor_command(
    root: Path, run_dir: Path, host: str, registry_addr: str, config: Path | None
) -> list[str]:
    cmd = [sys.executable, "-m", "services.supervisor", "--root", str(root),
           "--run-dir", str(run_dir)]  # fmt: skip
    if host:
        cmd += ["--host", host]
    if registry_addr:
        cmd += ["--registry-addr", registry_addr]
    if config is not None:
        cmd += ["--config", str(config)]
    return cmd


def running_supervisor(run_dir: Path) -> int | None:
    """The pid of the supervisor of ``run_dir``, if one runs."""
    try:
        pid = int((run_dir / "supervisor.pid").read_text().strip() or 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and b"services.supervisor" in cmdline else None


def gateway_url(run_dir: Path, host: str) -> str:
    return host or f"unix://{run_dir / 'estiba.sock'}"


def up_detached(cmd: list[str], root: Path, run_dir: Path) -> str:
    """Start the supervisor in the background; return the gateway URL once all are healthy."""
    pid = running_supervisor(run_dir)
    if pid is not None:
        raise AlreadyRunning(pid)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    log_path = root / "logs" / "supervisor.log"
    read_end, write_end = os.pipe()
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [*cmd, "--ready-fd", str(write_end)],
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    os.close(write_end)
    try:
        message = _read_ready(read_end, proc)
    finally:
        os.close(read_end)
    if message.startswith("ready "):
        return message.removeprefix("ready ").strip()
    code = proc.poll()
    if code == EXIT_ALREADY_RUNNING:
        raise AlreadyRunning(running_supervisor(run_dir) or 0)
    tail = _tail(log_path)
    raise ClientError(f"estiba did not come up (see {log_path}):\n{tail}")


def _read_ready(fd: int, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return data.decode()
            data += chunk
            if data.endswith(b"\n"):
                return data.decode()
    if proc.poll() is None:
        proc.terminate()
    return data.decode()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def up_foreground(cmd: list[str]) -> int:
    """Run the supervisor in this terminal until Ctrl-C; returns its exit code."""
    proc = subprocess.Popen(cmd)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue  # the supervisor got the SIGINT too and is stopping the services


def down(run_dir: Path) -> int | None:
    """Stop the instance of ``run_dir``; returns the supervisor's pid, or None if none ran."""
    pid = running_supervisor(run_dir)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return pid
        time.sleep(0.05)
    raise ClientError(f"the supervisor (pid {pid}) did not stop within {STOP_TIMEOUT:g}s")


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and has not exited (a zombie has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class AlreadyRunning(ClientError):
    def __init__(self, pid: int) -> None:
        super().__init__(f"estiba already runs (supervisor pid {pid})")
        self.pid = pid
