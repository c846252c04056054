"""Prunes, system df, and clean answers for what estiba does not do."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def test_prunes_and_df(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.docker("run", "--name", "done1", "--label", "keep=no", "busybox", "true")
    inst.docker("run", "-d", "--name", "busy1", "busybox", "sleep", "300")
    df = inst.docker("system", "df").stdout
    assert "Images" in df
    assert "Containers" in df
    pruned = inst.docker("container", "prune", "-f").stdout
    assert "done1" not in inst.docker("ps", "-a").stdout
    assert "busy1" in inst.docker("ps").stdout
    assert "Total reclaimed space" in pruned
    inst.docker("run", "--name", "maker", "busybox", "true")
    image = inst.docker("commit", "maker").stdout.strip()  # an untagged image: dangling
    inst.docker("rm", "maker")
    images = inst.docker("image", "prune", "-f").stdout
    assert image.removeprefix("sha256:") in images
    assert "busybox" in inst.docker("images").stdout  # tagged images stay
    inst.docker("rm", "-f", "busy1")


def test_swarm_and_search_answer_cleanly(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    leave = inst.docker("swarm", "leave", "--force", check=False)
    assert "This node is not part of a swarm" in leave.stderr
    assert inst.docker("search", "busybox").returncode == 0
