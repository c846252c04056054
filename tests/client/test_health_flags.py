"""The --health-* flags of run and create, turned into Docker's Config.Healthcheck."""

from __future__ import annotations

import pytest

from client.cli import flags, runflags
from client.errors import ClientError


def body(*argv: str) -> dict[str, object]:
    parser = flags.Parser(add_help=False)
    runflags.add_create_flags(parser)
    return runflags.create_body(parser.parse_args([*argv, "busybox"]))


def test_flags_become_a_healthcheck() -> None:
    got = body("--health-cmd", "curl -f x || exit 1", "--health-interval", "1m30s",
               "--health-timeout", "500ms", "--health-retries", "4",
               "--health-start-period", "2s", "--health-start-interval", "0.5s")  # fmt: skip
    assert got["Healthcheck"] == {
        "Test": ["CMD-SHELL", "curl -f x || exit 1"],
        "Interval": 90_000_000_000,
        "Timeout": 500_000_000,
        "StartPeriod": 2_000_000_000,
        "StartInterval": 500_000_000,
        "Retries": 4,
    }
    assert "Healthcheck" not in body()
    assert body("--no-healthcheck")["Healthcheck"] == {"Test": ["NONE"]}
    assert body("--health-interval", "2s")["Healthcheck"]["Test"] == []  # type: ignore[index]


@pytest.mark.parametrize(
    "argv",
    [
        ("--health-interval", "5"),
        ("--health-interval", "5x"),
        ("--health-timeout", "1s2"),
        ("--health-retries", "-1"),
        ("--no-healthcheck", "--health-cmd", "true"),
    ],
)
def test_bad_flags_are_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(ClientError):
        body(*argv)
