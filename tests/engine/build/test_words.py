"""Variable substitution and quoting as Docker's builder does it."""

from __future__ import annotations

import pytest

from services.engine.build.words import Expander
from services.kit import errors


def test_quotes_escapes_and_variables() -> None:
    e = Expander({"A": "x y", "EMPTY": ""})
    assert e.words('a "$A" \'$A\' \\$A "${A}b"') == ["a", "x y", "$A", "$A", "x yb"]
    assert e.word('k="v $A"') == "k=v x y"
    assert e.used == {"A"}


def test_modifiers() -> None:
    e = Expander({"SET": "v", "EMPTY": ""})
    assert e.word("${SET:-d}|${EMPTY:-d}|${NONE:-d}|${EMPTY-d}|${NONE-d}") == "v|d|d||d"
    assert e.word("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${NONE+alt}") == "alt||alt|"
    with pytest.raises(errors.InvalidArgument, match="NONE: needed"):
        e.word("${NONE:?needed}")


def test_unquoted_values_split_into_words() -> None:
    assert Expander({"FILES": "a b"}).words("$FILES /dest/") == ["a", "b", "/dest/"]


def test_backtick_escape() -> None:
    assert Expander({"A": "1"}, escape="`").word("c:\\dir `$A $A") == "c:\\dir $A 1"


def test_unterminated_quote() -> None:
    with pytest.raises(errors.InvalidArgument, match="double-quote"):
        Expander({}).words('"abc')
