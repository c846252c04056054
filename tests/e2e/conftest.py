"""A whole estiba instance started as a user starts it: ``estiba up -d`` in temporary dirs.

Later test packages reuse ``estiba_instance`` (one instance per test module) or
``fresh_instance`` (one per test).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.isolation import isolated_env, kernel_prefix, remove_kernel_objects

ESTIBA = [sys.executable, "-m", "client"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class EstibaInstance:
    root: Path
    run_dir: Path
    registry_addr: str
    prefix: str = dataclasses.field(default_factory=kernel_prefix)

    @property
    def isolation(self) -> dict[str, str]:
        return isolated_env(self.root, self.run_dir, self.prefix)

    @property
    def host(self) -> str:
        return f"unix://{self.run_dir / 'estiba.sock'}"

    def estiba(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the estiba CLI against this instance."""
        env = {**os.environ, **self.isolation, "ESTIBA_HOST": self.host}
        return _run([*ESTIBA, *args], env, check=check, timeout=timeout)

    def docker(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the stock docker CLI against this instance."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_CONFIG"] = str(self.root / "docker-config")
        return _run(["docker", "-H", self.host, *args], env, check=check, timeout=timeout)

    def up(self) -> subprocess.CompletedProcess[str]:
        return self.estiba(
            "up", "-d", "--root", str(self.root), "--run-dir", str(self.run_dir),
            "--registry-addr", self.registry_addr,
        )  # fmt: skip

    def down(self) -> subprocess.CompletedProcess[str]:
        return self.estiba("down", "--root", str(self.root), "--run-dir", str(self.run_dir))

    def info(self) -> dict[str, Any]:
        return dict(json.loads(self.estiba("info", "--format", "json").stdout))

    def service_status(self) -> dict[str, dict[str, Any]]:
        return {s["Name"]: s for s in self.info()["Estiba"]["Services"]}

    def supervisor_pid(self) -> int | None:
        try:
            return int((self.run_dir / "supervisor.pid").read_text())
        except (OSError, ValueError):
            return None


def _run(
    cmd: list[str], env: dict[str, str], *, check: bool, timeout: float
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        shown = " ".join(cmd[2:] if cmd[0] == sys.executable else cmd)
        raise AssertionError(f"{shown} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def _new_instance() -> tuple[EstibaInstance, Path]:
    base = Path(tempfile.mkdtemp(prefix="ee-", dir="/tmp"))
    return EstibaInstance(base / "root", base / "run", f"127.0.0.1:{free_port()}"), base


def _teardown(inst: EstibaInstance, base: Path) -> None:
    """Remove the instance's containers (they outlive the services by design), stop it, and
    delete every kernel object and file it made."""
    pid = inst.supervisor_pid()
    try:
        if pid is not None:
            ids = inst.estiba("ps", "-aq", "--no-trunc", check=False).stdout.split()
            if ids:
                inst.estiba("rm", "-f", *ids, check=False)
        inst.down()
        if pid is not None:
            assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), "supervisor still runs"
    finally:
        remove_kernel_objects(inst.isolation)
        unmount_under(base)
        shutil.rmtree(base, ignore_errors=True)


def unmount_under(base: Path) -> None:
    """Overlay roots a failed test left mounted below ``base``."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split(" ")[4]
        if target.startswith(str(base) + "/"):
            subprocess.run(["umount", "-l", target], check=False)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


@pytest.fixture(scope="module")
def estiba_instance() -> Iterator[EstibaInstance]:
    inst, base = _new_instance()
    inst.up()
    try:
        yield inst
    finally:
        _teardown(inst, base)


@pytest.fixture
def fresh_instance() -> Iterator[EstibaInstance]:
    inst, base = _new_instance()
    inst.up()
    try:
        yield inst
    finally:
        _teardown(inst, base)
