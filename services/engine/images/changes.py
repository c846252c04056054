"""Dockerfile instructions applied to a container config: ``docker import/commit --change``.

Accepted: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR, the
set Docker accepts there. CMD and ENTRYPOINT take the JSON (exec) form or the shell form, which
becomes ``/bin/sh -c "<text>"``.
"""

from __future__ import annotations

import copy
import json
import shlex
from typing import Any

from services.kit import errors

ALLOWED = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)


def invalid(change: str, why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid change {change!r}: {why}", reason="CHANGE_INVALID")


def apply(container: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """A copy of ``container`` with every change applied in order."""
    out = copy.deepcopy(container)
    for change in changes:
        keyword, _, rest = change.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword not in ALLOWED:
            raise invalid(
                change, f"{keyword or 'an empty line'} is not one of {', '.join(ALLOWED)}"
            )
        if not rest:
            raise invalid(change, f"{keyword} needs an argument")
        _apply(out, keyword, rest, change)
    return out


def _apply(out: dict[str, Any], keyword: str, rest: str, change: str) -> None:
    if keyword in ("CMD", "ENTRYPOINT"):
        out["Cmd" if keyword == "CMD" else "Entrypoint"] = _command(rest, change)
    elif keyword == "ENV":
        env = [e for e in out.get("Env") or []]
        for key, value in _pairs(rest, change):
            env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
        out["Env"] = env
    elif keyword == "LABEL":
        labels = dict(out.get("Labels") or {})
        labels.update(_pairs(rest, change))
        out["Labels"] = labels
    elif keyword == "EXPOSE":
        ports = dict(out.get("ExposedPorts") or {})
        for port in rest.split():
            number, _, proto = port.partition("/")
            if not number.isdigit() or proto not in ("", "tcp", "udp", "sctp"):
                raise invalid(change, f"{port!r} is not a port")
            ports[f"{number}/{proto or 'tcp'}"] = {}
        out["ExposedPorts"] = ports
    elif keyword == "VOLUME":
        volumes = dict(out.get("Volumes") or {})
        for path in _json_list(rest) if rest.startswith("[") else rest.split():
            volumes[path] = {}
        out["Volumes"] = volumes
    elif keyword == "ONBUILD":
        out["OnBuild"] = [*(out.get("OnBuild") or []), rest]
    else:
        key = {"USER": "User", "WORKDIR": "WorkingDir", "STOPSIGNAL": "StopSignal"}[keyword]
        out[key] = rest


def _command(rest: str, change: str) -> list[str]:
    if rest.startswith("["):
        return _json_list(rest, change)
    return ["/bin/sh", "-c", rest]


def _json_list(rest: str, change: str = "") -> list[str]:
    try:
        value = json.loads(rest)
    except ValueError as exc:
        raise invalid(change or rest, "not a JSON list of strings") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(change or rest, "not a JSON list of strings")
    return value


def _pairs(rest: str, change: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` or the old single-pair form ``k v``."""
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise invalid(change, str(exc)) from exc
    if words and "=" not in words[0]:
        key, _, value = rest.partition(" ")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise invalid(change, f"{word!r} is not key=value")
        pairs.append((key, value))
    return pairs
