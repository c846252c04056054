"""Content digests: parsing, validation, and hashing while bytes stream past.

A digest is ``<algorithm>:<encoded>`` (OCI image-spec "Digests"). The registry verifies sha256 and
sha512; any other algorithm, or an encoded part of the wrong length or alphabet, is refused with
``DIGEST_INVALID`` before it can reach a file path or a query. The algorithm a client chose is
kept: a blob pushed as ``sha512:...`` is stored, linked and served under that digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

from services.kit import errors

# Lengths of the lowercase hex encodings of the algorithms the registry verifies.
ALGORITHMS = {"sha256": 64, "sha512": 128}
CANONICAL = "sha256"

_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_HEX = re.compile(r"[a-f0-9]+")


def invalid(value: str, why: str) -> errors.InvalidArgument:
    """The error for a digest that cannot be used; ``value`` is shortened for the message."""
    shown = value if len(value) <= 160 else value[:157] + "..."
    return errors.InvalidArgument(f"invalid digest {shown!r}: {why}", reason="DIGEST_INVALID")


@dataclasses.dataclass(frozen=True, order=True)
class Digest:
    """A validated digest of a supported algorithm."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, value: str) -> Digest:
        """Validate ``value``; raise InvalidArgument(DIGEST_INVALID) if it is not usable."""
        if not _GRAMMAR.fullmatch(value):
            raise invalid(value, "not of the form <algorithm>:<hex>")
        algorithm, _, encoded = value.partition(":")
        length = ALGORITHMS.get(algorithm)
        if length is None:
            raise invalid(value, f"unsupported algorithm (use {' or '.join(ALGORITHMS)})")
        if len(encoded) != length or not _HEX.fullmatch(encoded):
            raise invalid(value, f"{algorithm} needs {length} lowercase hex digits")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = CANONICAL) -> Digest:
        """The digest of ``data`` computed with ``algorithm``."""
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())


class Hasher:
    """Hashes a stream incrementally and counts its bytes.

    Used from worker threads: hashlib releases the GIL for large updates, so hashing a 1 MiB
    chunk does not hold up the event loop.
    """

    def __init__(self, algorithm: str = CANONICAL) -> None:
        self.algorithm = algorithm
        self.size = 0
        self._hash = hashlib.new(algorithm)

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())
