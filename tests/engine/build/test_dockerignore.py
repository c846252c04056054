""".dockerignore matching with Docker's rules."""

from __future__ import annotations

import pytest

from services.engine.build.dockerignore import Matcher
from services.kit import errors

RULES = """
# comment
*.md
!README.md
/build
**/tmp
docs/**/*.txt
!docs/keep/*.txt
  ./spaced/../cleaned//
"""


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("a.md", True),
        ("README.md", False),
        ("sub/a.md", False),  # * stays within one component
        ("build", True),
        ("build/deep/file", True),  # below an excluded directory
        ("builds", False),
        ("tmp", True),  # ** matches zero components
        ("a/b/tmp/c", True),
        ("docs/x.txt", True),
        ("docs/a/b/x.txt", True),
        ("docs/keep/k.txt", False),  # the last matching rule decides
        ("docs/x.png", False),
        ("cleaned/file", True),
        ("Dockerfile", False),
    ],
)
def test_docker_rules(path: str, excluded: bool) -> None:
    assert Matcher.from_text(RULES).excluded(path) is excluded


def test_character_classes_and_question_mark() -> None:
    m = Matcher.from_text("file[0-9].txt\n?.log\n[!a]x\n")
    assert m.excluded("file3.txt")
    assert not m.excluded("fileA.txt")
    assert m.excluded("a.log")
    assert not m.excluded("ab.log")
    assert m.excluded("bx")
    assert not m.excluded("ax")


def test_exclusion_can_take_back_a_file_under_an_excluded_dir() -> None:
    m = Matcher.from_text("vendor\n!vendor/keep.go\n")
    assert m.excluded("vendor/other.go")
    assert not m.excluded("vendor/keep.go")
    assert m.may_include_below("vendor")
    assert not Matcher.from_text("vendor\n").may_include_below("vendor")


def test_bare_exclamation_is_an_error() -> None:
    with pytest.raises(errors.InvalidArgument, match="illegal exclusion"):
        Matcher.from_text("!\n")
