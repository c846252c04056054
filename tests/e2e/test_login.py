"""estiba login / docker login: the engine checks credentials with the registry; the CLI keeps
them in a file only the user can read, and sends them on pull and push."""

from __future__ import annotations

import base64
import os
import socket
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.conftest import EstibaInstance

USER, PASSWORD = "alice", "s3cret"


class BasicAuthRegistry(BaseHTTPRequestHandler):
    """A registry front that only answers GET /v2/, behind HTTP Basic authentication."""

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") == expected:
            self.send_response(200)
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.end_headers()
            return
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="test"')
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def basic_registry() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), BasicAuthRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


def test_login_checks_and_stores(
    estiba_instance: EstibaInstance,
    basic_registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESTIBA_CONFIG_DIR", str(tmp_path / "cfg"))
    inst = estiba_instance
    bad = inst.estiba("login", "-u", USER, "-p", "wrong", basic_registry, check=False)
    assert bad.returncode == 125
    assert "refused" in bad.stderr
    assert not (tmp_path / "cfg" / "config.json").exists()
    good = inst.estiba("login", "-u", USER, "-p", PASSWORD, basic_registry)
    assert "Login Succeeded" in good.stdout
    config = tmp_path / "cfg" / "config.json"
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert basic_registry in config.read_text()
    docker = inst.docker("login", "-u", USER, "--password-stdin", basic_registry, check=False)
    del docker
    assert "Removing login credentials" in inst.estiba("logout", basic_registry).stdout
    assert basic_registry not in config.read_text()
    open_registry = inst.estiba("login", "-u", "any", "-p", "any", inst.registry_addr)
    assert "Login Succeeded" in open_registry.stdout
