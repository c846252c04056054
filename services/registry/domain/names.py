"""Repository names, tags and references, checked against the OCI Distribution grammar.

Names are validated before they are used anywhere else, so a name such as ``../x`` or one with
upper-case letters never reaches a query or a path: it is answered ``NAME_INVALID``.
"""

from __future__ import annotations

import re

from services.kit import errors
from services.registry.domain.digest import Digest

MAX_NAME_LENGTH = 255

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


def _shown(value: str) -> str:
    return value if len(value) <= 80 else value[:77] + "..."


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name, else raise NAME_INVALID."""
    if len(name) > MAX_NAME_LENGTH:
        raise errors.InvalidArgument(
            f"repository name is {len(name)} characters long; at most {MAX_NAME_LENGTH} allowed",
            reason="NAME_INVALID",
        )
    if not _NAME.fullmatch(name):
        raise errors.InvalidArgument(
            f"invalid repository name {_shown(name)!r}: components of lowercase letters and "
            "digits, joined by '.', '_', '__' or dashes, separated by '/'",
            reason="NAME_INVALID",
        )
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag, else raise TAG_INVALID."""
    if not _TAG.fullmatch(tag):
        raise errors.InvalidArgument(
            f"invalid tag {_shown(tag)!r}: up to 128 of [A-Za-z0-9_.-], not starting with '.' "
            "or '-'",
            reason="TAG_INVALID",
        )
    return tag


def parse_reference(reference: str) -> Digest | str:
    """A manifest reference: a ``Digest`` if it contains ':', else a validated tag."""
    if ":" in reference:
        return Digest.parse(reference)
    return validate_tag(reference)
