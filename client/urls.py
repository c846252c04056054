"""Percent-encoding of paths and queries (RFC 3986), without ``urllib.parse``.

``urllib.parse`` brings ``ipaddress`` and more along, a few milliseconds of every command's
start-up for two functions that fit here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def quote(text: str, safe: str = "/") -> str:
    """``text`` with every byte of its UTF-8 form outside the unreserved set and ``safe``
    written as ``%XX``."""
    keep = UNRESERVED | frozenset(safe.encode())
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode())


def urlencode(query: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """``k=v&k=v``, each part quoted; a mapping or pairs (a key may repeat)."""
    pairs = query.items() if hasattr(query, "items") else query
    return "&".join(f"{quote(str(k), '')}={quote(str(v), '')}" for k, v in pairs)
