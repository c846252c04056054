"""docker cp, diff, commit and export against real containers."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def test_cp_in_and_out_running_and_stopped(estiba_instance: EstibaInstance, tmp_path: Path) -> None:
    inst = estiba_instance
    inst.docker("run", "-d", "--name", "files", "-v", "filesvol:/vol", "busybox", "sleep", "300")
    (tmp_path / "note.txt").write_text("hello cp\n")
    inst.docker("cp", str(tmp_path / "note.txt"), "files:/tmp/")
    assert inst.docker("exec", "files", "cat", "/tmp/note.txt").stdout == "hello cp\n"
    inst.docker("cp", str(tmp_path / "note.txt"), "files:/vol/in-volume.txt")
    assert inst.docker("exec", "files", "cat", "/vol/in-volume.txt").stdout == "hello cp\n"
    inst.docker("cp", "files:/etc/passwd", str(tmp_path / "passwd"))
    assert (tmp_path / "passwd").read_text().startswith("root:")
    missing = inst.docker("cp", "files:/no/such/file", str(tmp_path), check=False)
    assert missing.returncode != 0
    assert "Could not find the file" in missing.stderr
    inst.docker("stop", "-t", "0", "files")
    inst.docker("cp", "files:/tmp/note.txt", str(tmp_path / "from-stopped.txt"))
    assert (tmp_path / "from-stopped.txt").read_text() == "hello cp\n"
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a").write_text("a\n")
    inst.docker("cp", str(tmp_path / "dir"), "files:/tmp/")
    inst.docker("start", "files")
    assert inst.docker("exec", "files", "cat", "/tmp/dir/a").stdout == "a\n"
    inst.docker("rm", "-f", "files")
    inst.docker("volume", "rm", "filesvol")


def test_symlinks_cannot_lead_cp_out_of_the_container(
    estiba_instance: EstibaInstance, tmp_path: Path
) -> None:
    inst = estiba_instance
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    inst.docker(
        "run",
        "--name",
        "evil",
        "busybox",
        "sh",
        "-c",
        f"ln -s {secret} /tmp/link; ln -s / /tmp/root",
    )
    out = inst.docker("cp", "evil:/tmp/link", str(tmp_path / "got"), check=False)
    assert not (tmp_path / "got").exists() or (tmp_path / "got").is_symlink()
    del out
    (tmp_path / "payload").write_text("x\n")
    inst.docker("cp", str(tmp_path / "payload"), "evil:/tmp/root/tmp/", check=False)
    assert not Path("/tmp/payload").exists() or Path("/tmp/payload").read_text() != "x\n"
    inst.docker("rm", "evil")


def test_diff_commit_export(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.docker(
        "run",
        "--name",
        "changer",
        "busybox",
        "sh",
        "-c",
        "echo new > /added.txt; rm /etc/group; mkdir -p /var/made",
    )
    diff = inst.docker("diff", "changer").stdout.splitlines()
    assert "A /added.txt" in diff
    assert "D /etc/group" in diff
    image_id = inst.docker(
        "commit", "-c", 'CMD ["cat", "/added.txt"]', "changer", "committed:v1"
    ).stdout.strip()
    assert image_id.startswith("sha256:")
    assert inst.docker("run", "--rm", "committed:v1").stdout == "new\n"
    gone = inst.docker("run", "--rm", "committed:v1", "ls", "/etc/group", check=False)
    assert gone.returncode != 0
    exported = subprocess.run(
        ["docker", "-H", inst.host, "export", "changer"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
        names = {n.lstrip("./") for n in tar.getnames()}
    assert "added.txt" in names
    assert "bin/busybox" in names
    assert "etc/group" not in names
    inst.docker("rm", "changer")
    inst.docker("rmi", "committed:v1")


def test_estiba_cli_exec_cp_diff_commit(estiba_instance: EstibaInstance, tmp_path: Path) -> None:
    inst = estiba_instance
    inst.estiba("run", "-d", "--name", "cli-files", "busybox", "sleep", "300")
    result = inst.estiba(
        "exec", "cli-files", "sh", "-c", "echo out; echo err >&2; exit 6", check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (6, "out\n", "err\n")
    assert "sleep 300" in inst.estiba("top", "cli-files").stdout
    assert "cli-files" in inst.estiba("stats", "--no-stream", "cli-files").stdout
    (tmp_path / "in.txt").write_text("copied\n")
    inst.estiba("cp", str(tmp_path / "in.txt"), "cli-files:/tmp/in.txt")
    inst.estiba("cp", "cli-files:/tmp/in.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "copied\n"
    assert "A /tmp/in.txt" in inst.estiba("diff", "cli-files").stdout
    image = inst.estiba("commit", "cli-files", "cli-committed:1").stdout.strip()
    assert image.startswith("sha256:")
    out = inst.estiba("run", "--rm", "cli-committed:1", "cat", "/tmp/in.txt").stdout
    assert out == "copied\n"
    inst.estiba("rm", "-f", "cli-files")
    inst.estiba("rmi", "cli-committed:1")
