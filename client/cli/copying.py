"""``estiba cp``: files between a container and this machine, as tar archives both ways."""

from __future__ import annotations

import base64
import io
import os
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
            _extract(tar, target, members)
            return 0
        if not members:
            return 0
        top = members[0].name.split("/")[0]
        for member in members:
            member.name = str(Path(target.name) / Path(member.name).relative_to(top))
        _extract(tar, target.parent, members)
    return 0


def _extract(tar: tarfile.TarFile, into: Path, members: list[tarfile.TarInfo]) -> None:
    """What a container sent, written under ``into`` and nowhere else. The members are checked
    here (tarfile's "tar" filter is missing from Pythons before 3.11.4, Debian 12's among them)
    and the filter applied too where there is one."""
    _check(members, os.path.realpath(into))
    for member in members:
        member.mode &= 0o777  # no setuid, setgid or sticky bit from a container
    if hasattr(tarfile, "tar_filter"):
        tar.extractall(into, members=members, filter="tar")
    else:
        tar.extractall(into, members=members)


def _check(members: list[tarfile.TarInfo], root: str) -> None:
    """Refuse a member that would land outside ``root``: an absolute or ``..`` name, a path
    through a symbolic link of the archive (the link is written first, then followed), a hard
    link to outside, a device node. A symbolic link may point anywhere: it is only written."""
    links: set[str] = set()

    def outside(name: str) -> bool:
        name = os.path.normpath(name)
        if os.path.isabs(name) or name == ".." or name.startswith("../"):
            return True
        parts = name.split("/")
        if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            return True
        real = os.path.realpath(os.path.join(root, name))  # links already on disk
        return os.path.commonpath([root, real]) != root

    for member in members:
        if outside(member.name):
            raise ClientError(f"refusing {member.name!r}: it would be written outside {root}")
        if member.isdev():
            raise ClientError(f"refusing {member.name!r}: a device node")
        if member.islnk() and outside(member.linkname):
            raise ClientError(f"refusing {member.name!r}: a hard link to outside {root}")
        if member.issym():
            links.add(os.path.normpath(member.name))


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
