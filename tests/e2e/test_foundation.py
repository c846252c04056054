"""The foundation as a user meets it: up, the docker CLI, info, a killed service, down."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.e2e.conftest import EstibaInstance, _new_instance, _teardown

SERVICES = ("engine", "netd", "registry", "gateway")


def test_docker_cli_version_and_info(estiba_instance: EstibaInstance) -> None:
    version = estiba_instance.docker("version").stdout
    assert "Server: estiba 0.1.0" in version
    assert "API version:       1.44" in version
    info = estiba_instance.docker("info").stdout
    assert f"Docker Root Dir: {estiba_instance.root}" in info
    assert "Containers: 0" in info


def test_estiba_info_lists_four_healthy_services(estiba_instance: EstibaInstance) -> None:
    result = estiba_instance.estiba("info")
    lines = result.stdout.splitlines()
    rows = {line.split()[0]: line.split()[1] for line in lines if line.split()[:1] in
            [[s] for s in SERVICES]}  # fmt: skip
    assert rows == dict.fromkeys(SERVICES, "healthy")
    assert estiba_instance.estiba("version").returncode == 0


def test_each_service_runs_as_its_own_process_with_its_own_database(
    estiba_instance: EstibaInstance,
) -> None:
    status = estiba_instance.service_status()
    pids = {name: status[name]["Pid"] for name in SERVICES}
    assert len(set(pids.values())) == 4
    for name, pid in pids.items():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert f"services.{name}".encode() in cmdline
    for name in ("engine", "netd", "registry"):
        assert (estiba_instance.root / name / f"{name}.db").is_file()
        assert (estiba_instance.root / "logs" / f"{name}.log").is_file()


def test_killed_service_is_reported_then_restarted(fresh_instance: EstibaInstance) -> None:
    for name in ("registry", "netd", "engine"):
        old_pid = fresh_instance.service_status()[name]["Pid"]
        os.kill(old_pid, signal.SIGKILL)
        seen = _poll(fresh_instance, name, lambda s, old=old_pid: s["Pid"] != old, 20.0)
        assert seen["Status"] == "healthy", seen
    log = (fresh_instance.root / "logs" / "supervisor.log").read_text()
    assert "killed by SIGKILL" in log


def test_killed_service_is_named_as_down(fresh_instance: EstibaInstance) -> None:
    supervisor = fresh_instance.supervisor_pid()
    assert supervisor is not None
    os.kill(supervisor, signal.SIGSTOP)  # hold the restart so the outage is observable
    try:
        for name in ("netd", "registry", "engine"):
            pid = fresh_instance.service_status()[name]["Pid"]
            os.kill(pid, signal.SIGKILL)
            result = fresh_instance.estiba("info", check=False)
            assert result.returncode == 1
            row = next(line for line in result.stdout.splitlines() if line.startswith(name))
            assert row.split()[1] == "down"
            assert f"the estiba {name} service is down" in result.stderr
        version = fresh_instance.docker("version", check=False)
        assert version.returncode != 0
        assert "the estiba engine service is unavailable" in version.stderr
    finally:
        os.kill(supervisor, signal.SIGCONT)
    for name in ("netd", "registry", "engine"):
        assert _poll(fresh_instance, name, lambda s: True, 20.0)["Status"] == "healthy"


def test_gateway_restart_and_docker_sees_it_again(fresh_instance: EstibaInstance) -> None:
    pid = fresh_instance.service_status()["gateway"]["Pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result = fresh_instance.docker("version", check=False)
        if result.returncode == 0:
            break
        time.sleep(0.1)
    assert fresh_instance.service_status()["gateway"]["Pid"] != pid


def test_two_instances_side_by_side_and_down_up_again() -> None:
    a, base_a = _new_instance()
    b, base_b = _new_instance()
    try:
        a.up()
        b.up()
        assert a.info()["DockerRootDir"] == str(a.root)
        assert b.info()["DockerRootDir"] == str(b.root)
        assert "already running" in a.up().stdout
        a.down()
        assert not (a.run_dir / "estiba.sock").exists()
        assert b.info()["Estiba"]["Registry"]["Address"] == b.registry_addr
        a.up()
        assert a.info()["Warnings"] == []
    finally:
        _teardown(a, base_a)
        _teardown(b, base_b)


def test_cli_without_a_daemon_fails_in_one_line(tmp_path: Path) -> None:
    inst = EstibaInstance(tmp_path, tmp_path / "run", "127.0.0.1:1")
    result = inst.estiba("info", check=False)
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1
    assert "cannot connect to estiba" in result.stderr
    assert "Traceback" not in result.stderr
    assert "not running" in inst.down().stdout


def _poll(inst: EstibaInstance, name: str, until: object, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = inst.service_status()[name]
        if status["Status"] == "healthy" and until(status):  # type: ignore[operator]
            return status
        time.sleep(0.05)
    return status
