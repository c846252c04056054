from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from client.cli import output
from client.cli.parser import build_parser
from client.errors import Conflict, NotFound, Unavailable, from_status
from client.transport import DEFAULT_HOST, _message, resolve_host


def test_help_lists_the_commands() -> None:
    text = build_parser().format_help()
    for command in ("up", "down", "version", "info"):
        assert command in text


def test_cli_imports_neither_grpc_nor_aiohttp() -> None:
    code = (
        "import sys, client.cli.main; heavy = ('grpc', 'aiohttp', 'services'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_host_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESTIBA_HOST", raising=False)
    assert resolve_host(None) == DEFAULT_HOST
    monkeypatch.setenv("ESTIBA_HOST", "tcp://127.0.0.1:2375")
    assert resolve_host(None) == "tcp://127.0.0.1:2375"
    assert resolve_host("unix:///x.sock") == "unix:///x.sock"


def test_error_classes_and_messages() -> None:
    assert isinstance(from_status(404, "x"), NotFound)
    assert isinstance(from_status(409, "x"), Conflict)
    assert isinstance(from_status(503, "x"), Unavailable)
    assert _message(b'{"message": "no such container: a"}', 404) == "no such container: a"
    assert _message(b"plain text", 500) == "plain text"
    assert _message(b"", 502) == "HTTP 502"


def test_table_aligns_columns(capsys: pytest.CaptureFixture[str]) -> None:
    output.table(["NAME", "STATUS"], [["engine", "healthy"], ["registry", "down"]])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["NAME       STATUS", "engine     healthy", "registry   down"]


def test_human_bytes() -> None:
    assert output.human_bytes(512) == "512B"
    assert output.human_bytes(3 * 1024**3) == "3GiB"


@pytest.mark.parametrize(
    "argv",
    [["ps", "-a"], ["images"], ["run", "--rm", "-e", "A=1", "busybox", "true"],
     ["exec", "-it", "web", "sh"], ["ps", "-n", "3"]],
)  # fmt: skip
def test_everyday_commands_start_light(argv: list[str]) -> None:
    """What a command imports on its way to the gateway (here: one that is not there): none
    of the stdlib modules that cost milliseconds each (argparse, json, re with enum, socket)."""
    code = (
        "import sys, client.cli.main as m\n"
        "heavy = ('argparse', 'json', 're', 'socket', 'enum', 'typing', 'threading',\n"
        "         'contextlib', 'signal', 'importlib', 'warnings', 'client.cli.template')\n"
        "m._leave = lambda code: print(code, sorted(x for x in heavy if x in sys.modules))\n"
        f"m.main(['-H', 'unix:///nonexistent/estiba.sock', *{argv!r}])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "125 []"
    assert "cannot connect to estiba" in result.stderr


def test_the_launcher_starts_the_cli_without_site() -> None:
    """scripts/bootstrap writes the venv's `estiba` to run Python with -S: the CLI then has
    only the standard library and client/ to import from, which must be enough."""
    launcher = Path(sys.executable).parent / "estiba"
    assert launcher.read_text().splitlines()[0] == f"#!{Path(sys.executable).parent}/python3 -S"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESTIBA_", "PYTHON"))}
    result = subprocess.run(
        [str(launcher), "-H", "unix:///nonexistent/estiba.sock", "ps"],
        capture_output=True, text=True, env=env, cwd="/",
    )  # fmt: skip
    assert result.returncode == 125
    assert "cannot connect to estiba at unix:///nonexistent/estiba.sock" in result.stderr
    version = subprocess.run([str(launcher), "version"], capture_output=True, text=True, env=env)
    assert "Version:" in version.stdout
