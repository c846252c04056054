"""Resolve "user", "uid", "user:group" inside a container's root filesystem.

The files are read from the container's root without following symlinks, so an image cannot
point /etc/passwd at a host file.
"""

from __future__ import annotations

import os
from pathlib import Path

from services.kit import errors


def _read(root: Path, rel: str) -> list[list[str]]:
    path = root / rel
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return []
    with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n").split(":") for line in handle if line.strip()]


def resolve_user(root: Path, user: str) -> tuple[int, int, tuple[int, ...]]:
    """(uid, gid, supplementary gids) for ``user`` in the container at ``root``."""
    name, _, group = (user or "0").partition(":")
    passwd = _read(root, "etc/passwd")
    groups = _read(root, "etc/group")
    uid: int | None = None
    gid = 0
    username = ""
    for entry in passwd:
        if len(entry) >= 4 and (entry[0] == name or entry[2] == name):
            uid, username = int(entry[2]), entry[0]
            gid = int(entry[3]) if entry[3].isdigit() else 0
            break
    if uid is None:
        if not name.isdigit():
            raise errors.InvalidArgument(
                f"unable to find user {name}: no matching entries in passwd file",
                reason="USER_UNKNOWN",
            )
        uid = int(name)
    if group:
        gid = _group_id(groups, group)
    extra = tuple(
        int(e[2])
        for e in groups
        if len(e) >= 4 and username and username in e[3].split(",") and e[2].isdigit()
    )
    return uid, gid, tuple(g for g in extra if g != gid)


def _group_id(groups: list[list[str]], group: str) -> int:
    for entry in groups:
        if len(entry) >= 3 and (entry[0] == group or entry[2] == group):
            return int(entry[2])
    if group.isdigit():
        return int(group)
    raise errors.InvalidArgument(
        f"unable to find group {group}: no matching entries in group file", reason="GROUP_UNKNOWN"
    )
