"""Manifests, indexes and descriptors: parsing what registries and archives hand us.

Parsing is strict about what the engine relies on (digests, sizes, media types) and lenient
about the rest, because registries in the wild add fields. Anything that does not fit raises
InvalidArgument with reason MANIFEST_INVALID, or MANIFEST_UNSUPPORTED for formats the engine
does not pull (Docker schema 1, foreign layers).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from services.engine.content import mediatypes as mt
from services.engine.content.digest import Digest
from services.kit import errors

MAX_MANIFEST_SIZE = 4 << 20


@dataclasses.dataclass(frozen=True)
class Platform:
    """Where an image runs (OCI image-index "platform")."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """A pointer to a blob: what it is, its digest and its size."""

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.platform is not None:
            out["platform"] = {"architecture": self.platform.architecture, "os": self.platform.os}
            if self.platform.variant:
                out["platform"]["variant"] = self.platform.variant
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclasses.dataclass(frozen=True)
class Manifest:
    """One image: a config and its layers, lowest first."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclasses.dataclass(frozen=True)
class Index:
    """A list of manifests, one per platform (OCI index or Docker manifest list)."""

    media_type: str
    manifests: tuple[Descriptor, ...]


def invalid(why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid manifest: {why}", reason="MANIFEST_INVALID")


def parse(data: bytes, media_type: str = "") -> Manifest | Index:
    """Parse a manifest or index; ``media_type`` is the Content-Type it came with, if any."""
    if len(data) > MAX_MANIFEST_SIZE:
        raise invalid(f"{len(data)} bytes is more than the {MAX_MANIFEST_SIZE} allowed")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise invalid("not a JSON object")
    kind = _kind(doc, media_type.split(";")[0].strip())
    if kind in (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED):
        raise errors.InvalidArgument(
            "Docker image manifest schema 1 is not supported; push the image again with a "
            "current client",
            reason="MANIFEST_UNSUPPORTED",
        )
    if kind in mt.INDEXES:
        return Index(kind, tuple(_descriptor(d) for d in _list(doc, "manifests")))
    config = _descriptor(doc.get("config"))
    layers = tuple(_descriptor(d) for d in _list(doc, "layers"))
    for layer in layers:
        if layer.media_type in mt.FOREIGN_LAYERS:
            raise errors.InvalidArgument(
                f"layer {layer.digest} is a foreign layer ({layer.media_type}); only Linux "
                "images can be pulled",
                reason="MANIFEST_UNSUPPORTED",
            )
        if layer.media_type not in mt.LAYERS:
            raise errors.InvalidArgument(
                f"layer {layer.digest} has unsupported media type {layer.media_type!r}",
                reason="MANIFEST_UNSUPPORTED",
            )
    return Manifest(kind, config, layers)


def _kind(doc: dict[str, Any], header: str) -> str:
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if doc.get("schemaVersion") == 1:
        return mt.DOCKER_SCHEMA1
    if header in (*mt.MANIFESTS, *mt.INDEXES):
        return header
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc and "layers" in doc:
        return mt.OCI_MANIFEST
    raise invalid(f"unknown manifest kind (Content-Type {header!r})")


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise invalid(f"{key!r} must be a list")
    return value


def _descriptor(raw: Any) -> Descriptor:
    if not isinstance(raw, dict):
        raise invalid("a descriptor is not an object")
    media_type, digest, size = raw.get("mediaType"), raw.get("digest"), raw.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str):
        raise invalid("a descriptor lacks mediaType or digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise invalid(f"descriptor {digest} has no valid size")
    platform = None
    if isinstance(raw.get("platform"), dict):
        p = raw["platform"]
        platform = Platform(str(p.get("os", "")), str(p.get("architecture", "")))
        platform = dataclasses.replace(platform, variant=str(p.get("variant", "")))
    annotations = raw.get("annotations")
    notes = (
        {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}
    )
    return Descriptor(media_type, Digest.parse(digest), size, platform, notes)


def encode_manifest(config: Descriptor, layers: list[Descriptor], media_type: str) -> bytes:
    """A manifest document for ``config`` and ``layers`` (OCI or Docker schema 2)."""
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    doc["config"] = config.to_json()
    doc["layers"] = [layer.to_json() for layer in layers]
    return json.dumps(doc, indent=2).encode()
