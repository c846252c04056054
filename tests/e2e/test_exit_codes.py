"""Exit codes scripts rely on, from estiba's CLI and from docker's against estiba: a
container's own code for ``run``, 125 for estiba's errors, 126 and 127 for a command that cannot
be invoked or is not found; every error one line on stderr, never a traceback."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.e2e


def _one_line(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert len([line for line in stderr.splitlines() if line.strip()]) == 1, stderr


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["sh", "-c", "exit 3"], 3),
        (["true"], 0),
        (["false"], 1),
        (["no-such-command"], 127),
        (["/no/such/path"], 127),
        (["/etc/passwd"], 126),  # not executable
        (["/etc"], 126),  # a directory
    ],
)
def test_run_exit_codes_match_dockers(
    estiba_instance: EstibaInstance, command: list[str], code: int
) -> None:
    ours = estiba_instance.estiba("run", "--rm", "busybox", *command, check=False, timeout=60)
    assert ours.returncode == code, ours.stderr
    theirs = estiba_instance.docker("run", "--rm", "busybox", *command, check=False, timeout=60)
    assert theirs.returncode == code, theirs.stderr
    if code >= 126:
        _one_line(ours.stderr)
        assert "level=error" not in ours.stderr  # runc's log framing is not the message


def test_a_failed_start_with_rm_leaves_nothing(estiba_instance: EstibaInstance) -> None:
    before = estiba_instance.estiba("ps", "-aq").stdout
    for cli in (estiba_instance.estiba, estiba_instance.docker):
        assert cli("run", "--rm", "busybox", "no-such-command", check=False).returncode == 127
        assert cli("run", "-d", "--rm", "busybox", "no-such-command", check=False).returncode == 127
    assert estiba_instance.estiba("ps", "-aq").stdout == before


def test_a_failed_start_without_rm_keeps_the_container(estiba_instance: EstibaInstance) -> None:
    result = estiba_instance.estiba(
        "run", "--name", "ec-kept", "busybox", "no-such-command", check=False
    )
    assert result.returncode == 127
    assert estiba_instance.estiba("ps", "-aq", "--filter", "name=ec-kept").stdout.strip()
    estiba_instance.estiba("rm", "ec-kept")


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--no-such-flag", "busybox"],
        ["ps", "--format", "{{.Nope"],
        ["inspect", "-f", "{{.Id.X}}", "busybox"],
        ["rm", "no-such-container"],
        ["start", "no-such-container"],
        ["run", "--rm", "no-such-image-here:1"],
        ["-H", "unix:///nonexistent.sock", "ps"],
        ["load", "-i", "/nonexistent.tar"],
        ["logs", "no-such-container"],
    ],
)
def test_errors_are_one_line_and_not_zero(estiba_instance: EstibaInstance, args: list[str]) -> None:
    result = estiba_instance.estiba(*args, check=False, timeout=60)
    assert result.returncode in (1, 125), result
    assert "Traceback" not in result.stderr
    if args[0] not in ("run",):  # run prints "Unable to find image" before the error
        _one_line(result.stderr)


def test_usage_errors_exit_125_as_dockers(estiba_instance: EstibaInstance) -> None:
    assert estiba_instance.estiba("ps", "--bogus", check=False).returncode == 125
    assert estiba_instance.docker("ps", "--bogus", check=False).returncode == 125
