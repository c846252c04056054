"""``client.cli.quick`` reads the everyday listings as the full parser would, or leaves them."""

from __future__ import annotations

import pytest

from client.cli import containers, listings, quick
from client.cli.parser import build_parser

ATTRIBUTES = {
    "ps": ("host", "all", "quiet", "no_trunc", "size", "latest", "filter", "last", "format"),
    "images": ("host", "all", "quiet", "no_trunc", "digests", "filter", "format", "reference"),
}


@pytest.mark.parametrize(
    "argv",
    [["ps"], ["ps", "-a"], ["ps", "-aq"], ["ps", "-qa", "--no-trunc"], ["ps", "--all", "-s"],
     ["ps", "-l"], ["-H", "unix:///x.sock", "ps", "-a"], ["--host", "tcp://h:1", "ps"],
     ["--host=unix:///y", "ps", "--quiet"], ["images"], ["images", "-a"], ["images", "-qa"],
     ["images", "--digests", "--no-trunc"], ["images", "busybox"], ["images", "-q", "debian"],
     ["images", "busybox", "-a"]],
)  # fmt: skip
def test_reads_what_the_parser_reads(argv: list[str]) -> None:
    parsed = quick.parse(argv)
    assert parsed is not None
    args, run = parsed
    full = build_parser().parse_args(argv)
    # the full parser's ps imports the listing when it runs: containers._ps calls listings.ps
    assert run is (listings.ps if full.run is containers._ps else full.run)
    for name in ATTRIBUTES[full.command]:
        assert getattr(args, name) == getattr(full, name), name


@pytest.mark.parametrize(
    "argv",
    [[], ["run", "busybox"], ["ps", "-h"], ["ps", "--help"], ["ps", "-n", "3"], ["ps", "-n3"],
     ["ps", "--format", "{{.ID}}"], ["ps", "-f", "name=x"], ["ps", "--filter=name=x"],
     ["ps", "-ax"], ["ps", "--al"], ["ps", "web"], ["ps", "-"], ["ps", "--"], ["images", "a", "b"],
     ["images", "--format=json"], ["-H"], ["-H", "unix:///x"], ["-x", "ps"], ["images", "-aD"]],
)  # fmt: skip
def test_leaves_everything_else_to_the_parser(argv: list[str]) -> None:
    assert quick.parse(argv) is None
