"""Registry credentials, stored as ``estiba login`` writes them: a file only the user can read.

``~/.estiba/config.json`` (or ``$ESTIBA_CONFIG_DIR/config.json``) has Docker's shape:
``{"auths": {"localhost:5000": {"auth": base64("user:password")}}}``.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

DOCKER_HUB = "https://index.docker.io/v1/"


def config_path() -> Path:
    base = os.environ.get("ESTIBA_CONFIG_DIR") or os.path.join(Path.home(), ".estiba")
    return Path(base) / "config.json"


def _read() -> dict[str, Any]:
    try:
        data = json.loads(config_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def registry_of(image: str) -> str:
    """The registry host of an image name, as Docker decides it."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def lookup(registry: str) -> tuple[str, str] | None:
    entry = (_read().get("auths") or {}).get(registry)
    if not isinstance(entry, dict) or not entry.get("auth"):
        return None
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return user, password


def store(registry: str, user: str, password: str) -> Path:
    """Save credentials; the file is created with mode 0600 (its directory 0700)."""
    data = _read()
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    data.setdefault("auths", {})[registry] = {"auth": token}
    return store_all(data)


def remove(registry: str) -> bool:
    data = _read()
    auths = data.get("auths") or {}
    if registry not in auths:
        return False
    del auths[registry]
    store_all(data)
    return True


def store_all(data: dict[str, Any]) -> Path:
    """Replace the whole file at once, readable by the user only."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)
    return path


def auth_header(image: str) -> str:
    """X-Registry-Auth for an image's registry: base64url JSON, ``{}`` when anonymous."""
    registry = registry_of(image)
    found = lookup(registry)
    body: dict[str, str] = {}
    if found:
        body = {"username": found[0], "password": found[1], "serveraddress": registry}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
