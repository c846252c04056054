"""The events stream against a running estiba: the docker CLI, docker-py and estiba events.

Each test notes the time, does something real (runs a container, tags an image, makes a
network), then reads the events of that span back with since/until and filters.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture
def client(estiba_instance: EstibaInstance) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=estiba_instance.host, timeout=60)
    yield c
    c.close()


def docker_events(inst: EstibaInstance, since: float, *filters: str) -> list[dict[str, Any]]:
    args = ["events", "--since", f"{since:.9f}", "--until", f"{time.time():.9f}"]
    for f in filters:
        args += ["--filter", f]
    out = inst.docker(*args, "--format", "{{json .}}", timeout=30).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_container_lifecycle_with_the_docker_cli(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    since = time.time()
    cid = inst.estiba("run", "-d", "--name", "ev-one", "--label", "team=blue",
                      "busybox", "sleep", "300").stdout.strip()  # fmt: skip
    inst.estiba("rename", "ev-one", "ev-uno")
    inst.estiba("stop", "-t", "1", "ev-uno")  # sleep as PID 1 ignores SIGTERM: then SIGKILL
    inst.estiba("rm", "ev-uno")
    seen = docker_events(inst, since, f"container={cid[:12]}")
    actions = [e["Action"] for e in seen]
    assert actions == ["create", "start", "rename", "kill", "kill", "die", "stop", "destroy"]
    assert {e["Type"] for e in seen} == {"container"}
    die = seen[5]
    assert die["Actor"]["ID"] == cid
    assert die["Actor"]["Attributes"]["exitCode"] == "137"
    assert die["Actor"]["Attributes"]["image"] == "busybox"
    assert die["Actor"]["Attributes"]["team"] == "blue"
    assert seen[2]["Actor"]["Attributes"]["oldName"] == "/ev-one"
    assert [e["Actor"]["Attributes"]["signal"] for e in seen[3:5]] == ["15", "9"]
    assert (die["status"], die["id"], die["from"], die["scope"]) == ("die", cid, "busybox", "local")
    assert die["time"] == die["timeNano"] // 1_000_000_000
    assert [e["Action"] for e in docker_events(inst, since, "label=team=blue", "event=die")] == [
        "die"
    ]
    net = docker_events(inst, since, "type=network")
    assert [e["Action"] for e in net if e["Actor"]["Attributes"].get("container") == cid] == [
        "connect",
        "disconnect",
    ]
    span = ("--since", f"{since:.3f}", "--until", f"{time.time():.3f}")
    text = inst.docker("events", *span, "-f", f"container={cid}", "-f", "event=start").stdout
    assert f"container start {cid} (" in text
    assert "name=ev-one" in text
    assert "team=blue" in text


def test_images_volumes_and_networks(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    since = time.time()
    inst.docker("tag", "busybox", "ev-image:1")
    inst.docker("rmi", "ev-image:1")
    inst.docker("volume", "create", "ev-volume")
    inst.docker("volume", "rm", "ev-volume")
    net = inst.docker("network", "create", "ev-net").stdout.strip()
    inst.docker("network", "rm", "ev-net")
    images = docker_events(inst, since, "type=image")
    assert [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in images][:1] == [
        ("tag", "ev-image:1")
    ]
    assert [e["Action"] for e in images] == ["tag", "untag"]
    assert images[0]["Actor"]["ID"].startswith("sha256:")
    assert images[0]["status"] == "tag"
    assert [e["Action"] for e in docker_events(inst, since, "volume=ev-volume")] == [
        "create",
        "destroy",
    ]
    networks = docker_events(inst, since, "network=ev-net")
    assert [(e["Action"], e["Actor"]["ID"]) for e in networks] == [
        ("create", net),
        ("destroy", net),
    ]
    assert networks[0]["Actor"]["Attributes"] == {"name": "ev-net", "type": "bridge"}
    assert "status" not in networks[0]
    assert docker_events(inst, since, "type=image", "image=busybox") == []  # id, not the name
    assert [e["Action"] for e in docker_events(inst, since, "image=ev-image")] == ["tag"]


def test_bad_requests(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    bad = inst.docker("events", "--filter", "colour=red", "--until", "0s", check=False)
    assert bad.returncode != 0
    assert "invalid filter 'colour'" in bad.stderr
    kind = inst.estiba("events", "--filter", "type=boat", "--until", "0s", check=False)
    assert kind.returncode == 125
    assert "Unknown event type" in kind.stderr
    backwards = inst.docker("events", "--since", "10s", "--until", "1m", check=False)
    assert backwards.returncode != 0  # "1m" is a minute ago: before "since"
    assert "cannot be after" in backwards.stderr
    garbled = inst.estiba("events", "--since", "soon", check=False)
    assert garbled.returncode == 125


def test_live_stream_with_docker_py(
    estiba_instance: EstibaInstance, client: docker.DockerClient
) -> None:
    stream = client.events(decode=True, filters={"container": "ev-py", "type": "container"})
    got: list[dict[str, Any]] = []

    def read() -> None:
        for event in stream:
            got.append(event)
            if event["Action"] == "destroy":
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    c = client.containers.run("busybox", ["sh", "-c", "exit 3"], name="ev-py", detach=True)
    c.wait(timeout=30)
    c.remove()
    reader.join(timeout=30)
    stream.close()
    assert [e["Action"] for e in got] == ["create", "start", "die", "destroy"]
    assert got[2]["Actor"]["Attributes"]["exitCode"] == "3"
    since = time.time() - 60
    past = list(client.events(since=since, until=time.time(), decode=True,
                              filters={"event": ["die"], "container": ["ev-py"]}))  # fmt: skip
    assert [e["Actor"]["Attributes"]["name"] for e in past] == ["ev-py"]


def test_health_status_and_estiba_events(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    since = time.time()
    inst.estiba("run", "-d", "--name", "ev-health", "--health-cmd", "true",
                "--health-interval", "200ms", "busybox", "sleep", "300")  # fmt: skip
    deadline = time.monotonic() + 15
    while True:
        seen = docker_events(inst, since, "event=health_status", "container=ev-health")
        if seen:
            break
        assert time.monotonic() < deadline, "no health_status event"
        time.sleep(0.2)
    assert seen[0]["Action"] == "health_status: healthy"
    inst.estiba("exec", "ev-health", "true")
    until = f"{time.time():.3f}"
    out = inst.estiba("events", "--since", f"{since:.3f}", "--until", until,
                      "--filter", "container=ev-health", "--format", "json").stdout  # fmt: skip
    actions = [json.loads(line)["Action"] for line in out.splitlines()]
    assert actions[:2] == ["create", "start"]
    assert "health_status: healthy" in actions
    assert "exec_create: true" in actions
    assert "exec_die" in actions
    text = inst.estiba("events", "--since", f"{since:.3f}", "--until", until,
                       "-f", "container=ev-health", "-f", "event=start").stdout  # fmt: skip
    assert text.count("\n") == 1
    assert " container start " in text
    assert "name=ev-health" in text
    shaped = inst.estiba(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        until,
        "-f",
        "event=start",
        "--format",
        "{{.Type}} {{.Status}} {{.Actor.Attributes.name}}",
    )
    assert "container start ev-health" in shaped.stdout.splitlines()  # fmt: skip
    inst.estiba("rm", "-f", "ev-health")


def test_push_and_pull(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    ref = f"{inst.registry_addr}/events/bb:1"
    inst.estiba("tag", "busybox", ref)
    since = time.time()
    inst.estiba("push", ref)
    inst.estiba("rmi", ref)
    inst.docker("pull", ref)
    images = docker_events(inst, since, "type=image", f"image={ref}")
    assert [(e["Action"], e["Actor"]["ID"]) for e in images] == [("push", ref), ("pull", ref)]
    assert images[1]["Actor"]["Attributes"]["name"] == f"{inst.registry_addr}/events/bb"
    untag = docker_events(inst, since, "type=image", "event=untag")
    assert [e["Actor"]["ID"].startswith("sha256:") for e in untag] == [True]
    inst.estiba("rmi", ref)


def test_save_load_and_import(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    archive = inst.root.parent / "events-busybox.tar"
    since = time.time()
    inst.estiba("save", "-o", str(archive), "busybox")
    inst.estiba("load", "-i", str(archive))
    rootfs = inst.root.parent / "events-rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    inst.docker("import", str(rootfs), "ev-imported:1")
    imported = inst.docker("image", "inspect", "--format", "{{.Id}}", "ev-imported:1").stdout
    busybox_id = inst.docker("image", "inspect", "--format", "{{.Id}}", "busybox").stdout.strip()
    images = docker_events(inst, since, "type=image")
    assert [(e["Action"], e["Actor"]["ID"]) for e in images] == [
        ("save", busybox_id),
        ("load", busybox_id),
        ("import", imported.strip()),
    ]
    inst.docker("rmi", "ev-imported:1")
    archive.unlink()
    rootfs.unlink()
