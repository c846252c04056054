"""Published ports, as docker run -p and -P give them, reached over loopback."""

from __future__ import annotations

import os
import time
import urllib.request

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")
SERVE = "mkdir -p /www && echo hello-{tag} > /www/index.html && httpd -f -p 8080 -h /www"


def _fetch(address: str) -> str:
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}/", timeout=2) as answer:
                return str(answer.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_publish_chosen_and_free_ports(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.docker(
        "run",
        "-d",
        "--name",
        "web-p",
        "-p",
        "127.0.0.1::8080",
        "busybox",
        "sh",
        "-c",
        SERVE.format(tag="docker"),
    )
    address = inst.docker("port", "web-p", "8080").stdout.strip()
    assert address.startswith("127.0.0.1:")
    assert _fetch(address) == "hello-docker\n"
    assert "->8080/tcp" in inst.docker("ps", "--filter", "name=web-p").stdout
    inst.estiba(
        "run",
        "-d",
        "--name",
        "web-big-p",
        "-P",
        "--expose",
        "8080",
        "busybox",
        "sh",
        "-c",
        SERVE.format(tag="estiba"),
    )
    mapped = inst.estiba("port", "web-big-p", "8080").stdout.strip()
    port = mapped.rsplit(":", 1)[1]
    assert _fetch(f"127.0.0.1:{port}") == "hello-estiba\n"
    taken = inst.estiba("run", "-d", "-p", f"127.0.0.1:{port}:8080", "busybox", "true", check=False)
    assert taken.returncode != 0
    inst.docker("rm", "-f", "web-p", "web-big-p")
