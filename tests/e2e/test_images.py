"""Images end to end: push to estiba's own registry, pull back, save/load, import, rmi."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def test_push_then_run_pulls_it_back(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    ref = f"{inst.registry_addr}/team/bb:1"
    inst.estiba("tag", "busybox", ref)
    pushed = inst.estiba("push", ref).stdout
    assert "digest: sha256:" in pushed
    assert inst.estiba("registry", "tags", "team/bb").stdout.split() == ["1"]
    inst.estiba("rmi", ref)
    run = inst.estiba("run", "--rm", ref, "echo", "pulled")
    assert run.stdout == "pulled\n"
    assert "Unable to find image" in run.stderr
    images = inst.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert ref in images
    inst.docker("rmi", ref)
    pulled = inst.docker("pull", ref)
    assert ref in pulled.stdout
    inst.docker("rmi", ref)


def test_rmi_refused_while_used_and_missing_image(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    image_id = inst.docker("inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    inst.docker("create", "--name", "user-of-busybox", "busybox", "true")
    refused = inst.docker("rmi", image_id, check=False)
    assert refused.returncode != 0
    assert "is using its referenced image" in refused.stderr
    inst.docker("rm", "user-of-busybox")
    missing = inst.docker("pull", f"{inst.registry_addr}/no/such:1", check=False)
    assert missing.returncode != 0


def test_rmi_right_after_run_rm(estiba_instance: EstibaInstance) -> None:
    """The image of a container `run --rm` just removed can be deleted at once: the removal
    answers before the container's root is unmounted from the image's layers, and rmi waits
    for that rather than refuse."""
    inst = estiba_instance
    for round_ in range(3):
        inst.docker("create", "--name", "to-commit", "busybox", "true")
        inst.docker("commit", "to-commit", "brief:1")
        inst.docker("rm", "to-commit")
        inst.docker("run", "--rm", "brief:1", "true")
        deleted = inst.docker("rmi", "brief:1")
        assert "Deleted: sha256:" in deleted.stdout, round_


def test_save_load_import(estiba_instance: EstibaInstance, tmp_path: Path) -> None:
    inst = estiba_instance
    archive = tmp_path / "bb.tar"
    inst.estiba("save", "-o", str(archive), "busybox")
    with tarfile.open(archive) as tar:
        assert "manifest.json" in tar.getnames()
    inst.docker("tag", "busybox", "roundtrip:1")
    inst.docker("save", "-o", str(tmp_path / "rt.tar"), "roundtrip:1")
    inst.docker("rmi", "roundtrip:1")
    loaded = inst.docker("load", "-i", str(tmp_path / "rt.tar")).stdout
    assert "roundtrip:1" in loaded
    root = tmp_path / "rootfs.tar"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        body = b"imported\n"
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    root.write_bytes(data.getvalue())
    imported = subprocess.run(
        ["docker", "-H", inst.host, "import", str(root), "imported:1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert imported.stdout.strip().startswith("sha256:")
    history = inst.docker("history", "imported:1").stdout
    assert "IMAGE" in history
    inst.docker("rmi", "imported:1", "roundtrip:1")
