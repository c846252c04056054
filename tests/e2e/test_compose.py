"""docker-compose v1 (1.29.2, in its own virtualenv made by ``scripts/bootstrap --tests``)
against estiba: a two-service stack on a user network with a named volume and a published
port, where one service reaches the other by name; up -d, ps, logs, down."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import EstibaInstance, free_port

pytestmark = pytest.mark.e2e

COMPOSE = Path(os.environ.get("ESTIBA_COMPOSE_VENV", ".venv-compose")) / "bin" / "docker-compose"
if not COMPOSE.is_file():
    pytest.skip(
        "docker-compose not installed: run scripts/bootstrap --tests", allow_module_level=True
    )

STACK = """\
version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /srv/www && echo hello-from-web > /srv/www/index.html
              && exec httpd -f -p 80 -h /srv/www"]
    volumes:
      - data:/srv
    networks: [front]
    ports:
      - "127.0.0.1:{port}:80"
    labels:
      team: web
  client:
    image: busybox
    command: ["sh", "-c", "until wget -q -O - http://web/index.html; do sleep 0.2; done;
              exec sleep 600"]
    networks: [front]
    depends_on: [web]
networks:
  front: {{}}
volumes:
  data: {{}}
"""


def _compose(
    inst: EstibaInstance, project: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
    env["DOCKER_HOST"] = inst.host
    result = subprocess.run(
        [str(COMPOSE.absolute()), "--no-ansi", "-p", project.name, *args],
        cwd=project, capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"docker-compose {' '.join(args)}:\n{result.stdout}{result.stderr}")
    return result


def _until(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def test_up_ps_logs_down(estiba_instance: EstibaInstance, tmp_path: Path) -> None:
    inst = estiba_instance
    project = tmp_path / f"st{inst.prefix}"
    project.mkdir()
    port = free_port()
    (project / "docker-compose.yml").write_text(textwrap.dedent(STACK.format(port=port)))
    name = project.name
    try:
        _compose(inst, project, "up", "-d")
        ps = _compose(inst, project, "ps").stdout
        assert f"{name}_web_1" in ps
        assert f"{name}_client_1" in ps  # numbered by its own service's containers only
        assert ps.count(f"{name}_web_1") == 1
        assert f"127.0.0.1:{port}->80/tcp" in ps

        def client_got_the_page() -> bool:
            return "hello-from-web" in _compose(inst, project, "logs", "client").stdout

        _until(client_got_the_page)  # the client reached web by its name on the network
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as page:
            assert page.read() == b"hello-from-web\n"  # and the host, by the published port

        labels = inst.estiba(
            "inspect", "-f", '{{index .Config.Labels "com.docker.compose.service"}} '
            '{{index .Config.Labels "team"}}', f"{name}_web_1",
        ).stdout.split()  # fmt: skip
        assert labels == ["web", "web"]
        assert f"{name}_front" in inst.estiba("network", "ls", "--format", "{{.Name}}").stdout
        assert f"{name}_data" in inst.estiba("volume", "ls", "-q").stdout.split()

        # a second up finds everything as it should be and changes nothing
        again = _compose(inst, project, "up", "-d")
        assert "up-to-date" in again.stderr
    finally:
        down = _compose(inst, project, "down", "-v", "--timeout", "1", check=False)
    assert down.returncode == 0, down.stderr
    assert not inst.estiba(
        "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"
    ).stdout
    assert f"{name}_front" not in inst.estiba("network", "ls", "--format", "{{.Name}}").stdout
    assert f"{name}_data" not in inst.estiba("volume", "ls", "-q").stdout.split()
