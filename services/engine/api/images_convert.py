"""Images: proto messages ↔ domain objects. Pure functions, field by field."""

from __future__ import annotations

import json

from estiba.engine.v1 import images_pb2 as pb
from services.engine.distribution.auth import Credentials
from services.engine.images.models import (
    DeleteItem,
    HistoryItem,
    ImageDetails,
    ImageSummary,
    Progress,
)


def credentials(auth: pb.RegistryAuth) -> Credentials:
    return Credentials(auth.username, auth.password, auth.registry_token)


def progress(event: Progress) -> pb.ImageProgress:
    return pb.ImageProgress(
        id=event.id,
        status=event.status,
        current=event.current,
        total=event.total,
        image_id=event.image_id,
        digest=event.digest,
        tag=event.tag,
        size=event.size,
    )


def summary(item: ImageSummary) -> pb.ImageSummary:
    return pb.ImageSummary(
        id=item.id,
        parent_id=item.parent_id,
        repo_tags=item.repo_tags,
        repo_digests=item.repo_digests,
        created=item.created,
        size=item.size,
        labels=item.labels,
        containers=item.containers,
    )


def details(item: ImageDetails) -> pb.ImageDetails:
    config = json.dumps(item.config).encode()
    return pb.ImageDetails(
        id=item.id,
        repo_tags=item.repo_tags,
        repo_digests=item.repo_digests,
        parent=item.parent,
        comment=item.comment,
        created=item.created,
        docker_version=item.docker_version,
        author=item.author,
        config_json=config,
        container_config_json=json.dumps(item.container_config).encode(),
        architecture=item.architecture,
        variant=item.variant,
        os=item.os,
        os_version=item.os_version,
        size=item.size,
        root_fs_type=item.root_fs_type,
        root_fs_layers=item.root_fs_layers,
        last_tag_time=item.last_tag_time,
    )


def history(item: HistoryItem) -> pb.HistoryEntry:
    return pb.HistoryEntry(
        id=item.id,
        created=item.created,
        created_by=item.created_by,
        tags=item.tags,
        size=item.size,
        comment=item.comment,
    )


def deleted(item: DeleteItem) -> pb.DeletedImage:
    return pb.DeletedImage(untagged=item.untagged, deleted=item.deleted)
