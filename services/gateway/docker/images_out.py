"""Engine images → Docker's ImageSummary, ImageInspect, history, delete and progress messages."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from estiba.engine.v1 import images_pb2 as pb


def summary(i: pb.ImageSummary) -> dict[str, Any]:
    return {
        "Id": i.id,
        "ParentId": i.parent_id,
        "RepoTags": list(i.repo_tags),
        "RepoDigests": list(i.repo_digests),
        "Created": i.created,
        "Size": i.size,
        "SharedSize": -1,
        "VirtualSize": i.size,
        "Labels": dict(i.labels),
        "Containers": i.containers,
    }


def inspect(d: pb.ImageDetails) -> dict[str, Any]:
    config = json.loads(d.config_json or b"{}")
    return {
        "Id": d.id,
        "RepoTags": list(d.repo_tags),
        "RepoDigests": list(d.repo_digests),
        "Parent": d.parent,
        "Comment": d.comment,
        "Created": d.created,
        "Container": "",
        "ContainerConfig": json.loads(d.container_config_json or b"{}") or config,
        "DockerVersion": d.docker_version,
        "Author": d.author,
        "Config": config,
        "Architecture": d.architecture,
        **({"Variant": d.variant} if d.variant else {}),
        "Os": d.os,
        "OsVersion": d.os_version,
        "Size": d.size,
        "VirtualSize": d.size,
        "GraphDriver": {"Name": "overlay", "Data": None},
        "RootFS": {"Type": d.root_fs_type or "layers", "Layers": list(d.root_fs_layers)},
        "Metadata": {"LastTagTime": d.last_tag_time or "0001-01-01T00:00:00Z"},
    }


def deleted(items: Iterable[pb.DeletedImage]) -> list[dict[str, Any]]:
    """What a remove or prune did, in order: each item an untagged reference or a deleted id."""
    return [{"Untagged": i.untagged} if i.untagged else {"Deleted": i.deleted} for i in items]


def history(entry: pb.HistoryEntry) -> dict[str, Any]:
    return {
        "Id": entry.id,
        "Created": entry.created,
        "CreatedBy": entry.created_by,
        "Tags": list(entry.tags) or None,
        "Size": entry.size,
        "Comment": entry.comment,
    }


def progress(event: pb.ImageProgress) -> dict[str, Any]:
    """One JSONMessage of Docker's progress stream."""
    message: dict[str, Any] = {"status": event.status}
    if event.id:
        message["id"] = event.id
    if event.total > 0 or event.current > 0:
        message["progressDetail"] = {"current": event.current, "total": event.total}
        message["progress"] = _bar(event.current, event.total)
    elif event.id:
        message["progressDetail"] = {}
    return message


def _bar(current: int, total: int) -> str:
    if total <= 0:
        return f"{current}B"
    width = 50
    done = min(width, width * current // total)
    arrow = ">" if done < width else "="
    return f"[{'=' * max(done - 1, 0)}{arrow}{' ' * (width - done)}] {current}B/{total}B"
