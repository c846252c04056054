"""docker run's everyday flags, networking on the default network, detach keys, clean removal."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ESTIBA, EstibaInstance
from tests.e2e.terminal import Terminal

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def test_process_flags(estiba_instance: EstibaInstance, tmp_path: Path) -> None:
    inst = estiba_instance
    envfile = tmp_path / "env"
    envfile.write_text("# comment\nFROM_FILE=yes\n")
    out = inst.estiba(
        "run",
        "--rm",
        "-e",
        "A=1",
        "--env-file",
        str(envfile),
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "-h",
        "boxname",
        "--label",
        "team=blue",
        "busybox",
        "sh",
        "-c",
        'echo "$A $FROM_FILE $(pwd) $(id -u):$(id -g) $(hostname)"',
    ).stdout
    assert out == "1 yes /tmp 1000:1000 boxname\n"
    entry = inst.docker("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert entry.stdout == "via entrypoint\n"
    init = inst.docker("run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline")
    assert init.stdout.startswith("/dev/init")
    ro = inst.docker(
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "touch /scratch/ok && touch /nope",
        check=False,
    )
    assert ro.returncode != 0
    assert "Read-only file system" in ro.stderr


def test_resource_limits_reach_the_cgroup(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    cid = inst.docker(
        "run",
        "-d",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "busybox",
        "sleep",
        "300",
    ).stdout.strip()
    parent = inst.isolation["ESTIBA_ENGINE_CGROUP_PARENT"]
    memory = Path("/sys/fs/cgroup/memory", parent, cid)
    if memory.is_dir():  # cgroup v1 (this project's hosts)
        assert int((memory / "memory.limit_in_bytes").read_text()) == 64 << 20
        assert (Path("/sys/fs/cgroup/pids", parent, cid) / "pids.max").read_text().strip() == "50"
        quota = Path("/sys/fs/cgroup/cpu", parent, cid, "cpu.cfs_quota_us").read_text()
        assert int(quota) == 50000
    config = json.loads(inst.docker("inspect", cid).stdout)[0]["HostConfig"]
    assert config["Memory"] == 64 << 20
    inst.docker("rm", "-f", cid)
    assert not memory.exists()


def test_networking_on_the_default_network(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.docker("run", "-d", "--name", "peer", "busybox", "sleep", "300")
    peer = json.loads(inst.docker("inspect", "peer").stdout)[0]["NetworkSettings"]
    ip, gateway = peer["IPAddress"], peer["Gateway"]
    assert ip
    assert gateway
    out = inst.docker(
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        f"ping -c1 -W2 {ip} >/dev/null && ping -c1 -W2 {gateway} >/dev/null && echo reached",
    ).stdout
    assert out == "reached\n"
    none = inst.docker("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert none.stdout.split() == ["lo"]
    host_links = set(os.listdir("/sys/class/net"))
    host = inst.docker("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
    assert set(host.stdout.split()) == host_links
    inst.docker("rm", "-f", "peer")


def test_detach_keys_leave_it_running(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(ESTIBA_HOST=inst.host, TERM="xterm")
    term = Terminal([*ESTIBA, "run", "-it", "--name", "detachable", "busybox", "sh"], env)
    try:
        term.expect(r"[#$] ")
        term.send(b"\x10\x11")  # ctrl-p ctrl-q
        assert term.wait() == 0
    finally:
        term.kill()
    assert "Up" in inst.docker("ps", "--filter", "name=detachable").stdout
    again = Terminal(["docker", "-H", inst.host, "attach", "detachable"], env)
    try:
        again.send("echo back-again\r")
        again.expect("back-again")
        again.send("exit 0\r")
        assert again.wait() == 0
    finally:
        again.kill()
    inst.docker("rm", "detachable")


def test_rm_leaves_nothing_behind(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    cid = inst.docker("run", "-d", "busybox", "sleep", "300").stdout.strip()
    links_before = _links(inst.prefix)
    assert len(links_before) >= 2  # the bridge and this container's veth
    inst.docker("rm", "-f", cid)
    parent = inst.isolation["ESTIBA_ENGINE_CGROUP_PARENT"]
    assert not any(
        Path("/sys/fs/cgroup", h, parent, cid).exists() for h in os.listdir("/sys/fs/cgroup")
    )
    # netd answers RemoveSandbox once the removal is recorded; the kernel teardown follows.
    netns = inst.run_dir / "netns" / cid
    for _ in range(100):
        if _links(inst.prefix) == [f"{inst.prefix}0"] and not netns.exists():
            break
        time.sleep(0.02)
    assert _links(inst.prefix) == [f"{inst.prefix}0"]  # only the bridge is left
    assert not netns.exists()
    assert cid not in Path("/proc/self/mountinfo").read_text()
    assert not (inst.root / "engine" / "containers" / cid).exists()


def _links(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True)
    return sorted(
        link["ifname"] for link in json.loads(out.stdout) if link["ifname"].startswith(prefix)
    )
