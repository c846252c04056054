"""Finding a stored image by what a user typed: a name, a digest reference, or an id (prefix)."""

from __future__ import annotations

import dataclasses
import re

from services.engine.images import reference as refs
from services.engine.images.ports import ImageRecords
from services.kit import errors

_HEX_PREFIX = re.compile(r"(?:sha256:)?([a-f0-9]{1,64})")


@dataclasses.dataclass(frozen=True)
class Found:
    image_id: str
    name: str
    """The stored name that matched ("" when the image was found by id)."""


def no_such_image(value: str) -> errors.NotFound:
    return errors.NotFound(f"No such image: {value}", reason="IMAGE_UNKNOWN")


def stored_name(ref: refs.Reference) -> str:
    """The key a reference is stored under: ``repo@digest`` if pinned, else ``repo:tag``."""
    if ref.digest is not None:
        return f"{ref.repository}@{ref.digest}"
    return ref.with_default_tag().tagged


async def lookup(records: ImageRecords, value: str) -> Found:
    """The image ``value`` names, in Docker's order: full id, name, then unique id prefix."""
    full = refs.image_id(value)
    if full is not None and await records.get(full) is not None:
        return Found(full, "")
    try:
        ref = refs.parse(value)
    except errors.InvalidArgument:
        ref = None
    if ref is not None:
        name = stored_name(ref)
        image_id = await records.resolve_name(name)
        if image_id is not None:
            return Found(image_id, name)
    m = _HEX_PREFIX.fullmatch(value)
    if m is not None:
        ids = await records.ids_with_prefix(m.group(1))
        if len(ids) == 1:
            return Found(ids[0], "")
        if len(ids) > 1:
            raise errors.InvalidArgument(
                f"image id prefix {value!r} is ambiguous", reason="IMAGE_AMBIGUOUS"
            )
    if ref is None and full is None and m is None:
        refs.parse(value)  # raises the reference's own error
    raise no_such_image(value)
