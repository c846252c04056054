"""Reading manifests: which media type a pushed document is, and what it refers to.

The registry stores a manifest byte for byte (its digest is of the exact bytes), so parsing is
only for checking: the document must be a JSON object of a supported media type, and its
references (config and layer blobs, child manifests of an index, the OCI 1.1 ``subject``) are
extracted so the push can be refused while any of them is missing, and so garbage collection and
the referrers API know the graph.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from services.kit import errors
from services.registry.domain.digest import Digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES

# Content types that say nothing about which manifest a body is.
_GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream"})


@dataclasses.dataclass(frozen=True)
class Reference:
    """A descriptor inside a manifest. ``required``: it must be in the repository already."""

    digest: Digest
    size: int
    media_type: str
    required: bool


@dataclasses.dataclass(frozen=True)
class ParsedManifest:
    """What a manifest document says, for the checks and indexes the registry keeps."""

    media_type: str
    blobs: tuple[Reference, ...]
    manifests: tuple[Reference, ...]
    subject: Digest | None
    artifact_type: str
    annotations: Mapping[str, str]


def invalid(message: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(message, reason="MANIFEST_INVALID")


def parse(body: bytes, content_type: str) -> ParsedManifest:
    """Check ``body`` as a manifest sent with ``content_type``; raise MANIFEST_INVALID if not."""
    doc = _load(body)
    media_type = _media_type(doc, content_type)
    if doc.get("schemaVersion") != 2 or isinstance(doc.get("schemaVersion"), bool):
        raise invalid("schemaVersion must be 2")
    subject = _descriptor(doc["subject"], "subject") if "subject" in doc else None
    artifact_type = _string(doc, "artifactType", "")
    annotations = _annotations(doc.get("annotations"), "annotations")
    if media_type in IMAGE_TYPES:
        config = _descriptor(_field(doc, "config"), "config")
        layers = [_descriptor(d, f"layers[{i}]") for i, d in enumerate(_list(doc, "layers"))]
        return ParsedManifest(
            media_type=media_type,
            blobs=(config, *layers),
            manifests=(),
            subject=subject.digest if subject else None,
            artifact_type=artifact_type or config.media_type,
            annotations=annotations,
        )
    children = [_descriptor(d, f"manifests[{i}]") for i, d in enumerate(_list(doc, "manifests"))]
    return ParsedManifest(
        media_type=media_type,
        blobs=(),
        manifests=tuple(children),
        subject=subject.digest if subject else None,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def _load(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise invalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise invalid("manifest must be a JSON object")
    return doc


def _media_type(doc: Mapping[str, Any], content_type: str) -> str:
    """The document's media type: its own ``mediaType``, else the Content-Type, else inferred."""
    declared = _string(doc, "mediaType", "")
    sent = content_type.split(";", 1)[0].strip().lower()
    if declared and sent not in _GENERIC_TYPES and sent != declared:
        raise invalid(f"Content-Type {sent!r} does not match the manifest's mediaType {declared!r}")
    media_type = declared or (sent if sent not in _GENERIC_TYPES else "")
    if not media_type:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type not in MANIFEST_TYPES:
        raise invalid(
            f"unsupported manifest media type {media_type!r}; supported: "
            + ", ".join(sorted(MANIFEST_TYPES))
        )
    return media_type


def _descriptor(value: object, where: str) -> Reference:
    if not isinstance(value, dict):
        raise invalid(f"{where} must be a descriptor object")
    media_type = _string(value, "mediaType", None, where)
    raw_digest = _string(value, "digest", None, where)
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise invalid(f"{where}.size must be a non-negative integer")
    urls = value.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise invalid(f"{where}.urls must be a list of strings")
    _annotations(value.get("annotations"), f"{where}.annotations")
    digest = Digest.parse(raw_digest)
    # A layer with URLs (non-distributable) may be fetched from elsewhere and is never pushed.
    return Reference(digest=digest, size=size, media_type=media_type, required=not urls)


def _field(doc: Mapping[str, Any], key: str) -> object:
    if key not in doc:
        raise invalid(f"manifest has no {key!r}")
    return doc[key]


def _list(doc: Mapping[str, Any], key: str) -> list[object]:
    value = _field(doc, key)
    if not isinstance(value, list):
        raise invalid(f"{key} must be a list")
    return value


def _string(doc: Mapping[str, Any], key: str, default: str | None, where: str = "") -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        prefix = f"{where}." if where else ""
        raise invalid(f"{prefix}{key} must be a string")
    return value


def _annotations(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise invalid(f"{where} must map strings to strings")
    return dict(value)
