"""``.dockerignore``: which files of a build context the builder never sees.

Docker's rules: one pattern per line; ``#`` lines and blank lines are ignored; surrounding
whitespace is trimmed; a pattern is cleaned like a path (``./a//b/`` is ``a/b``, a leading ``/``
is dropped) and matched against paths relative to the context root. ``*`` matches within one
path component, ``?`` one character, ``[a-z]`` a class, ``\\`` escapes, and ``**`` any number
of components, none included. A pattern that matches a directory matches everything below it.
``!pattern`` takes a path back in; of all the patterns that match, the last one decides.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re

from services.kit import errors


@dataclasses.dataclass(frozen=True)
class Rule:
    pattern: str
    exclusion: bool
    regex: re.Pattern[str]
    depth: int
    """How many components the pattern has, so a path is tested with at most that many."""


def clean(path: str) -> str:
    cleaned = posixpath.normpath(path) if path else "."
    return cleaned.lstrip("/") or "."


def compile_pattern(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            if end < 0:
                raise errors.InvalidArgument(
                    f"invalid .dockerignore pattern {pattern!r}: syntax error in pattern",
                    reason="DOCKERIGNORE_INVALID",
                )
            body = pattern[i + 1 : end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out))


def parse(text: str | bytes) -> list[Rule]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
            if not line:
                raise errors.InvalidArgument(
                    'illegal exclusion pattern: "!"', reason="DOCKERIGNORE_INVALID"
                )
        pattern = clean(line)
        depth = 10**6 if "**" in pattern else pattern.count("/") + 1
        rules.append(Rule(pattern, exclusion, compile_pattern(pattern), depth))
    return rules


class Matcher:
    """Whether a context path (relative, ``/``-separated) is excluded by the rules."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.has_exclusions = any(r.exclusion for r in rules)

    @classmethod
    def from_text(cls, text: str | bytes) -> Matcher:
        return cls(parse(text))

    def excluded(self, path: str) -> bool:
        if not self.rules:
            return False
        path = clean(path)
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for rule in self.rules:
            candidates = prefixes[: rule.depth] if rule.depth < len(prefixes) else prefixes
            if any(rule.regex.match(p) for p in candidates):
                result = not rule.exclusion
        return result

    def may_include_below(self, directory: str) -> bool:
        """False when ``directory`` is excluded and no ``!`` rule could take a path below it
        back (a directory can then be skipped whole)."""
        return not self.excluded(directory) or self.has_exclusions
