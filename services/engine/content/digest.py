"""Content digests, and the readers that hash bytes as they stream past.

A digest is ``<algorithm>:<hex>`` (OCI image-spec "Digests"). The engine verifies sha256 and
sha512; anything else is refused before it can reach a file path or a query. Blobs are always
verified while they are read or written, never by loading them whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import BinaryIO

from services.kit import errors

ALGORITHMS = {"sha256": 64, "sha512": 128}
CANONICAL = "sha256"
_HEX = re.compile(r"[a-f0-9]+")


class DigestMismatch(errors.InvalidArgument):
    """Content did not hash to the digest it was announced with."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="DIGEST_MISMATCH")


@dataclasses.dataclass(frozen=True, order=True)
class Digest:
    """A validated digest of a supported algorithm."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        """The first 12 hex digits, as Docker shows layer and image ids."""
        return self.hex[:12]

    @classmethod
    def parse(cls, value: str) -> Digest:
        """Validate ``value``; raise InvalidArgument(DIGEST_INVALID) if it is not usable."""
        algorithm, sep, encoded = value.partition(":")
        length = ALGORITHMS.get(algorithm)
        if not sep or length is None:
            raise invalid_digest(value, f"use {' or '.join(ALGORITHMS)} as <algorithm>:<hex>")
        if len(encoded) != length or not _HEX.fullmatch(encoded):
            raise invalid_digest(value, f"{algorithm} needs {length} lowercase hex digits")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = CANONICAL) -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())


def invalid_digest(value: str, why: str) -> errors.InvalidArgument:
    shown = value if len(value) <= 100 else value[:97] + "..."
    return errors.InvalidArgument(f"invalid digest {shown!r}: {why}", reason="DIGEST_INVALID")


def chain_ids(diff_ids: list[Digest]) -> list[Digest]:
    """The chain id of every layer position (OCI image-spec "ChainID").

    ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). A layer
    directory is named by its chain id, so the same diff on a different base is unpacked apart.
    """
    chains: list[Digest] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            chains.append(Digest.of(f"{chains[-1]} {diff_id}".encode()))
    return chains


class Hasher:
    """Hashes a stream incrementally and counts its bytes."""

    def __init__(self, algorithm: str = CANONICAL) -> None:
        self.algorithm = algorithm
        self.size = 0
        self._hash = hashlib.new(algorithm)

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())


class HashingReader:
    """A read-only file object that hashes and counts everything read through it.

    Wrapped around a decompressed layer it yields the diff id; ``drain`` reads what a consumer
    such as tarfile left after the end-of-archive marker, so the digest covers the whole stream.
    """

    def __init__(self, raw: BinaryIO, algorithm: str = CANONICAL) -> None:
        self._raw = raw
        self.hasher = Hasher(algorithm)

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.hasher.update(data)
        return data

    def drain(self, chunk: int = 1 << 20) -> None:
        while self.read(chunk):
            pass
