"""The hijacked attach connection at its edges, over a raw socket to a running estiba (and
through the clients that depend on each edge): stdin that ends before the container starts,
large output, output racing the 101, resizes while output flows, detach keys."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.e2e.conftest import ESTIBA, EstibaInstance

pytestmark = pytest.mark.e2e

PATTERN = b"abcdefghi\n"
LARGE = 6_000_000


@pytest.fixture(scope="module")
def client(estiba_instance: EstibaInstance) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=estiba_instance.host, version="auto", timeout=60)
    yield c
    c.close()


def _sock_path(inst: EstibaInstance) -> str:
    return str(inst.run_dir / "estiba.sock")


class Hijack:
    """A POST .../attach whose answer is read as a raw socket, as the docker CLI reads it."""

    def __init__(self, inst: EstibaInstance, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(_sock_path(inst))
        head = (
            f"POST /v1.44{path} HTTP/1.1\r\nHost: api.moby.localhost\r\n"
            "Content-Type: text/plain\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        ).encode()
        self.sock.sendall(head)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            assert chunk, "closed before the answer's head"
            buf += chunk
        self.head, _, self.pending = buf.partition(b"\r\n\r\n")
        assert self.head.startswith(b"HTTP/1.1 101 UPGRADED"), self.head

    def read_all(self) -> bytes:
        data = self.pending
        while True:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return data
            data += chunk

    def read_until(self, marker: bytes, timeout: float = 20) -> bytes:
        deadline = time.monotonic() + timeout
        data = self.pending
        while marker not in data:
            assert time.monotonic() < deadline, f"no {marker!r} in {data[-200:]!r}"
            chunk = self.sock.recv(65536)
            assert chunk, f"closed before {marker!r}: {data[-200:]!r}"
            data += chunk
        self.pending = b""
        return data

    def close(self) -> None:
        self.sock.close()


def _demux(data: bytes) -> tuple[bytes, bytes]:
    out: list[bytes] = []
    err: list[bytes] = []
    while data:
        stream, size = struct.unpack(">BxxxL", data[:8])
        assert len(data) >= 8 + size, "a frame cut short"
        (err if stream == 2 else out).append(data[8 : 8 + size])
        data = data[8 + size :]
    return b"".join(out), b"".join(err)


def _create(client: docker.DockerClient, command: list[str], **options: Any) -> str:
    return str(client.api.create_container("busybox", command, **options)["Id"])


def test_stdin_closed_before_the_container_starts(
    estiba_instance: EstibaInstance, client: docker.DockerClient
) -> None:
    """The docker CLI's order: attach, send stdin and half-close, and only then start."""
    # as docker run -i creates it: OpenStdin and StdinOnce
    cid = estiba_instance.docker("create", "-i", "busybox", "cat").stdout.strip()
    attach = Hijack(estiba_instance, f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1")
    attach.sock.sendall(b"early bytes\n")
    attach.sock.shutdown(socket.SHUT_WR)  # stdin ends before the container even starts
    time.sleep(0.2)
    client.api.start(cid)
    out, err = _demux(attach.read_all())
    attach.close()
    assert out == b"early bytes\n"
    assert err == b""
    assert client.api.wait(cid, timeout=30)["StatusCode"] == 0
    client.api.remove_container(cid)


@pytest.mark.parametrize("cli", ["estiba", "docker"])
def test_piped_stdin_through_the_clis(estiba_instance: EstibaInstance, cli: str) -> None:
    result = subprocess.run(
        [*run_argv(estiba_instance, cli), "run", "-i", "--rm", "busybox", "sort"],
        input="b\na\n", capture_output=True, text=True, timeout=60,
        env=run_env(estiba_instance),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a\nb\n"


def run_argv(inst: EstibaInstance, cli: str) -> list[str]:
    return list(ESTIBA) if cli == "estiba" else ["docker", "-H", inst.host]


def run_env(inst: EstibaInstance) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(inst.isolation)
    env["ESTIBA_HOST"] = inst.host
    env["DOCKER_CONFIG"] = str(inst.root / "docker-config")
    return env


def test_large_output_arrives_whole_and_framed(
    estiba_instance: EstibaInstance, client: docker.DockerClient
) -> None:
    script = f"yes abcdefghi | head -c {LARGE}; echo done >&2"
    cid = _create(client, ["sh", "-c", script])
    attach = Hijack(estiba_instance, f"/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
    attach.sock.shutdown(socket.SHUT_WR)
    client.api.start(cid)
    out, err = _demux(attach.read_all())
    attach.close()
    assert len(out) == LARGE
    assert out == (PATTERN * (LARGE // len(PATTERN) + 1))[:LARGE]
    assert err == b"done\n"
    client.api.remove_container(cid, force=True)


@pytest.mark.parametrize("cli", ["estiba", "docker"])
def test_large_output_through_the_clis(estiba_instance: EstibaInstance, cli: str) -> None:
    result = subprocess.run(
        [*run_argv(estiba_instance, cli), "run", "--rm", "busybox", "sh", "-c",
         f"yes abcdefghi | head -c {LARGE}"],
        capture_output=True, timeout=120, env=run_env(estiba_instance),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) == LARGE


def test_output_racing_the_101_reaches_docker_py(client: docker.DockerClient) -> None:
    """docker-py reads the hijacked socket below http.client's buffer: output sent with the
    101 would be lost. Commands that print at once, many times over."""
    container = client.containers.run("busybox", ["sleep", "300"], detach=True)
    try:
        for n in range(15):
            code, output = container.exec_run(["echo", f"hi{n}"])
            assert (code, output) == (0, f"hi{n}\n".encode())
        code, output = container.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
        assert output == (b"out\n", b"err\n")
    finally:
        container.remove(force=True)
    quick = client.containers.run("busybox", ["echo", "at once"], remove=True)
    assert quick == b"at once\n"


def test_resize_while_output_flows(
    estiba_instance: EstibaInstance, client: docker.DockerClient
) -> None:
    script = "while :; do stty size; sleep 0.05; done"
    cid = _create(client, ["sh", "-c", script], tty=True, stdin_open=True)
    attach = Hijack(estiba_instance, f"/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
    client.api.start(cid)
    try:
        attach.read_until(b"\n")  # output flows
        for rows, cols in ((33, 111), (44, 122), (25, 80)):
            client.api.resize(cid, height=rows, width=cols)
            attach.read_until(f"{rows} {cols}".encode())
    finally:
        attach.close()
        client.api.remove_container(cid, force=True)


@pytest.mark.parametrize(
    ("keys", "sequence"), [("", b"\x10\x11"), ("ctrl-x,x", b"\x18x"), ("ctrl-a", b"\x01")]
)
def test_detach_keys_close_the_attach_and_leave_it_running(
    estiba_instance: EstibaInstance, client: docker.DockerClient, keys: str, sequence: bytes
) -> None:
    cid = _create(client, ["sh"], tty=True, stdin_open=True)
    client.api.start(cid)
    query = "stream=1&stdin=1&stdout=1&stderr=1" + (f"&detachKeys={keys}" if keys else "")
    attach = Hijack(estiba_instance, f"/containers/{cid}/attach?{query}")
    try:
        attach.sock.sendall(b"echo alive-$((6*7))\r")
        attach.read_until(b"alive-42")
        attach.sock.sendall(sequence)
        attach.read_all()  # the server ends the attach: this returns at EOF
    finally:
        attach.close()
    assert client.api.inspect_container(cid)["State"]["Running"]
    again = Hijack(estiba_instance, f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1")
    again.sock.sendall(b"echo still-$((2*3))\r")
    again.read_until(b"still-6")
    again.close()
    client.api.remove_container(cid, force=True)


def test_a_client_that_hangs_up_leaves_stdin_to_the_next(
    estiba_instance: EstibaInstance, client: docker.DockerClient
) -> None:
    cid = _create(client, ["sh"], tty=True, stdin_open=True)
    client.api.start(cid)
    try:
        for n in range(3):
            attach = Hijack(estiba_instance, f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1")
            attach.sock.sendall(f"echo turn-$(({n}+100))\r".encode())
            attach.read_until(f"turn-{n + 100}".encode())
            attach.close()  # a whole close, no detach keys
        assert client.api.inspect_container(cid)["State"]["Running"]
    finally:
        client.api.remove_container(cid, force=True)
