"""testcontainers-python against estiba's socket: a busybox container started through it,
reached on the host port it was mapped to. Ryuk, testcontainers' reaper, is an image from
Docker Hub that estiba cannot fetch offline, so it is disabled; the context manager removes
the container itself, and the test checks that it did."""

from __future__ import annotations

import urllib.request

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_a_container_and_its_mapped_port(
    estiba_instance: EstibaInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", estiba_instance.host)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    command = "sh -c 'echo hello-tc > /tmp/index.html; echo ready; exec httpd -f -p 8080 -h /tmp'"
    container = DockerContainer("busybox").with_command(command).with_exposed_ports(8080)
    with container:
        wait_for_logs(container, "ready", timeout=30)
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(8080))
        assert port > 0
        with urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=5) as page:
            assert page.read() == b"hello-tc\n"
        cid = container.get_wrapped_container().id
        listed = estiba_instance.estiba("ps", "-q", "--no-trunc").stdout.split()
        assert cid in listed
    assert cid not in estiba_instance.estiba("ps", "-aq", "--no-trunc").stdout.split()
