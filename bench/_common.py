"""What the benches share: processes started and stopped by pid, /proc readings, the host's
state before and after, temporary workspaces, system packages, and result tables.

Every bench is a plain program on the standard library (the services it measures run from the
project's virtualenv). Everything a bench starts it stops by pid; everything it creates lives in
a workspace under the temporary directory that is removed at the end; what it could not avoid
changing on the host it puts back and reports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("ESTIBA_VENV", REPO / ".venv"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
MIB = 1 << 20
MB = 1_000_000
RESERVED_PORTS = frozenset({5000})


class BenchError(Exception):
    """A step of a bench failed; the message says which and why."""


def say(message: str) -> None:
    """Progress, on stderr so stdout stays for results."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


# ---------------------------------------------------------------------------------------------
# /proc


def read_proc(pid: int, name: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/{name}").read_text(errors="replace")
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    text = read_proc(pid, "stat")
    if text is None:
        return None
    # the command name is in parentheses and may itself hold spaces or parentheses
    return text[text.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def ppid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` (all its threads), in seconds; 0 if it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for pid in all_pids():
        parent = ppid(pid)
        if parent is not None:
            tree.setdefault(parent, []).append(pid)
    return tree


def descendants(pid: int) -> list[int]:
    tree = children_map()
    found: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(tree.get(child, []))
    return found


def processes_mentioning(path: Path) -> list[int]:
    """Processes (not this one) whose command line or environment names ``path``.

    The safety net of a clean-up: whatever a run started under its workspace, by any route.
    """
    needle = str(path).encode()
    found = []
    for pid in all_pids():
        if pid == os.getpid():
            continue
        for name in ("cmdline", "environ"):
            try:
                if needle in Path(f"/proc/{pid}/{name}").read_bytes():
                    found.append(pid)
                    break
            except OSError:
                break
    return [pid for pid in found if alive(pid)]


def _status_kib(pid: int, key: str) -> int | None:
    text = read_proc(pid, "status")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def rss_kib(pid: int) -> int | None:
    return _status_kib(pid, "VmRSS")


def hwm_kib(pid: int) -> int | None:
    """The peak resident set size of ``pid`` since it started."""
    return _status_kib(pid, "VmHWM")


def pss_kib(pid: int) -> int | None:
    """Proportional set size from smaps_rollup (shared pages split among their users)."""
    text = read_proc(pid, "smaps_rollup")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


@dataclasses.dataclass
class Memory:
    """Resident memory of a group of processes, in KiB (PSS None where the kernel lacks it)."""

    pids: list[int]
    rss_kib: int
    pss_kib: int | None

    @classmethod
    def of(cls, pids: Iterable[int]) -> Memory:
        pids = sorted(set(pids))
        rss = 0
        pss: int | None = 0
        for pid in pids:
            rss += rss_kib(pid) or 0
            one = pss_kib(pid)
            pss = None if one is None or pss is None else pss + one
        return cls(pids, rss, pss)

    def to_json(self) -> dict[str, Any]:
        return {
            "pids": self.pids,
            "rss_mib": round(self.rss_kib / 1024, 2),
            "pss_mib": None if self.pss_kib is None else round(self.pss_kib / 1024, 2),
        }


class RssSampler:
    """Samples the summed VmRSS of some processes every ``interval`` seconds; keeps the peak."""

    def __init__(self, pids: Callable[[], Iterable[int]], interval: float = 0.05) -> None:
        self._pids = pids
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak_kib = 0
        self.samples = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(rss_kib(pid) or 0 for pid in self._pids())
            self.peak_kib = max(self.peak_kib, total)
            self.samples += 1
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------------------------
# processes


def stop_pid(
    pid: int, *, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> str:
    """SIGTERM ``pid``, SIGKILL it after ``timeout`` seconds; return how it ended.

    ``proc`` is the Popen object when ``pid`` is our child, so it is reaped.
    """
    if not alive(pid):
        if proc is not None:
            proc.wait()
        return "already gone"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout, proc):
        return "stopped"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if _wait_gone(pid, 10.0, proc):
        return "killed"
    raise BenchError(f"process {pid} ({' '.join(cmdline(pid))}) survived SIGKILL")


def _wait_gone(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return True
        elif not alive(pid):
            return True
        time.sleep(0.02)
    return False


class Processes:
    """The processes a bench started; ``stop_all`` ends those still running, newest first."""

    def __init__(self) -> None:
        self._procs: dict[int, tuple[subprocess.Popen[bytes], str]] = {}

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        self._procs[proc.pid] = (proc, name)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], *, timeout: float = 20.0) -> str:
        how = stop_pid(proc.pid, timeout=timeout, proc=proc)
        self._procs.pop(proc.pid, None)
        return how

    def stop_all(self) -> list[str]:
        notes = []
        for pid in sorted(self._procs, reverse=True):
            proc, name = self._procs[pid]
            if proc.poll() is None:
                notes.append(f"{name} (pid {pid}) {self.stop(proc)} at clean-up")
            self._procs.pop(pid, None)
        return notes


def run(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output."""
    try:
        result = subprocess.run(
            list(argv), env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{argv[0]} took more than {timeout:g}s") from exc
    if check and result.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {result.returncode}: {last_line(result.stderr)}")
    return result


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, interval: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# network


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (never 5000)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def http_status(address: str, path: str, *, timeout: float = 2.0) -> int | None:
    """The status of ``GET path`` at ``host:port`` or ``unix:///socket``; None if no answer."""
    conn: http.client.HTTPConnection
    if address.startswith("unix://"):
        conn = _UnixHTTPConnection(address.removeprefix("unix://"), timeout)
    else:
        host, _, port = address.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# the host: packages, and what a run must leave as it found it


def dpkg_installed(package: str) -> bool:
    result = run(["dpkg-query", "-W", "-f=${Status}", package], check=False)
    return result.returncode == 0 and "install ok installed" in result.stdout


def pids_running(paths: Iterable[str]) -> set[int]:
    """Processes whose executable is one of ``paths``."""
    wanted = set(paths)
    return {pid for pid in all_pids() if exe(pid) in wanted}


def ensure_packages(packages: Sequence[str], daemons: Sequence[str]) -> list[str]:
    """Install the missing Debian ``packages``; stop any of ``daemons`` the install started.

    Returns notes for the report. Debian's policy-rc.d usually keeps postinst scripts from
    starting services, and without systemd none are enabled, but this is checked, not assumed:
    a daemon process that appears during the install is stopped by its pid.
    """
    missing = [p for p in packages if not dpkg_installed(p)]
    if not missing:
        return []
    say(f"installing {' '.join(missing)} (apt-get)")
    before = pids_running(daemons)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    result = run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        env=env,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        run(["apt-get", "update", "-q"], env=env, timeout=600, check=False)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)
    notes = [f"installed {' '.join(missing)}"]
    time.sleep(0.5)
    for pid in sorted(pids_running(daemons) - before):
        name = exe(pid)
        how = stop_pid(pid)
        notes.append(f"installing started {name} (pid {pid}); {how} by pid")
    return notes


def link_names() -> set[str]:
    result = run(["ip", "-o", "link", "show"], check=False)
    names = set()
    for line in result.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            names.add(parts[1].strip().split("@")[0])
    return names


def nft_tables() -> set[str]:
    if shutil.which("nft") is None:
        return set()
    result = run(["nft", "list", "tables"], check=False)
    return {line.strip() for line in result.stdout.splitlines() if line.startswith("table")}


def mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            points.append(line.split()[4].encode().decode("unicode_escape"))
    return points


def ip_forward() -> str:
    return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()


@dataclasses.dataclass
class HostState:
    """What a bench must not change on the shared machine, taken before and after a run."""

    links: set[str]
    tables: set[str]
    forward: str
    paths: dict[str, bool]

    @classmethod
    def take(cls, watched_paths: Iterable[str]) -> HostState:
        return cls(
            link_names(), nft_tables(), ip_forward(), {p: os.path.lexists(p) for p in watched_paths}
        )

    def changes_since(self, before: HostState) -> list[str]:
        notes = []
        for link in sorted(self.links - before.links):
            notes.append(f"new network link {link}")
        for table in sorted(self.tables - before.tables):
            notes.append(f"new nftables {table}")
        if self.forward != before.forward:
            notes.append(f"net.ipv4.ip_forward changed {before.forward} -> {self.forward}")
        for path, existed in before.paths.items():
            if self.paths.get(path) and not existed:
                notes.append(f"new path {path}")
        return notes


def restore_ip_forward(before: str) -> str | None:
    now = ip_forward()
    if now == before:
        return None
    Path("/proc/sys/net/ipv4/ip_forward").write_text(before + "\n")
    return f"net.ipv4.ip_forward was changed to {now}; restored to {before}"


def remove_new_paths(before: HostState, paths: Sequence[str]) -> list[str]:
    """Remove those of ``paths`` that did not exist before the run, deepest first.

    Directories are removed only when empty: what another program put there meanwhile stays.
    """
    notes = []
    for path in sorted(paths, key=len, reverse=True):
        if before.paths.get(path, True) or not os.path.lexists(path):
            continue
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError as exc:
            notes.append(f"left {path}, which the run created: {exc.strerror}")
        else:
            notes.append(f"removed {path}, which the run created")
    return notes


class Workspace:
    """A temporary directory for one bench; removed with anything mounted under it."""

    def __init__(self, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def mounts(self) -> list[str]:
        base = str(self.path)
        return [p for p in mount_points() if p == base or p.startswith(base + "/")]

    def remove(self) -> list[str]:
        """Stop what still runs from here, unmount what is mounted here, then delete it all."""
        notes = []
        for pid in processes_mentioning(self.path):
            argv = " ".join(cmdline(pid))[:100]
            notes.append(f"pid {pid} ({argv}) still ran at clean-up; {stop_pid(pid)} by pid")
        for point in sorted(set(self.mounts()), key=len, reverse=True):
            result = run(["umount", "-l", point], check=False)
            notes.append(
                f"unmounted {point}, left mounted"
                if result.returncode == 0
                else f"cannot unmount {point}: {last_line(result.stderr)}"
            )
        shutil.rmtree(self.path, ignore_errors=True)
        if self.path.exists():
            notes.append(f"cannot remove {self.path}")
        return notes


# ---------------------------------------------------------------------------------------------
# results


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for n, row in enumerate([header, *rows]):
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(value: float | None, spec: str = ".2f", unit: str = "") -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    return f"{value:{spec}}{unit}"


def emit(text: str, results: dict[str, Any], *, as_json: bool) -> None:
    """The human table on stdout; with ``--json`` the table goes to stderr and JSON to stdout."""
    if as_json:
        print(text, file=sys.stderr, flush=True)
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(text, flush=True)


def prepare() -> None:
    """Refuse to run without root; make SIGTERM unwind like Ctrl-C, so clean-ups run."""
    if os.geteuid() != 0:
        raise SystemExit("bench: must run as root (it starts daemons and installs packages)")

    def terminated(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
