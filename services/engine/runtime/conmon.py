"""conmon: one small monitor per container, so stdio, logs and exit codes outlive the engine.

The engine starts conmon, which runs ``runc create`` and reports the container's pid on a sync
socket; the engine then runs ``runc start`` itself (after attaching, so no output is missed).
conmon writes the exit code to ``<bundle>/exit`` and exits; the engine learns of it through a
pidfd on conmon, which works even for a conmon started by an earlier engine process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import socket
from pathlib import Path

from services.kit import errors

LOG_SIZE_MAX = 64 << 20
STREAM_STDIN, STREAM_STDOUT, STREAM_STDERR = 1, 2, 3


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where conmon keeps a container's runtime files."""

    bundle: Path
    log: Path
    socket_dir: Path
    short_id: str

    @property
    def exit_file(self) -> Path:
        return self.bundle / "exit"

    @property
    def oom_file(self) -> Path:
        return self.bundle / "oom"

    @property
    def pidfile(self) -> Path:
        return self.bundle / "pidfile"

    @property
    def conmon_pidfile(self) -> Path:
        return self.bundle / "conmon.pid"

    @property
    def attach_socket(self) -> Path:
        return self.socket_dir / self.short_id / "attach"

    @property
    def ctl(self) -> Path:
        return self.bundle / "ctl"


class Conmon:
    def __init__(self, runc_path: str, runc_root: Path, exit_dir: Path) -> None:
        path = shutil.which("conmon")
        if path is None:
            raise errors.FailedPrecondition("conmon is not installed")
        self.path = path
        self.runc_path = runc_path
        self.runc_root = runc_root
        self.exit_dir = exit_dir

    def args(
        self,
        cid: str,
        name: str,
        paths: Paths,
        *,
        tty: bool,
        stdin: bool,
        stdin_once: bool = True,
    ) -> list[str]:
        args = [
            self.path,
            "--api-version",
            "1",
            "-c",
            cid,
            "-u",
            paths.short_id,
            "-n",
            name,
            "-r",
            self.runc_path,
            "--runtime-arg",
            "--root",
            "--runtime-arg",
            str(self.runc_root),
            "-b",
            str(paths.bundle),
            "-p",
            str(paths.pidfile),
            "-P",
            str(paths.conmon_pidfile),
            "-l",
            f"k8s-file:{paths.log}",
            "--log-size-max",
            str(LOG_SIZE_MAX),
            "--exit-dir",
            str(self.exit_dir),
            "-0",
            str(paths.bundle),
            "--socket-dir-path",
            str(paths.socket_dir),
            "--log-level",
            "warning",
            "--no-new-keyring",
        ]
        if tty:
            args.append("-t")
        if stdin:
            args.append("-i")
            if not stdin_once:
                # Docker's StdinOnce=false: a client that detaches or leaves does not close
                # the container's stdin, so the next attach can still type into it
                args.append("--leave-stdin-open")
        return args

    async def create(
        self,
        cid: str,
        name: str,
        paths: Paths,
        *,
        tty: bool,
        stdin: bool,
        stdin_once: bool = True,
    ) -> int:
        """Start conmon, which creates the container; returns the container's pid."""
        for stale in (paths.exit_file, paths.oom_file, self.exit_dir / cid):
            stale.unlink(missing_ok=True)
        self.exit_dir.mkdir(parents=True, exist_ok=True)
        paths.socket_dir.mkdir(parents=True, exist_ok=True)
        sync_parent, sync_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        start_parent, start_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "_OCI_SYNCPIPE": str(sync_child.fileno()),
            "_OCI_STARTPIPE": str(start_child.fileno()),
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.args(cid, name, paths, tty=tty, stdin=stdin, stdin_once=stdin_once),
                env=env,
                cwd=paths.bundle,
                start_new_session=True,
                pass_fds=(sync_child.fileno(), start_child.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            sync_child.close()
            start_child.close()
            start_parent.send(b"\0")
            _, err = await proc.communicate()  # the first conmon process exits after its fork
            sync_parent.setblocking(False)
            loop = asyncio.get_running_loop()
            try:
                message = await asyncio.wait_for(loop.sock_recv(sync_parent, 65536), 30)
            except TimeoutError as exc:
                raise errors.Internal("conmon did not report the container's pid") from exc
        finally:
            for sock in (sync_parent, sync_child, start_parent, start_child):
                sock.close()
        return _parse_sync(message, err)


LOGFMT_MSG = re.compile(r'\bmsg="((?:[^"\\]|\\.)*)"')


def _parse_sync(message: bytes, stderr: bytes) -> int:
    if not message:
        detail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise errors.Internal(f"conmon failed to create the container: {detail[0]}")
    reply = json.loads(message.splitlines()[0])
    pid = int(reply.get("data", -1))
    if pid <= 0:
        raise errors.FailedPrecondition(
            f"the container could not be created: {_clean(reply.get('message', ''))}",
            reason="RUNTIME_CREATE_FAILED",
        )
    return pid


def _clean(message: str) -> str:
    """runc's error from conmon, without its log framing (JSON, or logfmt's msg="...")."""
    for line in reversed(message.strip().splitlines()):
        with contextlib.suppress(ValueError, AttributeError):
            return str(json.loads(line).get("msg", line))
        found = LOGFMT_MSG.search(line)
        if found:
            with contextlib.suppress(ValueError):
                return str(json.loads(f'"{found.group(1)}"'))
        if line.strip():
            return line.strip()
    return "unknown error"


def read_pid(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def read_exit_code(paths: Paths) -> int | None:
    try:
        return int(paths.exit_file.read_text().strip())
    except (OSError, ValueError):
        return None


async def wait_process_exit(pid: int) -> None:
    """Wait until ``pid`` (not necessarily our child) exits, through a pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def is_conmon_of(pid: int, cid: str) -> bool:
    """True if ``pid`` is alive and is the conmon of container ``cid`` (guards pid reuse)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(args) and args[0].endswith(b"conmon") and cid.encode() in args


def resize(paths: Paths, height: int, width: int) -> None:
    """Tell conmon the terminal's size (one message per write: conmon parses per write)."""
    try:
        fd = os.open(paths.ctl, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, f"1 {height} {width}\n".encode())
    finally:
        os.close(fd)
