"""The seed scenario word for word: a Debian image made here, then `estiba run -it debian bash`."""

from __future__ import annotations

import os
import socket

import pytest

from tests.e2e.conftest import ESTIBA, EstibaInstance
from tests.e2e.terminal import Terminal

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")
MIRROR = "deb.debian.org"


def _mirror_reachable() -> bool:
    try:
        socket.create_connection((MIRROR, 80), timeout=5).close()
    except OSError:
        return False
    return True


def test_bootstrap_debian_then_run_it_bash(estiba_instance: EstibaInstance) -> None:
    if not _mirror_reachable():
        pytest.skip(f"Debian's mirror {MIRROR} cannot be reached from this machine")
    inst = estiba_instance
    inst.estiba("image", "bootstrap", "debian:bookworm", timeout=600)
    assert "debian" in inst.estiba("images").stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(ESTIBA_HOST=inst.host, TERM="xterm")
    term = Terminal([*ESTIBA, "run", "-i", "-t", "--name", "deb", "debian", "bash"], env)
    try:
        term.expect(r"root@[0-9a-f]{12}:/# ")
        term.send("echo bash-${BASH_VERSINFO[0]}; cat /etc/debian_version\r")
        term.expect(r"bash-5")
        term.expect(r"12\.")
        term.send("exit 9\r")
        assert term.wait() == 9
    finally:
        term.kill()
    assert "Exited (9)" in inst.estiba("ps", "-a").stdout
    inst.estiba("rm", "deb")
