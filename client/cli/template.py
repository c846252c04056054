"""A small Go ``text/template`` for ``--format``: the part of it people type at a shell.

Docker users carry format strings from one tool to the next (``{{.Names}}``, ``{{json .}}``,
``{{range .Mounts}}{{.Source}} {{end}}``, ``{{index .Config.Labels "k"}}``), so they must mean
here what they mean to ``docker``. Covered: text and actions with ``{{-``/``-}}`` trimming, field
chains on ``.`` and on variables, literals, pipelines, parenthesised calls, ``if``/``else if``/
``else``, ``range`` (with ``$i, $v :=`` and ``else``), ``with``, and the functions of Go's
templates plus Docker's own (``json``, ``join``, ``split``, ``upper``, ``lower``, ``title``,
``pad``, ``truncate``). Values are what JSON decodes to; a value may also be a callable, which
is how a row offers Docker's methods with arguments (``{{.Label "k"}}``).

Kept stdlib-only and import-light: the CLI starts in about a tenth of a second.
"""

from __future__ import annotations

import json as _json
import re

from client.cli.lazy import Lazy

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

NO_VALUE = "<no value>"


class TemplateError(ValueError):
    """A format string that does not parse or does not apply to the value given."""


# -- lexing --------------------------------------------------------------------------------

_TOKEN_RE = r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<assign>:=)
    | (?P<punct>[|(),=])
    | (?P<var>\$\w*(?:\.\w+)*)
    | (?P<field>(?:\.\w+)+|\.)
    | (?P<ident>\w+)
    )"""
_compiled: list[re.Pattern[str]] = []


def _token_re() -> re.Pattern[str]:
    """Compiled on first need: the common ``{{.Field}}`` never needs it (start-up time)."""
    if not _compiled:
        _compiled.append(re.compile(_TOKEN_RE, re.VERBOSE))
    return _compiled[0]


class _Tok:
    __slots__ = ("kind", "text")

    def __init__(self, kind: str, text: str) -> None:
        self.kind, self.text = kind, text


def _tokens(action: str) -> list[_Tok]:
    action = action.strip()
    if action.startswith(".") and action.replace(".", "").replace("_", "").isalnum():
        return [_Tok("field", action)]  # the usual {{.Field.Sub}}, without the regex
    out: list[_Tok] = []
    pos = 0
    token = _token_re()
    while pos < len(action):
        m = token.match(action, pos)
        if m is None or m.end() == pos:
            raise TemplateError(f"unexpected {action[pos:].strip()[:10]!r} in {{{{{action}}}}}")
        kind = m.lastgroup or ""
        out.append(_Tok(kind, m.group(kind)))
        pos = m.end()
        # a field chain may follow a closing parenthesis: (index .A 0).Name
        if kind == "punct" and m.group(kind) == ")" and action[pos : pos + 1] == ".":
            f = re.compile(r"(?:\.\w+)+").match(action, pos)
            if f:
                out.append(_Tok("chain", f.group(0)))
                pos = f.end()
    return out


def _split(text: str) -> Iterator[tuple[str, str]]:
    """("text", literal) and ("action", source) pieces, trim markers applied."""
    pos = 0
    pending_trim = False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if start >= 0 and text.startswith("{{- ", start):
            chunk = chunk.rstrip()
        if pending_trim:
            chunk = chunk.lstrip()
        if chunk:
            yield "text", chunk
        if start < 0:
            return
        end = text.find("}}", start + 2)
        if end < 0:
            raise TemplateError("unclosed action: missing }}")
        inner = text[start + 2 : end]
        if inner.startswith("- "):
            inner = inner[2:]
        pending_trim = inner.endswith(" -")
        if pending_trim:
            inner = inner[:-2]
        yield "action", inner.strip()
        pos = end + 2


# -- parsing -------------------------------------------------------------------------------


class _Pipe:
    """``$a, $b := cmd args | cmd args``; each command is a list of operands."""

    __slots__ = ("commands", "decl")

    def __init__(self, commands: list[list[Any]], decl: list[str]) -> None:
        self.commands, self.decl = commands, decl


class _Field:
    """``.A.B`` on dot (base None), on a variable (base "$x") or on a sub-pipeline."""

    __slots__ = ("base", "names")

    def __init__(self, base: Any, names: list[str]) -> None:
        self.base, self.names = base, names


class _Func:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Lit:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Block:
    """``if``, ``range`` or ``with``: its pipeline, its body and its ``else`` part."""

    __slots__ = ("body", "kind", "otherwise", "pipe")

    def __init__(self, kind: str, pipe: _Pipe, body: list[Any]) -> None:
        self.kind, self.pipe, self.body = kind, pipe, body
        self.otherwise: list[Any] = []


def _operand(toks: list[_Tok], i: int) -> tuple[Any, int]:
    t = toks[i]
    if t.kind == "str":
        try:
            return _Lit(_json.loads(t.text)), i + 1
        except ValueError as exc:
            raise TemplateError(f"bad string {t.text}") from exc
    if t.kind == "raw":
        return _Lit(t.text[1:-1]), i + 1
    if t.kind == "num":
        return _Lit(float(t.text) if "." in t.text else int(t.text)), i + 1
    if t.kind == "field":
        return _Field(None, [n for n in t.text.split(".") if n]), i + 1
    if t.kind == "var":
        name, *names = t.text.split(".")
        return _Field(name, names), i + 1
    if t.kind == "ident":
        if t.text in ("true", "false"):
            return _Lit(t.text == "true"), i + 1
        if t.text == "nil":
            return _Lit(None), i + 1
        if t.text not in FUNCTIONS:
            raise TemplateError(f'function "{t.text}" not defined')
        return _Func(t.text), i + 1
    if t.kind == "punct" and t.text == "(":
        depth, j = 1, i + 1
        while j < len(toks) and depth:
            depth += {"(": 1, ")": -1}.get(toks[j].text if toks[j].kind == "punct" else "", 0)
            j += 1
        if depth:
            raise TemplateError("unclosed parenthesis")
        inner = _pipe(toks[i + 1 : j - 1])
        if j < len(toks) and toks[j].kind == "chain":
            return _Field(inner, [n for n in toks[j].text.split(".") if n]), j + 1
        return _Field(inner, []), j
    raise TemplateError(f"unexpected {t.text!r}")


def _pipe(toks: list[_Tok]) -> _Pipe:
    decl: list[str] = []
    assign = next((k for k, t in enumerate(toks) if t.kind == "assign"), -1)
    if assign >= 0:
        decl = [t.text for t in toks[:assign] if t.kind == "var"]
        toks = toks[assign + 1 :]
    commands: list[list[Any]] = [[]]
    i = 0
    while i < len(toks):
        if toks[i].kind == "punct" and toks[i].text == "|":
            commands.append([])
            i += 1
            continue
        operand, i = _operand(toks, i)
        commands[-1].append(operand)
    if any(not c for c in commands):
        raise TemplateError("missing value in pipeline")
    return _Pipe(commands, decl)


def parse(text: str) -> list[Any]:
    """The template's tree: text strings, pipelines and blocks."""
    root: list[Any] = []
    # open blocks: (block, in its else part, opened by "else if" so closed by the same end)
    stack: list[tuple[_Block, bool, bool]] = []
    target = root
    for kind, piece in _split(text):
        if kind == "text":
            target.append(piece)
            continue
        if piece.startswith("/*"):
            continue
        word, _, rest = piece.partition(" ")
        if word in ("if", "range", "with"):
            block = _Block(word, _pipe(_tokens(rest)), [])
            target.append(block)
            stack.append((block, False, False))
            target = block.body
        elif word == "else":
            if not stack or stack[-1][1]:
                raise TemplateError("unexpected {{else}}")
            block, _, chained = stack.pop()
            stack.append((block, True, chained))
            target = block.otherwise
            if rest.startswith("if "):
                nested = _Block("if", _pipe(_tokens(rest[3:])), [])
                target.append(nested)
                stack.append((nested, False, True))
                target = nested.body
        elif word == "end":
            if not stack:
                raise TemplateError("unexpected {{end}}")
            while stack and stack.pop()[2]:
                pass
            if stack:
                block, in_else, _ = stack[-1]
                target = block.otherwise if in_else else block.body
            else:
                target = root
        else:
            target.append(_pipe(_tokens(piece)))
    if stack:
        raise TemplateError("unexpected end of template: missing {{end}}")
    return root


# -- evaluation ----------------------------------------------------------------------------


def truth(value: Any) -> bool:
    """Go's notion: false, 0, nil and empty things are false."""
    if callable(value):
        return True
    return bool(value)


def text_of(value: Any) -> str:
    """How Go's fmt prints a JSON-decoded value (``%v``)."""
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, dict):
        items = " ".join(f"{k}:{_inner(value[k])}" for k in sorted(value))
        return f"map[{items}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_inner(v) for v in value) + "]"
    return str(value)


def _inner(value: Any) -> str:
    return "<nil>" if value is None else text_of(value)


def plain(value: Any) -> Any:
    return _plain(value)


def to_json(value: Any) -> str:
    """Docker's ``json`` function: compact, with callables (row methods) left out."""
    return _json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    """JSON-ready: lazy values worked out, methods (callables that take arguments) left out."""
    if isinstance(value, Lazy):
        return _plain(value())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if isinstance(v, Lazy) or not callable(v)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        mapping = getattr(value, "mapping", None)  # a row's Labels: text that is also a map
        if isinstance(mapping, dict):
            value = mapping.get(key, "")
        elif isinstance(value, dict):
            value = value.get(key, "")  # Go's zero value, as docker's typed maps give
        elif isinstance(value, list | tuple | str):
            try:
                value = value[int(key)]
            except (IndexError, ValueError) as exc:
                raise TemplateError(f"index {key} out of range") from exc
        elif value is None:
            return None
        else:
            raise TemplateError(f"can't index item of type {type(value).__name__}")
    return value


def _printf(fmt: str, *args: Any) -> str:
    converted = re.sub(r"%(-?\d*)v", r"%\1s", fmt)
    shown = tuple(text_of(a) if isinstance(a, dict | list | bool) or a is None else a for a in args)
    try:
        return converted % shown
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"printf: {exc}") from exc


def _eq(a: Any, *others: Any) -> bool:
    return any(a == b for b in others)


def _slice(value: Any, *bounds: int) -> Any:
    return value[slice(*bounds)]


def _pad(value: Any, left: int, right: int) -> str:
    return " " * left + text_of(value) + " " * right


def _truncate(value: Any, length: int) -> str:
    return text_of(value)[:length]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "join": lambda items, sep: sep.join(text_of(i) for i in items or []),
    "split": lambda s, sep: s.split(sep),
    "upper": lambda s: text_of(s).upper(),
    "lower": lambda s: text_of(s).lower(),
    "title": lambda s: text_of(s).title(),
    "pad": _pad,
    "truncate": _truncate,
    "index": _index,
    "len": lambda v: len(v) if v is not None else 0,
    "print": lambda *a: "".join(text_of(x) for x in a),
    "println": lambda *a: " ".join(text_of(x) for x in a) + "\n",
    "printf": _printf,
    "not": lambda v: not truth(v),
    "and": lambda *a: next((v for v in a if not truth(v)), a[-1]),
    "or": lambda *a: next((v for v in a if truth(v)), a[-1]),
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "slice": _slice,
}


class _Scope:
    def __init__(self, dot: Any, variables: dict[str, Any]) -> None:
        self.dot = dot
        self.vars = variables

    def child(self, dot: Any) -> _Scope:
        return _Scope(dot, dict(self.vars))


def _lookup(value: Any, names: list[str], args: list[Any]) -> Any:
    called = False
    for k, name in enumerate(names):
        last = k == len(names) - 1
        if isinstance(value, dict):
            if name not in value:
                value = None
                continue
            value = value[name]
        elif value is None:
            return None
        else:
            raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
        if callable(value):
            called = last
            value = value(*args) if last else value()
    if args and not called:
        raise TemplateError(f"{names[-1]} is not a method but has arguments")
    return value


def _eval_operand(op: Any, scope: _Scope, args: list[Any] | None = None) -> Any:
    args = args or []
    if isinstance(op, _Lit):
        return op.value
    if isinstance(op, _Func):
        return FUNCTIONS[op.name]
    assert isinstance(op, _Field)
    if op.base is None:
        base = scope.dot
    elif isinstance(op.base, _Pipe):
        base = _eval_pipe(op.base, scope)
    else:
        if op.base == "$":
            base = scope.vars["$"]
        elif op.base in scope.vars:
            base = scope.vars[op.base]
        else:
            raise TemplateError(f'undefined variable "{op.base}"')
    return _lookup(base, op.names, args) if op.names else base


def _eval_pipe(pipe: _Pipe, scope: _Scope) -> Any:
    value: Any = None
    for n, command in enumerate(pipe.commands):
        first, rest = command[0], command[1:]
        args = [_eval_operand(a, scope) for a in rest]
        if n > 0:
            args.append(value)
        if isinstance(first, _Func):
            try:
                value = FUNCTIONS[first.name](*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                raise TemplateError(f"error calling {first.name}: {exc}") from exc
        elif isinstance(first, _Field) and first.names:
            value = _eval_operand(first, scope, args)
        else:
            if args:
                raise TemplateError("can't give argument to non-function")
            value = _eval_operand(first, scope)
    for name in pipe.decl:
        scope.vars[name] = value
    return value


def _render(nodes: list[Any], scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Pipe):
            value = _eval_pipe(node, scope)
            if not node.decl:
                out.append(text_of(value))
        elif isinstance(node, _Block):
            _render_block(node, scope, out)


def _render_block(block: _Block, scope: _Scope, out: list[str]) -> None:
    otherwise = block.otherwise
    if block.kind == "range":
        decl, block.pipe.decl = block.pipe.decl, []
        value = _eval_pipe(block.pipe, scope)
        block.pipe.decl = decl
        items: list[tuple[Any, Any]]
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif value is None:
            items = []
        elif isinstance(value, int):
            items = [(i, i) for i in range(value)]
        else:
            raise TemplateError(f"range can't iterate over {text_of(value)}")
        if not items:
            _render(otherwise, scope, out)
        for key, item in items:
            inner = scope.child(item)
            if len(decl) == 1:
                inner.vars[decl[0]] = item
            elif len(decl) == 2:
                inner.vars[decl[0]], inner.vars[decl[1]] = key, item
            _render(block.body, inner, out)
        return
    value = _eval_pipe(block.pipe, scope)
    if truth(value):
        _render(block.body, scope.child(value) if block.kind == "with" else scope, out)
    else:
        _render(otherwise, scope, out)


class Template:
    """A parsed format string; ``render(value)`` applies it to one object."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._tree = parse(text)

    def render(self, value: Any) -> str:
        out: list[str] = []
        _render(self._tree, _Scope(value, {"$": value}), out)
        return "".join(out)
