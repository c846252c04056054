"""Push and pull throughput of estiba's registry against Debian's docker-registry, in one run.

Two OCI image layouts are generated in a temporary dir, with gzipped random layers so skopeo
passes them through unchanged: one layer of 256 MiB, and 100 layers of 100 KiB. For each image
and each registry, alternating which goes first, the registry is started on empty storage,
``skopeo copy`` pushes the image to it and pulls it back into a fresh layout, each timed;
``--rounds`` rounds, medians reported. Also measured: the registry's CPU time per GiB pushed
and pulled (utime + stime from /proc), its peak RSS while pushing and pulling the big image
(VmRSS sampled every 50 ms), and ``--parallel`` concurrent pulls of the big image.

estiba's registry runs alone as ``python -m services.registry`` from the project's virtualenv;
docker-registry as ``docker-registry serve config.yml`` with filesystem storage and deletes
enabled. Both on free loopback ports, both with access logs off and warnings only.

Run as root: ``bench/registry [--rounds 3] [--parallel 20] [--parallel-rounds 2] [--json]``.

``bench/registry --auth [--rounds 3] [--requests 2000] [--pulls 200]`` measures instead what
authentication costs estiba's registry: the same requests with auth off and on, in one run (see
``bench/registry_auth.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import _common as c

GIB = 1 << 30
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CHUNK = 1 << 20
DISTRIBUTION = "/usr/bin/docker-registry"
# skopeo, run as root, keeps a blob cache here; the run removes what it creates of it.
SKOPEO_PATHS = (
    "/var/lib/containers",
    "/var/lib/containers/cache",
    "/var/lib/containers/cache/blob-info-cache-v1.boltdb",
)


# ---------------------------------------------------------------------------------------------
# images


@dataclasses.dataclass(frozen=True)
class Image:
    key: str
    label: str
    layout: Path
    tag: str
    size: int
    """Bytes of every blob of the image (layers, config, manifest): what a push moves."""
    layers: int


def _digest_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def write_layer(blobs: Path, size: int) -> tuple[dict[str, Any], str]:
    """One gzipped tar layer holding ``size`` random bytes; its descriptor and diff id.

    The deflate stream uses stored blocks (level 0): random data does not compress, and this
    keeps generating 256 MiB to about a second.
    """
    tmp = blobs / "layer.tmp"
    diff = hashlib.sha256()
    sha = hashlib.sha256()
    compressor = zlib.compressobj(0, zlib.DEFLATED, 31)  # 31: gzip framing
    info = tarfile.TarInfo("data.bin")
    info.size, info.mode, info.mtime = size, 0o644, 0
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    padding = b"\0" * (-size % tarfile.BLOCKSIZE) + b"\0" * (2 * tarfile.BLOCKSIZE)
    written = 0
    with tmp.open("wb") as out:

        def feed(data: bytes) -> None:
            nonlocal written
            diff.update(data)
            packed = compressor.compress(data)
            sha.update(packed)
            out.write(packed)
            written += len(packed)

        feed(header)
        left = size
        while left:
            piece = os.urandom(min(CHUNK, left))
            left -= len(piece)
            feed(piece)
        feed(padding)
        tail = compressor.flush()
        sha.update(tail)
        out.write(tail)
        written += len(tail)
    digest = sha.hexdigest()
    tmp.rename(blobs / digest)
    descriptor = {"mediaType": OCI_LAYER_GZIP, "digest": f"sha256:{digest}", "size": written}
    return descriptor, "sha256:" + diff.hexdigest()


def _write_blob(blobs: Path, data: bytes, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def make_image(base: Path, key: str, label: str, layer_sizes: list[int]) -> Image:
    """An OCI image layout at ``base/key`` with one tagged manifest."""
    layout = base / key
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers, diff_ids = [], []
    for size in layer_sizes:
        descriptor, diff_id = write_layer(blobs, size)
        layers.append(descriptor)
        diff_ids.append(diff_id)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config_desc = _write_blob(blobs, json.dumps(config).encode(), OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": layers,
    }
    manifest_desc = _write_blob(blobs, json.dumps(manifest).encode(), OCI_MANIFEST)
    tag = key
    index = {
        "schemaVersion": 2,
        "manifests": [{**manifest_desc, "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    size = sum(d["size"] for d in [*layers, config_desc, manifest_desc])
    return Image(key, label, layout, tag, size, len(layers))


# ---------------------------------------------------------------------------------------------
# registries


class Registry:
    """One registry process, restarted on empty storage for each measurement."""

    name = ""

    def __init__(self, ws: c.Workspace, procs: c.Processes) -> None:
        self.ws = ws
        self.procs = procs
        self.proc: subprocess.Popen[bytes] | None = None
        self.storage = ws / f"{self.name}-storage"
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def pids(self) -> list[int]:
        return [self.pid, *c.descendants(self.pid)] if self.proc else []

    def cpu(self) -> float:
        return sum(c.cpu_seconds(pid) for pid in self.pids())

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self) -> None:
        """(Re)start on empty storage and a new port; return once ``GET /v2/`` answers."""
        self.stop()
        shutil.rmtree(self.storage, ignore_errors=True)
        self.storage.mkdir()
        self.port = c.free_port()
        argv, env = self.command()
        self.proc = self.procs.start(
            self.name, argv, env=env, log=self.ws / f"{self.name}.log", cwd=self.storage
        )
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise c.BenchError(
                    f"{self.name} exited {proc.returncode} at start; see its log: "
                    + _log_tail(self.ws / f"{self.name}.log")
                )
            return c.http_status(self.address, "/v2/", timeout=1.0) in (200, 401)

        c.wait_for(f"{self.name} answering GET /v2/", ready, 60, 0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc)
            self.proc = None

    def version(self) -> str:
        return ""


class EstibaRegistry(Registry):
    name = "estiba"

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ESTIBA_")}
        env.update(
            ESTIBA_ROOT=str(self.storage / "root"),
            ESTIBA_RUN_DIR=str(self.storage / "run"),
            ESTIBA_REGISTRY_HTTP_ADDR=self.address,
            ESTIBA_LOG_LEVEL="warning",
            PYTHONDONTWRITEBYTECODE="1",
        )
        return [str(c.VENV / "bin" / "python"), "-m", "services.registry"], env

    def version(self) -> str:
        result = c.run(
            [str(c.VENV / "bin" / "python"), "-m", "services.registry", "--version"], check=False
        )
        return result.stdout.strip() or c.last_line(result.stderr)


class DistributionRegistry(Registry):
    name = "distribution"

    def command(self) -> tuple[list[str], dict[str, str]]:
        config = self.ws / "distribution.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.storage}\n"
            "  delete:\n    enabled: true\n"
            "  cache:\n    blobdescriptor: inmemory\n"
            "  maintenance:\n    uploadpurging:\n      enabled: false\n"
            f"http:\n  addr: {self.address}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        return [DISTRIBUTION, "serve", str(config)], env

    def version(self) -> str:
        result = c.run([DISTRIBUTION, "--version"], check=False)
        return result.stdout.strip()


def _log_tail(path: Path) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-3:])[-600:]
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------------
# skopeo


class Skopeo:
    """skopeo with a configuration of its own: no host policy, mirrors or credentials apply."""

    def __init__(self, ws: c.Workspace) -> None:
        self.dir = ws / "skopeo"
        (self.dir / "tmp").mkdir(parents=True)
        (self.dir / "registries.d").mkdir()
        (self.dir / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
        (self.dir / "registries.conf").write_text("")
        self.env = dict(
            os.environ,
            CONTAINERS_REGISTRIES_CONF=str(self.dir / "registries.conf"),
            REGISTRY_AUTH_FILE=str(self.dir / "auth.json"),
            XDG_RUNTIME_DIR=str(self.dir),
            TMPDIR=str(self.dir / "tmp"),
        )

    def argv(self, *args: str) -> list[str]:
        return ["skopeo", "--policy", str(self.dir / "policy.json"),
                "--registries.d", str(self.dir / "registries.d"),
                "--tmpdir", str(self.dir / "tmp"), "copy", "--quiet", *args]  # fmt: skip

    def push_argv(self, image: Image, address: str) -> list[str]:
        return self.argv(
            "--dest-tls-verify=false",
            f"oci:{image.layout}:{image.tag}",
            f"docker://{address}/bench/img:{image.tag}",
        )

    def pull_argv(self, image: Image, address: str, out: Path) -> list[str]:
        return self.argv(
            "--src-tls-verify=false",
            f"docker://{address}/bench/img:{image.tag}",
            f"oci:{out}:{image.tag}",
        )

    def timed(self, argv: list[str]) -> tuple[float, str | None]:
        """Seconds taken, and the error if skopeo failed."""
        t0 = time.monotonic()
        result = c.run(argv, env=self.env, check=False, timeout=900)
        elapsed = time.monotonic() - t0
        if result.returncode != 0:
            return elapsed, f"skopeo exited {result.returncode}: {c.last_line(result.stderr)}"
        return elapsed, None


# ---------------------------------------------------------------------------------------------
# measurements


@dataclasses.dataclass
class Series:
    """One registry with one image over the rounds."""

    push_s: list[float] = dataclasses.field(default_factory=list)
    pull_s: list[float] = dataclasses.field(default_factory=list)
    push_cpu: list[float] = dataclasses.field(default_factory=list)
    pull_cpu: list[float] = dataclasses.field(default_factory=list)
    push_peak_kib: list[int] = dataclasses.field(default_factory=list)
    pull_peak_kib: list[int] = dataclasses.field(default_factory=list)
    hwm_kib: list[int] = dataclasses.field(default_factory=list)
    error: str | None = None

    def to_json(self, size: int) -> dict[str, Any]:
        def med(xs: list[float] | list[int]) -> float | None:
            return round(c.median([float(x) for x in xs]), 4) if xs else None

        return {
            "push_seconds": [round(x, 4) for x in self.push_s],
            "pull_seconds": [round(x, 4) for x in self.pull_s],
            "push_mb_s": _mb_s(size, med(self.push_s)),
            "pull_mb_s": _mb_s(size, med(self.pull_s)),
            "push_cpu_s_per_gib": _per_gib(med(self.push_cpu), size),
            "pull_cpu_s_per_gib": _per_gib(med(self.pull_cpu), size),
            "push_peak_rss_mib": _mib(med(self.push_peak_kib)),
            "pull_peak_rss_mib": _mib(med(self.pull_peak_kib)),
            "vm_hwm_mib": _mib(med(self.hwm_kib)),
            "error": self.error,
        }


def _mb_s(size: int, seconds: float | None) -> float | None:
    return None if not seconds else round(size / seconds / c.MB, 1)


def _per_gib(cpu: float | None, size: int) -> float | None:
    return None if cpu is None else round(cpu / (size / GIB), 3)


def _mib(kib: float | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


@dataclasses.dataclass
class Parallel:
    """Concurrent pulls from one registry, over the parallel rounds."""

    pulls: int
    seconds: list[float] = dataclasses.field(default_factory=list)
    mb_s: list[float] = dataclasses.field(default_factory=list)
    errors: int = 0
    peak_rss_kib: int = 0
    first_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "pulls": self.pulls,
            "rounds": len(self.seconds),
            "errors": self.errors,
            "seconds": [round(x, 3) for x in self.seconds],
            "total_mb_s": round(c.median(self.mb_s), 1) if self.mb_s else None,
            "peak_rss_mib": _mib(self.peak_rss_kib),
            "first_error": self.first_error,
        }


def measure_once(
    reg: Registry, image: Image, skopeo: Skopeo, out: Path, series: Series, *, sample: bool
) -> None:
    """Start ``reg`` empty, push ``image``, pull it back; add the figures to ``series``."""
    reg.start()
    cpu0 = reg.cpu()
    with c.RssSampler(reg.pids) if sample else contextlib.nullcontext() as sampler:
        elapsed, error = skopeo.timed(skopeo.push_argv(image, reg.address))
    if error:
        series.error = f"push: {error}"
        return
    cpu1 = reg.cpu()
    series.push_s.append(elapsed)
    series.push_cpu.append(cpu1 - cpu0)
    if sampler:
        series.push_peak_kib.append(sampler.peak_kib)
    shutil.rmtree(out, ignore_errors=True)
    with c.RssSampler(reg.pids) if sample else contextlib.nullcontext() as sampler:
        elapsed, error = skopeo.timed(skopeo.pull_argv(image, reg.address, out))
    shutil.rmtree(out, ignore_errors=True)
    if error:
        series.error = f"pull: {error}"
        return
    series.pull_s.append(elapsed)
    series.pull_cpu.append(reg.cpu() - cpu1)
    if sampler:
        series.pull_peak_kib.append(sampler.peak_kib)
        series.hwm_kib.append(c.hwm_kib(reg.pid) or 0)


def parallel_pulls(
    reg: Registry, image: Image, skopeo: Skopeo, base: Path, result: Parallel
) -> None:
    """Push ``image`` to a fresh ``reg``, then pull it ``result.pulls`` times at once."""
    n = result.pulls
    reg.start()
    _, error = skopeo.timed(skopeo.push_argv(image, reg.address))
    if error:
        result.errors += n
        result.first_error = result.first_error or f"push: {error}"
        return
    outs = [base / f"parallel-{i}" for i in range(n)]
    procs: list[subprocess.Popen[bytes]] = []
    failed = 0
    with c.RssSampler(reg.pids) as sampler:
        t0 = time.monotonic()
        try:
            for out in outs:
                procs.append(
                    subprocess.Popen(
                        skopeo.pull_argv(image, reg.address, out),
                        env=skopeo.env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    )
                )
            for proc in procs:
                _, err = proc.communicate(timeout=900)
                if proc.returncode != 0:
                    failed += 1
                    result.first_error = result.first_error or c.last_line(err.decode())
        finally:
            for proc in procs:
                if proc.poll() is None:
                    c.stop_pid(proc.pid, proc=proc)
        seconds = time.monotonic() - t0
    for out in outs:
        shutil.rmtree(out, ignore_errors=True)
    result.errors += failed
    result.seconds.append(seconds)
    result.mb_s.append((n - failed) * image.size / seconds / c.MB)
    result.peak_rss_kib = max(result.peak_rss_kib, sampler.peak_kib)


# ---------------------------------------------------------------------------------------------
# report


def report(
    images: list[Image],
    series: dict[str, dict[str, Series]],
    parallel: dict[str, Parallel],
    regs: list[Registry],
    args: argparse.Namespace,
) -> tuple[str, dict[str, Any]]:
    names = [r.name for r in regs]
    data: dict[str, Any] = {"images": {}, "parallel": {}}
    rows: list[list[str]] = []
    for image in images:
        per = {n: series[n][image.key].to_json(image.size) for n in names}
        data["images"][image.key] = {
            "label": image.label,
            "bytes": image.size,
            "layers": image.layers,
            **per,
        }
        metrics = [
            ("push MB/s", "push_mb_s", ".1f"),
            ("pull MB/s", "pull_mb_s", ".1f"),
            ("push CPU s/GiB", "push_cpu_s_per_gib", ".3f"),
            ("pull CPU s/GiB", "pull_cpu_s_per_gib", ".3f"),
        ]
        if image.key == "big":
            metrics += [
                ("peak RSS push MiB", "push_peak_rss_mib", ".1f"),
                ("peak RSS pull MiB", "pull_peak_rss_mib", ".1f"),
                ("VmHWM MiB", "vm_hwm_mib", ".1f"),
            ]
        for label, key, spec in metrics:
            values = [per[n][key] for n in names]
            row = [f"{image.label}: {label}", *(c.fmt(v, spec) for v in values)]
            if len(names) == 2:
                row.append(c.fmt(c.ratio(values[0], values[1])))
            rows.append(row)
        for label, key in (("push s, median", "push_seconds"), ("pull s, median", "pull_seconds")):
            values = [c.median(per[n][key]) if per[n][key] else None for n in names]
            row = [f"{image.label}: {label}", *(c.fmt(v, ".3f") for v in values)]
            if len(names) == 2:
                row.append(c.fmt(c.ratio(values[0], values[1])))
            rows.append(row)
    for label, key, spec in (
        (f"{args.parallel} parallel pulls: total MB/s, median", "total_mb_s", ".1f"),
        (f"{args.parallel} parallel pulls: errors, all rounds", "errors", "d"),
        (f"{args.parallel} parallel pulls: peak RSS MiB", "peak_rss_mib", ".1f"),
    ):
        if not parallel:
            break
        values = [parallel[n].to_json()[key] if n in parallel else None for n in names]
        row = [label, *(c.fmt(v, spec) for v in values)]
        if len(names) == 2:
            row.append(c.fmt(c.ratio(values[0], values[1])) if key != "errors" else "")
        rows.append(row)
    data["parallel"] = {n: p.to_json() for n, p in parallel.items()}
    header = ["", *names]
    if len(names) == 2:
        header.append(f"{names[0]}/{names[1]}")
    lines = [
        f"registry push/pull with skopeo: {args.rounds} round(s), medians; MB = 10^6 bytes",
        "",
        c.table(header, rows),
        "",
        "MB/s: higher is better; CPU and RSS: lower is better. CPU is the registry process's",
        "utime+stime per GiB moved; peak RSS sampled every 50 ms; VmHWM is the process's peak",
        "since its start on empty storage (start, push and pull of the big image).",
    ]
    for reg in regs:
        lines.append(f"{reg.name}: {reg.version()}")
    for name in names:
        for image in images:
            error = series[name][image.key].error
            if error:
                lines.append(f"{name}, {image.label}: FAILED: {error}")
        if name in parallel and parallel[name].first_error:
            lines.append(f"{name}, parallel pulls: first error: {parallel[name].first_error}")
    return "\n".join(lines), data


# ---------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/registry", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per image (3)")
    parser.add_argument("--parallel", type=int, default=20, help="concurrent pulls (20; 0: none)")
    parser.add_argument(
        "--parallel-rounds",
        type=int,
        default=2,
        help="rounds of concurrent pulls, the order of the registries alternating (2)",
    )
    parser.add_argument("--big-mib", type=int, default=256, help="size of the big layer (256)")
    parser.add_argument("--layers", type=int, default=100, help="layers of the small image (100)")
    parser.add_argument("--layer-kib", type=int, default=100, help="size of each (100)")
    parser.add_argument(
        "--registries",
        default="estiba,distribution",
        help="which to measure, comma-separated (estiba,distribution)",
    )
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    parser.add_argument(
        "--auth",
        action="store_true",
        help="measure authentication instead: estiba with auth off and on, same run",
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="with --auth: GETs per setting and round"
    )
    parser.add_argument(
        "--pulls", type=int, default=200, help="with --auth: fresh pulls per setting and round"
    )
    args = parser.parse_args(argv)
    args.registries = [r.strip() for r in args.registries.split(",") if r.strip()]
    if not set(args.registries) <= {"estiba", "distribution"} or not args.registries:
        parser.error("--registries takes estiba and/or distribution")
    if (
        min(args.rounds, args.big_mib, args.layers, args.layer_kib) < 1
        or min(args.parallel, args.parallel_rounds) < 0
        or min(args.requests, args.pulls) < 1
    ):
        parser.error("sizes and --rounds must be positive")
    return args


def auth_main(args: argparse.Namespace) -> int:
    """``--auth``: estiba's registry with auth off and on, alternating, in one run."""
    from bench import registry_auth

    ws = c.Workspace("estiba-bench-registry-auth-")
    procs = c.Processes()
    notes: list[str] = []
    data: dict[str, Any] = {}
    try:
        data = registry_auth.run(args.rounds, args.requests, args.pulls, ws, procs)
    except c.BenchError as exc:
        data = {"error": str(exc)}
    finally:
        notes += procs.stop_all()
        notes += ws.remove()
    text = registry_auth.text_report(data) if "error" not in data else f"FAILED {data['error']}"
    if notes:
        text += "\n" + "\n".join(f"note: {n}" for n in notes)
    data.update(bench="registry-auth", notes=notes)
    c.emit(text, data, as_json=args.json)
    return 1 if "error" in data else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    c.prepare()
    if args.auth:
        return auth_main(args)
    notes = c.ensure_packages(["skopeo"], [])
    if "distribution" in args.registries:
        notes += c.ensure_packages(["docker-registry"], [DISTRIBUTION])
    before = c.HostState.take(SKOPEO_PATHS)
    ws = c.Workspace("estiba-bench-registry-")
    procs = c.Processes()
    classes: dict[str, Callable[[c.Workspace, c.Processes], Registry]] = {
        "estiba": EstibaRegistry,
        "distribution": DistributionRegistry,
    }
    regs = [classes[name](ws, procs) for name in args.registries]
    images: list[Image] = []
    series: dict[str, dict[str, Series]] = {r.name: {} for r in regs}
    parallel: dict[str, Parallel] = {}
    try:
        c.say("generating images")
        images = [
            make_image(ws.path, "big", f"{args.big_mib} MiB x1", [args.big_mib << 20]),
            make_image(
                ws.path,
                "many",
                f"{args.layer_kib} KiB x{args.layers}",
                [args.layer_kib << 10] * args.layers,
            ),
        ]
        skopeo = Skopeo(ws)
        series = {r.name: {i.key: Series() for i in images} for r in regs}
        out = ws / "pulled"
        for rnd in range(args.rounds):
            for i, image in enumerate(images):
                order = regs if (rnd + i) % 2 == 0 else regs[::-1]
                for reg in order:
                    s = series[reg.name][image.key]
                    if s.error:
                        continue
                    try:
                        measure_once(reg, image, skopeo, out, s, sample=image.key == "big")
                    except c.BenchError as exc:
                        s.error = str(exc)
                    finally:
                        reg.stop()
                    c.say(
                        f"round {rnd + 1} {image.label} {reg.name}: "
                        + (
                            f"FAILED {s.error}"
                            if s.error
                            else f"push {s.push_s[-1]:.3f}s pull {s.pull_s[-1]:.3f}s"
                        )
                    )
        for rnd in range(args.parallel_rounds if args.parallel else 0):
            for reg in regs if rnd % 2 == 0 else regs[::-1]:
                if series[reg.name][images[0].key].error:
                    continue
                c.say(f"{args.parallel} parallel pulls of {images[0].label} from {reg.name}")
                result = parallel.setdefault(reg.name, Parallel(args.parallel))
                try:
                    parallel_pulls(reg, images[0], skopeo, ws.path, result)
                except c.BenchError as exc:
                    result.errors += args.parallel
                    result.first_error = result.first_error or str(exc)
                finally:
                    reg.stop()
    finally:
        notes += procs.stop_all()
        notes += ws.remove()
        after = c.HostState.take(SKOPEO_PATHS)
        notes += [n for n in after.changes_since(before) if n.startswith("new path")]
        notes += c.remove_new_paths(before, SKOPEO_PATHS)
    text, data = report(images, series, parallel, regs, args)
    if notes:
        text += "\n" + "\n".join(f"note: {n}" for n in notes)
    data.update(bench="registry", rounds=args.rounds, notes=notes)
    c.emit(text, data, as_json=args.json)
    failed = any(s.error for per in series.values() for s in per.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
