"""Docker's shell-like word rules for Dockerfile arguments: quotes, escapes and ``$`` variables.

Instructions other than RUN, CMD and ENTRYPOINT have their arguments expanded by the builder
itself (the shell never sees them). Single quotes keep text literal, double quotes keep spaces
but expand variables, the escape character (``\\`` or the ``# escape`` directive's backtick)
protects the next character. ``$name``, ``${name}`` and the modifiers ``:-``, ``-``, ``:+``,
``+``, ``:?``, ``?`` are understood; a variable nobody set expands to nothing, as in Docker.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.kit import errors


class Expander:
    """Expands words against ``env``; remembers which names it looked up (for unused-ARG
    warnings and for knowing which build args a step depends on)."""

    def __init__(self, env: Mapping[str, str], escape: str = "\\") -> None:
        self.env = env
        self.escape = escape
        self.used: set[str] = set()

    def words(self, text: str) -> list[str]:
        """Split on unquoted whitespace, then expand and remove quotes in each word."""
        return [w for w, _ in self._scan(text, split=True) if w is not None]

    def word(self, text: str) -> str:
        """One word: expand and remove quotes, keep whitespace."""
        out = self._scan(text, split=False)
        return out[0][0] or "" if out else ""

    def text(self, text: str) -> str:
        """Variables only (heredoc bodies): quotes are kept as written, ``\\$`` is a dollar."""
        out: list[str] = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch == self.escape and text[i + 1 : i + 2] == "$":
                out.append("$")
                i += 2
            elif ch == "$":
                i = self._dollar(text, i + 1, out)
            else:
                out.append(ch)
                i += 1
        return "".join(out)

    def _scan(self, text: str, *, split: bool) -> list[tuple[str | None, bool]]:
        words: list[tuple[str | None, bool]] = []
        current: list[str] = []
        started = False
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if split and ch in " \t\r\n":
                if started:
                    words.append(("".join(current), True))
                    current, started = [], False
                i += 1
                continue
            started = True
            if ch == self.escape:
                if i + 1 < n:
                    current.append(text[i + 1])
                    i += 2
                else:
                    current.append(ch)
                    i += 1
            elif ch == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise errors.InvalidArgument(
                        f"unexpected end of statement while looking "
                        f"for matching single-quote in {text!r}"
                    )
                current.append(text[i + 1 : end])
                i = end + 1
            elif ch == '"':
                i = self._double(text, i + 1, current)
            elif ch == "$":
                value: list[str] = []
                i = self._dollar(text, i + 1, value)
                if not split:
                    current += value
                    continue
                for part_index, part in enumerate("".join(value).split()):
                    if part_index:  # an unquoted value with spaces makes several words
                        words.append(("".join(current), True))
                        current = []
                    current.append(part)
                if value and "".join(value)[-1:].isspace():
                    words.append(("".join(current), True))
                    current, started = [], False
            else:
                current.append(ch)
                i += 1
        if started or not split:
            words.append(("".join(current), True))
        return words

    def _double(self, text: str, i: int, out: list[str]) -> int:
        n = len(text)
        while i < n:
            ch = text[i]
            if ch == '"':
                return i + 1
            if ch == self.escape and i + 1 < n and text[i + 1] in ('"', "$", self.escape):
                out.append(text[i + 1])
                i += 2
            elif ch == "$":
                i = self._dollar(text, i + 1, out)
            else:
                out.append(ch)
                i += 1
        raise errors.InvalidArgument(
            f"unexpected end of statement while looking for matching double-quote in {text!r}"
        )

    def _dollar(self, text: str, i: int, out: list[str]) -> int:
        n = len(text)
        if i < n and text[i] == "{":
            return self._braced(text, i + 1, out)
        j = i
        while j < n and (text[j].isalnum() or text[j] == "_"):
            j += 1
        if j == i:
            out.append("$")
            return i
        out.append(self._lookup(text[i:j]))
        return j

    def _braced(self, text: str, i: int, out: list[str]) -> int:
        depth, j = 1, i
        while j < len(text) and depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        if depth:
            raise errors.InvalidArgument(f"missing '}}' in {text!r}")
        body = text[i : j - 1]
        k = 0
        while k < len(body) and (body[k].isalnum() or body[k] == "_"):
            k += 1
        name, rest = body[:k], body[k:]
        if not name:
            raise errors.InvalidArgument(f"bad substitution in {text!r}")
        value = self._lookup(name)
        is_set = name in self.env
        if not rest:
            out.append(value)
        elif rest[:2] in (":-", ":+", ":?") or rest[:1] in ("-", "+", "?"):
            colon = rest.startswith(":")
            op, word = (rest[1], rest[2:]) if colon else (rest[0], rest[1:])
            present = bool(value) if colon else is_set
            nested = Expander(self.env, self.escape)
            if op == "-":
                out.append(value if present else nested.word(word))
            elif op == "+":
                out.append(nested.word(word) if present else "")
            else:
                if not present:
                    raise errors.InvalidArgument(f"{name}: {nested.word(word) or 'is not set'}")
                out.append(value)
            self.used |= nested.used
        else:
            raise errors.InvalidArgument(f"unsupported modifier ({rest}) in substitution")
        return j

    def _lookup(self, name: str) -> str:
        self.used.add(name)
        return self.env.get(name, "")


def split_raw(text: str, escape: str = "\\") -> list[str]:
    """Split on unquoted whitespace but keep quotes and escapes (ENV and LABEL pairs are split
    first and expanded word by word, as Docker does)."""
    out: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and i + 1 < len(text) and quote != "'":
            current.append(text[i : i + 2])
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch.isspace():
            if current:
                out.append("".join(current))
                current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    if current:
        out.append("".join(current))
    return out
