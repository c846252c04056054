from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from client import jsontext

TEXTS = [
    '{"Id": "abc", "Names": ["/web"], "Ports": [], "SizeRw": 0, "Labels": null}',
    '[1, -2, 3.5, 1e400, -0.0, true, false, null, "\\u00e9\\n\\"", {}]',
    '  \n{"nested": {"a": [{"b": []}]}}\r\n',
    '"text"',
    "12",
    "[-Infinity, Infinity]",
]
BAD = ["", "   ", "[1", '{"a":}', "[1] x", '{"a":1}{', "nul", '"\x01"', "{'a': 1}", "[1,]"]


@pytest.mark.parametrize("text", TEXTS)
def test_values_are_json_loads_values(text: str) -> None:
    assert jsontext.loads(text) == json.loads(text)
    assert jsontext.loads(text.encode()) == json.loads(text)


def test_nan_is_a_float() -> None:
    assert math.isnan(jsontext.loads("[NaN]")[0])


@pytest.mark.parametrize("text", BAD)
def test_errors_are_json_loads_errors(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as ours:
        jsontext.loads(text)
    assert str(ours.value) == str(theirs.value)


VALUES = [
    {"Image": "busybox", "Cmd": ["sh", "-c", 'echo \u00e9 "x"\n'], "Env": None, "Tty": False},
    [1, 2.5, -0.0, 1e400, True, None, {"nested": {"a": []}}],
    "text",
    {1: "int keys", "k": (1, 2)},
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_is_json_dumps(value: object) -> None:
    assert jsontext.dumps(value) == json.dumps(value)


def test_dumps_errors_are_json_dumps_errors() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        jsontext.dumps({"a": object()})
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        jsontext.dumps(loop)
    assert jsontext.dumps(loop[:0]) == "[]"  # a fresh check each call


def test_imports_neither_json_nor_re() -> None:
    code = (
        "import sys; from client import jsontext; jsontext.loads('{\"a\": [1]}'); "
        "jsontext.dumps({'a': [1.5, None]}); "
        "print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
