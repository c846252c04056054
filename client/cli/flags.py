"""Command lines read the way docker reads them, declared the way argparse declares them.

Commands declare their arguments with argparse's calls (``add_parser``, ``add_argument``,
``add_subparsers``, ``set_defaults``) and the part of its vocabulary the CLI uses; the command
line is then read as docker's flag library reads it:

- ``--name value``, ``--name=value``, ``-n value``, ``-nvalue``, switches grouped (``-it``,
  ``-itd``), the last of a group taking a value (``-ePATH=/x``, ``-ie X``); a value is the next
  word whatever it looks like (``--stop-signal -9`` is not an error); ``--`` ends the options;
- switches take ``=true``/``=false`` (``--rm=false``);
- options and positionals mix in any order, except that once the positionals before a
  ``REMAINDER`` are given, every word left is the remainder's (``run -d IMAGE ls -l``);
- no abbreviations of long options (docker has none: ``--net`` is a flag of its own).

argparse itself costs a command 10 ms of imports (``re``, ``enum``, ``gettext``) and 3 ms more to
build ``run``'s parser; this module costs a fraction of that. A usage error prints the command's
usage and ``estiba: error: ...`` on stderr and exits 2, which the CLI turns into docker's 125.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

REMAINDER = "..."
SWITCH_VALUES = {"true": True, "1": True, "t": True, "false": False, "0": False, "f": False}
HELP_WIDTH = 24  # where option help starts, as argparse aligns it


class UsageError(Exception):
    """A command line the parser cannot read; ``parser`` is whose usage to show."""

    def __init__(self, parser: Parser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class Namespace:
    """The parsed arguments, as attributes."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Namespace) and vars(self) == vars(other)

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__

    def __repr__(self) -> str:
        return "Namespace(" + ", ".join(f"{k}={v!r}" for k, v in vars(self).items()) + ")"

    if TYPE_CHECKING:  # any attribute, as for argparse's namespace

        def __getattr__(self, name: str) -> Any: ...


class BooleanOptionalAction:
    """``--x`` sets True and ``--no-x`` False (argparse's name for the kind)."""


class Argument:
    """One declared argument: an option (``option_strings`` set) or a positional."""

    __slots__ = (
        "action",
        "choices",
        "default",
        "dest",
        "help",
        "metavar",
        "nargs",
        "option_strings",
        "required",
        "type",
    )  # fmt: skip

    def __init__(
        self,
        option_strings: list[str],
        dest: str,
        action: str,
        nargs: int | str | None,
        default: Any,
        type: Callable[[str], Any] | None,  # argparse's keyword
        choices: Sequence[Any] | None,
        required: bool,
        metavar: str | None,
        help: str | None,  # argparse's keyword
    ) -> None:
        self.option_strings = option_strings
        self.dest = dest
        self.action = action
        self.nargs = nargs
        self.default = default
        self.type = type
        self.choices = choices
        self.required = required
        self.metavar = metavar
        self.help = help

    @property
    def takes_value(self) -> bool:
        return self.action in ("store", "append")

    def name(self) -> str:
        """How errors and usage call it: its options, or its metavar or dest."""
        if self.option_strings:
            return "/".join(self.option_strings)
        return self.metavar or self.dest

    def convert(self, parser: Parser, text: str) -> Any:
        value: Any = text
        if self.type is not None:
            try:
                value = self.type(text)
            except (TypeError, ValueError):
                kind = getattr(self.type, "__name__", "value")
                raise UsageError(
                    parser, f"argument {self.name()}: invalid {kind} value: {text!r}"
                ) from None
        if self.choices is not None and value not in self.choices:
            options = ", ".join(repr(c) for c in self.choices)
            raise UsageError(
                parser, f"argument {self.name()}: invalid choice: {value!r} (choose from {options})"
            )
        return value


class Subcommands:
    """The commands (or verbs) a parser dispatches to: argparse's ``add_subparsers()``."""

    def __init__(
        self,
        parent: Parser,
        dest: str,
        metavar: str | None,
        required: bool,
        only: str | None = None,
    ) -> None:
        self.parent = parent
        self.dest = dest
        self.metavar = metavar or dest.upper()
        self.required = required
        self.only = only
        self.choices: dict[str, Parser] = {}
        self.helps: dict[str, str] = {}

    def add_parser(self, name: str, *, help: str = "", add_help: bool = True) -> Parser:
        if self.only is not None and name != self.only:
            return _UNUSED  # not the command being run: its flags would never be read
        parser = Parser(prog=f"{self.parent.prog} {name}", description=help, add_help=add_help)
        self.choices[name] = parser
        self.helps[name] = help
        return parser


class Parser:
    """One command's arguments (argparse's ``ArgumentParser``, the part the CLI uses)."""

    def __init__(self, prog: str = "estiba", description: str = "", add_help: bool = True) -> None:
        self.prog = prog
        self.description = description
        self.arguments: list[Argument] = []
        self.options: dict[str, Argument] = {}
        self.positionals: list[Argument] = []
        self.subcommands: Subcommands | None = None
        self.defaults: dict[str, Any] = {}
        if add_help:
            self.add_argument("-h", "--help", action="help", help="show this help")

    # -- declaring ---------------------------------------------------------------------------

    def add_argument(
        self,
        *names: str,
        action: str | type[BooleanOptionalAction] = "store",
        nargs: int | str | None = None,
        default: Any = None,
        type: Callable[[str], Any] | None = None,  # argparse's keyword
        choices: Sequence[Any] | None = None,
        required: bool = False,
        dest: str | None = None,
        metavar: str | None = None,
        help: str | None = None,  # argparse's keyword
    ) -> Argument:
        options = [n for n in names if n.startswith("-")]
        if action is BooleanOptionalAction:
            kind = "boolean"
            options += ["--no-" + n.removeprefix("--") for n in options if n.startswith("--")]
        else:
            kind = str(action)
        if kind not in ("store", "store_true", "append", "help", "boolean"):
            raise ValueError(f"unknown action {kind!r}")
        if not options:
            dest = dest or names[0]
        elif dest is None:
            longs = [n for n in options if n.startswith("--")]
            dest = (longs or options)[0].lstrip("-").replace("-", "_")
        if kind == "store_true" and default is None:
            default = False
        arg = Argument(
            options, dest, kind, 0 if kind in ("store_true", "help", "boolean") else nargs,
            default, type, choices, required, metavar, help,
        )  # fmt: skip
        self.arguments.append(arg)
        if options:
            for option in options:
                self.options[option] = arg
        else:
            if self.positionals and self.positionals[-1].nargs == REMAINDER:
                raise ValueError("a REMAINDER positional must be the last")
            if nargs == REMAINDER and any(p.nargs is not None for p in self.positionals):
                raise ValueError("only single positionals may come before a REMAINDER")
            self.positionals.append(arg)
        return arg

    def add_subparsers(
        self,
        *,
        dest: str,
        metavar: str | None = None,
        required: bool = False,
        only: str | None = None,
    ) -> Subcommands:
        """The commands; with ``only``, just that one is built, the others' declarations are
        dropped (a command's start need not build every other command's parser)."""
        self.subcommands = Subcommands(self, dest, metavar, required, only)
        return self.subcommands

    def set_defaults(self, **values: Any) -> None:
        self.defaults.update(values)

    # -- reading -----------------------------------------------------------------------------

    def parse_args(self, argv: Sequence[str] | None = None) -> Namespace:
        """The arguments of ``argv``; a usage error exits 2 after printing it, as argparse."""
        argv = sys.argv[1:] if argv is None else argv
        namespace = Namespace()
        try:
            self._parse(list(argv), namespace)
        except UsageError as exc:
            sys.stderr.write(exc.parser.format_usage())
            sys.stderr.write(f"{exc.parser.prog}: error: {exc}\n")
            raise SystemExit(2) from None
        return namespace

    def _parse(self, words: list[str], ns: Namespace) -> None:
        for arg in self.arguments:
            if arg.dest not in ns and arg.action != "help":
                default = arg.default
                setattr(ns, arg.dest, list(default) if isinstance(default, list) else default)
        for key, value in self.defaults.items():  # a command's own win over its parent's
            setattr(ns, key, value)
        if self.subcommands is not None and self.subcommands.dest not in ns:
            setattr(ns, self.subcommands.dest, None)
        given: set[str] = set()
        loose: list[str] = []
        fixed = _fixed_before_remainder(self.positionals)
        i = 0
        while i < len(words):
            word = words[i]
            i += 1
            if fixed is not None and len(loose) == fixed:
                loose += words[i - 1 :]  # the remainder: everything left, as it is
                break
            if word == "--":
                loose += words[i:]
                break
            if word.startswith("-") and len(word) > 1:
                i = self._option(words, i, word, ns, given)
                continue
            if self.subcommands is not None and not loose:
                self._dispatch(word, words[i:], ns)
                break
            loose.append(word)
        else:
            if self.subcommands is not None and not loose and self.subcommands.required:
                raise UsageError(
                    self, f"the following arguments are required: {self.subcommands.metavar}"
                )
        missing = [a.name() for a in self.arguments if a.required and a.dest not in given]
        if missing:
            raise UsageError(self, "the following arguments are required: " + ", ".join(missing))
        self._place(loose, ns)

    def _dispatch(self, word: str, rest: list[str], ns: Namespace) -> None:
        assert self.subcommands is not None
        sub = self.subcommands.choices.get(word)
        if sub is None:
            options = ", ".join(repr(c) for c in self.subcommands.choices)
            raise UsageError(
                self,
                f"argument {self.subcommands.metavar}: invalid choice: {word!r} "
                f"(choose from {options})",
            )
        setattr(ns, self.subcommands.dest, word)
        sub._parse(rest, ns)

    def _option(self, words: list[str], i: int, word: str, ns: Namespace, given: set[str]) -> int:
        """Read the option ``word`` (and its value from ``words[i]`` if it takes the next word);
        returns where reading goes on."""
        if word.startswith("--"):
            name, eq, inline = word.partition("=")
            arg = self.options.get(name)
            if arg is None:
                raise UsageError(self, f"unrecognized arguments: {word}")
            if not arg.takes_value:
                self._switch(arg, name, inline if eq else None, ns)
                given.add(arg.dest)
                return i
            if not eq:
                if i >= len(words):
                    raise UsageError(self, f"argument {arg.name()}: expected one argument")
                inline, i = words[i], i + 1
            self._store(arg, inline, ns)
            given.add(arg.dest)
            return i
        for pos in range(1, len(word)):  # a group of short options: -it, -itd, -ePATH=/x
            arg = self.options.get("-" + word[pos])
            if arg is None:
                raise UsageError(self, f"unrecognized arguments: {word}")
            given.add(arg.dest)
            if not arg.takes_value:
                rest = word[pos + 1 :]
                if rest.startswith("="):  # -d=false
                    self._switch(arg, "-" + word[pos], rest[1:], ns)
                    return i
                self._switch(arg, "-" + word[pos], None, ns)
                continue
            value = word[pos + 1 :].removeprefix("=")
            if not word[pos + 1 :]:
                if i >= len(words):
                    raise UsageError(self, f"argument {arg.name()}: expected one argument")
                value, i = words[i], i + 1
            self._store(arg, value, ns)
            return i
        return i

    def _switch(self, arg: Argument, spelled: str, text: str | None, ns: Namespace) -> None:
        if arg.action == "help":
            self.print_help()
            raise SystemExit(0)
        value = True
        if text is not None:
            if text.lower() not in SWITCH_VALUES:
                raise UsageError(self, f"argument {arg.name()}: invalid boolean value: {text!r}")
            value = SWITCH_VALUES[text.lower()]
        if arg.action == "boolean" and spelled.startswith("--no-"):
            value = not value
        setattr(ns, arg.dest, value)

    def _store(self, arg: Argument, text: str, ns: Namespace) -> None:
        value = arg.convert(self, text)
        if arg.action == "append":
            getattr(ns, arg.dest).append(value)
        else:
            setattr(ns, arg.dest, value)

    def _place(self, loose: list[str], ns: Namespace) -> None:
        """Give the positional words to the declared positionals, in order: each takes as many
        as it may while leaving the ones after it their least."""
        least = [_least(p.nargs) for p in self.positionals]
        at = 0
        for n, arg in enumerate(self.positionals):
            after = sum(least[n + 1 :])
            left = len(loose) - at - after
            if left < least[n]:
                names = [p.name() for p in self.positionals[n:] if _least(p.nargs)]
                raise UsageError(self, "the following arguments are required: " + ", ".join(names))
            take = 1 if arg.nargs is None else (min(left, 1) if arg.nargs == "?" else left)
            values = [arg.convert(self, w) for w in loose[at : at + take]]
            at += take
            if arg.nargs is None or arg.nargs == "?":
                setattr(ns, arg.dest, values[0] if values else arg.default)
            else:
                setattr(ns, arg.dest, values)
        if at < len(loose):
            raise UsageError(self, "unrecognized arguments: " + " ".join(loose[at:]))

    # -- help --------------------------------------------------------------------------------

    def format_usage(self) -> str:
        parts = [self.prog]
        if any(a.option_strings for a in self.arguments):
            parts.append("[OPTIONS]")
        for arg in self.positionals:
            name = arg.metavar or arg.dest.upper()
            if arg.nargs is None:
                parts.append(name)
            elif arg.nargs == "?":
                parts.append(f"[{name}]")
            elif arg.nargs == "+":
                parts.append(f"{name} [{name}...]")
            else:
                parts.append(f"[{name}...]")
        if self.subcommands is not None:
            parts.append(f"{self.subcommands.metavar} ...")
        return "usage: " + " ".join(parts) + "\n"

    def format_help(self) -> str:
        lines = [self.format_usage().rstrip()]
        if self.description:
            lines += ["", self.description]
        if self.positionals:
            lines += ["", "Arguments:"]
            lines += [_entry(a.metavar or a.dest, a.help) for a in self.positionals]
        if self.subcommands is not None:
            lines += ["", "Commands:" if self.subcommands.dest == "command" else "Verbs:"]
            lines += [_entry(n, h) for n, h in self.subcommands.helps.items() if n[:1] != "_"]
        options = [a for a in self.arguments if a.option_strings]
        if options:
            lines += ["", "Options:"]
            for arg in options:
                spelled = ", ".join(arg.option_strings)
                if arg.takes_value:
                    spelled += " " + (arg.metavar or arg.dest.upper())
                lines.append(_entry(spelled, arg.help))
        return "\n".join(lines) + "\n"

    def print_help(self) -> None:
        sys.stdout.write(self.format_help())


class _Unused(Parser):
    """Stands in for the parser of a command that is not being run: whatever is declared on it
    is dropped, so that only the command being run pays for building its parser."""

    def __init__(self) -> None:
        super().__init__(prog="", add_help=False)

    def add_argument(self, *names: str, **kwargs: Any) -> Argument:
        return _DROPPED

    def add_subparsers(self, **kwargs: Any) -> Subcommands:
        return Subcommands(self, "", None, False, only="")

    def set_defaults(self, **values: Any) -> None:
        pass


_DROPPED = Argument([], "", "store", None, None, None, None, False, None, None)
_UNUSED = _Unused()


def _least(nargs: int | str | None) -> int:
    return 1 if nargs is None or nargs == "+" else 0


def _fixed_before_remainder(positionals: list[Argument]) -> int | None:
    """How many positional words come before the remainder; None when there is no remainder."""
    if positionals and positionals[-1].nargs == REMAINDER:
        return len(positionals) - 1
    return None


def _entry(name: str, text: str | None) -> str:
    if not text:
        return f"  {name}"
    if len(name) > HELP_WIDTH - 4:  # two spaces before and at least two after
        return f"  {name}\n{' ' * HELP_WIDTH}{text}"
    return f"  {name.ljust(HELP_WIDTH - 2)}{text}"
