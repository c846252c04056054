"""Named volumes and bind mounts, through the docker CLI and the estiba CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def test_named_volume_lifecycle(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    assert inst.docker("volume", "create", "--label", "team=a", "data").stdout.strip() == "data"
    inst.docker("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    out = inst.docker("run", "--rm", "-v", "data:/srv:ro", "busybox", "cat", "/srv/f").stdout
    assert out == "kept\n"
    refused = inst.docker(
        "run", "--rm", "-v", "data:/srv:ro", "busybox", "touch", "/srv/x", check=False
    )
    assert refused.returncode != 0
    assert "Read-only file system" in refused.stderr
    listed = inst.docker("volume", "ls", "--filter", "label=team=a", "-q").stdout.split()
    assert listed == ["data"]
    inspect = inst.docker("volume", "inspect", "-f", "{{.Mountpoint}}", "data").stdout.strip()
    assert Path(inspect, "f").read_text() == "kept\n"
    inst.docker("create", "--name", "holder", "-v", "data:/data", "busybox", "true")
    in_use = inst.docker("volume", "rm", "data", check=False)
    assert in_use.returncode != 0
    assert "volume is in use" in in_use.stderr
    inst.docker("rm", "holder")
    inst.estiba("volume", "rm", "data")
    missing = inst.docker("volume", "inspect", "data", check=False)
    assert "no such volume" in missing.stderr


def test_volume_created_on_use_starts_with_image_content(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    out = inst.estiba("run", "--rm", "-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd").stdout
    assert out.startswith("root:")
    assert "etcvol" in inst.estiba("volume", "ls", "-q").stdout.split()
    pruned = inst.estiba("volume", "prune", "-f").stdout
    assert "etcvol" in pruned
    assert "etcvol" not in inst.estiba("volume", "ls", "-q").stdout.split()


def test_bind_mounts(estiba_instance: EstibaInstance, tmp_path: Path) -> None:
    inst = estiba_instance
    (tmp_path / "in.txt").write_text("from host\n")
    out = inst.docker(
        "run",
        "--rm",
        "-v",
        f"{tmp_path}:/mnt",
        "busybox",
        "sh",
        "-c",
        "cat /mnt/in.txt; echo back > /mnt/out.txt",
    ).stdout
    assert out == "from host\n"
    assert (tmp_path / "out.txt").read_text() == "back\n"
    bad = inst.docker("run", "--rm", "-v", "relative/path:/mnt", "busybox", "true", check=False)
    assert bad.returncode != 0
