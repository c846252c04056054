"""Choosing a network's subnet from the address pool: pure functions, no I/O.

A subnet must not overlap anything the host already reaches directly: addresses on its
interfaces, routes other than the default route, the networks netd already has, and the host's
nameservers (a container whose subnet held the resolver's address could no longer reach it).
The machine is shared with other software (Docker's 172.17.0.0/16, podman's 10.88.0.0/16, VPNs),
so the pool is walked in order and every overlapping candidate is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network

from services.kit import errors


def pick_subnet(pool: IPv4Network, prefixlen: int, taken: Iterable[IPv4Network]) -> IPv4Network:
    """The first ``/prefixlen`` of ``pool`` that overlaps nothing in ``taken``.

    Default routes (prefix length 0) in ``taken`` are ignored: they cover everything and would
    otherwise rule out every candidate. Raises ResourceExhausted (POOL_EXHAUSTED) when no
    candidate is left.
    """
    if not pool.prefixlen <= prefixlen <= 30:
        raise errors.InvalidArgument(
            f"cannot carve /{prefixlen} subnets from {pool}", reason="SUBNET_INVALID"
        )
    blockers = [n for n in taken if n.prefixlen > 0]
    for candidate in pool.subnets(new_prefix=prefixlen):
        if not any(candidate.overlaps(b) for b in blockers):
            return candidate
    raise errors.ResourceExhausted(
        f"every /{prefixlen} of the address pool {pool} overlaps a network in use on this host",
        reason="POOL_EXHAUSTED",
    )
