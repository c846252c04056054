"""Healthchecks run by the engine in real containers, seen through inspect and ps.

Intervals are a fraction of a second so that each verdict arrives quickly; every assertion
polls the container's inspect until the engine's probes reach the expected state.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import tarfile
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

FAST = ("--health-interval", "200ms")


def inspect(inst: EstibaInstance, name: str) -> dict[str, Any]:
    return dict(json.loads(inst.estiba("inspect", name).stdout)[0])


def wait_for(
    inst: EstibaInstance, name: str, ok: Callable[[dict[str, Any]], bool], limit: float = 15
) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        data = inspect(inst, name)
        if ok(data):
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never got there: {json.dumps(data['State'])}")
        time.sleep(0.1)


def status(data: dict[str, Any]) -> str:
    return str((data["State"].get("Health") or {}).get("Status", ""))


def ps_status(inst: EstibaInstance, name: str) -> str:
    return inst.estiba("ps", "--filter", f"name=^{name}$", "--format", "{{.Status}}").stdout.strip()


def test_healthy_then_unhealthy_once_stopped(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.estiba("run", "-d", "--name", "hc-ok", "--health-cmd", "echo fine; true", *FAST,
                "busybox", "sleep", "300")  # fmt: skip
    first = inspect(inst, "hc-ok")
    assert status(first) in ("starting", "healthy")
    data = wait_for(inst, "hc-ok", lambda d: status(d) == "healthy")
    health = data["State"]["Health"]
    assert health["FailingStreak"] == 0
    assert health["Log"][-1]["ExitCode"] == 0
    assert health["Log"][-1]["Output"] == "fine\n"
    assert data["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "echo fine; true"],
        "Interval": 200_000_000,
    }
    assert ps_status(inst, "hc-ok").endswith("(healthy)")
    listed = inst.estiba("ps", "-q", "--no-trunc", "--filter", "health=healthy").stdout.split()
    assert data["Id"] in listed
    assert data["Id"] not in inst.estiba("ps", "-q", "--no-trunc", "--filter",
                                         "health=unhealthy").stdout.split()  # fmt: skip
    wait_for(inst, "hc-ok", lambda d: len(d["State"]["Health"]["Log"]) == 5)
    inst.estiba("stop", "-t", "1", "hc-ok")
    stopped = inspect(inst, "hc-ok")
    assert status(stopped) == "unhealthy"  # as Docker reports a container whose checks ended
    time.sleep(0.6)
    assert inspect(inst, "hc-ok")["State"]["Health"]["Log"] == stopped["State"]["Health"]["Log"]
    inst.estiba("start", "hc-ok")
    assert status(inspect(inst, "hc-ok")) in ("starting", "healthy")  # a probe may be in already
    wait_for(inst, "hc-ok", lambda d: status(d) == "healthy")
    inst.estiba("rm", "-f", "hc-ok")


def test_unhealthy_after_retries(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.estiba("run", "-d", "--name", "hc-bad", "--health-cmd", "echo broken >&2; exit 1",
                *FAST, "--health-retries", "3", "busybox", "sleep", "300")  # fmt: skip
    seen = wait_for(
        inst, "hc-bad", lambda d: len((d["State"].get("Health") or {}).get("Log", [])) >= 1
    )
    if seen["State"]["Health"]["FailingStreak"] < 3:
        assert status(seen) == "starting"
    data = wait_for(inst, "hc-bad", lambda d: status(d) == "unhealthy")
    health = data["State"]["Health"]
    assert health["FailingStreak"] >= 3
    assert {r["ExitCode"] for r in health["Log"]} == {1}
    assert health["Log"][0]["Output"] == "broken\n"
    assert ps_status(inst, "hc-bad").endswith("(unhealthy)")
    listed = inst.estiba("ps", "-q", "--no-trunc", "--filter", "health=unhealthy").stdout.split()
    assert data["Id"] in listed
    inst.estiba("rm", "-f", "hc-bad")


def test_timeout_counts_as_failure(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.estiba("run", "-d", "--name", "hc-slow", "--health-cmd", "sleep 3", *FAST,
                "--health-timeout", "300ms", "--health-retries", "1",
                "busybox", "sleep", "300")  # fmt: skip
    data = wait_for(inst, "hc-slow", lambda d: status(d) == "unhealthy")
    last = data["State"]["Health"]["Log"][-1]
    assert last["ExitCode"] == -1
    assert last["Output"] == "Health check exceeded timeout (300ms)"
    time.sleep(1.5)  # without the kill, every timed-out probe would leave a "sleep 3" behind
    top = inst.estiba("top", "hc-slow").stdout
    probes = [line for line in top.splitlines() if line.split()[-2:] == ["sleep", "3"]]
    assert len(probes) <= 1  # the probe in flight (the container's own is "sleep 300")
    inst.estiba("rm", "-f", "hc-slow")


def test_start_period_forgives_early_failures(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.estiba("run", "-d", "--name", "hc-late", "--health-cmd", "test -f /tmp/ready", *FAST,
                "--health-retries", "1", "--health-start-period", "20s",
                "--health-start-interval", "100ms",
                "busybox", "sh", "-c", "sleep 1.5; touch /tmp/ready; sleep 300")  # fmt: skip
    early = wait_for(inst, "hc-late", lambda d: len(d["State"]["Health"]["Log"]) >= 3)
    if not any(r["ExitCode"] == 0 for r in early["State"]["Health"]["Log"]):
        assert status(early) == "starting"
        assert early["State"]["Health"]["FailingStreak"] == 0
    data = wait_for(inst, "hc-late", lambda d: status(d) == "healthy")
    assert data["State"]["Health"]["FailingStreak"] == 0
    assert ps_status(inst, "hc-late").endswith("(healthy)")
    inst.estiba("rm", "-f", "hc-late")


def test_no_healthcheck_and_bad_flags(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.estiba("run", "-d", "--name", "hc-none", "--no-healthcheck", "busybox", "sleep", "300")
    data = inspect(inst, "hc-none")
    assert "Health" not in data["State"]
    assert data["Config"]["Healthcheck"] == {"Test": ["NONE"]}
    assert "(" not in ps_status(inst, "hc-none")
    listed = inst.estiba("ps", "-q", "--no-trunc", "--filter", "health=none").stdout.split()
    assert data["Id"] in listed
    bad = inst.estiba("ps", "--filter", "health=sick", check=False)
    assert bad.returncode == 125
    assert "health" in bad.stderr
    both = inst.estiba("run", "--no-healthcheck", "--health-cmd", "true", "busybox", "true",
                       check=False)  # fmt: skip
    assert both.returncode == 125
    assert "conflicts" in both.stderr
    neg = inst.docker("create", "--health-interval", "-1s", "busybox", "true", check=False)
    assert neg.returncode != 0
    inst.estiba("rm", "-f", "hc-none")


def test_docker_cli_run_and_inspect(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    cid = inst.docker("run", "-d", "--name", "hc-docker", "--health-cmd", "exit 0",
                      "--health-interval", "200ms", "--health-retries", "2",
                      "busybox", "sleep", "300").stdout.strip()  # fmt: skip
    deadline = time.monotonic() + 15
    while True:
        out = inst.docker("inspect", "--format", "{{json .State.Health}}", "hc-docker").stdout
        health = json.loads(out)
        if health["Status"] == "healthy":
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.1)
    assert health["Log"][-1]["ExitCode"] == 0
    shown = inst.docker("ps", "--filter", "health=healthy", "--format", "{{.ID}} {{.Status}}")
    assert f"{cid[:12]} Up" in shown.stdout
    assert "(healthy)" in shown.stdout
    check = inst.docker("inspect", "--format", "{{json .Config.Healthcheck}}", "hc-docker")
    assert json.loads(check.stdout) == {
        "Test": ["CMD-SHELL", "exit 0"],
        "Interval": 200_000_000,
        "Retries": 2,
    }
    inst.docker("rm", "-f", "hc-docker")


def test_probes_resume_after_engine_restart(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.estiba("run", "-d", "--name", "hc-keep", "--health-cmd", "true", *FAST,
                "busybox", "sleep", "300")  # fmt: skip
    inst.estiba("run", "-d", "--name", "hc-lost", "--health-cmd", "true", *FAST,
                "busybox", "sleep", "300")  # fmt: skip
    wait_for(inst, "hc-keep", lambda d: status(d) == "healthy")
    lost_pid = wait_for(inst, "hc-lost", lambda d: status(d) == "healthy")["State"]["Pid"]
    inst.down()
    os.kill(lost_pid, signal.SIGKILL)  # it ends while no engine runs
    inst.up()
    lost = wait_for(inst, "hc-lost", lambda d: d["State"]["Status"] == "exited")
    assert status(lost) == "unhealthy"
    before = inspect(inst, "hc-keep")
    assert status(before) == "healthy"  # the recorded verdict survives the restart
    last = before["State"]["Health"]["Log"][-1]["End"]
    after = wait_for(inst, "hc-keep", lambda d: d["State"]["Health"]["Log"][-1]["End"] > last)
    assert status(after) == "healthy"
    inst.estiba("rm", "-f", "hc-keep", "hc-lost")


def _image_with_healthcheck(inst: EstibaInstance, tag: str, check: dict[str, Any]) -> None:
    """busybox saved, its config given ``check``, and loaded back as ``tag``."""
    workdir = inst.root.parent / "hc-image"
    workdir.mkdir(exist_ok=True)
    saved, edited = workdir / "saved.tar", workdir / "edited.tar"
    inst.estiba("save", "-o", str(saved), "busybox")
    with tarfile.open(saved) as src, tarfile.open(edited, "w") as dst:
        manifest = json.loads(_member(src, "manifest.json"))
        config = json.loads(_member(src, manifest[0]["Config"]))
        config["config"]["Healthcheck"] = check
        raw = json.dumps(config).encode()
        name = f"blobs/sha256/{hashlib.sha256(raw).hexdigest()}"
        manifest = [{**manifest[0], "Config": name, "RepoTags": [tag]}]
        for member in src.getmembers():
            if member.name not in ("manifest.json", "index.json", "oci-layout"):
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for path, data in ((name, raw), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    inst.estiba("load", "-i", str(edited))


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    f = tar.extractfile(name)
    assert f is not None
    return f.read()


def test_the_image_healthcheck_and_overrides(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    check = {"Test": ["CMD-SHELL", "echo from-image"], "Interval": 200_000_000, "Retries": 2}
    _image_with_healthcheck(inst, "hc-image:1", check)
    inst.estiba("run", "-d", "--name", "hc-img", "hc-image:1", "sleep", "300")
    data = wait_for(inst, "hc-img", lambda d: status(d) == "healthy")
    assert data["State"]["Health"]["Log"][-1]["Output"] == "from-image\n"
    assert data["Config"]["Healthcheck"] == check
    inst.estiba("run", "-d", "--name", "hc-img-own", "--health-cmd", "exit 1",
                "--health-retries", "1", "hc-image:1", "sleep", "300")  # fmt: skip
    own = wait_for(inst, "hc-img-own", lambda d: status(d) == "unhealthy")
    assert own["Config"]["Healthcheck"] == {**check, "Test": ["CMD-SHELL", "exit 1"], "Retries": 1}
    inst.estiba("run", "-d", "--name", "hc-img-none", "--no-healthcheck", "hc-image:1",
                "sleep", "300")  # fmt: skip
    time.sleep(0.5)
    assert "Health" not in inspect(inst, "hc-img-none")["State"]
    inst.estiba("rm", "-f", "hc-img", "hc-img-own", "hc-img-none")
    inst.estiba("rmi", "hc-image:1")
