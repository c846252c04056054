"""What the benches share: processes started and stopped by pid, /proc readings, the host's
state before and after, temporary workspaces, system packages, and result tables.

Every bench is a plain program on the standard library (the services it measures run from the
project's virtualenv). Everything a bench starts it stops by pid; everything it creates lives in
a workspace under the temporary directory that is removed at the end; what it could not avoid
changing on the host it puts back and reports.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import http.client
import io
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
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


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User plus system CPU time of ``pid`` (all its threads), in seconds; 0 if it is gone.

    With ``children``, also that of the children it has waited for (the programs it ran).
    """
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


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
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output."""
    try:
        result = subprocess.run(
            list(argv),
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
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
# kernel objects of a bench's own: network namespaces and cgroups

CLONE_NEWNET = 0x40000000
CGROUP_ROOT = Path("/sys/fs/cgroup")


def hard_nofile() -> int:
    """The hard limit on open files of this process: the most a daemon it starts may ask for."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


class PrivateNetns:
    """A network namespace of the bench's own, bound to a file in its workspace.

    A daemon started in it (``argv``) keeps its bridges, veths, iptables chains and sysctls
    (``net.ipv4.ip_forward``, ``bridge-nf-call-iptables``) inside it: nothing of theirs lands in
    the host's namespace, and all of it is gone with the namespace. A thread that ``enter``s it
    starts its child processes there, with no extra exec on the way (``nsenter`` would add one
    to every timed command).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()
        run(["unshare", f"--net={path}", "true"])
        run(self.argv(["ip", "link", "set", "lo", "up"]))

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the namespace (nsenter execs it: the pid stays the same)."""
        return ["nsenter", f"--net={self.path}", *argv]

    def enter(self) -> None:
        """Move the calling thread (only) into the namespace; what it starts later runs there."""
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({self.path}): {os.strerror(err)}")
        finally:
            os.close(fd)

    def remove(self) -> list[str]:
        """Unbind the namespace; the kernel frees it, with all it holds, once nothing uses it."""
        if self.path not in [Path(p) for p in mount_points()]:
            return []
        result = run(["umount", str(self.path)], check=False)
        if result.returncode != 0:
            return [f"cannot unmount the namespace {self.path}: {last_line(result.stderr)}"]
        self.path.unlink(missing_ok=True)
        return []


def cgroup_dirs(name: str) -> list[Path]:
    """The top-level cgroup ``name`` in every hierarchy that has it."""
    if not CGROUP_ROOT.is_dir():
        return []
    return [h / name for h in sorted(CGROUP_ROOT.iterdir()) if (h / name).is_dir()]


def remove_cgroup_tree(name: str) -> list[str]:
    """Delete the top-level cgroup ``name`` and the cgroups below it, deepest first.

    Only empty cgroups can go; one that still holds a process is reported and left.
    """
    notes = []
    for top in cgroup_dirs(name):
        tree = [top, *(Path(d) for d, _, _ in os.walk(top) if Path(d) != top)]
        for path in sorted(tree, key=lambda p: len(p.parts), reverse=True):
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                notes.append(f"cannot remove cgroup {path}: {exc.strerror}")
    return notes


def new_empty_mount(path: str, before: HostState) -> list[str]:
    """Unmount ``path`` if the run created it as a mount point and nothing is in it now.

    podman binds ``/run/netns`` onto itself (a shared mount) the first time it makes a
    container's namespace; ``ip netns add`` does the same.
    """
    if before.paths.get(path, True) or path not in mount_points():
        return []
    with contextlib.suppress(OSError):
        if os.listdir(path):
            return [f"left {path} mounted: it holds namespaces of others"]
    result = run(["umount", path], check=False)
    if result.returncode != 0:
        return [f"cannot unmount {path}: {last_line(result.stderr)}"]
    return [f"unmounted {path}, which the run had bound onto itself"]


# ---------------------------------------------------------------------------------------------
# estiba

SERVICES = ("registry", "engine", "netd", "gateway")


def estiba_env(pycache: Path | None = None, tree: Path | None = None) -> dict[str, str]:
    """The environment for the CLI: ours, without any ESTIBA_ setting of the caller's.

    Without ``pycache`` no bytecode is written; with it, bytecode goes to that directory
    (``PYTHONPYCACHEPREFIX``), so estiba runs compiled, as an installed package does, and the
    repository gets no ``__pycache__``. With ``tree`` (a copy of the repository: an export of
    a commit, say), estiba's code comes from there, not from the repository; commands must
    then run with ``tree`` as their working directory (``python -m`` puts it first on the path).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESTIBA_")}
    if pycache is None:
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if tree is not None:
        env["PYTHONPATH"] = f"{tree}:{tree / 'proto'}"
    return env


def estiba_cli(env: dict[str, str] | None = None, cwd: Path | None = None) -> Path:
    cli = VENV / "bin" / "estiba"
    env = estiba_env() if env is None else env
    result = run([str(cli), "up", "--help"], env=env, check=False, timeout=60, cwd=cwd)
    if result.returncode != 0 or "--registry-addr" not in result.stdout:
        detail = last_line(result.stderr) or "no --registry-addr option"
        raise BenchError(f"`{cli} up --help` does not work yet: {detail}")
    return cli


def estiba_version(cli: Path, env: dict[str, str], cwd: Path | None = None) -> str:
    """The client's version from ``estiba version`` (no instance needs to run for that part)."""
    result = run([str(cli), "version"], env=env, check=False, timeout=60, cwd=cwd)
    for line in result.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Version":
            return f"estiba {value.strip()}"
    return "estiba (unknown version)"


def instance_pids(run_dir: Path) -> tuple[int, dict[str, list[int]]]:
    """The supervisor's pid and, per service, the service's process and its descendants."""
    try:
        supervisor = int((run_dir / "supervisor.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError) as exc:
        raise BenchError(f"no supervisor pid in {run_dir / 'supervisor.pid'}") from exc
    tree = children_map()
    services: dict[str, list[int]] = {}
    for child in tree.get(supervisor, []):
        argv = cmdline(child)
        for name in SERVICES:
            if f"services.{name}" in argv:
                services[name] = [child, *descendants(child)]
    missing = [name for name in SERVICES if name not in services]
    if missing:
        raise BenchError(f"supervisor {supervisor} has no process for {', '.join(missing)}")
    return supervisor, services


class Logs:
    """An instance's logs, read on from where the last look stopped."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.offsets: dict[str, int] = {}

    def new_lines(self, name: str) -> list[str]:
        path = self.dir / f"{name}.log"
        try:
            with path.open("rb") as f:
                f.seek(self.offsets.get(name, 0))
                data = f.read()
        except OSError:
            return []
        self.offsets[name] = self.offsets.get(name, 0) + len(data)
        return data.decode(errors="replace").splitlines()

    def restarts(self) -> list[str]:
        """The services the supervisor restarted since the last look, each with its last error."""
        found = []
        errors = {name: _last_error(self.new_lines(name)) for name in SERVICES}
        for line in self.new_lines("supervisor"):
            if "service_exited" not in line:
                continue
            try:
                event = json.loads(line)
                child, why = str(event["child"]), str(event["why"])
            except (ValueError, KeyError, TypeError):
                found.append(f"the supervisor restarted a service: {line[:200]}")
                continue
            error = errors.get(child)
            found.append(
                f"the supervisor restarted {child} ({why})" + (f": {error}" if error else "")
            )
        return found


def _last_error(lines: list[str]) -> str:
    for line in reversed(lines):
        if "error" in line.lower() or "Traceback" in line:
            return line.strip()[:300]
    return ""


def reap(pids: list[int], after: str) -> list[str]:
    """Wait for ``pids`` to end; stop by pid any that outlive ``after``, and say so."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    notes = []
    for pid in pids:
        if alive(pid):
            argv = " ".join(cmdline(pid))[:80]
            notes.append(f"pid {pid} ({argv}) outlived {after}; {stop_pid(pid)} by the bench")
    return notes


def remove_prefixed(prefix: str, before: HostState) -> list[str]:
    """Delete the links and nftables tables named with a netd ``prefix`` that are new since
    ``before`` (what an instance of that prefix leaves, or a failed clean-up left)."""
    after = HostState.take([])
    notes = []
    for link in sorted(after.links - before.links):
        if link.startswith(prefix):
            run(["ip", "link", "delete", link], check=False)
            notes.append(f"netd left link {link}; deleted")
    for table in sorted(after.tables - before.tables):
        if prefix in table:
            run(["nft", "delete", *table.split()], check=False)
            notes.append(f"netd left {table}; deleted")
    return notes


# ---------------------------------------------------------------------------------------------
# Docker: Debian's dockerd + containerd in a temporary root

DOCKER_DAEMONS = ("/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/bin/containerd")
# Paths a default dockerd or containerd would use: the run must not create any of them.
DOCKER_PATHS = (
    "/etc/docker",
    "/etc/docker/key.json",
    "/var/lib/docker",
    "/run/docker",
    "/run/docker/plugins",
    "/run/docker/netns",
    "/run/docker.sock",
    "/run/docker.pid",
    "/var/lib/containerd",
    "/run/containerd",
    "/opt/containerd",
)


def containerd_config(base: Path) -> str:
    return f"""version = 2
root = "{base}/containerd/root"
state = "{base}/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{base}/containerd/containerd.sock"

[ttrpc]
  address = "{base}/containerd/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{base}/containerd/opt"
"""


def docker_binaries() -> tuple[str, str, str]:
    """dockerd, containerd and the docker CLI, or BenchError."""
    dockerd, containerd = shutil.which("dockerd"), shutil.which("containerd")
    docker_cli = shutil.which("docker")
    if not (dockerd and containerd and docker_cli):
        raise BenchError("dockerd, containerd or the docker CLI is missing")
    return dockerd, containerd, docker_cli


class DockerDaemons:
    """containerd with its own configuration (root, state, socket and ``opt`` dir under
    ``base``, the CRI plugin off) and dockerd with its own data root, exec root, pidfile,
    socket, key file and containerd namespaces, plus ``flags``; dockerd runs in ``netns`` if
    given (containerd needs no network)."""

    def __init__(
        self,
        base: Path,
        procs: Processes,
        flags: Sequence[str],
        *,
        netns: PrivateNetns | None = None,
    ) -> None:
        self.dockerd_bin, self.containerd_bin, self.docker_cli = docker_binaries()
        self.base = base
        self.procs = procs
        (base / "containerd").mkdir(exist_ok=True)
        (base / "containerd.toml").write_text(containerd_config(base))
        # dockerd 20.10 keeps an identity key in /etc/docker/key.json unless told otherwise
        (base / "daemon.json").write_text(
            json.dumps({"deprecated-key-path": str(base / "key.json")})
        )
        (base / "cli").mkdir(exist_ok=True)
        self.csock, self.sock = base / "containerd" / "containerd.sock", base / "docker.sock"
        self.namespace = "estiba-bench-" + secrets.token_hex(3)
        dockerd = [
            self.dockerd_bin,
            "--config-file", str(base / "daemon.json"),
            "--data-root", str(base / "data"),
            "--exec-root", str(base / "exec"),
            "--pidfile", str(base / "docker.pid"),
            "-H", f"unix://{self.sock}",
            "--containerd", str(self.csock),
            "--containerd-namespace", self.namespace,
            "--containerd-plugins-namespace", self.namespace + "-plugins",
            *flags,
        ]  # fmt: skip
        self.dockerd_argv = netns.argv(dockerd) if netns is not None else dockerd
        self.cli_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.cli_env["DOCKER_CONFIG"] = str(base / "cli")
        self.containerd: subprocess.Popen[bytes] | None = None
        self.dockerd: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    def cli(self, *args: str) -> list[str]:
        return [self.docker_cli, "-H", self.host, *args]

    def start(self) -> None:
        """Start containerd, then dockerd; return once dockerd answers ``GET /_ping``."""
        self.containerd = self.procs.start(
            "containerd",
            [self.containerd_bin, "--config", str(self.base / "containerd.toml")],
            log=self.base / "containerd.log",
        )
        wait_for("containerd's socket", self.csock.exists, 60, 0.005)
        self.dockerd = self.procs.start("dockerd", self.dockerd_argv, log=self.base / "dockerd.log")
        wait_for(
            "dockerd answering /_ping",
            lambda: http_status(self.host, "/_ping") == 200,
            120,
            0.01,
        )

    def pids(self) -> list[int]:
        return [p.pid for p in (self.dockerd, self.containerd) if p is not None]

    def stop(self) -> None:
        """Stop dockerd, then containerd, by pid; the next start waits for sockets of its own."""
        for proc in (self.dockerd, self.containerd):
            if proc is not None:
                self.procs.stop(proc)
        self.dockerd = self.containerd = None
        for leftover in (self.csock, self.sock):
            leftover.unlink(missing_ok=True)

    def log_tail(self, lines: int = 5) -> list[str]:
        log = self.base / "dockerd.log"
        if not log.exists():
            return []
        tail = log.read_text(errors="replace").strip().splitlines()[-lines:]
        return [f"{log.name}: {line[:300]}" for line in tail]


def dockers(change: str) -> bool:
    """Whether a change of the host's state may be Docker's (others' links and tables come and
    go on a shared machine while the bench runs)."""
    if change.startswith("new network link "):
        return change.split()[-1].startswith(("docker", "br-", "veth"))
    if change.startswith("new nftables "):
        return "docker" in change.lower()
    return True


# ---------------------------------------------------------------------------------------------
# podman: private configuration and storage, networking in a namespace of the bench's own

PODMAN_DAEMONS = ("/usr/bin/podman",)
# Paths rootful podman uses whatever its --root and --runroot: the run removes those it created.
PODMAN_PATHS = (
    "/run/netns",  # a container's namespace file (and podman binds the dir onto itself)
    "/var/lib/cni",  # libcni's cache of results, one file per attached container
    "/var/lib/cni/results",
    "/var/lib/cni/networks",
    "/dev/shm/libpod_lock",  # podman's locks (shared memory)
    "/run/libpod",
    "/run/containers",
    "/run/containers/storage",
    "/var/lib/containers/storage",
)


def podman_cni_config(ipam_dir: Path) -> str:
    """Debian's default ``podman`` network (87-podman-bridge.conflist) but for the address
    database, kept in the bench's workspace."""
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "podman",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni-podman0",
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(ipam_dir),
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "ranges": [[{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "firewall"},
                {"type": "tuning"},
            ],
        },
        indent=2,
    )


class PodmanSetup:
    """podman with its own ``CONTAINERS_CONF`` and ``CONTAINERS_STORAGE_CONF`` under ``base``:
    runc, cgroupfs, events in a file, the CNI backend with Debian's default network, and the
    nofile limit the machine allows (podman's default makes runc fail without
    CAP_SYS_RESOURCE). Its commands must run in ``netns``, where the CNI plugins it execs put
    the bridge, the iptables chains and ``ip_forward = 1``."""

    def __init__(self, base: Path, netns: PrivateNetns) -> None:
        podman = shutil.which("podman")
        if podman is None:
            raise BenchError("podman is missing")
        self.base, self.netns = base, netns
        # podman refuses a run root longer than 50 characters: short names
        for sub in ("cni", "tmp", "storage", "run"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "cni" / "87-podman-bridge.conflist").write_text(
            podman_cni_config(base / "cni-ipam")
        )
        nofile = hard_nofile()
        (base / "containers.conf").write_text(
            f"""[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc=32768:32768"]

[network]
network_backend = "cni"
network_config_dir = "{base}/cni"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{base}/tmp"
static_dir = "{base}/storage/libpod"
volume_path = "{base}/storage/volumes"
"""
        )
        (base / "storage.conf").write_text(
            f"""[storage]
driver = "overlay"
graphroot = "{base}/storage"
runroot = "{base}/run"
"""
        )
        self.prefix = [podman, "--root", str(base / "storage"), "--runroot", str(base / "run")]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERS_")}
        self.env["CONTAINERS_CONF"] = str(base / "containers.conf")
        self.env["CONTAINERS_STORAGE_CONF"] = str(base / "storage.conf")

    def cli(self, *args: str) -> list[str]:
        return [*self.prefix, *args]

    def run(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """An untimed podman command, in the namespace through nsenter."""
        return run(self.netns.argv(self.cli(*args)), env=self.env, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# images

BUSYBOX = Path("/bin/busybox")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
ROOTFS_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555,
               "root": 0o700, "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755,
               "usr/sbin": 0o755, "var": 0o755}  # fmt: skip


def busybox_tar(dest: Path, binary: Path = BUSYBOX) -> Path:
    """A busybox root filesystem as a tar for ``docker import`` / ``podman import``: the
    static binary, one symlink per applet, ``/etc/passwd``, ``/etc/group``, ``/tmp`` 1777 (the
    layout of estiba's own ``busybox:latest``)."""
    applets = run([str(binary), "--list"]).stdout.split()
    mtime = int(binary.stat().st_mtime)
    with tarfile.open(dest, "w") as tf:

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, link
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)

        for name, mode in ROOTFS_DIRS.items():
            add(name, tarfile.DIRTYPE, mode)
        add("bin/busybox", tarfile.REGTYPE, 0o755, binary.read_bytes())
        for applet in sorted(set(applets) - {"busybox"}):
            if "/" not in applet:
                add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        add("usr/bin/env", tarfile.SYMTYPE, 0o777, link="/bin/busybox")
        add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD.encode())
        add("etc/group", tarfile.REGTYPE, 0o644, GROUP.encode())
    return dest


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
