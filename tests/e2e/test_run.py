"""The seed scenario and the everyday container commands, with real containers.

Driven the way a person does: through a pseudo-terminal for ``run -it``, with the estiba CLI
and with the stock docker CLI.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ESTIBA, EstibaInstance
from tests.e2e.terminal import Terminal

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def _env(inst: EstibaInstance) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(ESTIBA_HOST=inst.host, TERM="xterm", DOCKER_CONFIG=str(inst.root / "dc"))
    return env


def test_seed_scenario_with_the_estiba_cli(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    term = Terminal([*ESTIBA, "run", "-i", "-t", "--name", "seed", "busybox", "sh"], _env(inst))
    try:
        term.expect(r"[#$] ")
        term.send("echo hello-$((40+2))\r")
        term.expect("hello-42")
        term.send("stty size\r")
        term.expect(r"24 80")
        term.send("echo kept > /kept.txt; ip -o -4 addr show eth0 | wc -l; exit 5\r")
        code = term.wait()
    finally:
        term.kill()
    assert code == 5
    listing = inst.estiba("ps", "-a").stdout
    row = next(line for line in listing.splitlines() if line.endswith("seed"))
    assert "Exited (5)" in row
    again = Terminal([*ESTIBA, "start", "-a", "-i", "seed"], _env(inst))
    try:
        again.send("\r")
        again.expect(r"[#$] ")
        again.send("cat /kept.txt; exit 0\r")
        again.expect("kept")
        assert again.wait() == 0
    finally:
        again.kill()
    info = inst.docker("inspect", "seed").stdout
    assert '"IPAddress": "' in info
    inst.estiba("rm", "seed")
    assert "seed" not in inst.estiba("ps", "-a").stdout
    assert list((inst.root / "engine" / "containers").iterdir()) == []


def test_docker_cli_run_it(estiba_instance: EstibaInstance) -> None:
    env = _env(estiba_instance)
    term = Terminal(
        ["docker", "-H", estiba_instance.host, "run", "-it", "--rm", "busybox", "sh"], env
    )
    try:
        term.expect(r"[#$] ")
        term.send("echo from-docker-$((6*7))\r")
        term.expect("from-docker-42")
        term.send("exit 3\r")
        assert term.wait() == 3
    finally:
        term.kill()


def test_run_output_exit_codes_and_stdin(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    result = inst.estiba(
        "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 4", check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (4, "out\n", "err\n")
    docker = inst.docker("run", "--rm", "busybox", "echo", "hi")
    assert docker.stdout == "hi\n"

    piped = subprocess.run(
        ["docker", "-H", inst.host, "run", "-i", "--rm", "busybox", "sh", "-c", "cat; exit 2"],
        input="line1\nline2\n",
        capture_output=True,
        text=True,
        env=_env(inst),
        timeout=60,
    )
    assert (piped.returncode, piped.stdout) == (2, "line1\nline2\n")


def test_detached_logs_stop_start_rm(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    cid = inst.docker(
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ).stdout.strip()
    assert len(cid) == 64
    ps = inst.docker("ps").stdout
    assert "ticker" in ps
    assert "Up" in ps
    logs = inst.estiba("logs", "--tail", "2", "ticker").stdout
    assert logs.count("tick") <= 2
    inst.docker("stop", "-t", "1", "ticker")
    assert (
        "Exited (137)" in inst.docker("ps", "-a").stdout
        or "Exited (143)" in inst.docker("ps", "-a").stdout
    )
    inst.docker("start", "ticker")
    assert inst.docker("inspect", "-f", "{{.State.Running}}", "ticker").stdout.strip() == "true"
    refused = inst.docker("rm", "ticker", check=False)
    assert refused.returncode != 0
    assert "stop the container" in refused.stderr
    inst.docker("rm", "-f", "ticker")
    assert "ticker" not in inst.docker("ps", "-a").stdout


def test_bad_requests(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    missing = inst.docker("start", "no-such-thing", check=False)
    assert "No such container: no-such-thing" in missing.stderr
    bad = inst.docker("create", "--name", "a b", "busybox", check=False)
    assert "Invalid container name" in bad.stderr
    inst.docker("create", "--name", "twice", "busybox", "true")
    again = inst.docker("create", "--name", "twice", "busybox", "true", check=False)
    assert "is already in use" in again.stderr
    inst.docker("rm", "twice")
    unknown = inst.estiba("run", "--rm", "no-such-image-here", check=False)
    assert unknown.returncode == 125


def test_nothing_left_behind(estiba_instance: EstibaInstance) -> None:
    inst = estiba_instance
    inst.estiba("run", "--name", "brief", "busybox", "true")
    inst.estiba("rm", "brief")
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(inst.root) not in mounts
    netns = inst.run_dir / "netns"
    for _ in range(100):  # netd tears the sandbox down just after answering RemoveSandbox
        if not netns.exists() or list(netns.iterdir()) == []:
            break
        time.sleep(0.02)
    assert not netns.exists() or list(netns.iterdir()) == []


@pytest.mark.parametrize("cli", ["estiba", "docker"])
def test_exec_it_through_a_terminal(estiba_instance: EstibaInstance, cli: str) -> None:
    inst = estiba_instance
    name = f"exec-{cli}"
    inst.docker("run", "-d", "--name", name, "busybox", "sleep", "300")
    argv = [*ESTIBA] if cli == "estiba" else ["docker", "-H", inst.host]
    term = Terminal([*argv, "exec", "-it", name, "sh"], _env(inst), rows=30, cols=100)
    try:
        term.expect(r"[#$] ")
        term.send("stty size; echo inside-$((3*3))\r")
        term.expect("30 100")
        term.expect("inside-9")
        term.send("exit 7\r")
        assert term.wait() == 7
    finally:
        term.kill()
    inst.docker("rm", "-f", name)
