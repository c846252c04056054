"""Shell completion in a real bash: the script ``estiba completion bash`` prints is sourced and
its function called the way bash calls it (COMP_WORDS/COMP_CWORD, and COMP_LINE/COMP_POINT),
against a running estiba."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def inst(estiba_instance: EstibaInstance) -> EstibaInstance:
    estiba_instance.estiba("run", "-d", "--name", "cpl-up", "busybox", "sleep", "600")
    estiba_instance.estiba("create", "--name", "cpl-made", "busybox", "true")
    estiba_instance.estiba("network", "create", "cpl-net")
    estiba_instance.estiba("volume", "create", "cpl-vol")
    estiba_instance.estiba("tag", "busybox", "127.0.0.1:5000/team/bb:1")
    return estiba_instance


def _complete(inst: EstibaInstance, line: str, *, with_line: bool = True) -> list[str]:
    """COMPREPLY for the command line typed so far (a trailing space: a new, empty word)."""
    script = inst.estiba("completion", "bash").stdout
    words = line.split() + ([""] if line.endswith(" ") else [])
    setup = [
        f'estiba() {{ {shlex.quote(sys.executable)} -m client "$@"; }}',
        script,
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})",
        f"COMP_CWORD={len(words) - 1}",
    ]
    if with_line:
        setup += [f"COMP_LINE={shlex.quote(line)}", f"COMP_POINT={len(line)}"]
    setup += ["_estiba_complete", 'printf "%s\\n" "${COMPREPLY[@]}"']
    env = {**os.environ, **inst.isolation, "ESTIBA_HOST": inst.host, "PYTHONPATH": os.getcwd()}
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", "\n".join(setup)],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert result.stderr == ""
    return [w for w in result.stdout.splitlines() if w]


def test_commands_verbs_and_flags(inst: EstibaInstance) -> None:
    assert {"run", "ps", "network", "completion"} <= set(_complete(inst, "estiba "))
    assert _complete(inst, "estiba net") == ["network"]
    assert "connect" in _complete(inst, "estiba network ")
    assert {"--all", "--quiet", "--format", "--filter"} <= set(_complete(inst, "estiba ps --"))
    assert _complete(inst, "estiba completion ") == ["bash", "zsh"]


@pytest.mark.parametrize("with_line", [True, False])
def test_names_from_the_daemon(inst: EstibaInstance, with_line: bool) -> None:
    def names(line: str) -> set[str]:
        return set(_complete(inst, line, with_line=with_line))

    assert {"cpl-up"} <= names("estiba stop ")
    assert "cpl-made" not in names("estiba stop ")
    assert {"cpl-made"} <= names("estiba start ")
    assert "cpl-up" not in names("estiba start ")
    assert {"cpl-up", "cpl-made"} <= names("estiba rm -f ")
    assert names("estiba exec -it cpl") == {"cpl-up"}
    assert names("estiba exec cpl-up ") == set()  # the command inside: not ours to complete
    assert {"cpl-net", "bridge"} <= names("estiba run --network ")
    assert names("estiba volume rm cpl") == {"cpl-vol"}
    assert names("estiba network connect cpl") == {"cpl-net"}
    assert {"cpl-up"} <= names("estiba network connect cpl-net ")
    assert "busybox:latest" in names("estiba run -e A=1 --name x ")


def test_image_names_with_colons(inst: EstibaInstance) -> None:
    # bash replaces only what follows the word's last ':', so that part is what comes back
    assert _complete(inst, "estiba rmi busybox:la") == ["latest"]
    assert _complete(inst, "estiba push 127.0.0.1:5000/team/") == ["5000/team/bb:1"]


def test_a_daemon_that_is_down_completes_nothing_quietly(inst: EstibaInstance) -> None:
    line = "estiba -H unix:///nonexistent.sock stop "
    assert _complete(inst, line) == []


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_through_bashcompinit(inst: EstibaInstance) -> None:
    script = inst.estiba("completion", "zsh").stdout
    line = "estiba network connect cpl-net cpl"
    setup = [
        f'estiba() {{ {shlex.quote(sys.executable)} -m client "$@"; }}',
        script,
        f"COMP_LINE={shlex.quote(line)}",
        f"COMP_POINT={len(line)}",
        "_estiba_complete",
        'print -l -- "${COMPREPLY[@]}"',
    ]
    env = {**os.environ, **inst.isolation, "ESTIBA_HOST": inst.host, "PYTHONPATH": os.getcwd()}
    result = subprocess.run(
        ["zsh", "-f", "-c", "\n".join(setup)],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert sorted(result.stdout.split()) == ["cpl-made", "cpl-up"]
