"""``ps`` and ``images`` with only their switches, run before the full parser is built.

These are the commands people type most and scripts run in loops, and with only their on/off
switches (``-a``, ``-q``, ``--no-trunc``, ...) their command lines are simple to read: this
module reads them and hands ``client.cli.listings`` what the full parser would have. The full
parser imports the command's module (for ``ps``, every container command's) and declares all
its flags, a fifth of a listing's time. Any other command line (a flag taking a value,
``--help``, a typo) is left to the full parser, which reports errors too, so both paths take
the same arguments to the same output.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from collections.abc import Callable

    from client.transport import Transport

# command → (its switches by spelling → attribute, short letters, positionals allowed)
SWITCHES: dict[str, tuple[dict[str, str], str, int]] = {
    "ps": (
        {"--all": "all", "--quiet": "quiet", "--no-trunc": "no_trunc", "--size": "size",
         "--latest": "latest", "-a": "all", "-q": "quiet", "-s": "size", "-l": "latest"},
        "aqsl",
        0,
    ),
    "images": (
        {"--all": "all", "--quiet": "quiet", "--no-trunc": "no_trunc", "--digests": "digests",
         "-a": "all", "-q": "quiet"},
        "aq",
        1,
    ),
}  # fmt: skip


class Args:
    """The namespace the full parser would make for these commands, with their defaults."""

    def __init__(self) -> None:
        self.host: str | None = None
        self.all = self.quiet = self.no_trunc = self.size = self.latest = self.digests = False
        self.filter: list[str] = []
        self.last = -1
        self.format = ""
        self.reference: str | None = None


def parse(argv: list[str]) -> tuple[Args, Callable[[Args, Transport], int]] | None:
    """The arguments and the listing to run, or None when the full parser must read ``argv``."""
    args = Args()
    words = list(argv)
    while words and (words[0] in ("-H", "--host") or words[0].startswith("--host=")):
        word = words.pop(0)
        if "=" in word:
            args.host = word.partition("=")[2]
        elif words:
            args.host = words.pop(0)
        else:
            return None
    if not words or words[0] not in SWITCHES:
        return None
    command, *rest = words
    spellings, letters, positionals = SWITCHES[command]
    for word in rest:
        if word in spellings:
            setattr(args, spellings[word], True)
        elif word.startswith("-") and not word.startswith("--") and len(word) > 2:
            if not all(letter in letters for letter in word[1:]):
                return None
            for letter in word[1:]:
                setattr(args, spellings["-" + letter], True)
        elif word and not word.startswith("-") and positionals:
            args.reference = word
            positionals -= 1
        else:
            return None
    from client.cli import listings  # only a listing pays for its modules

    return args, listings.ps if command == "ps" else listings.images
