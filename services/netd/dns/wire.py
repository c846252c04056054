"""The DNS wire format, as much of it as the embedded DNS needs (RFC 1035): pure, no I/O.

The server reads one question (name, type, class) from a query and writes answers to it: A
records, a PTR record, or none, with a response code. Everything it does not answer itself it
forwards as the raw bytes it received, so EDNS, DNSSEC, AAAA records of the outside world and
every other record type pass through untouched and need no code here.

An answer repeats the question as the client sent it (the case of its letters included: some
resolvers randomise it and check) and points at it for the owner name of every record
(compression pointer 0xC00C). Over UDP an answer is kept within 512 bytes; when records do not
fit, the ones that do are sent with the TC flag, and the client asks again over TCP.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from ipaddress import IPv4Address

QR = 0x8000
OPCODE = 0x7800
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080

TYPE_A = 1
TYPE_PTR = 12
TYPE_AAAA = 28
TYPE_ANY = 255
CLASS_IN = 1
CLASS_ANY = 255

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5

UDP_LIMIT = 512
MAX_NAME = 255
_HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount
_RECORD = struct.Struct("!HHIH")  # type, class, ttl, rdlength
_POINTER_TO_QUESTION = b"\xc0\x0c"


class FormatError(ValueError):
    """The message is not a query this server can read."""


@dataclasses.dataclass(frozen=True)
class Question:
    """The one question of a query, and where it ends in the message."""

    id: int
    flags: int
    name: str
    """Dotted, without the final dot, letters as sent."""
    qtype: int
    qclass: int
    end: int

    @property
    def opcode(self) -> int:
        return (self.flags & OPCODE) >> 11


def parse(data: bytes) -> Question:
    """The question of a query; FormatError if the message is not one."""
    if len(data) < _HEADER.size:
        raise FormatError("shorter than a DNS header")
    qid, flags, qdcount, _, _, _ = _HEADER.unpack_from(data)
    if flags & QR:
        raise FormatError("a response, not a query")
    if qdcount != 1:
        raise FormatError(f"{qdcount} questions (exactly one is supported)")
    name, offset = read_name(data, _HEADER.size)
    if offset + 4 > len(data):
        raise FormatError("question cut short")
    qtype, qclass = struct.unpack_from("!HH", data, offset)
    return Question(qid, flags, name, qtype, qclass, offset + 4)


def read_name(data: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` (following compression pointers) and the offset after it."""
    labels: list[str] = []
    end = -1
    length = 0
    for _ in range(128):  # a pointer loop never ends on its own
        if offset >= len(data):
            raise FormatError("name runs past the message")
        size = data[offset]
        if size == 0:
            return ".".join(labels), (offset + 1 if end < 0 else end)
        if size & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise FormatError("pointer cut short")
            if end < 0:
                end = offset + 2
            offset = ((size & 0x3F) << 8) | data[offset + 1]
            continue
        if size & 0xC0:
            raise FormatError("unknown label type")
        label = data[offset + 1 : offset + 1 + size]
        if len(label) != size:
            raise FormatError("label runs past the message")
        length += size + 1
        if length > MAX_NAME:
            raise FormatError("name longer than 255 bytes")
        labels.append(label.decode("ascii", errors="replace"))
        offset += 1 + size
    raise FormatError("too many compression pointers")


def encode_name(name: str) -> bytes:
    """A dotted name as labels; ValueError for a label longer than 63 bytes."""
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii", errors="replace")
        if not raw:
            continue
        if len(raw) > 63:
            raise ValueError(f"DNS label longer than 63 bytes: {label!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out) + b"\0"


def reply(
    query: bytes,
    q: Question,
    *,
    rcode: int = NOERROR,
    addresses: Sequence[IPv4Address] = (),
    ptr: str | None = None,
    ttl: int = 0,
    authoritative: bool = True,
    limit: int | None = UDP_LIMIT,
) -> bytes:
    """The response to ``query``: its question, then A records or one PTR record."""
    flags = QR | (q.flags & (OPCODE | RD)) | RA | (rcode & 0xF)
    if authoritative:
        flags |= AA
    records = [
        _POINTER_TO_QUESTION + _RECORD.pack(TYPE_A, CLASS_IN, ttl, 4) + a.packed for a in addresses
    ]
    if ptr is not None:
        target = encode_name(ptr)
        records.append(
            _POINTER_TO_QUESTION + _RECORD.pack(TYPE_PTR, CLASS_IN, ttl, len(target)) + target
        )
    question = query[_HEADER.size : q.end]
    size = _HEADER.size + len(question)
    kept: list[bytes] = []
    for record in records:
        if limit is not None and size + len(record) > limit:
            flags |= TC
            break
        kept.append(record)
        size += len(record)
    header = _HEADER.pack(q.id, flags, 1, len(kept), 0, 0)
    return header + question + b"".join(kept)


def failure(query: bytes, rcode: int) -> bytes:
    """A bare response with ``rcode`` (no question) for a query that cannot be read or served;
    empty if not even its header can be read."""
    if len(query) < _HEADER.size:
        return b""
    qid, flags = struct.unpack_from("!HH", query)
    return _HEADER.pack(qid, QR | (flags & (OPCODE | RD)) | RA | rcode, 0, 0, 0, 0)


def reverse_address(name: str) -> IPv4Address | None:
    """The address a PTR query asks about (``4.3.2.1.in-addr.arpa``), or None."""
    labels = name.lower().rstrip(".").split(".")
    if len(labels) != 6 or labels[4:] != ["in-addr", "arpa"]:
        return None
    try:
        return IPv4Address(".".join(reversed(labels[:4])))
    except ValueError:
        return None


def query(name: str, qtype: int = TYPE_A, qid: int = 0x1234, *, recursion: bool = True) -> bytes:
    """A query for ``name`` (for clients: tests, health checks, benchmarks)."""
    flags = RD if recursion else 0
    return _HEADER.pack(qid, flags, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, 1)


@dataclasses.dataclass(frozen=True)
class Answer:
    """A response as a client reads it (tests and tools): rcode, flags, A and PTR data."""

    id: int
    rcode: int
    flags: int
    addresses: tuple[IPv4Address, ...]
    names: tuple[str, ...]


def read_answer(data: bytes) -> Answer:
    """Decode a response's header and its A and PTR records (others are skipped)."""
    qid, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(data)
    offset = _HEADER.size
    for _ in range(qdcount):
        _, offset = read_name(data, offset)
        offset += 4
    addresses: list[IPv4Address] = []
    names: list[str] = []
    for _ in range(ancount):
        _, offset = read_name(data, offset)
        rtype, _, _, rdlength = _RECORD.unpack_from(data, offset)
        offset += _RECORD.size
        if rtype == TYPE_A and rdlength == 4:
            addresses.append(IPv4Address(data[offset : offset + 4]))
        elif rtype == TYPE_PTR:
            names.append(read_name(data, offset)[0])
        offset += rdlength
    return Answer(qid, flags & 0xF, flags, tuple(addresses), tuple(names))
