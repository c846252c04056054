"""Running containers: estiba against podman and Docker, in one run, round by round.

Measured, with the three engines interleaved so that the machine's drift hits all alike:

1. ``run --rm busybox true`` (default networking): ``--rounds`` wall-clock timings of the CLI
   command each: the estiba CLI, ``podman run`` (runc, CNI bridge), ``docker run`` against a
   dockerd of the bench's own (docker0 bridge), and the stock docker CLI against estiba.
2. The same with ``--network none`` (estiba, podman, docker).
3. ``--containers`` x ``run -d busybox sleep 1000`` one after another, then as many again
   ``--parallel`` at a time (a pool of threads each running the CLI); total time of each batch,
   then of one ``rm -f`` of the whole batch.
4. Memory per running container, with the first batch running: the growth of the engine's own
   processes (estiba's engine service; dockerd + containerd; podman has none) plus the monitor
   of every container (conmon for estiba and podman, containerd-shim-runc-v2 for Docker),
   divided by the number of containers; RSS, and PSS from /proc/PID/smaps_rollup.

5. The floor under all three: ``runc run`` alone of a busybox bundle (``runc spec``'s config,
   its own empty network namespace, no image store, no network set-up, no monitor), timed in
   the same rounds. No engine that starts containers with runc can go below it.

Also, as evidence of where the time goes: the CLIs' own start (``estiba --help``,
``podman --version``, ``docker --version``), and the CPU time each ``run --rm`` cost the CLI
(its rusage) and the daemons (their /proc/PID/stat), per run.

estiba runs with ``estiba up -d`` in a temporary root with a kernel prefix of the run ("b" + 4
hex digits), ``ip_forward`` off and a cgroup parent ``estiba-<prefix>`` (as the tests isolate
an instance); its bytecode is cached in the workspace, as an installed package has it.
podman (private containers.conf and storage.conf, runc, cgroupfs, file events, CNI) and
dockerd (its own root, exec root, sockets and containerd) run their networking as shipped, but
in network namespaces of the bench's own: their bridges, veths, iptables chains and
``ip_forward`` live and die there. Their containers go under cgroups named for the run.

Run as root: ``bench/run [--rounds 20] [--warmup 2] [--containers 50] [--parallel 10]
[--batch-rounds 1] [--engines estiba,podman,docker] [--estiba-tree DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import _common as c
from tests import isolation
from tests.netd import kernel

ENGINES = ("estiba", "podman", "docker")
# Targets of estiba's `run --rm` median against each anchor.
TARGETS = {"podman": 0.50, "docker": 0.33}
FLOOR_CASE = "runc_alone"
CASES = {
    "run_rm": ("run --rm busybox true", ()),
    "run_rm_none": ("run --rm --network none busybox true", ("--network", "none")),
}
BATCHES = ("one_at_a_time", "parallel")
SINGLE_TIMEOUT = 120.0
RM_TIMEOUT = 600.0
SETTLE_S = 2.0
MAX_FAILURES = 3


class Column:
    """One way of running containers: a CLI, its environment, and the network namespace its
    processes start in (podman's; the others' CLIs only talk to a daemon)."""

    def __init__(
        self,
        key: str,
        cli: Sequence[str],
        env: dict[str, str],
        *,
        netns: c.PrivateNetns | None = None,
        run_flags: Sequence[str] = (),
        rm_flags: Sequence[str] = (),
        start_argv: Sequence[str] = (),
        cwd: Path | None = None,
    ) -> None:
        self.key = key
        self.cwd = cwd
        self.cli = list(cli)
        self.env = env
        self.netns = netns
        self.run_flags = list(run_flags)
        self.rm_flags = list(rm_flags)
        self.start_argv = list(start_argv)
        self.failures: list[str] = []
        self._pools: dict[int, concurrent.futures.ThreadPoolExecutor] = {}

    def run_argv(self, *args: str) -> list[str]:
        return [*self.cli, "run", *self.run_flags, *args]

    def rm_argv(self, ids: Sequence[str]) -> list[str]:
        return [*self.cli, "rm", "-f", *self.rm_flags, *ids]

    def pool(self, workers: int) -> concurrent.futures.ThreadPoolExecutor:
        """``workers`` threads, all started (and in the namespace) before the pool is returned,
        so that no timing includes starting a thread."""
        if workers not in self._pools:
            pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers,
                initializer=self.netns.enter if self.netns else None,
                thread_name_prefix=f"bench-{self.key}",
            )
            barrier = threading.Barrier(workers)
            for future in [pool.submit(barrier.wait, 30) for _ in range(workers)]:
                future.result()
            self._pools[workers] = pool
        return self._pools[workers]

    def call(self, argv: Sequence[str], timeout: float) -> tuple[float, str]:
        """Run ``argv`` from this column's thread; its wall time and stdout."""
        return self.pool(1).submit(timed, argv, self.env, timeout, self.cwd).result()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        self._pools.clear()

    @property
    def usable(self) -> bool:
        return len(self.failures) < MAX_FAILURES


def timed(
    argv: Sequence[str], env: dict[str, str], timeout: float, cwd: Path | None = None
) -> tuple[float, str]:
    """The wall time of one command, and its stdout; BenchError if it fails."""
    t0 = time.perf_counter()
    try:
        result = subprocess.run(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise c.BenchError(f"`{_short(argv)}` took more than {timeout:g}s") from exc
    elapsed = time.perf_counter() - t0
    if result.returncode != 0:
        detail = c.last_line(result.stderr) or c.last_line(result.stdout)
        raise c.BenchError(f"`{_short(argv)}` exited {result.returncode}: {detail[:300]}")
    return elapsed, result.stdout


def _short(argv: Sequence[str]) -> str:
    """A command for a message: the program's name, its verb and arguments, no global flags."""
    text = " ".join(argv)
    for verb in (" run ", " rm ", " ps ", " import ", " version"):
        if verb in text:
            return Path(argv[0]).name + " " + text[text.index(verb) + 1 :][:120]
    return text[:120]


def monitors(names: set[str], workspace: Path) -> list[int]:
    """The processes named ``names`` (by executable) that belong to ``workspace``."""
    return [
        pid for pid in c.processes_mentioning(workspace) if os.path.basename(c.exe(pid)) in names
    ]


# ---------------------------------------------------------------------------------------------
# the engines


class Engine:
    """An engine under test: set up in its own workspace, its containers, its processes."""

    name = ""
    monitor_names: set[str] = set()

    def __init__(self) -> None:
        self.ws = c.Workspace(f"estiba-bench-run-{self.name}-")
        self.column: Column | None = None
        self.version = ""
        self.notes: list[str] = []
        self.error: str | None = None
        self.cgroup_parent = "estiba-bench-" + secrets.token_hex(3)
        """The cgroup the engine's containers go under (named for the run)."""

    def setup(self, image: Path) -> None:
        raise NotImplementedError

    def daemon_pids(self) -> list[int]:
        """The processes whose growth a running container costs (not the monitors)."""
        return []

    def cpu_pids(self) -> dict[str, list[int]]:
        """The engine's long-running processes, by name, whose CPU time a `run` costs."""
        return {}

    def monitor_pids(self) -> list[int]:
        return monitors(self.monitor_names, self.ws.path)

    def container_ids(self) -> list[str]:
        """Every container of the engine, running or not."""
        if self.column is None:
            return []
        _, out = self.column.call([*self.column.cli, "ps", "-aq", "--no-trunc"], SINGLE_TIMEOUT)
        return out.split()

    def remove_containers(self) -> list[str]:
        """Remove what the bench's containers left (after a failure); say so if there were any."""
        try:
            ids = self.container_ids()
            if ids and self.column is not None:
                self.column.call(self.column.rm_argv(ids), RM_TIMEOUT)
        except c.BenchError as exc:
            return [f"removing the containers left at clean-up failed: {exc}"]
        return [f"removed {len(ids)} container(s) left at clean-up"] if ids else []

    def cleanup(self) -> list[str]:
        raise NotImplementedError


class Estiba(Engine):
    name = "estiba"
    monitor_names = {"conmon"}

    def __init__(self, tree: Path | None = None) -> None:
        super().__init__()
        self.prefix = "b" + secrets.token_hex(2)
        self.root, self.run_dir = self.ws / "root", self.ws / "run"
        self.kernel_env = isolation.isolated_env(self.root, self.run_dir, self.prefix)
        self.cgroup_parent = self.kernel_env["ESTIBA_ENGINE_CGROUP_PARENT"]
        self.env = {**c.estiba_env(self.ws / "pycache", tree), **self.kernel_env}
        self.cwd = tree or c.REPO
        self.cli = c.VENV / "bin" / "estiba"
        self.logs = c.Logs(self.root / "logs")
        self.started = False
        self.docker_column: Column | None = None
        self.before = c.HostState.take([])

    def setup(self, image: Path) -> None:
        self.cli = c.estiba_cli(self.env, self.cwd)
        self.version = c.estiba_version(self.cli, self.env, self.cwd)
        port = c.free_port()
        self.started = True
        result = c.run(
            [str(self.cli), "up", "-d", "--root", str(self.root), "--run-dir", str(self.run_dir),
             "--registry-addr", f"127.0.0.1:{port}"],
            env=self.env, check=False, timeout=180, cwd=self.cwd,
        )  # fmt: skip
        if result.returncode != 0:
            raise c.BenchError(
                f"estiba up exited {result.returncode}: {c.last_line(result.stderr)[:300]}"
            )
        host = f"unix://{self.run_dir / 'estiba.sock'}"
        self.column = Column(
            "estiba",
            [str(self.cli), "-H", host],
            self.env,
            start_argv=[str(self.cli), "--help"],
            cwd=self.cwd,
        )
        *_, docker = c.docker_binaries()
        docker_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        docker_env["DOCKER_CONFIG"] = str(self.ws / "docker-cli")
        self.docker_column = Column("docker_cli_on_estiba", [docker, "-H", host], docker_env)
        c.say(f"estiba up in {self.ws.path} (kernel prefix {self.prefix}, registry port {port})")

    def daemon_pids(self) -> list[int]:
        return self.cpu_pids()["engine"]

    def cpu_pids(self) -> dict[str, list[int]]:
        supervisor, services = c.instance_pids(self.run_dir)
        return {**services, "supervisor": [supervisor]}

    def cleanup(self) -> list[str]:
        notes: list[str] = []
        if self.started and (self.run_dir / "supervisor.pid").exists():
            notes.extend(self.remove_containers())
            try:
                pids = [p for group in self.cpu_pids().values() for p in group]
            except c.BenchError:
                pids = []
            result = c.run(
                [str(self.cli), "down", "--root", str(self.root), "--run-dir", str(self.run_dir)],
                env=self.env,
                check=False,
                timeout=180,
                cwd=self.cwd,
            )
            if result.returncode != 0:
                notes.append(f"estiba down exited {result.returncode}: {result.stderr[-300:]}")
            notes.extend(c.reap(pids, "estiba down"))
        notes.extend(self.logs.restarts())
        for pid in monitors(self.monitor_names, self.ws.path):
            notes.append(f"conmon pid {pid} outlived its container; {c.stop_pid(pid)} by pid")
        try:
            left = kernel.leftovers(self.prefix, self.run_dir / "netns")
            isolation.remove_kernel_objects(self.kernel_env)
        except (OSError, subprocess.CalledProcessError) as exc:
            notes.append(f"deleting the kernel objects of prefix {self.prefix} failed: {exc}")
        else:
            if left.links or left.tables:
                what = ", ".join([*left.links, *left.tables])
                notes.append(f"deleted what netd keeps after down: {what}")
            for extra in (*left.netns_files, *left.mounts):
                notes.append(f"namespace {extra} was left; deleted")
        notes.extend(c.remove_prefixed(self.prefix, self.before))  # whatever the above missed
        notes.extend(c.remove_cgroup_tree(self.cgroup_parent))
        notes.extend(self.ws.remove())
        return notes


class Podman(Engine):
    name = "podman"
    monitor_names = {"conmon"}

    def __init__(self) -> None:
        super().__init__()
        self.netns: c.PrivateNetns | None = None

    def setup(self, image: Path) -> None:
        self.netns = c.PrivateNetns(self.ws / "netns")
        podman = c.PodmanSetup(self.ws.path, self.netns)
        podman.run("import", "-c", 'CMD ["sh"]', str(image), "busybox:latest")
        self.version = "podman " + podman.run("version", "--format", "{{.Client.Version}}").stdout
        self.version = self.version.strip()
        self.column = Column(
            "podman",
            podman.prefix,
            podman.env,
            netns=self.netns,
            run_flags=("--cgroup-parent", "/" + self.cgroup_parent),
            rm_flags=("-t", "0"),  # podman 4.3 waits the stop timeout otherwise
            start_argv=[podman.prefix[0], "--version"],
        )
        c.say(f"podman ready in {self.ws.path}")

    def cleanup(self) -> list[str]:
        notes = self.remove_containers()
        if self.netns is not None:
            notes.extend(self.netns.remove())
        notes.extend(self.ws.remove())
        notes.extend(c.remove_cgroup_tree(self.cgroup_parent))
        return notes


class Docker(Engine):
    name = "docker"
    monitor_names = {"containerd-shim-runc-v2"}

    def __init__(self) -> None:
        super().__init__()
        self.procs = c.Processes()
        self.netns: c.PrivateNetns | None = None
        self.daemons: c.DockerDaemons | None = None

    def setup(self, image: Path) -> None:
        self.netns = c.PrivateNetns(self.ws / "netns")
        nofile = c.hard_nofile()
        flags = ["--default-ulimit", f"nofile={nofile}:{nofile}",
                 "--cgroup-parent", "/" + self.cgroup_parent]  # fmt: skip
        self.daemons = d = c.DockerDaemons(self.ws.path, self.procs, flags, netns=self.netns)
        d.start()
        c.run(d.cli("import", "-c", 'CMD ["sh"]', str(image), "busybox:latest"), env=d.cli_env)
        fmt = "{{.Server.Version}} (API {{.Server.APIVersion}})"
        self.version = "dockerd " + c.run(d.cli("version", "--format", fmt), env=d.cli_env).stdout
        self.version = self.version.strip()
        self.column = Column("docker", d.cli(), d.cli_env, start_argv=[d.docker_cli, "--version"])
        c.say(f"dockerd ready in {self.ws.path}")

    def daemon_pids(self) -> list[int]:
        return self.daemons.pids() if self.daemons else []

    def cpu_pids(self) -> dict[str, list[int]]:
        names = ("dockerd", "containerd")
        return dict(zip(names, ([p] for p in self.daemon_pids()), strict=False))

    def cleanup(self) -> list[str]:
        notes: list[str] = []
        if self.daemons is not None and self.daemons.dockerd is not None:
            notes.extend(self.remove_containers())
            try:
                self.daemons.stop()
            except c.BenchError as exc:
                notes.append(str(exc))
        notes.extend(self.procs.stop_all())
        if self.netns is not None:
            notes.extend(self.netns.remove())
        notes.extend(self.ws.remove())
        notes.extend(c.remove_cgroup_tree(self.cgroup_parent))
        return notes


ANCHORS: dict[str, type[Engine]] = {"podman": Podman, "docker": Docker}


# ---------------------------------------------------------------------------------------------
# measurements


@dataclasses.dataclass
class Cpu:
    """CPU time a column's single runs cost: the CLI process and each long-running process of
    the engine, each with the children it waited for, summed over ``runs``."""

    runs: int = 0
    client_s: float = 0.0
    daemons_s: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        n = max(self.runs, 1)
        return {
            "runs": self.runs,
            "client_ms_per_run": round(self.client_s / n * 1000, 1),
            "daemons_ms_per_run": {k: round(v / n * 1000, 1) for k, v in self.daemons_s.items()},
        }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds of each group, with what its processes ran and waited for (runc, say)."""
    return {
        name: sum(c.cpu_seconds(pid, children=True) for pid in pids)
        for name, pids in groups.items()
    }


@dataclasses.dataclass
class Batch:
    """One batch of ``run -d`` and the ``rm -f`` of all of it."""

    run_s: float
    rm_s: float
    running: int


@dataclasses.dataclass
class MemoryGrowth:
    """What ``containers`` running containers cost: daemon growth plus their monitors."""

    containers: int
    before: c.Memory
    after: c.Memory
    monitors: c.Memory

    def per_container_mib(self, pss: bool) -> float | None:
        values = [
            (m.pss_kib if pss else m.rss_kib) for m in (self.before, self.after, self.monitors)
        ]
        if None in values or not self.containers:
            return None
        before, after, mon = (v or 0 for v in values)
        return (after - before + mon) / self.containers / 1024

    def to_json(self) -> dict[str, Any]:
        def mib(kib: int | None) -> float | None:
            return None if kib is None else round(kib / 1024, 2)

        pss_growth = (
            None
            if self.after.pss_kib is None or self.before.pss_kib is None
            else self.after.pss_kib - self.before.pss_kib
        )
        return {
            "containers": self.containers,
            "daemon_before": self.before.to_json(),
            "daemon_after": self.after.to_json(),
            "daemon_growth_rss_mib": mib(self.after.rss_kib - self.before.rss_kib),
            "daemon_growth_pss_mib": mib(pss_growth),
            "monitors": {**self.monitors.to_json(), "count": len(self.monitors.pids)},
            "per_container_rss_mib": _round(self.per_container_mib(False), 3),
            "per_container_pss_mib": _round(self.per_container_mib(True), 3),
        }


class RuntimeFloor:
    """``runc run`` of a prepared busybox bundle: create, start, wait and delete, nothing else."""

    key = "runc_alone"

    def __init__(self) -> None:
        self.ws = c.Workspace("estiba-bench-run-runc-")
        self.bundle = self.ws / "bundle"
        self.state = self.ws / "state"
        self.cgroup_parent = "estiba-bench-" + secrets.token_hex(3)
        self.column = Column(self.key, ["runc", "--root", str(self.state)], dict(os.environ))
        self.count = 0
        self.error: str | None = None

    def setup(self, image: Path) -> None:
        rootfs = self.bundle / "rootfs"
        rootfs.mkdir(parents=True)
        c.run(["tar", "-xf", str(image), "-C", str(rootfs)])
        c.run(["runc", "spec", "--bundle", str(self.bundle)])
        config_path = self.bundle / "config.json"
        config = json.loads(config_path.read_text())
        config["process"]["terminal"] = False
        config["process"]["args"] = ["true"]
        config["linux"]["cgroupsPath"] = f"/{self.cgroup_parent}/floor"
        config_path.write_text(json.dumps(config))

    def argv(self) -> list[str]:
        self.count += 1
        return [*self.column.cli, "run", "--bundle", str(self.bundle), f"floor-{self.count}"]

    def cleanup(self) -> list[str]:
        self.column.close()
        notes: list[str] = []
        if self.state.is_dir() and any(self.state.iterdir()):
            left = sorted(p.name for p in self.state.iterdir())
            notes.append(f"runc kept state for {', '.join(left)}; deleted")
            for name in left:
                c.run(["runc", "--root", str(self.state), "delete", "--force", name], check=False)
        notes.extend(c.remove_cgroup_tree(self.cgroup_parent))
        notes.extend(self.ws.remove())
        return notes


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.engines: dict[str, Engine] = {}
        for name in args.engines:
            self.engines[name] = Estiba(args.estiba_tree) if name == "estiba" else ANCHORS[name]()
        self.samples: dict[str, dict[str, list[float]]] = {}
        self.start_samples: dict[str, list[float]] = {}
        self.cpu: dict[str, dict[str, Cpu]] = {}
        self.batches: dict[str, dict[str, list[Batch]]] = {}
        self.memory: dict[str, MemoryGrowth] = {}
        self.services_memory: tuple[c.Memory, c.Memory] | None = None
        self.notes: list[str] = []
        self.floor = RuntimeFloor()

    # -- set-up

    def setup(self, image: Path) -> None:
        for engine in self.engines.values():
            try:
                engine.setup(image)
            except (c.BenchError, OSError) as exc:
                engine.error = f"set-up failed: {exc}"
                if isinstance(engine, Docker) and engine.daemons is not None:
                    engine.notes.extend(engine.daemons.log_tail())
                c.say(f"{engine.name}: {engine.error}")
        try:
            self.floor.setup(image)
        except (c.BenchError, OSError, subprocess.CalledProcessError, KeyError) as exc:
            self.floor.error = f"set-up failed: {exc}"
            c.say(f"runc alone: {self.floor.error}")

    def columns(self, case: str) -> list[tuple[Engine, Column]]:
        found: list[tuple[Engine, Column]] = []
        for engine in self.engines.values():
            if engine.error or engine.column is None:
                continue
            found.append((engine, engine.column))
            if case == "run_rm" and isinstance(engine, Estiba) and engine.docker_column:
                found.append((engine, engine.docker_column))
        return found

    # -- cases 1 and 2, and the CLIs' start

    def single_runs(self) -> None:
        tasks: list[tuple[str, Engine, Column]] = [
            (case, engine, col) for case in CASES for engine, col in self.columns(case)
        ]
        tasks += [
            ("cli_start", engine, col)
            for engine, col in self.columns("cli_start")
            if col.start_argv
        ]
        total = self.args.warmup + self.args.rounds
        for r in range(total):
            k = r % len(tasks) if tasks else 0
            for case, engine, col in tasks[k:] + tasks[:k]:
                if not col.usable:
                    continue
                self._single(case, engine, col, record=r >= self.args.warmup)
            self._floor(record=r >= self.args.warmup)
            label = "warm-up" if r < self.args.warmup else "round"
            n = r + 1 if r < self.args.warmup else r + 1 - self.args.warmup
            c.say(f"{label} {n}: " + self._round_summary())

    def _single(self, case: str, engine: Engine, col: Column, *, record: bool) -> None:
        if case == "cli_start":
            argv = col.start_argv
        else:
            argv = col.run_argv("--rm", *CASES[case][1], "busybox", "true")
        try:
            groups = engine.cpu_pids()
        except c.BenchError:
            groups = {}
        cpu0, child0 = _cpu_of(groups), _children_cpu()
        try:
            elapsed, _ = col.call(argv, SINGLE_TIMEOUT)
        except c.BenchError as exc:
            col.failures.append(f"{case}: {exc}")
            c.say(f"{col.key} failed: {exc}")
            return
        if not record:
            return
        cpu1, child1 = _cpu_of(groups), _children_cpu()
        if case == "cli_start":
            self.start_samples.setdefault(col.key, []).append(elapsed)
            return
        self.samples.setdefault(case, {}).setdefault(col.key, []).append(elapsed)
        cpu = self.cpu.setdefault(case, {}).setdefault(col.key, Cpu())
        cpu.runs += 1
        cpu.client_s += child1 - child0
        for name, seconds in cpu1.items():
            cpu.daemons_s[name] = cpu.daemons_s.get(name, 0.0) + seconds - cpu0.get(name, 0.0)

    def _floor(self, *, record: bool) -> None:
        col = self.floor.column
        if self.floor.error or not col.usable:
            return
        try:
            elapsed, _ = col.call(self.floor.argv(), SINGLE_TIMEOUT)
        except c.BenchError as exc:
            col.failures.append(f"runc run: {exc}")
            c.say(f"runc alone failed: {exc}")
            return
        if record:
            self.samples.setdefault(FLOOR_CASE, {}).setdefault(col.key, []).append(elapsed)

    def _round_summary(self) -> str:
        parts = []
        for case, by_col in self.samples.items():
            for key, values in by_col.items():
                if values:
                    parts.append(f"{case}/{key} {values[-1] * 1000:.0f}ms")
        return ", ".join(parts) or "(not recorded)"

    # -- cases 3 and 4

    def batch_runs(self) -> None:
        engines = [e for e in self.engines.values() if not e.error and e.column]
        for b in range(self.args.batch_rounds):
            k = b % len(engines) if engines else 0
            for mode in BATCHES:
                for engine in engines[k:] + engines[:k]:
                    assert engine.column is not None
                    if not engine.column.usable:
                        continue
                    try:
                        batch = self._batch(engine, engine.column, mode, measure=mode == BATCHES[0])
                    except c.BenchError as exc:
                        engine.column.failures.append(f"{mode}: {exc}")
                        c.say(f"{engine.name} {mode} batch failed: {exc}")
                        engine.notes.extend(engine.remove_containers())
                        continue
                    self.batches.setdefault(mode, {}).setdefault(engine.name, []).append(batch)
                    c.say(
                        f"{engine.name}: {self.args.containers} x run -d {mode.replace('_', ' ')}"
                        f" {batch.run_s:.2f}s, rm -f {batch.rm_s:.2f}s"
                    )

    def _batch(self, engine: Engine, col: Column, mode: str, *, measure: bool) -> Batch:
        n = self.args.containers
        left = engine.container_ids()
        if left:
            col.call(col.rm_argv(left), RM_TIMEOUT)
            engine.notes.append(f"removed {len(left)} container(s) before a batch")
        before = c.Memory.of(engine.daemon_pids())
        services_before = (
            c.Memory.of(p for g in engine.cpu_pids().values() for p in g)
            if isinstance(engine, Estiba)
            else None
        )
        argv = col.run_argv("-d", "busybox", "sleep", "1000")
        t0 = time.perf_counter()
        if mode == "one_at_a_time":
            outs = col.pool(1).submit(_in_a_row, argv, col.env, n, col.cwd).result()
        else:
            pool = col.pool(self.args.parallel)
            futures = [pool.submit(timed, argv, col.env, SINGLE_TIMEOUT, col.cwd) for _ in range(n)]
            outs = []
            errors = []
            for future in futures:
                try:
                    outs.append(future.result()[1])
                except c.BenchError as exc:
                    errors.append(str(exc))
            if errors:
                ids = [c.last_line(out) for out in outs]
                if ids:
                    col.call(col.rm_argv(ids), RM_TIMEOUT)
                raise c.BenchError(f"{len(errors)} of {n} failed; first: {errors[0]}")
        run_s = time.perf_counter() - t0
        ids = [c.last_line(out) for out in outs]
        running = len(col.call([*col.cli, "ps", "-q", "--no-trunc"], SINGLE_TIMEOUT)[1].split())
        if running != n:
            engine.notes.append(f"{mode}: {running} of {n} containers running after the batch")
        if measure and engine.name not in self.memory:
            time.sleep(SETTLE_S)
            self.memory[engine.name] = MemoryGrowth(
                n, before, c.Memory.of(engine.daemon_pids()), c.Memory.of(engine.monitor_pids())
            )
            if services_before is not None:
                after = c.Memory.of(p for g in engine.cpu_pids().values() for p in g)
                self.services_memory = (services_before, after)
        rm_s, _ = col.call(col.rm_argv(ids), RM_TIMEOUT)
        left = engine.container_ids()
        if left:
            engine.notes.append(f"{mode}: {len(left)} container(s) still there after rm -f")
        return Batch(run_s, rm_s, running)

    # -- clean-up

    def cleanup(self) -> None:
        for engine in self.engines.values():
            try:
                engine.notes.extend(engine.cleanup())
            except Exception as exc:  # the other engines must be cleaned up all the same
                engine.notes.append(f"clean-up failed: {exc!r}")
                engine.notes.extend(engine.ws.remove())
            # the threads that entered a namespace hold it until they end
            for col in (engine.column, getattr(engine, "docker_column", None)):
                if col is not None:
                    col.close()
        try:
            self.notes.extend(self.floor.cleanup())
        except Exception as exc:
            self.notes.append(f"runc alone: clean-up failed: {exc!r}")


def _in_a_row(argv: Sequence[str], env: dict[str, str], n: int, cwd: Path | None) -> list[str]:
    return [timed(argv, env, SINGLE_TIMEOUT, cwd)[1] for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# the host


WATCHED_PATHS = (
    *c.DOCKER_PATHS,
    *c.PODMAN_PATHS,
    "/sys/fs/cgroup/memory/docker",  # Docker's and podman's default cgroup parents
    "/sys/fs/cgroup/memory/libpod_parent",
)


def host_check(before: c.HostState, bench: Bench) -> list[str]:
    """Put back what the run changed on the host outside its workspaces, then list what is
    left of it: processes, mounts, links, nftables tables, cgroups, paths, temporary dirs."""
    notes = c.new_empty_mount("/run/netns", before)
    notes.extend(c.remove_new_paths(before, WATCHED_PATHS))
    restored = c.restore_ip_forward(before.forward)
    if restored:
        notes.append(restored)
    after = c.HostState.take(WATCHED_PATHS)
    prefixes = [e.prefix for e in bench.engines.values() if isinstance(e, Estiba)]
    left = [change for change in after.changes_since(before) if _maybe_ours(change, prefixes)]
    for engine in bench.engines.values():
        if engine.ws.path.exists():
            left.append(f"temporary directory {engine.ws.path}")
        for pid in c.processes_mentioning(engine.ws.path):
            left.append(f"process {pid} ({' '.join(c.cmdline(pid))[:80]})")
        left.extend(f"mount {p}" for p in engine.ws.mounts())
        left.extend(f"cgroup {p}" for p in c.cgroup_dirs(engine.cgroup_parent))
    notes.extend(f"LEFT ON THE HOST: {item}" for item in left)
    if not left:
        notes.append(
            "nothing left on the host: no process, mount, link, nftables table, cgroup or"
            f" temporary directory of the run; net.ipv4.ip_forward {after.forward} as before"
        )
    return notes


IPTABLES_TABLES = ("ip filter", "ip nat", "ip mangle", "ip6 filter", "ip6 nat", "ip6 mangle")


def _maybe_ours(change: str, prefixes: Sequence[str]) -> bool:
    """Whether a change of the host may be the run's: others' links and tables come and go on
    a shared machine, but not ones with the run's prefix, Docker's or CNI's names, or the
    tables iptables makes (the anchors' daemons would have made them had they run in the
    host's namespace)."""
    if change.startswith("new network link "):
        name = change.split()[-1]
        return any(name.startswith(p) for p in prefixes) or c.dockers(change) or "cni" in name
    if change.startswith("new nftables "):
        table = change.removeprefix("new nftables table ")
        return any(p in table for p in prefixes) or c.dockers(change) or table in IPTABLES_TABLES
    return True


# ---------------------------------------------------------------------------------------------
# report


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or value != value else round(value, digits)


def p90(values: Sequence[float]) -> float | None:
    if not values:
        return None
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10)[-1]


def figures(bench: Bench) -> dict[str, Any]:
    """Medians, p90s and ratios, by case and column."""
    out: dict[str, Any] = {}
    for case, by_col in bench.samples.items():
        if case == FLOOR_CASE:
            continue
        out[case] = {
            key: {
                "samples_ms": [round(v * 1000, 1) for v in values],
                "median_ms": _round(c.median(values) * 1000, 1),
                "p90_ms": _round((p90(values) or 0) * 1000, 1),
            }
            for key, values in by_col.items()
        }
        out[case]["ratios"] = {}
        for anchor in TARGETS:
            r = c.ratio(
                _get(out, case, "estiba", "median_ms"), _get(out, case, anchor, "median_ms")
            )
            out[case]["ratios"][f"estiba_over_{anchor}"] = _round(r, 3)
            out[case]["ratios"][f"target_estiba_over_{anchor}"] = TARGETS[anchor]
            out[case]["ratios"][f"met_estiba_over_{anchor}"] = (
                None if r is None else r <= TARGETS[anchor]
            )
        docker_on_estiba = _get(out, case, "docker_cli_on_estiba", "median_ms")
        if docker_on_estiba is not None:
            out[case]["ratios"]["estiba_cli_over_docker_cli_on_estiba"] = _round(
                c.ratio(_get(out, case, "estiba", "median_ms"), docker_on_estiba), 3
            )
            out[case]["ratios"]["docker_cli_on_estiba_over_docker"] = _round(
                c.ratio(docker_on_estiba, _get(out, case, "docker", "median_ms")), 3
            )
    floor = bench.samples.get(FLOOR_CASE, {}).get(RuntimeFloor.key, [])
    if floor:
        floor_ms = c.median(floor) * 1000
        out[FLOOR_CASE] = {
            "samples_ms": [round(v * 1000, 1) for v in floor],
            "median_ms": _round(floor_ms, 1),
            "p90_ms": _round((p90(floor) or 0) * 1000, 1),
            "over_floor": {
                f"{case}/{key}": _round(c.ratio(_get(out, case, key, "median_ms"), floor_ms), 2)
                for case in CASES
                for key, _ in COLUMNS
                if _get(out, case, key, "median_ms") is not None
            },
        }
    out["cli_start"] = {
        key: {"median_ms": _round(c.median(v) * 1000, 1), "p90_ms": _round((p90(v) or 0) * 1000, 1)}
        for key, v in bench.start_samples.items()
    }
    out["batches"] = {}
    for mode, by_engine in bench.batches.items():
        out["batches"][mode] = {
            name: {
                "run_seconds": [round(b.run_s, 3) for b in batches],
                "rm_seconds": [round(b.rm_s, 3) for b in batches],
                "run_median_seconds": _round(c.median([b.run_s for b in batches]), 3),
                "rm_median_seconds": _round(c.median([b.rm_s for b in batches]), 3),
                "running_after_run": [b.running for b in batches],
            }
            for name, batches in by_engine.items()
        }
    out["memory"] = {name: m.to_json() for name, m in bench.memory.items()}
    if bench.services_memory is not None:
        before, after = bench.services_memory
        out["memory"]["estiba_all_services"] = {
            "before": before.to_json(),
            "after": after.to_json(),
        }
    out["cpu"] = {
        case: {key: cpu.to_json() for key, cpu in by_col.items()}
        for case, by_col in bench.cpu.items()
    }
    return out


def _get(tree: dict[str, Any], *keys: str) -> Any:
    node: Any = tree
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


COLUMNS = (
    ("estiba", "estiba"),
    ("podman", "podman"),
    ("docker", "docker"),
    ("docker_cli_on_estiba", "docker CLI→estiba"),
)


def report(bench: Bench, f: dict[str, Any], args: argparse.Namespace) -> str:
    header = ["", *(label for _, label in COLUMNS), "estiba/podman", "estiba/docker"]
    rows: list[list[str]] = []

    def ratio_cell(a: float | None, b: float | None, target: float | None) -> str:
        r = c.ratio(a, b)
        if r is None:
            return "n/a"
        if target is None:
            return f"{r:.2f}"
        return f"{r:.2f} {'≤' if r <= target else '>'} {target:.2f}"

    def add(label: str, values: dict[str, float | None], spec: str, targets: bool) -> None:
        cells = [c.fmt(values.get(key), spec) for key, _ in COLUMNS]
        est = values.get("estiba")
        rows.append(
            [
                label,
                *cells,
                ratio_cell(est, values.get("podman"), TARGETS["podman"] if targets else None),
                ratio_cell(est, values.get("docker"), TARGETS["docker"] if targets else None),
            ]
        )

    for case, (title, _) in CASES.items():
        by_col = f.get(case, {})
        add(
            f"{title}, median (ms)",
            {k: _get(by_col, k, "median_ms") for k, _ in COLUMNS},
            ".0f",
            True,
        )
        add("  p90 (ms)", {k: _get(by_col, k, "p90_ms") for k, _ in COLUMNS}, ".0f", False)
    n = args.containers
    for mode, title in (
        ("one_at_a_time", "one at a time"),
        ("parallel", f"{args.parallel} at a time"),
    ):
        by_engine = f["batches"].get(mode, {})
        add(
            f"{n} x run -d sleep, {title} (s)",
            {k: _get(by_engine, k, "run_median_seconds") for k in ENGINES},
            ".2f",
            False,
        )
        add(
            f"  rm -f all {n} in one command (s)",
            {k: _get(by_engine, k, "rm_median_seconds") for k in ENGINES},
            ".2f",
            False,
        )
    for pss in (False, True):
        kind = "PSS" if pss else "RSS"
        add(
            f"memory per running container, {kind} (MiB)",
            {
                name: bench.memory[name].per_container_mib(pss) if name in bench.memory else None
                for name in ENGINES
            },
            ".2f",
            False,
        )
    add(
        "CLI start, no request (ms)",
        {k: _get(f, "cli_start", k, "median_ms") for k in ENGINES},
        ".0f",
        False,
    )
    lines = [
        f"run: {args.rounds} rounds (+{args.warmup} warm-up) of single runs, engines interleaved"
        f" in a rotating order; {args.batch_rounds} round(s) of {n}-container batches;"
        f" estiba's code from {args.estiba_tree or c.REPO}",
        "",
        c.table(header, rows),
        "",
        "targets: estiba ≤ 0.50 x podman and ≤ 0.33 x docker on `run --rm` medians;"
        " '>' marks a missed target.",
        "CLI start: `estiba --help` (imports and parser), `podman --version`,"
        " `docker --version`. Memory: engine growth + monitors (conmon; containerd-shim) per"
        " container; podman has no daemon.",
    ]
    floor = f.get(FLOOR_CASE)
    if floor:
        over = ", ".join(f"{k} {v:.1f}x" for k, v in floor["over_floor"].items() if v)
        lines.append(
            f"runc run alone (busybox true; create, start, wait, delete; no network, no monitor):"
            f" median {floor['median_ms']:.0f} ms, p90 {floor['p90_ms']:.0f} ms;"
            f" each column's median over it: {over}"
        )
    elif bench.floor.error or bench.floor.column.failures:
        lines.append(
            "runc run alone: NOT MEASURED: " + (bench.floor.error or bench.floor.column.failures[0])
        )
    for case in CASES:
        ratios = f.get(case, {}).get("ratios", {})
        a = ratios.get("estiba_cli_over_docker_cli_on_estiba")
        b = ratios.get("docker_cli_on_estiba_over_docker")
        if a is not None:
            lines.append(
                f"{case}: estiba CLI / docker CLI, both against estiba: {a:.2f};"
                f" docker CLI against estiba / against dockerd: {c.fmt(b)}"
            )
    for case, by_col in f.get("cpu", {}).items():
        for key, cpu in by_col.items():
            daemons = ", ".join(f"{k} {v:.0f}" for k, v in cpu["daemons_ms_per_run"].items())
            lines.append(
                f"{case} CPU per run, {key}: CLI {cpu['client_ms_per_run']:.0f} ms"
                + (f"; {daemons} ms" if daemons else "")
            )
    for name, m in bench.memory.items():
        j = m.to_json()
        lines.append(
            f"{name} memory with {m.containers} running: daemon growth"
            f" {c.fmt(j['daemon_growth_rss_mib'])} MiB RSS / {c.fmt(j['daemon_growth_pss_mib'])}"
            f" MiB PSS; {j['monitors']['count']} monitors {c.fmt(j['monitors']['rss_mib'])}"
            f" MiB RSS / {c.fmt(j['monitors']['pss_mib'])} MiB PSS"
        )
    if bench.services_memory is not None:
        before, after = bench.services_memory
        lines.append(
            f"estiba, all services + supervisor: RSS {before.rss_kib / 1024:.1f} ->"
            f" {after.rss_kib / 1024:.1f} MiB with {n} running"
        )
    for engine in bench.engines.values():
        if engine.version:
            lines.append(f"{engine.name} version: {engine.version}")
        if engine.error:
            lines.append(f"{engine.name}: NOT MEASURED: {engine.error}")
        for col in (engine.column, getattr(engine, "docker_column", None)):
            if col is not None and col.failures:
                lines.append(f"{col.key}: {len(col.failures)} failure(s): {col.failures[0]}")
        lines.extend(f"{engine.name} note: {note}" for note in engine.notes)
    lines.extend(f"note: {note}" for note in bench.notes)
    return "\n".join(lines)


def results_json(bench: Bench, f: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    return {
        "bench": "run",
        "rounds": args.rounds,
        "warmup": args.warmup,
        "containers": args.containers,
        "parallel": args.parallel,
        "batch_rounds": args.batch_rounds,
        "estiba_code": str(args.estiba_tree or c.REPO),
        "targets": {f"estiba_over_{k}": v for k, v in TARGETS.items()},
        "figures": f,
        "engines": {
            name: {
                "version": e.version,
                "error": e.error,
                "failures": [
                    x
                    for col in (e.column, getattr(e, "docker_column", None))
                    if col is not None
                    for x in col.failures
                ],
                "notes": e.notes,
            }
            for name, e in bench.engines.items()
        },
        "notes": bench.notes,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed single runs each (20)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (2)")
    parser.add_argument("--containers", type=int, default=50, help="containers per batch (50)")
    parser.add_argument("--parallel", type=int, default=10, help="CLIs at a time (10)")
    parser.add_argument("--batch-rounds", type=int, default=1, help="rounds of batches (1)")
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated subset of " + ",".join(ENGINES),
    )
    parser.add_argument(
        "--estiba-tree",
        type=Path,
        help="run estiba's code from this copy of the repository (an export of a commit, say)"
        " instead of the repository itself",
    )
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if any(e not in ENGINES for e in args.engines) or not args.engines:
        parser.error(f"--engines: choose among {', '.join(ENGINES)}")
    if min(args.rounds, args.containers, args.parallel, args.batch_rounds) < 1 or args.warmup < 0:
        parser.error("--rounds, --containers, --parallel, --batch-rounds must be at least 1")
    if args.estiba_tree is not None:
        args.estiba_tree = args.estiba_tree.resolve()
        if not (args.estiba_tree / "services" / "supervisor").is_dir():
            parser.error(f"--estiba-tree: no estiba source in {args.estiba_tree}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    c.prepare()
    notes: list[str] = []
    if "docker" in args.engines:
        notes.extend(c.ensure_packages(["docker.io"], c.DOCKER_DAEMONS))
    if "podman" in args.engines:
        notes.extend(c.ensure_packages(["podman"], c.PODMAN_DAEMONS))
    before = c.HostState.take(WATCHED_PATHS)
    bench = Bench(args)
    bench.notes.extend(notes)
    image_ws = c.Workspace("estiba-bench-run-image-")
    try:
        image = c.busybox_tar(image_ws / "busybox.tar")
        bench.setup(image)
        bench.single_runs()
        bench.batch_runs()
    except c.BenchError as exc:
        bench.notes.append(f"stopped early: {exc}")
    finally:
        c.say("cleaning up")
        bench.cleanup()
        bench.notes.extend(image_ws.remove())
        bench.notes.extend(host_check(before, bench))
    f = figures(bench)
    c.emit(report(bench, f, args), results_json(bench, f, args), as_json=args.json)
    failed = [e for e in bench.engines.values() if e.error]
    return 1 if failed or "estiba" not in bench.samples.get("run_rm", {}) else 0


if __name__ == "__main__":
    sys.exit(main())
