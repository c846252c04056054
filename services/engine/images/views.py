"""Stored images as Docker shows them: list entries, inspect documents, history lines, filters."""

from __future__ import annotations

import dataclasses
import re

from services.engine.images import imageconfig
from services.engine.images import reference as refs
from services.engine.images.models import HistoryItem, ImageDetails, ImageRecord, ImageSummary
from services.kit import errors

FILTERS = ("reference", "dangling", "label", "before", "since")


def summary(image: ImageRecord) -> ImageSummary:
    config = imageconfig.parse(image.config)
    return ImageSummary(
        id=str(image.id),
        parent_id=image.parent,
        repo_tags=[refs.familiar(n) for n in image.tags],
        repo_digests=[refs.familiar(n) for n in image.digests],
        created=config.created_unix,
        size=image.size,
        labels=config.labels,
    )


def details(image: ImageRecord) -> ImageDetails:
    config = imageconfig.parse(image.config)
    doc = config.doc
    return ImageDetails(
        id=str(image.id),
        repo_tags=[refs.familiar(n) for n in image.tags],
        repo_digests=[refs.familiar(n) for n in image.digests],
        parent=image.parent,
        comment=str(doc.get("comment") or ""),
        created=config.created,
        docker_version=str(doc.get("docker_version") or ""),
        author=str(doc.get("author") or ""),
        config=config.container,
        architecture=config.platform.architecture,
        variant=config.platform.variant,
        os=config.platform.os,
        os_version=str(doc.get("os.version") or ""),
        size=image.size,
        root_fs_type="layers",
        root_fs_layers=[str(d) for d in config.diff_ids],
        last_tag_time=image.last_tag_time,
    )


def history(image: ImageRecord) -> list[HistoryItem]:
    """Newest first; a non-empty entry's size is its layer's, the top entry carries the id."""
    config = imageconfig.parse(image.config)
    entries = config.history or [{"created": config.created}] * len(image.layers)
    sizes = iter(layer.size for layer in image.layers)
    items: list[HistoryItem] = []
    for entry in entries:
        size = 0 if entry.get("empty_layer") else next(sizes, 0)
        items.append(
            HistoryItem(
                id="<missing>",
                created=imageconfig.rfc3339_to_unix(str(entry.get("created") or "")),
                created_by=str(entry.get("created_by") or ""),
                tags=[],
                size=size,
                comment=str(entry.get("comment") or ""),
            )
        )
    items.reverse()
    if items:
        tags = [refs.familiar(n) for n in image.tags]
        items[0] = dataclasses.replace(items[0], id=str(image.id), tags=tags)
    return items


@dataclasses.dataclass(frozen=True)
class Filters:
    reference: list[str]
    dangling: bool | None
    labels: list[tuple[str, str | None]]
    before: str
    since: str


def parse_filters(pairs: list[tuple[str, str]]) -> Filters:
    """Docker's image list filters: reference, dangling, label, before, since."""
    reference: list[str] = []
    dangling: bool | None = None
    labels: list[tuple[str, str | None]] = []
    before = since = ""
    for key, value in pairs:
        if key == "reference":
            reference.append(value)
        elif key == "dangling":
            if value.lower() not in ("true", "false", "1", "0"):
                raise errors.InvalidArgument(
                    f"invalid filter 'dangling={value}'", reason="FILTER_INVALID"
                )
            dangling = value.lower() in ("true", "1")
        elif key == "label":
            k, eq, v = value.partition("=")
            labels.append((k, v if eq else None))
        elif key == "before":
            before = value
        elif key == "since":
            since = value
        else:
            raise errors.InvalidArgument(f"invalid filter '{key}'", reason="FILTER_INVALID")
    return Filters(reference, dangling, labels, before, since)


def matches(f: Filters, item: ImageSummary) -> bool:
    if f.dangling is not None and f.dangling != (not item.repo_tags):
        return False
    for key, value in f.labels:
        if key not in item.labels or (value is not None and item.labels[key] != value):
            return False
    names = item.repo_tags + item.repo_digests
    return not f.reference or any(_ref_match(p, names) for p in f.reference)


def _ref_match(pattern: str, names: list[str]) -> bool:
    """Docker's ``reference`` filter: a path.Match glob against the name, or its repository."""
    rx = _glob(pattern)
    for name in names:
        repo = name.partition("@")[0]
        slash, colon = repo.rfind("/"), repo.rfind(":")
        bare = repo[:colon] if colon > slash else repo
        if rx.fullmatch(name) or rx.fullmatch(bare):
            return True
    return False


def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))
