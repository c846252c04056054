"""What the metadata instructions write into the image config (Docker's ``Config`` object).

ENV, LABEL and ARG take ``key=value`` pairs (or the old ``key value`` form), EXPOSE ports and
ranges, VOLUME a JSON list or words, HEALTHCHECK its options with Go durations stored in
nanoseconds under Docker's names (``Test``, ``Interval``, ``Timeout``, ``StartPeriod``,
``StartInterval``, ``Retries``), so the engine's health checker reads what Docker would.
"""

from __future__ import annotations

import re

from services.engine.build.dockerfile import DockerfileError, Instruction, json_array
from services.engine.build.words import Expander, split_raw
from services.kit import errors

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}  # fmt: skip


def bad(instruction: Instruction, why: str) -> errors.InvalidArgument:
    return DockerfileError(instruction.line, f"{instruction.keyword} {why}")


def pairs(instruction: Instruction, expander: Expander) -> list[tuple[str, str]]:
    """ENV / LABEL arguments as (key, value), expanded."""
    text = instruction.text.strip()
    words = split_raw(text, expander.escape)
    if not words:
        raise bad(instruction, "requires at least one argument")
    if "=" not in words[0]:
        key, _, value = text.partition(" ")
        if not value.strip():
            raise bad(instruction, "requires two arguments when not using key=value")
        return [(key, expander.word(value.strip()))]
    out = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise bad(instruction, f"syntax error - can't find = in {word!r}. Must be of the "
                      "form: name=value")  # fmt: skip
        out.append((expander.word(key), expander.word(value)))
    return out


def set_env(env: list[str], key: str, value: str) -> list[str]:
    return [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]


def ports(instruction: Instruction, expander: Expander) -> list[str]:
    out = []
    for word in expander.words(instruction.text):
        number, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        low, _, high = number.partition("-")
        if (
            not low.isdigit()
            or (high and not high.isdigit())
            or proto not in ("tcp", "udp", "sctp")
        ):
            raise bad(instruction, f"invalid containerPort: {word}")
        for port in range(int(low), int(high or low) + 1):
            out.append(f"{port}/{proto}")
    return out


def volumes(instruction: Instruction, expander: Expander) -> list[str]:
    listed = json_array(instruction.text)
    paths = [expander.word(p) for p in listed] if listed is not None else expander.words(
        instruction.text)  # fmt: skip
    if not paths or any(not p.strip() for p in paths):
        raise bad(instruction, "specified can not be an empty string")
    return paths


def duration_ns(text: str) -> int:
    """A Go duration ("30s", "1m30s", "500ms") in nanoseconds."""
    if text in ("0", ""):
        return 0
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise errors.InvalidArgument(f"time: invalid duration {text!r}")
    return int(total)


def command(instruction: Instruction, shell: list[str]) -> list[str]:
    """CMD / ENTRYPOINT / RUN arguments: the exec form as written, the shell form through the
    stage's SHELL."""
    listed = instruction.exec_form
    if listed is not None:
        return listed
    return [*shell, instruction.text]


def healthcheck(instruction: Instruction) -> dict[str, object]:
    text = instruction.text.strip()
    kind, _, rest = text.partition(" ")
    if kind.upper() == "NONE":
        if rest.strip() or instruction.flags:
            raise bad(instruction, "NONE takes no arguments")
        return {"Test": ["NONE"]}
    if kind.upper() != "CMD":
        raise bad(instruction, f"unknown type {kind!r}: must be CMD or NONE")
    check: dict[str, object] = {}
    listed = json_array(rest)
    if listed is not None:
        check["Test"] = ["CMD", *listed]
    elif rest.strip():
        check["Test"] = ["CMD-SHELL", rest.strip()]
    else:
        raise bad(instruction, "CMD requires a command")
    names = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
             "start-interval": "StartInterval"}  # fmt: skip
    for flag, value in instruction.flags:
        if flag in names:
            try:
                ns = duration_ns(value)
            except errors.InvalidArgument as exc:
                raise bad(instruction, f"--{flag}: {exc.message}") from exc
            if ns and ns < 1_000_000:
                raise bad(instruction, f"--{flag} cannot be less than 1ms")
            if ns:
                check[names[flag]] = ns
        elif flag == "retries":
            if not value.isdigit():
                raise bad(instruction, f"--retries: invalid number {value!r}")
            if int(value):
                check["Retries"] = int(value)
        else:
            raise bad(instruction, f"unknown flag: --{flag}")
    return check


def run_args(instruction: Instruction, shell: list[str]) -> list[str]:
    """What a RUN runs: the exec form as written; the shell form through the stage's SHELL,
    its here-documents passed to the shell as the shell itself reads them (or, when the line
    is nothing but one here-document, its body as the script)."""
    listed = instruction.exec_form
    if listed is not None:
        return listed
    text = instruction.text
    if instruction.heredocs:
        body = text
        for doc in instruction.heredocs:
            body = body.replace(f"<<-{doc.name}", "").replace(f"<<{doc.name}", "")
            body = body.replace(f'<<"{doc.name}"', "").replace(f"<<'{doc.name}'", "")
        if not body.strip() and len(instruction.heredocs) == 1:
            text = instruction.heredocs[0].content
        else:
            text += "\n" + "".join(d.content + d.name + "\n" for d in instruction.heredocs)
    return [*shell, text]
