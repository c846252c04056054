"""``estiba cp``: files between a container and this machine, as tar archives both ways."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

from client import jsontext, urls
from client.errors import ClientError, NotFound

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

    from client.cli import flags
    from client.transport import Transport


def _split(spec: str) -> tuple[str, str] | None:
    """ "container:/path" → (container, path); a local path → None."""
    if spec.startswith(("/", ".")) or ":" not in spec:
        return None
    container, _, path = spec.partition(":")
    return container, path


def cp(args: flags.Namespace, api: Transport) -> int:
    src, dst = _split(args.source), _split(args.destination)
    if (src is None) == (dst is None):
        raise ClientError("copying between containers or between local paths is not supported")
    if src is not None:
        return _copy_out(api, src[0], src[1], Path(args.destination))
    assert dst is not None
    return _copy_in(api, Path(args.source), dst[0], dst[1])


def _copy_out(api: Transport, container: str, path: str, target: Path) -> int:
    query = urls.urlencode({"path": path})
    data = b"".join(api.stream_bytes("GET", f"/containers/{container}/archive?{query}"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        if target.is_dir():
            tar.extractall(target, filter="tar")
            return 0
        if not members:
            return 0
        top = members[0].name.split("/")[0]
        for member in members:
            member.name = str(Path(target.name) / Path(member.name).relative_to(top))
        tar.extractall(target.parent, members=members, filter="tar")
    return 0


def _copy_in(api: Transport, source: Path, container: str, path: str) -> int:
    if not source.exists():
        raise ClientError(f"no such file or directory: {source}")
    name = source.name
    directory = path
    try:
        info = _stat(api, container, path)
        is_dir = bool(info["mode"] & (1 << 31))
    except NotFound:
        is_dir = False
        directory, _, name = path.rstrip("/").rpartition("/")
        directory = directory or "/"
    if not is_dir and not path.endswith("/") and directory == path:
        directory, _, name = path.rstrip("/").rpartition("/")
        directory = directory or "/"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(source, arcname=name)
    buffer.seek(0)
    query = {"path": directory, "noOverwriteDirNonDir": "true"}
    api.upload_put(f"/containers/{container}/archive", buffer, query=query)
    return 0


def _stat(api: Transport, container: str, path: str) -> dict[str, Any]:
    headers = api.head(f"/containers/{container}/archive", query={"path": path})
    raw = headers.get("X-Docker-Container-Path-Stat", "")
    return dict(jsontext.loads(base64.b64decode(raw))) if raw else {"mode": 0}
