"""Service configuration: a TOML file, then environment overrides, validated at start.

Every service describes its settings as a frozen dataclass whose fields have defaults. ``load``
fills it from, in order of precedence:

1. environment variables ``ESTIBA_<SERVICE>_<FIELD>`` (``ESTIBA_REGISTRY_HTTP_ADDR``), and for the
   fields every service shares (``root``, ``run_dir``, ``node_name``, ``log_level``,
   ``log_format``) also ``ESTIBA_<FIELD>`` (``ESTIBA_ROOT``);
2. the ``[<service>]`` table of the TOML file named by ``--config`` or ``ESTIBA_CONFIG``, whose
   top-level keys are shared by all services;
3. the dataclass defaults.

A value of the wrong type, an unknown key, or a failed ``validate()`` raises ``ConfigError``
with a message that names the key and where it came from; ``main`` prints it and exits 2.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

SHARED_KEYS = ("root", "run_dir", "node_name", "log_level", "log_format")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


T = TypeVar("T")


def load(
    cls: type[T],
    service: str,
    *,
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> T:
    """Build ``cls`` for ``service`` from the file at ``path`` and the environment ``env``."""
    env = os.environ if env is None else env
    if path is None and env.get("ESTIBA_CONFIG"):
        path = Path(env["ESTIBA_CONFIG"])
    values: dict[str, tuple[object, str]] = {}
    if path is not None:
        for key, value in _read_toml(path, service).items():
            values[key] = (value, f"{path} [{service}] {key}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    for name in fields:
        for var in _env_names(service, name):
            if var in env:
                values[name] = (env[var], f"environment variable {var}")
                break
    kwargs: dict[str, Any] = {}
    for name, (raw, origin) in values.items():
        if name not in fields:
            raise ConfigError(f"{origin}: unknown setting {name!r} for the {service} service")
        kwargs[name] = _coerce(raw, hints[name], origin)
    try:
        config = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{service} configuration: {exc}") from exc
    validate = getattr(config, "validate", None)
    if validate is not None:
        try:
            validate()
        except ValueError as exc:
            raise ConfigError(f"{service} configuration: {exc}") from exc
    return config


def _env_names(service: str, field: str) -> list[str]:
    names = [f"ESTIBA_{service.upper()}_{field.upper()}"]
    if field in SHARED_KEYS:
        names.append(f"ESTIBA_{field.upper()}")
    return names


def _read_toml(path: Path, service: str) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
    merged: dict[str, object] = {k: v for k, v in data.items() if k in SHARED_KEYS}
    section = data.get(service, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{service}] must be a table")
    merged.update(section)
    return merged


def _coerce(raw: object, hint: object, origin: str) -> object:
    target = _unoptional(hint)
    try:
        if target is bool:
            return _to_bool(raw)
        if target is int and not isinstance(raw, bool):
            return int(raw)  # type: ignore[call-overload]
        if target is float and not isinstance(raw, bool):
            return float(raw)  # type: ignore[arg-type]
        if target is Path and isinstance(raw, str):
            return Path(raw)
        if target is str and isinstance(raw, str):
            return raw
        if typing.get_origin(target) is tuple and isinstance(raw, (list, str)):
            items = raw.split(",") if isinstance(raw, str) else raw
            return tuple(str(item).strip() for item in items if str(item).strip())
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"{origin}: {raw!r} is not a valid {_type_name(target)}")


def _unoptional(hint: object) -> object:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _to_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _type_name(target: object) -> str:
    names = {bool: "boolean", int: "integer", float: "number", Path: "path", str: "string"}
    if isinstance(target, type) and target in names:
        return names[target]
    return "list of strings" if typing.get_origin(target) is tuple else str(target)
