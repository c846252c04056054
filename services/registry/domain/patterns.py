"""Repository patterns of grants, anonymous pull and retention rules, and which one wins.

A pattern is a repository name in which ``*`` stands for any characters within one path
component and ``**`` for any characters across components: ``team-a/**`` covers every
repository under ``team-a/``, ``team-a/app-*`` covers ``team-a/app-web`` but not
``team-a/app-web/x``, ``**`` covers everything. When several patterns cover a repository the
most specific wins: the one with the most literal characters, then the one with fewer
wildcards; an exact name is therefore always most specific.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import TypeVar

from services.kit import errors

_COMPONENT = r"[a-z0-9*][a-z0-9._*-]*"
_PATTERN = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
MAX_PATTERN_LENGTH = 255
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Pattern:
    text: str
    regex: re.Pattern[str]
    specificity: tuple[int, int]
    """(literal characters, minus the number of wildcards): larger is more specific."""

    def matches(self, name: str) -> bool:
        return self.regex.fullmatch(name) is not None


@functools.lru_cache(maxsize=4096)
def parse_pattern(text: str) -> Pattern:
    """The pattern ``text``, or INVALID_ARGUMENT (reason PATTERN_INVALID) saying why not."""
    if len(text) > MAX_PATTERN_LENGTH or not _PATTERN.fullmatch(text) or "***" in text:
        raise errors.InvalidArgument(
            f"invalid repository pattern {text[:80]!r}: a repository name in which '*' matches "
            "within one path component and '**' across components",
            reason="PATTERN_INVALID",
        )
    parts: list[str] = []
    literal = wildcards = 0
    for piece in re.split(r"(\*\*|\*)", text):
        if piece == "**":
            parts.append(".*")
            wildcards += 1
        elif piece == "*":
            parts.append("[^/]*")
            wildcards += 1
        elif piece:
            parts.append(re.escape(piece))
            literal += len(piece)
    return Pattern(text, re.compile("".join(parts)), (literal, -wildcards))


def most_specific(name: str, candidates: list[tuple[Pattern, T]]) -> list[T]:
    """The values of the most specific patterns among ``candidates`` covering ``name``."""
    best: tuple[int, int] | None = None
    found: list[T] = []
    for pattern, value in candidates:
        if not pattern.matches(name):
            continue
        if best is None or pattern.specificity > best:
            best, found = pattern.specificity, [value]
        elif pattern.specificity == best:
            found.append(value)
    return found
