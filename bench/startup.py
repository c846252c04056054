"""Start-up time and idle memory: estiba against Debian's dockerd + containerd, in one run.

estiba: ``estiba up -d`` in a temporary root and run dir (with a free registry port and a
netd kernel prefix of its own), timed from the command's start until it returns, which it does
once all four services answer their health checks; then ``estiba down``. Repeated ``--runs``
times on the same root (the first start creates the databases); after the last start, and
``--idle`` seconds of rest, the resident memory of the four services and of the supervisor.

Docker: containerd with its own configuration (root, state, socket in a temporary dir, CRI
plugin off) and dockerd with its own data root, exec root, pidfile, socket and containerd
namespace, and with ``--bridge none --iptables=false --ip6tables=false --ip-forward=false`` so it
leaves the host's network alone. Timed from starting containerd until dockerd answers
``GET /_ping``; ``docker version`` is then checked against it. Same repetitions and idle
measurement, for dockerd + containerd together. Both are stopped by pid.

Run as root: ``bench/startup [--runs 5] [--idle 5] [--json] [--skip-docker|--skip-estiba]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import sys
import time
from typing import Any

from bench import _common as c

DOCKER_FLAGS = ("--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-forward=false")
DOCKER_FLAGS_NOTE = (
    "dockerd ran with --bridge none --iptables=false --ip6tables=false --ip-forward=false"
    " (no docker0, no iptables rules: the host's network is left alone)"
)


@dataclasses.dataclass
class Outcome:
    """One side of the comparison."""

    name: str
    start_s: list[float] = dataclasses.field(default_factory=list)
    stop_s: list[float] = dataclasses.field(default_factory=list)
    memory: dict[str, c.Memory] = dataclasses.field(default_factory=dict)
    version: str = ""
    notes: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None

    @property
    def median_start(self) -> float | None:
        return c.median(self.start_s) if self.start_s else None

    def total(self, groups: tuple[str, ...]) -> c.Memory | None:
        parts = [self.memory[g] for g in groups if g in self.memory]
        if not parts or len(parts) != len(groups):
            return None
        pss = [p.pss_kib for p in parts]
        return c.Memory(
            [pid for p in parts for pid in p.pids],
            sum(p.rss_kib for p in parts),
            None if None in pss else sum(p for p in pss if p is not None),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "start_seconds": [round(t, 4) for t in self.start_s],
            "start_median_seconds": _round(self.median_start),
            "stop_seconds": [round(t, 4) for t in self.stop_s],
            "idle_memory": {name: m.to_json() for name, m in self.memory.items()},
            "version": self.version,
            "notes": self.notes,
            "error": self.error,
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------------------------------------
# estiba


def bench_estiba(args: argparse.Namespace) -> Outcome:
    outcome = Outcome("estiba")
    ws = c.Workspace("estiba-bench-up-")
    prefix = "b" + secrets.token_hex(2)
    root, run_dir = ws / "root", ws / "run"
    config = ws / "estiba.toml"
    netd = [f'kernel_prefix = "{prefix}"']
    if "ip_forward" in _netd_settings():
        netd.append("ip_forward = false")  # the host's sysctl is not the bench's to change
    config.write_text("[netd]\n" + "\n".join(netd) + "\n")
    before = c.HostState.take([])
    pids: list[int] = []
    logs = c.Logs(root / "logs")
    env = c.estiba_env()
    try:
        cli = c.estiba_cli()
        outcome.version = c.estiba_version(cli, env)
        for n in range(args.runs):
            port = c.free_port()
            argv = [str(cli), "up", "-d", "--root", str(root), "--run-dir", str(run_dir),
                    "--registry-addr", f"127.0.0.1:{port}", "--config", str(config)]  # fmt: skip
            t0 = time.monotonic()
            result = c.run(argv, env=env, check=False, timeout=180)
            elapsed = time.monotonic() - t0
            if result.returncode != 0:
                raise c.BenchError(
                    f"estiba up exited {result.returncode}: {c.last_line(result.stderr)[:300]}"
                )
            outcome.start_s.append(elapsed)
            outcome.notes.extend(f"up #{n + 1}: {r}" for r in logs.restarts())
            supervisor, services = c.instance_pids(run_dir)
            pids = [supervisor, *(pid for group in services.values() for pid in group)]
            status = c.http_status(f"unix://{run_dir / 'estiba.sock'}", "/_ping")
            if n == 0 and status != 200:
                outcome.notes.append(f"GET /_ping on estiba.sock answered {status} after up")
            c.say(f"estiba up #{n + 1}: {elapsed:.3f}s (registry on 127.0.0.1:{port})")
            if n == args.runs - 1:
                time.sleep(args.idle)
                outcome.memory["services"] = c.Memory.of(
                    pid for group in services.values() for pid in group
                )
                for name, group in services.items():
                    outcome.memory[name] = c.Memory.of(group)
                outcome.memory["supervisor"] = c.Memory.of([supervisor])
            t0 = time.monotonic()
            result = c.run(
                [str(cli), "down", "--root", str(root), "--run-dir", str(run_dir)],
                env=env,
                check=False,
                timeout=180,
            )
            outcome.stop_s.append(time.monotonic() - t0)
            if result.returncode != 0:
                raise c.BenchError(f"estiba down exited {result.returncode}: {result.stderr}")
            outcome.notes.extend(c.reap(pids, "estiba down"))
            pids = []
    except c.BenchError as exc:
        outcome.error = str(exc)
        outcome.notes.extend(logs.restarts())
    finally:
        if pids and any(c.alive(pid) for pid in pids):
            c.run([str(c.VENV / "bin" / "estiba"), "down", "--root", str(root),
                   "--run-dir", str(run_dir)], env=env, check=False, timeout=180)  # fmt: skip
            outcome.notes.extend(c.reap(pids, "estiba down at clean-up"))
        outcome.notes.extend(c.remove_prefixed(prefix, before))
        outcome.notes.extend(ws.remove())
        restored = c.restore_ip_forward(before.forward)
        if restored:
            outcome.notes.append(restored)
    return outcome


def _netd_settings() -> list[str]:
    """The names of netd's settings, asked of the virtualenv's Python (the bench imports no
    service code)."""
    code = (
        "import dataclasses, services.netd.config as m;"
        "print(' '.join(f.name for f in dataclasses.fields(m.NetdConfig)))"
    )
    result = c.run([str(c.VENV / "bin" / "python"), "-c", code], check=False, timeout=60)
    return result.stdout.split()


# ---------------------------------------------------------------------------------------------
# Docker


def bench_docker(args: argparse.Namespace) -> Outcome:
    outcome = Outcome("docker")
    outcome.notes.extend(c.ensure_packages(["docker.io"], c.DOCKER_DAEMONS))
    outcome.notes.append(DOCKER_FLAGS_NOTE)
    before = c.HostState.take(c.DOCKER_PATHS)
    ws = c.Workspace("estiba-bench-docker-")
    procs = c.Processes()
    docker: c.DockerDaemons | None = None
    try:
        docker = c.DockerDaemons(ws.path, procs, DOCKER_FLAGS)
        for n in range(args.runs):
            t0 = time.monotonic()
            docker.start()
            elapsed = time.monotonic() - t0
            outcome.start_s.append(elapsed)
            result = c.run(
                docker.cli("version", "--format",
                           "{{.Server.Version}} (API {{.Server.APIVersion}})"),
                env=docker.cli_env,
            )  # fmt: skip
            outcome.version = "dockerd " + result.stdout.strip()
            c.say(f"dockerd + containerd up #{n + 1}: {elapsed:.3f}s")
            if n == args.runs - 1:
                time.sleep(args.idle)
                dockerd_pid, containerd_pid = docker.pids()
                daemons = {"dockerd": dockerd_pid, "containerd": containerd_pid}
                for name, pid in daemons.items():
                    outcome.memory[name] = c.Memory.of([pid, *c.descendants(pid)])
                outcome.memory["services"] = c.Memory.of(
                    pid for m in list(outcome.memory.values()) for pid in m.pids
                )
            t0 = time.monotonic()
            docker.stop()
            outcome.stop_s.append(time.monotonic() - t0)
    except c.BenchError as exc:
        outcome.error = str(exc)
        if docker is not None:
            outcome.notes.extend(docker.log_tail())
    finally:
        outcome.notes.extend(procs.stop_all())
        outcome.notes.extend(ws.remove())
        after = c.HostState.take(c.DOCKER_PATHS)
        restored = c.restore_ip_forward(before.forward)
        outcome.notes.extend(n for n in after.changes_since(before) if c.dockers(n))
        if restored:
            outcome.notes.append(restored)
        outcome.notes.extend(c.remove_new_paths(before, c.DOCKER_PATHS))
    return outcome


# ---------------------------------------------------------------------------------------------
# report


# (key, label, unit). Docker has no supervisor: the "+ supervisor" rows compare estiba's five
# processes with dockerd + containerd.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("start_median", "start-up, median (s)", "s"),
    ("start_first", "start-up, first (s)", "s"),
    ("stop_median", "stop, median (s)", "s"),
    ("rss_services", "idle RSS, services (MiB)", "MiB"),
    ("rss_with_supervisor", "idle RSS, + supervisor (MiB)", "MiB"),
    ("pss_services", "idle PSS, services (MiB)", "MiB"),
    ("pss_with_supervisor", "idle PSS, + supervisor (MiB)", "MiB"),
)


def figures(o: Outcome | None) -> dict[str, float | None]:
    """The compared figures of one side, by METRICS key."""
    if o is None:
        return {key: None for key, _, _ in METRICS}
    groups = ("services", "supervisor") if "supervisor" in o.memory else ("services",)

    def mib(groups: tuple[str, ...], pss: bool) -> float | None:
        total = o.total(groups)
        value = None if total is None else (total.pss_kib if pss else total.rss_kib)
        return None if value is None else value / 1024

    return {
        "start_median": o.median_start,
        "start_first": o.start_s[0] if o.start_s else None,
        "stop_median": c.median(o.stop_s) if o.stop_s else None,
        "rss_services": mib(("services",), False),
        "rss_with_supervisor": mib(groups, False),
        "pss_services": mib(("services",), True),
        "pss_with_supervisor": mib(groups, True),
    }


def ratios(e: dict[str, float | None], d: dict[str, float | None]) -> dict[str, float | None]:
    return {key: _round(c.ratio(e[key], d[key]), 3) for key, _, _ in METRICS}


def report(estiba: Outcome | None, docker: Outcome | None, args: argparse.Namespace) -> str:
    fe, fd = figures(estiba), figures(docker)
    ratio = ratios(fe, fd)
    rows = []
    for key, label, unit in METRICS:
        spec = ".3f" if unit == "s" else ".1f"
        rows.append([label, c.fmt(fe[key], spec), c.fmt(fd[key], spec), c.fmt(ratio[key])])
    lines = [
        f"start-up and idle memory: {args.runs} start(s) each, memory after {args.idle:g}s idle",
        "",
        c.table(["", "estiba", "dockerd+containerd", "estiba/docker"], rows),
        "",
        "estiba's services are registry, engine, netd and gateway; the supervisor is the parent",
        "`estiba up -d` leaves running. Docker's are dockerd and containerd.",
    ]
    for o in (estiba, docker):
        if o is None:
            continue
        parts = {k: m for k, m in o.memory.items() if k != "services"}
        if parts:
            each = ", ".join(
                f"{k} {m.rss_kib / 1024:.1f}/"
                + c.fmt(None if m.pss_kib is None else m.pss_kib / 1024, ".1f")
                for k, m in parts.items()
            )
            lines.append(f"{o.name} per process, RSS/PSS MiB: {each}")
        if o.version:
            lines.append(f"{o.name} version: {o.version}")
        if o.start_s:
            lines.append(f"{o.name} start-ups (s): " + " ".join(f"{t:.3f}" for t in o.start_s))
        if o.error:
            lines.append(f"{o.name}: NOT MEASURED: {o.error}")
        lines.extend(f"{o.name} note: {note}" for note in o.notes)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/startup", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="start-ups of each (5)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before memory (5)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    parser.add_argument("--skip-estiba", action="store_true")
    parser.add_argument("--skip-docker", action="store_true")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.idle < 0:
        parser.error("--runs must be at least 1 and --idle not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    c.prepare()
    estiba = None if args.skip_estiba else bench_estiba(args)
    docker = None if args.skip_docker else bench_docker(args)
    results: dict[str, Any] = {
        "bench": "startup",
        "runs": args.runs,
        "idle_seconds": args.idle,
        "estiba": estiba.to_json() if estiba else None,
        "docker": docker.to_json() if docker else None,
    }
    fe, fd = figures(estiba), figures(docker)
    results["figures"] = {
        "estiba": {k: _round(v) for k, v in fe.items()},
        "docker": {k: _round(v) for k, v in fd.items()},
        "estiba_over_docker": ratios(fe, fd),
    }
    c.emit(report(estiba, docker, args), results, as_json=args.json)
    failed = [o for o in (estiba, docker) if o is not None and o.error]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
