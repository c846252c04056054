"""docker-py (the Docker SDK for Python) against estiba, as its users call it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import docker
import pytest
from docker.errors import APIError, ImageNotFound, NotFound

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture
def client(estiba_instance: EstibaInstance) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=estiba_instance.host, timeout=60)
    yield c
    c.close()


def test_version_and_ping(client: docker.DockerClient) -> None:
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.44"
    assert client.info()["OSType"] == "linux"


def test_run_logs_exec_and_remove(client: docker.DockerClient) -> None:
    assert client.containers.run("busybox", ["echo", "from docker-py"], remove=True) == (
        b"from docker-py\n"
    )
    c = client.containers.run(
        "busybox",
        ["sh", "-c", "echo ready; sleep 300"],
        detach=True,
        name="py-detached",
        labels={"sdk": "python"},
    )
    c.reload()
    assert c.status == "running"
    assert c.labels["sdk"] == "python"
    code, out = c.exec_run(["sh", "-c", "echo in-exec; exit 3"])
    assert (code, out) == (3, b"in-exec\n")
    assert b"ready" in c.logs()
    assert [x.name for x in client.containers.list(filters={"label": "sdk=python"})] == [
        "py-detached"
    ]
    c.stop(timeout=1)
    c.reload()
    assert c.status == "exited"
    c.remove()
    with pytest.raises(NotFound):
        client.containers.get("py-detached")


def test_errors_and_images(client: docker.DockerClient) -> None:
    with pytest.raises(ImageNotFound):
        client.images.get("no-such-image:1")
    with pytest.raises(APIError):
        client.containers.create("busybox", name="bad name")
    image = client.images.get("busybox")
    assert "busybox:latest" in image.tags
    image.tag("py-tagged", "1")
    assert "py-tagged:1" in client.images.get("py-tagged:1").tags
    client.images.remove("py-tagged:1")
    volume = client.volumes.create("py-volume", labels={"a": "b"})
    assert client.volumes.get("py-volume").attrs["Labels"] == {"a": "b"}
    volume.remove()
