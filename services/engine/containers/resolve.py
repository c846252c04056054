"""Merge what the user asked for with the image's config, as Docker does. Pure functions."""

from __future__ import annotations

import re
import secrets
from typing import Any

from services.engine.containers.health import config as health_config
from services.engine.containers.models import ContainerSpec, Resolved
from services.kit import errors

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_STOP_TIMEOUT = 10

_ADJECTIVES = (
    "brave",
    "calm",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "merry",
    "nifty",
    "proud",
    "quiet",
    "sharp",
    "tender",
    "vivid",
    "witty",
    "zealous",
    "bold",
    "clever",
)
_NOUNS = (
    "anchor",
    "barge",
    "cargo",
    "crane",
    "dock",
    "ferry",
    "harbor",
    "hull",
    "keel",
    "mast",
    "pier",
    "quay",
    "rudder",
    "sail",
    "stevedore",
    "tug",
    "wharf",
    "winch",
    "buoy",
    "capstan",
)


def new_id() -> str:
    return secrets.token_hex(32)


def random_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_NOUNS)}_{secrets.token_hex(2)}"


def check_name(name: str) -> str:
    """Docker's container-name rule; returns the name without a leading slash."""
    if not NAME_RE.match(name):
        raise errors.InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            reason="NAME_INVALID",
        )
    return name.lstrip("/")


def resolve(spec: ContainerSpec, image_config: dict[str, Any], container_id: str) -> Resolved:
    """The command, environment, user and directory the container's process really gets."""
    entrypoint = (
        list(spec.entrypoint) if spec.has_entrypoint else _strings(image_config.get("Entrypoint"))
    )
    cmd = (
        list(spec.cmd)
        if spec.cmd
        else ([] if spec.has_entrypoint and spec.entrypoint else _strings(image_config.get("Cmd")))
    )
    args = tuple(entrypoint + cmd)
    if not args:
        raise errors.InvalidArgument("no command specified", reason="NO_COMMAND")
    env = _merge_env(_strings(image_config.get("Env")), list(spec.env))
    if not any(item.startswith("PATH=") for item in env):
        env.insert(0, DEFAULT_PATH_ENV)
    hostname = spec.hostname or container_id[:12]
    if not any(item.startswith("HOSTNAME=") for item in env):
        env.append(f"HOSTNAME={hostname}")
    if spec.tty and not any(item.startswith("TERM=") for item in env):
        env.append("TERM=xterm")
    labels = {**(image_config.get("Labels") or {}), **spec.labels}
    stop_signal = spec.stop_signal or str(image_config.get("StopSignal") or "SIGTERM")
    timeout = spec.stop_timeout if spec.stop_timeout >= 0 else DEFAULT_STOP_TIMEOUT
    return Resolved(
        args=args,
        env=tuple(env),
        working_dir=spec.working_dir or str(image_config.get("WorkingDir") or "") or "/",
        user=spec.user or str(image_config.get("User") or ""),
        hostname=hostname,
        labels={str(k): str(v) for k, v in labels.items()},
        stop_signal=stop_signal,
        stop_timeout=timeout,
        healthcheck=health_config.merge(
            spec.healthcheck, health_config.from_image(image_config.get("Healthcheck"))
        ),
    )


def _strings(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value:
        return ["/bin/sh", "-c", value]
    return []


def _merge_env(base: list[str], extra: list[str]) -> list[str]:
    """Later entries win by key; order of first appearance is kept."""
    merged: dict[str, str] = {}
    for item in [*base, *extra]:
        key = item.split("=", 1)[0]
        merged[key] = item
    return list(merged.values())
