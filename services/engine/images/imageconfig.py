"""The image config (OCI image-spec "config", Docker's image JSON): read it, and write new ones.

The config's bytes are the image: their digest is the image id. The engine therefore keeps the
bytes it was given and reads fields from them, and when it makes an image (import, the busybox
base, a bootstrap, a commit) it writes a new config once and never re-serialises it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any

from services.engine.content.digest import Digest
from services.engine.content.manifest import Platform
from services.kit import errors

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|z|[+-]\d\d:\d\d)")


def invalid(why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid image config: {why}", reason="CONFIG_INVALID")


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    """Read access to an image config document."""

    doc: dict[str, Any]

    @property
    def container(self) -> dict[str, Any]:
        """The default container settings (Docker's ``Config``): Cmd, Env, Entrypoint, ..."""
        value = self.doc.get("config")
        return value if isinstance(value, dict) else {}

    @property
    def cmd(self) -> list[str]:
        return _strings(self.container.get("Cmd"))

    @property
    def entrypoint(self) -> list[str]:
        return _strings(self.container.get("Entrypoint"))

    @property
    def env(self) -> list[str]:
        return _strings(self.container.get("Env"))

    @property
    def working_dir(self) -> str:
        return str(self.container.get("WorkingDir") or "")

    @property
    def user(self) -> str:
        return str(self.container.get("User") or "")

    @property
    def labels(self) -> dict[str, str]:
        value = self.container.get("Labels")
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    @property
    def exposed_ports(self) -> list[str]:
        value = self.container.get("ExposedPorts")
        return sorted(value) if isinstance(value, dict) else []

    @property
    def volumes(self) -> list[str]:
        value = self.container.get("Volumes")
        return sorted(value) if isinstance(value, dict) else []

    @property
    def stop_signal(self) -> str:
        return str(self.container.get("StopSignal") or "")

    @property
    def platform(self) -> Platform:
        return Platform(
            str(self.doc.get("os", "")),
            str(self.doc.get("architecture", "")),
            str(self.doc.get("variant", "")),
        )

    @property
    def created(self) -> str:
        return str(self.doc.get("created") or "")

    @property
    def created_unix(self) -> int:
        return rfc3339_to_unix(self.created)

    @property
    def history(self) -> list[dict[str, Any]]:
        value = self.doc.get("history")
        return [h for h in value if isinstance(h, dict)] if isinstance(value, list) else []

    @property
    def diff_ids(self) -> list[Digest]:
        rootfs = self.doc.get("rootfs")
        if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
            raise invalid("rootfs.type must be 'layers'")
        ids = rootfs.get("diff_ids")
        if not isinstance(ids, list):
            raise invalid("rootfs.diff_ids must be a list")
        return [Digest.parse(str(d)) for d in ids]


def parse(data: bytes) -> ImageConfig:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise invalid("not a JSON object")
    config = ImageConfig(doc)
    config.diff_ids  # noqa: B018 - validates rootfs now rather than at first use
    return config


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def timestamp(when: datetime | None = None) -> str:
    """RFC 3339 in UTC with nanoseconds, as Docker writes ``created``."""
    when = when or datetime.now(UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def rfc3339_to_unix(value: str) -> int:
    """Seconds since the epoch of an RFC 3339 time; 0 when it cannot be read."""
    m = _RFC3339.fullmatch(value.strip())
    if m is None:
        return 0
    zone = "+00:00" if m.group(2) in ("Z", "z") else m.group(2)
    try:
        return int(datetime.fromisoformat(m.group(1) + zone).timestamp())
    except ValueError:
        return 0


def new_config(
    *,
    platform: Platform,
    diff_ids: list[Digest],
    container: dict[str, Any],
    history: list[dict[str, Any]],
    created: str,
    author: str = "",
    comment: str = "",
    base: ImageConfig | None = None,
) -> bytes:
    """The bytes of a new config: ``base``'s history and layers (if any) plus the new ones."""
    doc: dict[str, Any] = {"architecture": platform.architecture}
    if platform.variant:
        doc["variant"] = platform.variant
    doc["os"] = platform.os
    doc["created"] = created
    if author:
        doc["author"] = author
    if comment:
        doc["comment"] = comment
    doc["config"] = container
    prior = [str(d) for d in base.diff_ids] if base else []
    doc["rootfs"] = {"type": "layers", "diff_ids": prior + [str(d) for d in diff_ids]}
    doc["history"] = (base.history if base else []) + history
    return json.dumps(doc, separators=(",", ":")).encode()
