"""Restart policies and live restore: containers outlive the engine, which adopts them."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def _state(inst: EstibaInstance, name: str) -> dict[str, object]:
    return dict(json.loads(inst.docker("inspect", name).stdout)[0]["State"])


def _until(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_restart_policies(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.docker(
        "run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3"
    )
    _until(
        lambda: (
            _state(inst, "flaky")["Status"] == "exited"
            and json.loads(inst.docker("inspect", "flaky").stdout)[0]["RestartCount"] == 2
        )
    )
    assert _state(inst, "flaky")["ExitCode"] == 3
    inst.docker(
        "run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", "sleep 0.3"
    )
    _until(lambda: json.loads(inst.docker("inspect", "always").stdout)[0]["RestartCount"] >= 2)
    inst.docker("stop", "-t", "1", "always")  # a stop by the user is not restarted
    count = json.loads(inst.docker("inspect", "always").stdout)[0]["RestartCount"]
    time.sleep(1.0)
    assert _state(inst, "always")["Status"] == "exited"
    assert json.loads(inst.docker("inspect", "always").stdout)[0]["RestartCount"] == count
    inst.docker("rm", "-f", "flaky", "always")


def test_engine_killed_then_containers_adopted(fresh_instance: EstibaInstance) -> None:
    inst = fresh_instance
    inst.docker(
        "run",
        "-d",
        "--name",
        "survivor",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done",
    )
    inst.docker("run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 1.5; exit 4")
    survivor_pid = _state(inst, "survivor")["Pid"]
    supervisor = inst.supervisor_pid()
    assert supervisor is not None
    engine = inst.service_status()["engine"]["Pid"]
    os.kill(supervisor, signal.SIGSTOP)  # keep the engine down for a while
    try:
        os.kill(engine, signal.SIGKILL)
        time.sleep(2.5)  # quitter exits while no engine runs
    finally:
        os.kill(supervisor, signal.SIGCONT)
    _until(lambda: inst.docker("version", check=False).returncode == 0)
    assert _state(inst, "survivor")["Running"] is True
    assert _state(inst, "survivor")["Pid"] == survivor_pid
    quitter = _state(inst, "quitter")
    assert (quitter["Status"], quitter["ExitCode"]) == ("exited", 4)
    before = inst.docker("logs", "survivor").stdout.count("line")
    time.sleep(0.6)
    assert inst.docker("logs", "survivor").stdout.count("line") > before  # logs continue
    assert inst.docker("exec", "survivor", "echo", "still here").stdout == "still here\n"
    inst.docker("stop", "-t", "1", "survivor")
    assert _state(inst, "survivor")["ExitCode"] in (137, 143)
    inst.docker("rm", "survivor", "quitter")
