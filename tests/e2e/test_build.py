"""Image builds end to end: ``estiba build`` and the stock ``DOCKER_BUILDKIT=0 docker build``
against a real engine, its containers, its cache and its registry."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def context(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
    return root


def steps(output: str) -> list[str]:
    """ "cache" or "ran" per step, in order, from the classic builder's output."""
    out: list[str] = []
    for block in re.split(r"^Step \d+/\d+ : ", output, flags=re.M)[1:]:
        if block.startswith("FROM"):
            out.append("from")
        else:
            out.append("cache" if " ---> Using cache" in block else "ran")
    return out


def blob(layout: Path, digest: str) -> bytes:
    algorithm, _, hexdigest = digest.partition(":")
    return (layout / "blobs" / algorithm / hexdigest).read_bytes()


def docker_classic(
    inst: EstibaInstance, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = str(inst.root / "docker-config")
    env["DOCKER_BUILDKIT"] = "0"
    result = subprocess.run(
        ["docker", "-H", inst.host, *args], capture_output=True, text=True, env=env, timeout=180
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stdout}{result.stderr}")
    return result


SIMPLE = """FROM busybox
RUN echo ran-in-a-container && mkdir /made
COPY data.txt /data.txt
COPY tree /app/
ENV GREETING=hello
WORKDIR /app
CMD ["sh", "-c", "pwd; echo $GREETING; cat /data.txt a.txt sub/b.txt; ls -d /made"]
"""


def test_build_run_and_cache_hits_step_by_step(
    estiba_instance: EstibaInstance, tmp_path: Path
) -> None:
    inst = estiba_instance
    ctx = context(tmp_path, {"Dockerfile": SIMPLE, "data.txt": "data\n",
                             "tree/a.txt": "a\n", "tree/sub/b.txt": "b\n"})  # fmt: skip
    first = inst.estiba("build", "-t", "built:simple", str(ctx)).stdout
    assert steps(first) == ["from", "ran", "ran", "ran", "ran", "ran", "ran"]
    assert "\nran-in-a-container\n" in first
    assert re.search(r" ---> Running in [0-9a-f]{12}", first)
    assert "Successfully tagged built:simple" in first
    run = inst.estiba("run", "--rm", "built:simple").stdout
    assert run == "/app\nhello\ndata\na\nb\n/made\n"

    again = inst.estiba("build", "-t", "built:other-tag", str(ctx)).stdout
    assert steps(again) == ["from"] + ["cache"] * 6
    assert "\nran-in-a-container\n" not in again
    tags = ("built:simple", "built:other-tag")
    ids = {inst.docker("inspect", "-f", "{{.Id}}", t).stdout for t in tags}
    assert len(ids) == 1

    os.utime(ctx / "tree" / "a.txt", (1, 1))  # a new mtime alone changes nothing
    assert steps(inst.estiba("build", str(ctx)).stdout) == ["from"] + ["cache"] * 6

    (ctx / "tree" / "a.txt").write_text("changed\n")
    changed = inst.estiba("build", "-t", "built:simple", str(ctx)).stdout
    assert steps(changed) == ["from", "cache", "cache", "ran", "ran", "ran", "ran"]
    assert "changed" in inst.estiba("run", "--rm", "built:simple").stdout

    (ctx / "tree" / "a.txt").chmod(0o600)  # so does a new mode
    assert steps(inst.estiba("build", str(ctx)).stdout)[3] == "ran"

    quiet = inst.estiba("build", "-q", str(ctx)).stdout.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", quiet)

    nocache = inst.estiba("build", "--no-cache", str(ctx)).stdout
    assert steps(nocache) == ["from"] + ["ran"] * 6

    history = inst.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}",
                          "built:simple").stdout.splitlines()  # fmt: skip
    assert history[0].startswith("/bin/sh -c #(nop)  CMD")
    assert any("echo ran-in-a-container" in h for h in history)


def test_failing_run_names_line_and_exit_code_and_tags_nothing(
    estiba_instance: EstibaInstance, tmp_path: Path
) -> None:
    inst = estiba_instance
    ctx = context(tmp_path, {"Dockerfile": "FROM busybox\nENV A=1\n\nRUN echo before; exit 3\n"})
    failed = inst.estiba("build", "-t", "built:broken", str(ctx), check=False)
    assert failed.returncode == 3
    assert "Dockerfile:4: The command '/bin/sh -c echo before; exit 3' returned a non-zero " \
        "code: 3" in failed.stderr  # fmt: skip
    assert "before" in failed.stdout
    assert inst.estiba("images", "-q", "built:broken").stdout.strip() == ""

    elsewhere = inst.estiba("build", "--platform", "linux/s390x", str(ctx), check=False)
    assert "only this node's platform" in elsewhere.stderr

    bad = context(tmp_path / "bad", {"Dockerfile": "FROM busybox\nFROB x\n"})
    refused = inst.estiba("build", str(bad), check=False)
    assert refused.returncode != 0
    assert "Dockerfile:2: unknown instruction: FROB" in refused.stderr


def test_docker_cli_classic_builder(estiba_instance: EstibaInstance, tmp_path: Path) -> None:
    inst = estiba_instance
    ctx = context(tmp_path, {"Dockerfile": SIMPLE, "data.txt": "d\n", "tree/a.txt": "a\n",
                             "tree/sub/b.txt": "b\n"})  # fmt: skip
    built = docker_classic(inst, "build", "-t", "viadocker:1", "-t", "viadocker:2", str(ctx))
    assert "Successfully tagged viadocker:1" in built.stdout
    assert "Successfully tagged viadocker:2" in built.stdout
    assert docker_classic(inst, "run", "--rm", "viadocker:2").stdout.startswith("/app\nhello\n")
    cached = docker_classic(inst, "build", "-q", str(ctx)).stdout.strip()
    assert cached == docker_classic(inst, "inspect", "-f", "{{.Id}}", "viadocker:1").stdout.strip()

    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_text("FROM busybox\nARG N=7\nRUN exit $N\n")
    failed = docker_classic(inst, "build", "-f", str(outside), "--build-arg", "N=5", str(ctx),
                            check=False)  # fmt: skip
    assert failed.returncode == 5
    assert ":3: The command '/bin/sh -c exit $N' returned a non-zero code: 5" in failed.stderr


def test_multi_stage_args_heredocs_user_and_ownership(
    estiba_instance: EstibaInstance, tmp_path: Path
) -> None:
    inst = estiba_instance
    dockerfile = """# syntax=docker/dockerfile:1
ARG BASE=busybox
ARG GLOBAL=global-default
FROM --platform=$BUILDPLATFORM ${BASE} AS builder
ARG GLOBAL
ARG LOCAL=local-default
RUN echo "global=$GLOBAL local=$LOCAL" > /built.txt
RUN <<EOF
echo heredoc one > /hd.txt
echo heredoc two >> /hd.txt
EOF
COPY <<-"END" /note.txt
\tliteral $GLOBAL
\tEND

FROM busybox AS unused
RUN exit 1

FROM busybox AS final
ARG LOCAL
COPY --from=builder /built.txt /hd.txt /note.txt /out/
COPY --chown=1000:1001 --chmod=640 files/ /owned/
RUN echo "app:x:1234:1234::/home/app:/bin/sh" >> /etc/passwd
USER app
WORKDIR /home/app/work
HEALTHCHECK --interval=5s --timeout=2s --start-period=1m30s --retries=4 CMD wget -q -O- localhost
LABEL local="${LOCAL:-unset}"
CMD id -u; pwd; cat /out/built.txt /out/hd.txt /out/note.txt; stat -c '%u:%g %a %n' /owned/*
"""
    ctx = context(tmp_path, {"Dockerfile": dockerfile, "files/x.txt": "x\n"})
    out = inst.estiba("build", "--target", "builder", "--build-arg", "GLOBAL=from-cli",
                      "-t", "built:stage1", str(ctx)).stdout  # fmt: skip
    assert "Step 6/6" in out
    built = inst.estiba("build", "--build-arg", "GLOBAL=from-cli", "--label", "by=test",
                        "-t", "built:multi", str(ctx), check=False)  # fmt: skip
    assert built.returncode == 1  # the unused stage is built too, as the classic builder does
    assert "Dockerfile:17: The command '/bin/sh -c exit 1'" in built.stderr
    ctx.joinpath("Dockerfile").write_text(dockerfile.replace("RUN exit 1", "RUN true"))
    inst.estiba("build", "--build-arg", "GLOBAL=from-cli", "--build-arg", "NOBODY=1",
                "--label", "by=test", "-t", "built:multi", str(ctx))  # fmt: skip
    run = inst.estiba("run", "--rm", "built:multi").stdout.splitlines()
    assert run == [
        "1234",
        "/home/app/work",
        "global=from-cli local=local-default",
        "heredoc one",
        "heredoc two",
        "literal $GLOBAL",
        "1000:1001 640 /owned/x.txt",
    ]
    config = inst.docker("image", "inspect", "-f", "{{json .Config}}", "built:multi").stdout
    assert '"Labels":{"by":"test","local":"unset"}' in config
    assert ('"Healthcheck":{"Test":["CMD-SHELL","wget -q -O- localhost"],"Interval":5000000000,'
            '"Timeout":2000000000,"StartPeriod":90000000000,"Retries":4}') in config  # fmt: skip


def test_dockerignore_and_paths_outside_the_context(
    estiba_instance: EstibaInstance, tmp_path: Path
) -> None:
    inst = estiba_instance
    ctx = context(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\nCMD find /ctx -type f | sort\n",
        ".dockerignore": "*.log\nsecret/\n!secret/public.txt\n**/tmp\n",
        "keep.txt": "k", "debug.log": "l", "secret/key": "s", "secret/public.txt": "p",
        "deep/tmp/x": "t", "deep/y": "y",
    })  # fmt: skip
    inst.estiba("build", "-t", "built:ignore", str(ctx))
    files = inst.estiba("run", "--rm", "built:ignore").stdout.split()
    assert files == ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/deep/y", "/ctx/keep.txt",
                     "/ctx/secret/public.txt"]  # fmt: skip

    escape = tmp_path / "escape"
    context(escape, {"Dockerfile": "FROM busybox\nCOPY link /got\n"})
    (escape / "link").symlink_to("/etc/hostname")  # resolved inside the context: not there
    refused = inst.estiba("build", str(escape), check=False)
    assert refused.returncode != 0
    assert "Dockerfile:2:" in refused.stderr
    assert "file not found in build context" in refused.stderr

    (escape / "etc").mkdir()
    (escape / "etc" / "hostname").write_text("the context's own\n")
    inst.estiba("build", "-t", "built:contained", str(escape))
    got = inst.estiba("run", "--rm", "built:contained", "cat", "/got").stdout
    assert got == "the context's own\n"

    (escape / "Dockerfile").write_text("FROM busybox\nCOPY ../outside /x\n")
    climbing = inst.estiba("build", str(escape), check=False)
    assert "forbidden path outside the build context: ../outside" in climbing.stderr

    (escape / "Dockerfile").write_text("FROM busybox\nCOPY /etc/hostname /abs\n")
    inst.estiba("build", "-t", "built:abs", str(escape))  # "/" is the context's root
    assert inst.estiba("run", "--rm", "built:abs", "cat", "/abs").stdout == "the context's own\n"


def test_hostile_context_tar_is_refused(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY . /\n"), ("../evil", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    env = {**os.environ, **inst.isolation, "ESTIBA_HOST": inst.host}
    result = subprocess.run(
        [sys.executable, "-m", "client", "build", "-"],
        input=buf.getvalue(), capture_output=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode != 0
    assert b"points outside the context" in result.stderr

    plain = subprocess.run(  # a Dockerfile alone on stdin, not a tar: the context is just it
        [sys.executable, "-m", "client", "build", "-q", "-"],
        input=b"FROM busybox\nRUN echo from-stdin > /s\n", capture_output=True, timeout=60,
        env=env,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    image = plain.stdout.decode().strip()
    assert inst.estiba("run", "--rm", image, "cat", "/s").stdout == "from-stdin\n"


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "remote.txt").write_text("fetched over http\n")
    served = str(tmp_path / "served")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=served, **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_add_archives_urls_and_onbuild(
    estiba_instance: EstibaInstance, tmp_path: Path, http_server: str
) -> None:
    inst = estiba_instance
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("inner/packed.txt")
        info.size = 7
        tar.addfile(info, io.BytesIO(b"packed\n"))
    dockerfile = (
        f"FROM busybox\nADD files.tar.gz /unpacked/\nADD {http_server}/remote.txt /dl/\n"
        "ONBUILD RUN echo trigger-ran > /trigger\n"
    )
    ctx = context(tmp_path / "ctx", {"Dockerfile": dockerfile, "files.tar.gz": archive.getvalue()})
    inst.estiba("build", "-t", "built:base", str(ctx))
    script = "cat /unpacked/inner/packed.txt /dl/remote.txt; stat -c %a /dl/remote.txt"
    shown = inst.estiba("run", "--rm", "built:base", "sh", "-c", script).stdout
    assert shown == "packed\nfetched over http\n600\n"
    ctx.joinpath("Dockerfile").write_text(
        f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {http_server}/remote.txt /dl/\n"
    )
    wrong = inst.estiba("build", str(ctx), check=False)
    assert "Dockerfile:2:" in wrong.stderr
    assert "digest mismatch" in wrong.stderr
    child = context(tmp_path / "child", {"Dockerfile": "FROM built:base\nCMD cat /trigger\n"})
    out = inst.estiba("build", "-t", "built:child", str(child)).stdout
    assert "# Executing 1 build trigger" in out
    assert inst.estiba("run", "--rm", "built:child").stdout == "trigger-ran\n"


def test_pushed_to_the_registry_and_cache_survives_restart_until_pruned(
    estiba_instance: EstibaInstance, tmp_path: Path
) -> None:
    inst = estiba_instance
    files = {"Dockerfile": "FROM busybox\nRUN echo pushed > /p\nCOPY f /f\n", "f": "f\n"}
    ctx = context(tmp_path, files)
    ref = f"{inst.registry_addr}/team/built:1"
    inst.estiba("build", "-t", ref, str(ctx))
    inst.down()
    inst.up()
    assert steps(inst.estiba("build", str(ctx)).stdout) == ["from", "cache", "cache"]

    inst.estiba("push", ref)
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert inspected.count('"sha256:') >= 3
    layout = tmp_path / "oci"
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:x"],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]))
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    diff_ids = [
        "sha256:" + hashlib.sha256(gzip.decompress(blob(layout, layer["digest"]))).hexdigest()
        for layer in manifest["layers"]
    ]
    assert diff_ids == config["rootfs"]["diff_ids"]  # what was pushed is what the config says
    history = config["history"]
    assert sum(not h.get("empty_layer") for h in history) == len(diff_ids)
    assert podman_pull(tmp_path / "podman", ref) == diff_ids
    inst.estiba("rmi", ref)
    assert inst.estiba("run", "--rm", ref, "cat", "/p").stdout == "pushed\n"
    child = context(tmp_path / "child", {"Dockerfile": f"FROM {ref}\nRUN cat /p /f\n"})
    pulled = inst.estiba("build", "--pull", str(child)).stdout
    assert f"Pulling {ref}" in pulled
    assert "pushed\nf\n" in pulled

    inst.estiba("build", str(ctx))
    pruned = inst.estiba("builder", "prune", "-f").stdout
    assert "Total reclaimed space" in pruned
    assert steps(inst.estiba("build", str(ctx)).stdout) == ["from", "ran", "ran"]


def podman_pull(base: Path, ref: str) -> list[str]:
    """Pull ``ref`` with podman, its storage and settings under ``base`` (its run root in a
    short temporary directory: podman refuses one longer than 50 characters); the pulled
    image's layer diff ids."""
    run_root = Path(tempfile.mkdtemp(prefix="estiba-podman-"))
    try:
        for sub in ("storage", "tmp"):
            (base / sub).mkdir(parents=True)
        (base / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{base}/storage"\nrunroot = "{run_root}"\n'
        )
        (base / "containers.conf").write_text(
            f'[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n'
            f'tmp_dir = "{base}/tmp"\n'
        )
        env = {
            **os.environ,
            "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
            "CONTAINERS_CONF": str(base / "containers.conf"),
        }
        podman = ["podman", "--root", str(base / "storage"), "--runroot", str(run_root)]
        pulled = subprocess.run(
            [*podman, "pull", "-q", "--tls-verify=false", ref],
            capture_output=True, env=env, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert pulled.returncode == 0, pulled.stderr
        shown = subprocess.run(
            [*podman, "image", "inspect", "--format", "{{json .RootFS.Layers}}", ref],
            capture_output=True, env=env, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        return [str(d) for d in json.loads(shown)]
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


def test_a_client_that_goes_away_ends_the_build(
    estiba_instance: EstibaInstance, tmp_path: Path
) -> None:
    inst = estiba_instance
    ctx = context(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo started; sleep 120\n"})
    env = {**os.environ, **inst.isolation, "ESTIBA_HOST": inst.host}
    cli = subprocess.Popen(
        [sys.executable, "-m", "client", "build", "-t", "built:abandoned", str(ctx)],
        stdout=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        assert cli.stdout is not None
        for line in cli.stdout:
            if line.strip() == "started":
                break
        running = inst.estiba("ps", "-q").stdout.split()  # the step's container
        assert running
    finally:
        cli.kill()
        cli.wait()
        if cli.stdout is not None:
            cli.stdout.close()
    deadline = time.monotonic() + 20
    while set(running) & set(inst.estiba("ps", "-aq").stdout.split()):
        assert time.monotonic() < deadline, "the step's container outlived its client"
        time.sleep(0.3)
    assert inst.estiba("images", "-q", "built:abandoned").stdout.strip() == ""
