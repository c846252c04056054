"""Image builds: estiba against Docker's classic builder and buildah, in one run, round by round.

The Dockerfile is the same for all, FROM busybox with 8 steps: a RUN that writes files, a COPY
of a 10 MiB file, a COPY of a directory of 1,000 small files, ENV, WORKDIR, a second RUN, CMD.
Measured, the builders interleaved in each round so that the machine's drift hits all alike,
the wall time of the whole CLI command (context upload included):

1. cold: ``build --no-cache`` (buildah: ``bud --layers --no-cache``);
2. fully cached: the same Dockerfile again, every step a cache hit;
3. last step changed: the CMD differs in every build (a new Dockerfile next to the first), so
   only that step runs; for estiba the output is checked step by step to be sure.

Columns: the estiba CLI; the stock docker CLI against estiba (``DOCKER_BUILDKIT=0``); the same
docker CLI against a Debian dockerd of the bench's own (classic builder); ``buildah bud`` with
chroot isolation (its fastest), storage in the workspace. For estiba the CPU time the engine
and the gateway spend on a fully cached build is also reported: the engine's own work, apart
from the CLI's start and the upload.

Targets: cold ≤ docker classic and ≤ buildah; cached ≤ docker classic and ≤ 1/3 of buildah;
last step changed ≤ docker classic.

Run as root: ``bench/build [--rounds 5] [--engines estiba,docker,buildah] [--json]``.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import _common as c
from bench import run as runbench

BUILDERS = ("estiba", "docker", "buildah")
COLUMNS = (
    ("estiba", "estiba"),
    ("docker_cli_on_estiba", "docker→estiba"),
    ("docker", "docker classic"),
    ("buildah", "buildah"),
)
CASES = ("cold", "cached", "last_step")
TITLES = {"cold": "cold build", "cached": "fully cached", "last_step": "last step changed"}
# (case, anchor) -> the largest estiba/anchor ratio that meets the target
TARGETS = {
    ("cold", "docker"): 1.0,
    ("cold", "buildah"): 1.0,
    ("cached", "docker"): 1.0,
    ("cached", "buildah"): 1 / 3,
    ("last_step", "docker"): 1.0,
}
TIMEOUT = 600.0
DOCKERFILE = """FROM busybox
RUN mkdir -p /data && for i in $(seq 1 100); do echo "line $i" > /data/f$i; done
COPY big.bin /big.bin
COPY small/ /small/
ENV APP_MODE=bench
WORKDIR /app
RUN echo built > /app/stamp && ls /small | wc -l > /app/count
CMD ["cat", "/app/stamp"]
"""


def make_context(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    with open(root / "big.bin", "wb") as handle:
        handle.write(os.urandom(10 << 20))
    small = root / "small"
    small.mkdir()
    for i in range(1000):
        (small / f"f{i:04d}.txt").write_text(f"small file {i}\n" * 4)
    return root


class Buildah(runbench.Engine):
    """buildah with podman's private configuration; busybox imported into its storage."""

    name = "buildah"

    def __init__(self) -> None:
        super().__init__()
        self.netns: c.PrivateNetns | None = None

    def setup(self, image: Path) -> None:
        buildah = shutil.which("buildah")
        if buildah is None:
            raise c.BenchError("buildah is missing")
        self.netns = c.PrivateNetns(self.ws / "netns")
        podman = c.PodmanSetup(self.ws.path, self.netns)
        podman.run("import", "-c", 'CMD ["sh"]', str(image), "busybox:latest")
        cli = [buildah, "--root", str(self.ws / "storage"), "--runroot", str(self.ws / "run")]
        self.version = c.run([buildah, "--version"]).stdout.strip()
        self.column = runbench.Column("buildah", cli, podman.env, netns=self.netns)
        c.say(f"buildah ready in {self.ws.path}")

    def remove_containers(self) -> list[str]:
        if self.column is None:
            return []
        try:
            self.column.call([*self.column.cli, "rm", "--all"], TIMEOUT)
        except c.BenchError as exc:
            return [f"buildah rm --all failed: {exc}"]
        return []

    def cleanup(self) -> list[str]:
        notes = self.remove_containers()
        if self.netns is not None:
            notes.extend(self.netns.remove())
        notes.extend(self.ws.remove())
        notes.extend(c.remove_cgroup_tree(self.cgroup_parent))
        return notes


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.engines: dict[str, runbench.Engine] = {}
        if "estiba" in args.engines:
            self.engines["estiba"] = runbench.Estiba()
        if "docker" in args.engines:
            self.engines["docker"] = runbench.Docker()
        if "buildah" in args.engines:
            self.engines["buildah"] = Buildah()
        self.samples: dict[str, dict[str, list[float]]] = {case: {} for case in CASES}
        self.columns: dict[str, runbench.Column] = {}
        self.notes: list[str] = []
        self.only_last_ran: list[bool] = []
        self.engine_cpu_ms: list[float] = []
        self.gateway_cpu_ms: list[float] = []
        self.ctx = Path()
        self.serial = 0

    def setup(self, image: Path, ctx: Path) -> None:
        self.ctx = ctx
        for name, engine in self.engines.items():
            try:
                engine.setup(image)
            except (c.BenchError, subprocess.CalledProcessError, OSError) as exc:
                engine.error = str(exc)
                self.notes.append(f"{name}: set-up failed: {exc}")
                continue
            assert engine.column is not None
            col = engine.column
            if name in ("docker", "estiba"):
                col = _classic(col)
            self.columns[name] = col
            if isinstance(engine, runbench.Estiba) and engine.docker_column is not None:
                self.columns["docker_cli_on_estiba"] = _classic(engine.docker_column)
        # the estiba CLI is not the docker CLI: only the docker ones need the variable
        if "estiba" in self.columns:
            self.columns["estiba"].env.pop("DOCKER_BUILDKIT", None)

    def argv(self, key: str, *args: str) -> list[str]:
        col = self.columns[key]
        if key == "buildah":
            return [*col.cli, "bud", "--layers", "--isolation", "chroot", *args]
        return [*col.cli, "build", *args]

    def build(self, key: str, case: str, *args: str) -> str:
        col = self.columns[key]
        elapsed, out = col.call(self.argv(key, *args), TIMEOUT)
        self.samples[case].setdefault(key, []).append(elapsed)
        return out

    def last_step_dockerfile(self, key: str) -> Path:
        self.serial += 1
        path = self.ctx / f"Dockerfile.last-{key}-{self.serial}"
        text = DOCKERFILE.replace('CMD ["cat", "/app/stamp"]', f'CMD ["echo", "{path.name}"]')
        path.write_text(text)
        return path

    def rounds(self) -> None:
        keys = list(self.columns)
        for key in keys:  # warm-up: fill every cache, check that each builder works
            try:
                self.columns[key].call(self.argv(key, "-t", "bench:warm", str(self.ctx)), TIMEOUT)
            except c.BenchError as exc:
                self.notes.append(f"{key}: warm-up build failed: {exc}")
                self.columns.pop(key)
        for n in range(self.args.rounds):
            order = list(self.columns)
            order = order[n % len(order) :] + order[: n % len(order)]
            c.say(f"round {n + 1}/{self.args.rounds}")
            for key in order:
                self.build(key, "cold", "--no-cache", "-t", "bench:cold", str(self.ctx))
            for key in order:
                self._cached(key)
            for key in order:
                dockerfile = self.last_step_dockerfile(key)
                out = self.build(key, "last_step", "-t", "bench:last", "-f", str(dockerfile),
                                 str(self.ctx))  # fmt: skip
                if key == "estiba":
                    self.only_last_ran.append(_only_last_ran(out))

    def _cached(self, key: str) -> None:
        engine = self.engines.get("estiba")
        if key != "estiba" or not isinstance(engine, runbench.Estiba):
            self.build(key, "cached", "-t", "bench:cached", str(self.ctx))
            return
        pids = engine.cpu_pids()
        before = {name: _cpu(pids.get(name, [])) for name in ("engine", "gateway")}
        self.build(key, "cached", "-t", "bench:cached", str(self.ctx))
        self.engine_cpu_ms.append((_cpu(pids.get("engine", [])) - before["engine"]) * 1000)
        self.gateway_cpu_ms.append((_cpu(pids.get("gateway", [])) - before["gateway"]) * 1000)

    def cleanup(self) -> None:
        for col in self.columns.values():
            col.close()
        for engine in self.engines.values():
            try:
                engine.notes.extend(engine.cleanup())
            except Exception as exc:  # the others must be cleaned up all the same
                engine.notes.append(f"clean-up failed: {exc!r}")
                engine.notes.extend(engine.ws.remove())
            if engine.column is not None:
                engine.column.close()


def _classic(col: runbench.Column) -> runbench.Column:
    """``col`` with the docker CLI's classic builder asked for."""
    col.env = {**col.env, "DOCKER_BUILDKIT": "0"}
    return col


def _cpu(pids: list[int]) -> float:
    return sum(c.cpu_seconds(pid, children=True) for pid in pids)


def _only_last_ran(output: str) -> bool:
    blocks = re.split(r"^Step \d+/\d+ : ", output, flags=re.M)[2:]  # after FROM
    hits = [" ---> Using cache" in b for b in blocks]
    return bool(hits) and all(hits[:-1]) and not hits[-1]


def figures(bench: Bench) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for case in CASES:
        medians = {
            key: round(c.median(values) * 1000, 1) for key, values in bench.samples[case].items()
        }
        out[case] = {
            "median_ms": medians,
            "samples_ms": {
                k: [round(v * 1000, 1) for v in vs] for k, vs in bench.samples[case].items()
            },
            "ratios": {},
        }
        for anchor in ("docker", "buildah"):
            r = c.ratio(medians.get("estiba"), medians.get(anchor))
            target = TARGETS.get((case, anchor))
            out[case]["ratios"][f"estiba_over_{anchor}"] = None if r is None else round(r, 3)
            if target is not None:
                out[case]["ratios"][f"met_estiba_over_{anchor}"] = (
                    None if r is None else r <= target
                )
    out["estiba_cached_cpu_ms"] = {
        "engine_median": round(c.median(bench.engine_cpu_ms), 1) if bench.engine_cpu_ms else None,
        "gateway_median": round(c.median(bench.gateway_cpu_ms), 1)
        if bench.gateway_cpu_ms
        else None,
    }
    out["estiba_last_step_only_last_ran"] = bench.only_last_ran
    return out


def report(bench: Bench, f: dict[str, Any]) -> str:
    header = ["median (ms)", *(label for _, label in COLUMNS), "estiba/docker", "estiba/buildah"]
    rows = []
    for case in CASES:
        med = f[case]["median_ms"]
        cells = [c.fmt(med.get(key), ".0f") for key, _ in COLUMNS]
        ratios = []
        for anchor in ("docker", "buildah"):
            r = c.ratio(med.get("estiba"), med.get(anchor))
            target = TARGETS.get((case, anchor))
            if r is None:
                ratios.append("n/a")
            elif target is None:
                ratios.append(f"{r:.2f}")
            else:
                ratios.append(f"{r:.2f} {'≤' if r <= target else '>'} {target:.2f}")
        rows.append([TITLES[case], *cells, *ratios])
    lines = [c.table(header, rows), ""]
    cpu = f["estiba_cached_cpu_ms"]
    lines.append(
        f"estiba, fully cached build: engine CPU {c.fmt(cpu['engine_median'], '.1f')} ms, "
        f"gateway CPU {c.fmt(cpu['gateway_median'], '.1f')} ms (medians)"
    )
    ran = f["estiba_last_step_only_last_ran"]
    lines.append(
        f"estiba, last step changed: only the last step ran in {sum(ran)} of {len(ran)} builds"
    )
    for name, engine in bench.engines.items():
        if engine.version:
            lines.append(f"{name}: {engine.version}")
        lines.extend(f"{name}: {note}" for note in engine.notes)
    lines.extend(bench.notes)
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/build", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engines", default=",".join(BUILDERS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.engines = [e for e in args.engines.split(",") if e]
    unknown = set(args.engines) - set(BUILDERS)
    if unknown:
        parser.error(f"--engines: unknown {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    c.prepare()
    notes: list[str] = []
    if "docker" in args.engines:
        notes.extend(c.ensure_packages(["docker.io"], c.DOCKER_DAEMONS))
    if "buildah" in args.engines:
        notes.extend(c.ensure_packages(["podman", "buildah"], c.PODMAN_DAEMONS))
    before = c.HostState.take(runbench.WATCHED_PATHS)
    bench = Bench(args)
    bench.notes.extend(notes)
    ws = c.Workspace("estiba-bench-build-")
    try:
        image = c.busybox_tar(ws / "busybox.tar")
        ctx = make_context(ws / f"ctx-{secrets.token_hex(3)}")
        bench.setup(image, ctx)
        bench.rounds()
    except c.BenchError as exc:
        bench.notes.append(f"stopped early: {exc}")
    finally:
        c.say("cleaning up")
        bench.cleanup()
        bench.notes.extend(ws.remove())
        bench.notes.extend(runbench.host_check(before, bench))  # type: ignore[arg-type]
    f = figures(bench)
    c.emit(report(bench, f), {"figures": f, "notes": bench.notes}, as_json=args.json)
    return 0 if "estiba" in bench.samples["cached"] else 1


if __name__ == "__main__":
    sys.exit(main())
