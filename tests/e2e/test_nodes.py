"""One gateway in front of two nodes: an instance started with ``estiba up -d`` (node n1) and a
second engine + netd pair (node n2) with its own root, run dir and kernel prefix, reached over
TCP on 127.0.0.1, as a node on another machine would be."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.kit.grpcclient import check_health, open_channel
from tests.e2e.conftest import EstibaInstance, _teardown, free_port, unmount_under
from tests.isolation import isolated_env, kernel_prefix, remove_kernel_objects

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@dataclasses.dataclass
class Node:
    """An engine and a netd started by the test, each by PID."""

    root: Path
    env: dict[str, str]
    engine: str
    netd: str
    procs: list[subprocess.Popen[bytes]] = dataclasses.field(default_factory=list)

    def start(self, logs: Path) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        for name, target in (("netd", self.netd), ("engine", self.engine)):
            with (logs / f"{name}.log").open("ab") as log:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", f"services.{name}"],
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        start_new_session=True,
                    )
                )
            asyncio.run(_wait_healthy(name, target, self.procs[-1]))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


async def _wait_healthy(name: str, target: str, proc: subprocess.Popen[bytes]) -> None:
    channel = open_channel(target)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"{name} exited with {proc.returncode}"
            if await check_health(channel, service=name, timeout=1):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{name} of node n2 did not become healthy")
    finally:
        await channel.close()


@dataclasses.dataclass
class Lab:
    inst: EstibaInstance
    n2: Node


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    base = Path(tempfile.mkdtemp(prefix="en-", dir="/tmp"))
    engine, netd = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        **isolated_env(base / "n2" / "root", base / "n2" / "run", kernel_prefix()),
        "ESTIBA_NODE_NAME": "n2",
        "ESTIBA_ENGINE_GRPC_LISTEN": engine,
        "ESTIBA_ENGINE_NETD": netd,
        "ESTIBA_NETD_GRPC_LISTEN": netd,
    }
    n2 = Node(base / "n2" / "root", env, engine, netd)
    inst = EstibaInstance(base / "root", base / "run", f"127.0.0.1:{free_port()}")
    config = base / "estiba.toml"
    config.write_text(f'[gateway]\nnodes = ["n1", "n2 engine={engine} netd={netd}"]\n')
    try:
        n2.start(base / "n2" / "logs")
        inst.estiba(
            "up", "-d", "--root", str(inst.root), "--run-dir", str(inst.run_dir),
            "--registry-addr", inst.registry_addr, "--config", str(config),
        )  # fmt: skip
        yield Lab(inst, n2)
    finally:
        try:
            if n2.procs:  # every container, n2's too while its engine still answers
                ids = inst.estiba("ps", "-aq", "--no-trunc", check=False).stdout.split()
                if ids:
                    inst.estiba("rm", "-f", *ids, check=False)
            n2.stop()
            _teardown(inst, base)
        finally:
            remove_kernel_objects(n2.env)
            unmount_under(base)
            shutil.rmtree(base, ignore_errors=True)


def _nodes(inst: EstibaInstance) -> dict[str, dict[str, object]]:
    listed = inst.estiba("node", "ls", "--format", "json", check=False).stdout.splitlines()
    return {n["Name"]: n for n in map(json.loads, listed)}


def test_two_nodes_place_list_reach_and_survive_one_going_down(lab: Lab) -> None:
    inst, n2 = lab.inst, lab.n2
    nodes = _nodes(inst)
    assert list(nodes) == ["n1", "n2"]
    assert [n["Status"] for n in nodes.values()] == ["healthy", "healthy"]
    assert nodes["n2"]["Engine"] == {
        "Address": n2.engine, "Status": "healthy", "Version": nodes["n1"]["Version"], "Error": ""
    }  # fmt: skip
    assert inst.estiba("node", "ls", "-q").stdout.split() == ["n1", "n2"]
    table = inst.estiba("node", "ls").stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "STATUS", "ENGINE", "NETD"]
    assert table[2].split()[:4] == ["n2", "healthy", "healthy", "healthy"]

    # Placement: by name, then the least loaded node (ties go to the first).
    script = "echo hello from $(hostname); sleep 300"
    on2 = inst.estiba("run", "-d", "--node", "n2", "--name", "on-n2", "busybox", "sh", "-c",
                      script).stdout.strip()  # fmt: skip
    on1 = inst.estiba("run", "-d", "--node", "n1", "--name", "on-n1", "busybox", "sleep", "300")
    assert (n2.root / "engine" / "containers" / on2).is_dir()
    assert not (inst.root / "engine" / "containers" / on2).exists()
    assert (inst.root / "engine" / "containers" / on1.stdout.strip()).is_dir()
    tie = inst.estiba("run", "-d", "--name", "tie", "busybox", "sleep", "300").stdout.strip()
    assert (inst.root / "engine" / "containers" / tie).is_dir()  # 1 running each: n1
    free = inst.estiba("run", "-d", "--name", "free", "busybox", "sleep", "300").stdout.strip()
    assert (n2.root / "engine" / "containers" / free).is_dir()  # n1 runs 2, n2 runs 1
    # An image one node has: there, however loaded. One no node has: the first node, where the
    # client's pull goes (docker run: create, 404, pull, create).
    inst.estiba("tag", "busybox", "only-n1:1")
    held = inst.estiba("create", "only-n1:1").stdout.strip()  # n1 runs 2, n2 runs 2
    assert (inst.root / "engine" / "containers" / held).is_dir()
    inst.estiba("rm", held)
    pushed = f"{inst.registry_addr}/lab/bb:1"
    inst.estiba("tag", "busybox", pushed)
    inst.estiba("push", pushed)
    inst.estiba("rmi", pushed)
    inst.estiba("run", "-d", "--name", "lean", "busybox", "sleep", "300")  # n1 3, n2 2 now
    inst.docker("run", "--name", "pulled", pushed, "true")
    assert (
        inst.estiba("inspect", "--format", "{{.Config.Image}}", "pulled").stdout.strip() == pushed
    )
    by_node = inst.estiba("ps", "-a", "--format", '{{.Names}} {{.Label "estiba.node"}}').stdout
    assert {"lean n1", "pulled n1"} <= set(by_node.splitlines())
    inst.estiba("rm", "-f", "lean", "pulled")

    # Lists merge every node, each container labelled with its node; docker reads them too.
    shown = inst.estiba("ps", "--format", '{{.Names}} {{.Label "estiba.node"}}').stdout
    assert sorted(shown.splitlines()) == ["free n2", "on-n1 n1", "on-n2 n2", "tie n1"]
    by_docker = inst.docker("ps", "--format", "{{.Names}}").stdout.split()
    assert sorted(by_docker) == ["free", "on-n1", "on-n2", "tie"]
    images = inst.docker("images", "--format", "{{.Repository}}").stdout.split()
    assert images.count("busybox") == 2  # one on each node
    assert images.count("only-n1") == 1
    networks = inst.estiba("network", "ls", "--format", '{{.Name}} {{.Label "estiba.node"}}')
    assert {"bridge n1", "bridge n2"} <= set(networks.stdout.splitlines())
    on_n2 = inst.docker("ps", "--filter", "label=estiba.node=n2", "--format", "{{.Names}}")
    assert sorted(on_n2.stdout.split()) == ["free", "on-n2"]

    # A network made on n2 by its label; named later, it is found there.
    inst.docker("network", "create", "--label", "estiba.node=n2", "lab2")
    found = inst.docker("network", "ls", "--filter", "label=estiba.node=n2", "--format",
                        "{{.Name}}").stdout.split()  # fmt: skip
    assert sorted(found) == ["bridge", "host", "lab2", "none"]
    assert inst.docker("network", "inspect", "--format", "{{.Name}}", "lab2").stdout == "lab2\n"
    inst.docker("network", "rm", "lab2")
    assert "lab2" not in inst.docker("network", "ls", "--format", "{{.Name}}").stdout.split()

    # Requests about a container reach its node, by name, short id and full id.
    assert inst.estiba("logs", "on-n2").stdout == f"hello from {on2[:12]}\n"
    assert inst.estiba("exec", on2[:12], "cat", "/etc/hostname").stdout == f"{on2[:12]}\n"
    assert inst.docker("inspect", "--format", "{{.Name}}", on2).stdout == "/on-n2\n"
    inst.estiba("stop", "-t", "1", "on-n2")
    assert inst.estiba("inspect", "--format", "{{.State.Status}}", "on-n2").stdout == "exited\n"
    inst.estiba("rm", "-f", "on-n2", "free")
    assert not (n2.root / "engine" / "containers" / on2).exists()
    gone = inst.estiba("logs", "on-n2", check=False)
    assert gone.returncode != 0
    assert "No such container: on-n2" in gone.stderr
    by_id = inst.docker("inspect", on2, check=False)  # its id was remembered on n2: a 404 still
    assert by_id.returncode == 1
    assert f"No such object: {on2}" in by_id.stderr

    # The docker CLI's run (create, attach, start, wait, auto-remove) on the node its label names.
    cgroup = n2.env["ESTIBA_ENGINE_CGROUP_PARENT"]
    ran = inst.docker("run", "--rm", "-l", "estiba.node=n2", "busybox", "cat", "/proc/self/cgroup")
    assert f"/{cgroup}/" in ran.stdout
    # One name on two nodes: by name it is ambiguous, by id it is not.
    dup1 = inst.estiba("create", "--node", "n1", "--name", "dup", "busybox").stdout.strip()
    dup2 = inst.estiba("create", "--node", "n2", "--name", "dup", "busybox").stdout.strip()
    ambiguous = inst.estiba("inspect", "dup", check=False)
    assert ambiguous.returncode == 125
    assert "container 'dup' is ambiguous: it matches on nodes n1, n2" in ambiguous.stderr
    inst.estiba("rm", dup1, dup2)

    # n2 goes down: node ls says so, lists still answer, with a warning, without it.
    n2.stop()
    down = inst.estiba("node", "ls", check=False)
    assert down.returncode == 1
    assert [line.split()[:3] for line in down.stdout.splitlines()[1:]] == [
        ["n1", "healthy", "healthy"], ["n2", "down", "down"],
    ]  # fmt: skip
    assert "node n2 is down" in down.stderr
    listed = inst.estiba("ps", "--format", "{{.Names}}")
    assert sorted(listed.stdout.split()) == ["on-n1", "tie"]
    assert "WARNING: node n2 is unavailable, left out" in listed.stderr
    assert sorted(inst.docker("ps", "--format", "{{.Names}}").stdout.split()) == ["on-n1", "tie"]
    placed = inst.estiba("run", "-d", "--name", "after", "busybox", "sleep", "300").stdout
    assert (inst.root / "engine" / "containers" / placed.strip()).is_dir()
    refused = inst.estiba("run", "-d", "--node", "n2", "busybox", "true", check=False)
    assert refused.returncode == 125
    assert "n2" in refused.stderr or "unavailable" in refused.stderr
