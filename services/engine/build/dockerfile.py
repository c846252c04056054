"""The Dockerfile syntax: parser directives, instructions, continuations, comments, heredocs.

The parser only splits the text into instructions and remembers where each came from; it
expands no variables (that needs the build's ARG and ENV state, see ``steps``). Its rules are
Docker's:

- parser directives (``# syntax=...``, ``# escape=\\`` or ``# escape=```) are comments of the
  form ``# key=value`` at the very top; the first other line ends them;
- a line ending in the escape character continues on the next; comment lines and empty lines
  inside a continuation are dropped;
- ``<<EOF`` (``<<-EOF`` strips leading tabs, ``<<"EOF"`` / ``<<'EOF'`` turns off expansion)
  in RUN, COPY and ADD starts a here-document that runs to a line holding only ``EOF``;
- the keyword is case-insensitive; ``--name=value`` flags follow it; the arguments are either
  a JSON array (exec form) or plain text (shell form).
"""

from __future__ import annotations

import dataclasses
import json
import re

from services.kit import errors

KEYWORDS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)  # fmt: skip
HEREDOC_KEYWORDS = ("RUN", "COPY", "ADD")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(
    r"<<(-?)\s*(?:\"([A-Za-z_][\w.-]*)\"|'([A-Za-z_][\w.-]*)'|([A-Za-z_][\w.-]*))"
)
_FLAG = re.compile(r"--([a-z][a-z-]*)(?:=(\S*))?")


class DockerfileError(errors.InvalidArgument):
    """A Dockerfile that cannot be parsed or built as written; names its line."""

    def __init__(self, line: int, why: str, *, name: str = "Dockerfile") -> None:
        super().__init__(f"{name}:{line}: {why}" if line else f"{name}: {why}",
                         reason="DOCKERFILE_INVALID")  # fmt: skip
        self.line = line


@dataclasses.dataclass(frozen=True)
class Heredoc:
    name: str
    content: str
    expand: bool
    """False when the delimiter was quoted: the content is taken as written."""


@dataclasses.dataclass(frozen=True)
class Instruction:
    keyword: str
    """Upper case: FROM, RUN, ..."""
    text: str
    """The arguments after the flags, continuations joined (heredoc bodies left out)."""
    line: int
    """The line the instruction starts on (1-based)."""
    original: str
    """The instruction as written on its first line(s), keyword included."""
    flags: tuple[tuple[str, str], ...] = ()
    heredocs: tuple[Heredoc, ...] = ()

    def flag(self, name: str, default: str = "") -> str:
        for key, value in self.flags:
            if key == name:
                return value
        return default

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of the exec form, or None for the shell form."""
        return json_array(self.text)


@dataclasses.dataclass(frozen=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    directives: dict[str, str]
    escape: str = "\\"


def json_array(text: str) -> list[str] | None:
    stripped = text.strip()
    if not stripped.startswith("["):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def parse(source: str | bytes, *, name: str = "Dockerfile") -> Dockerfile:
    text = source.decode("utf-8", errors="replace") if isinstance(source, bytes) else source
    lines = text.removeprefix("\ufeff").splitlines()
    directives, first = _directives(lines, name)
    escape = directives.get("escape", "\\")
    instructions: list[Instruction] = []
    i = first
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        parts = [_strip_continuation(raw, escape)]
        while _continues(lines[i], escape):
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                i += 1
            if i >= len(lines):
                break
            parts.append(_strip_continuation(lines[i], escape))
        i += 1
        logical = "".join(parts).strip()
        keyword, _, rest = logical.partition(" ")
        keyword = keyword.upper()
        if "\t" in keyword:
            keyword, _, more = keyword.partition("\t")
            rest = more + " " + rest
        if keyword not in KEYWORDS:
            raise DockerfileError(start + 1, f"unknown instruction: {keyword}", name=name)
        heredocs: list[Heredoc] = []
        if keyword in HEREDOC_KEYWORDS or (
            keyword == "ONBUILD" and rest.lstrip().split(" ", 1)[0].upper() in HEREDOC_KEYWORDS
        ):
            i = _read_heredocs(lines, i, rest, heredocs, start, name)
        flags, args = split_flags(rest.strip())
        instructions.append(
            Instruction(keyword, args, start + 1, logical, tuple(flags), tuple(heredocs))
        )
    return Dockerfile(tuple(instructions), directives, escape)


def split_flags(rest: str) -> tuple[list[tuple[str, str]], str]:
    """Leading ``--flag=value`` words and the remaining text."""
    flags: list[tuple[str, str]] = []
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        m = _FLAG.fullmatch(word)
        if m is None:
            break
        flags.append((m.group(1), m.group(2) if m.group(2) is not None else "true"))
        rest = after.lstrip()
    return flags, rest


def _directives(lines: list[str], name: str) -> tuple[dict[str, str], int]:
    found: dict[str, str] = {}
    for index, line in enumerate(lines):
        m = _DIRECTIVE.match(line.strip())
        if m is None:
            return found, index
        key, value = m.group(1).lower(), m.group(2)
        if key in found:
            raise DockerfileError(index + 1, f"only one {key} parser directive can be used",
                                  name=name)  # fmt: skip
        if key == "escape" and value not in ("\\", "`"):
            raise DockerfileError(index + 1, f"invalid escape token '{value}' does not match "
                                  "` or \\", name=name)  # fmt: skip
        found[key] = value
    return found, len(lines)


def _continues(line: str, escape: str) -> bool:
    return line.rstrip().endswith(escape) and not line.lstrip().startswith("#")


def _strip_continuation(line: str, escape: str) -> str:
    if _continues(line, escape):
        return line.rstrip()[:-1]
    return line


def _read_heredocs(
    lines: list[str], i: int, rest: str, out: list[Heredoc], start: int, name: str
) -> int:
    """Read the bodies of the heredocs ``rest`` opens from line ``i``; the next line index."""
    for m in _HEREDOC.finditer(rest):
        strip_tabs = m.group(1) == "-"
        delimiter = m.group(2) or m.group(3) or m.group(4)
        quoted = bool(m.group(2) or m.group(3))
        body: list[str] = []
        while True:
            if i >= len(lines):
                raise DockerfileError(start + 1, f"unterminated heredoc {delimiter}", name=name)
            line = lines[i]
            i += 1
            check = line.lstrip("\t") if strip_tabs else line
            if check == delimiter:
                break
            body.append(check)
        content = "\n".join(body) + "\n" if body else ""
        out.append(Heredoc(delimiter, content, not quoted))
    return i


def stages(
    dockerfile: Dockerfile, *, name: str
) -> tuple[list[Instruction], list[list[Instruction]]]:
    """The ARGs before the first FROM (they may only be used in FROM lines), and the stages:
    each a FROM and the instructions after it."""
    meta: list[Instruction] = []
    groups: list[list[Instruction]] = []
    for instruction in dockerfile.instructions:
        if instruction.keyword == "FROM":
            groups.append([instruction])
        elif groups:
            groups[-1].append(instruction)
        elif instruction.keyword == "ARG":
            meta.append(instruction)
        else:
            raise DockerfileError(instruction.line, "no build stage in current context", name=name)
    if not groups:
        raise DockerfileError(0, "the Dockerfile has no FROM", name=name)
    return meta, groups


def stage_name(from_instruction: Instruction) -> str:
    """The stage a ``FROM image AS name`` names, lower case ("" without AS)."""
    words = from_instruction.text.split()
    return words[2].lower() if len(words) == 3 and words[1].upper() == "AS" else ""
