"""The CLI's listings and the gateway's cost: estiba against podman and Docker, in one run.

Measured:

1. ``ps`` and ``images`` with ``--containers`` running containers (``busybox sleep``), for
   each engine, its own CLI: ``estiba ps``, ``podman ps`` and ``docker ps`` against a dockerd of
   the bench's own, plus the stock docker CLI against estiba; ``--rounds`` wall-clock timings
   each, the columns interleaved round by round so the machine's drift hits all alike.
2. The gateway's added latency: the same work asked of the gateway over HTTP (one kept-alive
   connection on its UNIX socket) and of the engine over gRPC directly (one channel on its
   socket): ``GET /images/json`` against Images.List, ``GET /volumes`` against Volumes.List,
   ``GET /containers/{id}/json`` against Containers.Get. The difference of the medians is what
   the gateway adds (HTTP parsing, the gRPC hop, JSON); for inspect the gateway also asks netd
   for the container's networks, which is part of what it adds.

The engines are set up as bench/run sets them up (its own estiba instance with a kernel prefix
of the run; podman and dockerd in network namespaces and workspaces of the bench's own), and
everything is removed at the end; the host is checked for leftovers.

Run as root: ``bench/cli [--rounds 30] [--warmup 3] [--containers 50] [--requests 300]
[--engines estiba,podman,docker] [--json]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from bench import _common as c
from bench.run import (
    ANCHORS,
    SINGLE_TIMEOUT,
    WATCHED_PATHS,
    Column,
    Engine,
    Estiba,
    host_check,
    timed,
)

LISTINGS = ("ps", "images")
TARGET_GATEWAY_MS = 2.0
START_TIMEOUT = 600.0


@dataclasses.dataclass
class Bench:
    args: argparse.Namespace
    engines: dict[str, Engine] = dataclasses.field(default_factory=dict)
    samples: dict[str, dict[str, list[float]]] = dataclasses.field(default_factory=dict)
    gateway: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    def columns(self) -> list[Column]:
        cols = [e.column for e in self.engines.values() if e.column is not None]
        estiba = self.engines.get("estiba")
        if isinstance(estiba, Estiba) and estiba.docker_column is not None:
            cols.append(estiba.docker_column)
        return cols


def setup(bench: Bench, image: Path) -> None:
    for name in bench.args.engines:
        engine: Engine = Estiba() if name == "estiba" else ANCHORS[name]()
        bench.engines[name] = engine
        engine.setup(image)


def start_containers(bench: Bench, n: int) -> None:
    """``n`` running containers on each engine, ten at a time."""
    for engine in bench.engines.values():
        col = engine.column
        assert col is not None
        pool = col.pool(10)
        t0 = time.perf_counter()
        argv = col.run_argv("-d", "busybox", "sleep", "100000")
        for future in [pool.submit(timed, argv, col.env, START_TIMEOUT, col.cwd) for _ in range(n)]:
            future.result()
        c.say(f"{engine.name}: {n} containers running in {time.perf_counter() - t0:.1f}s")


def listings(bench: Bench) -> None:
    """Every column's ``ps`` and ``images``, round by round; the warm-up rounds not kept."""
    cols = bench.columns()
    rounds = bench.args.warmup + bench.args.rounds
    for r in range(rounds):
        for verb in LISTINGS:
            for col in cols:
                elapsed, out = col.call([*col.cli, verb], SINGLE_TIMEOUT)
                if verb == "ps" and r == 0:
                    listed = len(out.splitlines()) - 1
                    if listed != bench.args.containers:
                        raise c.BenchError(f"{col.key} ps listed {listed} containers")
                if r >= bench.args.warmup:
                    bench.samples.setdefault(verb, {}).setdefault(col.key, []).append(elapsed)
    c.say(f"{rounds} rounds of ps and images done")


def _median_ms(call: Callable[[], object], n: int, warmup: int) -> float:
    times = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        call()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return c.median(times) * 1000


def gateway_latency(bench: Bench) -> None:
    """Median time of the same question asked of the gateway and of the engine directly."""
    estiba = bench.engines.get("estiba")
    if not isinstance(estiba, Estiba):
        return
    import grpc  # the bench's own process; the CLI never imports it

    from estiba.engine.v1 import (
        containers_pb2,
        containers_pb2_grpc,
        images_pb2,
        images_pb2_grpc,
        volumes_pb2,
        volumes_pb2_grpc,
    )

    conn = c._UnixHTTPConnection(str(estiba.run_dir / "estiba.sock"), 30)
    channel = grpc.insecure_channel(f"unix://{estiba.run_dir / 'engine.sock'}")
    containers = containers_pb2_grpc.ContainersStub(channel)
    images = images_pb2_grpc.ImagesStub(channel)
    volumes = volumes_pb2_grpc.VolumesStub(channel)
    some = containers.List(containers_pb2.ListContainersRequest(all=False)).containers[0].id

    def http(path: str) -> Callable[[], object]:
        def get() -> bytes:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise c.BenchError(f"GET {path}: {response.status} {body[:200]!r}")
            return body

        return get

    cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "images_list": (
            http("/v1.44/images/json"),
            lambda: images.List(images_pb2.ListImagesRequest()),
        ),
        "volumes_list": (
            http("/v1.44/volumes"),
            lambda: volumes.List(volumes_pb2.ListVolumesRequest()),
        ),
        "container_inspect": (
            http(f"/v1.44/containers/{some}/json"),
            lambda: containers.Get(containers_pb2.GetContainerRequest(ref=some)),
        ),
    }
    n, warmup = bench.args.requests, max(10, bench.args.requests // 10)
    try:
        for name, (via_gateway, direct) in cases.items():
            # interleaved in blocks, so that drift hits both
            g, d = [], []
            for _ in range(5):
                g.append(_median_ms(via_gateway, n // 5, warmup // 5))
                d.append(_median_ms(direct, n // 5, warmup // 5))
            gw, dr = c.median(g), c.median(d)
            bench.gateway[name] = {"gateway_ms": gw, "grpc_ms": dr, "added_ms": gw - dr}
    finally:
        conn.close()
        channel.close()
    c.say("gateway latency measured")


def cleanup(bench: Bench) -> None:
    for engine in bench.engines.values():
        if engine.column is not None:
            engine.column.close()
        estiba_docker = getattr(engine, "docker_column", None)
        if estiba_docker is not None:
            estiba_docker.close()
        try:
            bench.notes.extend(engine.cleanup())
        except Exception as exc:  # clean-up of one engine must not stop the others'
            bench.notes.append(f"cleaning up {engine.name} failed: {exc}")


def figures(bench: Bench) -> dict[str, Any]:
    out: dict[str, Any] = {"listings": {}, "gateway": bench.gateway}
    for verb, by_col in bench.samples.items():
        med = {k: c.median(v) * 1000 for k, v in by_col.items()}
        entry: dict[str, Any] = {"median_ms": med}
        if "estiba" in med:
            entry["ratio"] = {k: c.ratio(med["estiba"], v) for k, v in med.items() if k != "estiba"}
        out["listings"][verb] = entry
    return out


def report(bench: Bench, f: dict[str, Any]) -> str:
    a = bench.args
    lines = [
        f"bench/cli: {a.containers} running containers, {a.rounds} rounds"
        f" (+{a.warmup} warm-up), medians in ms",
        "",
    ]
    for engine in bench.engines.values():
        lines.append(f"  {engine.name}: {engine.version}")
    lines.append("")
    cols = [col.key for col in bench.columns()]
    rows = []
    for verb, entry in f["listings"].items():
        med = entry["median_ms"]
        row = [verb, *(c.fmt(med.get(k), ".1f") for k in cols)]
        ratios = entry.get("ratio", {})
        row += [c.fmt(ratios.get(k), ".2f") for k in ("docker", "podman")]
        rows.append(row)
    header = ["listing", *cols, "estiba/docker", "estiba/podman"]
    lines.append(c.table(header, rows))
    lines.append("  (target: estiba/docker and estiba/podman at most 1.00)")
    if bench.gateway:
        lines.append("")
        rows = [
            [name, c.fmt(v["gateway_ms"], ".3f"), c.fmt(v["grpc_ms"], ".3f"),
             c.fmt(v["added_ms"], ".3f")]
            for name, v in bench.gateway.items()
        ]  # fmt: skip
        lines.append(c.table(["request", "gateway", "engine gRPC", "added"], rows))
        lines.append(f"  (target: the gateway adds under {TARGET_GATEWAY_MS:g} ms)")
    if bench.notes:
        lines += ["", "notes:", *(f"  - {note}" for note in bench.notes)]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/cli", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--containers", type=int, default=50)
    p.add_argument("--requests", type=int, default=300, help="gateway-latency requests per case")
    p.add_argument("--engines", default="estiba,podman,docker")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    args.engines = [e for e in args.engines.split(",") if e]
    unknown = set(args.engines) - {"estiba", *ANCHORS}
    if unknown or "estiba" not in args.engines:
        p.error(f"--engines: estiba and any of {', '.join(ANCHORS)}")
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
    image_ws = c.Workspace("estiba-bench-cli-image-")
    ok = False
    try:
        image = c.busybox_tar(image_ws / "busybox.tar")
        setup(bench, image)
        start_containers(bench, args.containers)
        listings(bench)
        gateway_latency(bench)
        ok = True
    except c.BenchError as exc:
        bench.notes.append(f"stopped early: {exc}")
    finally:
        c.say("cleaning up")
        cleanup(bench)
        bench.notes.extend(image_ws.remove())
        bench.notes.extend(host_check(before, cast(Any, bench)))
    f = figures(bench)
    results = {"args": {k: v for k, v in vars(args).items()}, **f, "notes": bench.notes}
    c.emit(report(bench, f), results, as_json=args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
