"""JSON text to Python values, for the CLI's reads of the gateway's answers.

The ``json`` package costs a command about 8 ms of start-up: its decoder imports ``re``, and
``re`` imports ``enum``, for patterns that only its pure-Python fallback and its whitespace
skipping use. The decoding itself is ``_json``'s C scanner, which this module calls directly,
so ``estiba ps`` and ``estiba images`` need neither. Values and errors are ``json.loads``'s:
the tests compare the two on the same texts. Encoding (request bodies) still uses ``json``.
"""

from __future__ import annotations

from _json import make_scanner

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _Options:
    """What the scanner reads from its context: ``json.JSONDecoder()``'s defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}


# typeshed types the context as a JSONDecoder; the scanner reads only the attributes above
_scan = make_scanner(_Options())  # type: ignore[arg-type]


def loads(data: str | bytes) -> Any:
    """The value of one JSON document; ValueError (``json.JSONDecodeError``) when it is not."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        raise _error("Expecting value", text, exc.value) from None
    if text[end:].strip(WHITESPACE):
        raise _error("Extra data", text, end + len(text[end:]) - len(text[end:].lstrip(WHITESPACE)))
    return value


def _error(message: str, text: str, at: int) -> ValueError:
    from json import JSONDecodeError  # only a bad answer pays for the json package

    return JSONDecodeError(message, text, at)
