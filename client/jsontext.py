"""JSON for the CLI's requests and the gateway's answers, without the ``json`` package.

``json`` costs a command about 8 ms of start-up: its decoder and encoder import ``re``, and
``re`` imports ``enum``, for patterns that only their pure-Python fallbacks and the decoder's
whitespace skipping use. The work itself is done by ``_json``'s C scanner and encoder, which
this module calls directly, so ``estiba run`` and ``estiba ps`` need neither. Values, texts
and errors are ``json.loads``'s and ``json.dumps``'s: the tests compare them on the same input.
"""

from __future__ import annotations

from _json import encode_basestring_ascii, make_encoder, make_scanner

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


def dumps(value: Any) -> str:
    """``json.dumps(value)``: ASCII, ``", "`` and ``": "`` between items, keys as given."""
    # json.dumps's own C encoder with its defaults: a fresh mark table for circular references,
    # the error for what JSON cannot hold, no indent, separators, unsorted, no skipped keys, NaN
    encode = make_encoder(
        {}, _unencodable, encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return "".join(encode(value, 0))


def _unencodable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(message: str, text: str, at: int) -> ValueError:
    from json import JSONDecodeError  # only a bad answer pays for the json package

    return JSONDecodeError(message, text, at)
