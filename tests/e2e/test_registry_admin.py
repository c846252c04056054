"""Registry administration as an operator does it: skopeo pushes, then estiba registry ..."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.e2e.conftest import EstibaInstance
from tests.registry.imagegen import write_image


def skopeo_push(layout: Path, ref: str) -> None:
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            f"oci:{layout}:latest",
            f"docker://{ref}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_registry_ls_tags_du_rm_gc(estiba_instance: EstibaInstance, tmp_path: Path) -> None:
    inst = estiba_instance
    write_image(tmp_path / "img", sizes=[4096, 8192], seed=7)
    for ref in ("team/app:1.0", "team/app:2.0", "other/tool:latest"):
        skopeo_push(tmp_path / "img", f"{inst.registry_addr}/{ref}")
    assert inst.estiba("registry", "ls").stdout.split() == ["other/tool", "team/app"]
    assert inst.estiba("registry", "tags", "team/app").stdout.split() == ["1.0", "2.0"]
    usage = json.loads(inst.estiba("registry", "du", "--format", "json").stdout)
    names = {r["name"]: r for r in usage["repositories"]}
    assert int(names["team/app"]["tags"]) == 2
    assert int(usage["blobs"]) == 3  # two layers and a config, stored once for both repositories
    table = inst.estiba("registry", "du").stdout
    assert "team/app" in table
    assert "content store: 3 blobs" in table

    inst.estiba("registry", "rm", "team/app:1.0")
    assert inst.estiba("registry", "tags", "team/app").stdout.split() == ["2.0"]
    inst.estiba("registry", "rm", "other/tool")
    assert inst.estiba("registry", "ls").stdout.split() == ["team/app"]
    missing = inst.estiba("registry", "tags", "no/such", check=False)
    assert missing.returncode == 125
    assert "no/such" in missing.stderr

    dry = json.loads(inst.estiba("registry", "gc", "--dry-run", "--format", "json").stdout)
    assert dry["dry_run"] is True
    info = inst.info()
    assert info["Estiba"]["Registry"]["Repositories"] == 1
