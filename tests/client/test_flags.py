"""client.cli.flags reads command lines as docker's flag library does."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.cli import flags
from client.cli.parser import COMMANDS, build_parser


def _run_parser() -> flags.Parser:
    p = flags.Parser(prog="estiba run", add_help=False)
    p.add_argument("--help", action="help", help="show this help")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-h", "--hostname", default="")
    p.add_argument("--stop-timeout", type=int, default=None)
    p.add_argument("--network", "--net", default="")
    p.add_argument("image")
    p.add_argument("command", nargs=flags.REMAINDER)
    return p


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["busybox"], {"image": "busybox", "command": []}),
        (["-it", "busybox", "sh"], {"interactive": True, "tty": True, "command": ["sh"]}),
        (["-itd", "busybox"], {"detach": True, "tty": True}),
        (["-ePATH=/x", "-e", "A=1", "--env=B=2", "--env", "C", "busybox"],
         {"env": ["PATH=/x", "A=1", "B=2", "C"]}),
        (["-ie", "X=1", "busybox"], {"interactive": True, "env": ["X=1"]}),
        (["-e=Y", "busybox"], {"env": ["Y"]}),
        (["busybox", "ls", "-l", "--tty"], {"tty": False, "command": ["ls", "-l", "--tty"]}),
        (["-d", "busybox", "-d"], {"detach": True, "command": ["-d"]}),
        (["--stop-timeout", "-1", "busybox"], {"stop_timeout": -1}),
        (["--net", "none", "busybox"], {"network": "none"}),
        (["-h", "box", "busybox"], {"hostname": "box"}),
        (["-hbox", "busybox"], {"hostname": "box"}),
        (["-d=false", "--tty=true", "busybox"], {"detach": False, "tty": True}),
        (["--", "busybox", "-x"], {"image": "busybox", "command": ["-x"]}),
    ],
)  # fmt: skip
def test_run_shapes(argv: list[str], expected: dict[str, object]) -> None:
    ns = _run_parser().parse_args(argv)
    for key, value in expected.items():
        assert getattr(ns, key) == value, key


def test_defaults_are_fresh_lists() -> None:
    p = _run_parser()
    p.parse_args(["-e", "A", "busybox"])
    assert p.parse_args(["busybox"]).env == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: image"),
        (["--bogus", "busybox"], "unrecognized arguments: --bogus"),
        (["-x", "busybox"], "unrecognized arguments: -x"),
        (["--netw", "none", "busybox"], "unrecognized arguments: --netw"),  # no abbreviations
        (["busybox", "-e"], None),  # the remainder's, not an error
        (["-e"], "argument -e/--env: expected one argument"),
        (["--stop-timeout", "soon", "busybox"], "argument --stop-timeout: invalid int value"),
        (["--tty=maybe", "busybox"], "argument -t/--tty: invalid boolean value: 'maybe'"),
    ],
)
def test_usage_errors(
    argv: list[str], message: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    if message is None:
        _run_parser().parse_args(argv)
        return
    with pytest.raises(SystemExit) as exit_:
        _run_parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: estiba run [OPTIONS] IMAGE [COMMAND...]\n")
    assert f"estiba run: error: {message}" in err


def test_positionals_share_the_words() -> None:
    p = flags.Parser(prog="estiba cp")
    p.add_argument("first")
    p.add_argument("middle", nargs="*")
    p.add_argument("last")
    ns = p.parse_args(["a", "b", "c", "d"])
    assert (ns.first, ns.middle, ns.last) == ("a", ["b", "c"], "d")
    q = flags.Parser(prog="estiba x")
    q.add_argument("names", nargs="+")
    q.add_argument("-f", "--force", action="store_true")
    ns = q.parse_args(["a", "-f", "b"])  # options between positionals, as docker allows
    assert (ns.names, ns.force) == (["a", "b"], True)
    r = flags.Parser(prog="estiba y")
    r.add_argument("ref", nargs="?")
    assert r.parse_args([]).ref is None
    with pytest.raises(SystemExit):
        r.parse_args(["a", "b"])


def test_choices_types_booleans_and_required(capsys: pytest.CaptureFixture[str]) -> None:
    p = flags.Parser(prog="estiba z")
    p.add_argument("--shell", choices=["bash", "zsh"], required=True)
    p.add_argument("--root", type=Path, default=Path("/var"))
    p.add_argument("-H", "--human", default=True, action=flags.BooleanOptionalAction)
    ns = p.parse_args(["--shell", "zsh", "--no-human", "--root", "/tmp/r"])
    assert (ns.shell, ns.human, ns.root) == ("zsh", False, Path("/tmp/r"))
    assert p.parse_args(["--shell=bash", "-H"]).human is True
    for argv, message in (
        ([], "the following arguments are required: --shell"),
        (["--shell", "fish"], "invalid choice: 'fish' (choose from 'bash', 'zsh')"),
    ):
        with pytest.raises(SystemExit):
            p.parse_args(argv)
        assert message in capsys.readouterr().err


def test_subcommands_dispatch_and_defaults() -> None:
    root = flags.Parser(prog="estiba")
    root.add_argument("-H", "--host")
    sub = root.add_subparsers(dest="command", metavar="COMMAND")
    vol = sub.add_parser("volume", help="volumes")
    vol.set_defaults(run="volume help")
    verbs = vol.add_subparsers(dest="verb", metavar="VERB", required=True)
    rm = verbs.add_parser("rm", help="remove")
    rm.add_argument("-f", "--force", action="store_true")
    rm.add_argument("names", nargs="+")
    rm.set_defaults(run="remove")
    ns = root.parse_args(["-H", "unix:///x", "volume", "rm", "-f", "a", "b"])
    assert (ns.host, ns.command, ns.verb, ns.force, ns.names, ns.run) == (
        "unix:///x", "volume", "rm", True, ["a", "b"], "remove"
    )  # fmt: skip
    assert root.parse_args([]).command is None
    with pytest.raises(SystemExit) as exit_:
        root.parse_args(["volume"])
    assert exit_.value.code == 2


def test_help_prints_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser("run").parse_args(["run", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: estiba run [OPTIONS] IMAGE [COMMAND...]\n")
    assert "  -h, --hostname HOSTNAME\n" in out
    assert "  --rm                  remove the container when it exits\n" in out


def test_every_command_builds_and_reads_its_help() -> None:
    root = build_parser()
    assert root.subcommands is not None
    for name, parser in root.subcommands.choices.items():
        assert parser.format_help().startswith(f"usage: estiba {name}")


def test_only_the_command_being_run_is_built() -> None:
    """Each command word builds its own parser, the one the full parser has, and no other."""
    full = build_parser().subcommands
    assert full is not None
    assert set(full.choices) == set(COMMANDS)
    for word in COMMANDS:
        own = build_parser(word).subcommands
        assert own is not None
        assert list(own.choices) == [word]
        assert own.choices[word].format_help() == full.choices[word].format_help()


def test_declarations_on_a_command_not_run_are_dropped() -> None:
    root = flags.Parser(prog="estiba")
    sub = root.add_subparsers(dest="command", only="start")
    other = sub.add_parser("stop")
    other.add_argument("-t", "--time", type=int)
    other.add_subparsers(dest="verb").add_parser("x").add_argument("y")
    start = sub.add_parser("start")
    start.add_argument("name")
    assert list(sub.choices) == ["start"]
    assert root.parse_args(["start", "web"]).name == "web"
    with pytest.raises(SystemExit):
        root.parse_args(["stop", "web"])
