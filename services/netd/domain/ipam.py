"""Address management inside one subnet: pure functions, no I/O.

The gateway is the subnet's first address unless the network was created with another one;
containers get the others except the network and broadcast addresses, from the network's IP
range when it has one. A static address (``claim``) may lie anywhere in the subnet.
Allocation is serial: it continues after the address handed out last and wraps around, so an
address just released is the last to be reused. A container that comes right after another one
that went away then does not inherit connections (or ARP and conntrack entries) meant for its
predecessor, which is why Docker moved to serial allocation too.

The caller runs ``next_address`` inside the database transaction that records the result, so
the UNIQUE (network, address) constraint and this choice agree even when netd dies mid-way.
"""

from __future__ import annotations

from collections.abc import Collection
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from services.kit import errors


def gateway_of(subnet: IPv4Network) -> IPv4Address:
    """The address the network's bridge holds: the first one of the subnet."""
    if subnet.prefixlen > 30:
        raise errors.InvalidArgument(
            f"subnet {subnet} is too small for a gateway and a container", reason="SUBNET_INVALID"
        )
    return subnet.network_address + 1


def next_address(
    subnet: IPv4Network,
    used: Collection[IPv4Address],
    last: IPv4Address | None,
    *,
    gateway: IPv4Address | None = None,
    within: IPv4Network | None = None,
) -> IPv4Address:
    """The next free container address after ``last``, wrapping around once.

    Candidates are the subnet's host addresses (inside ``within`` if given), except the
    gateway (the subnet's first address unless given). Raises ResourceExhausted
    (SUBNET_EXHAUSTED) when every candidate is taken.
    """
    if gateway is None:
        gateway = gateway_of(subnet)
    scope = within or subnet
    first = max(int(subnet.network_address) + 1, int(scope.network_address))
    # exclusive: the broadcast address is never handed out
    end = min(int(subnet.broadcast_address), int(scope.broadcast_address) + 1)
    taken = {int(a) for a in used}
    taken.add(int(gateway))
    start = int(last) + 1 if last is not None and first <= int(last) < end else first
    for candidate in (*range(start, end), *range(first, start)):
        if candidate not in taken:
            return IPv4Address(candidate)
    where = f"{scope} of {subnet}" if within is not None else str(subnet)
    raise errors.ResourceExhausted(
        f"no free address left in {where} ({len(taken)} in use)", reason="SUBNET_EXHAUSTED"
    )


def claim(
    subnet: IPv4Network, gateway: IPv4Address, used: Collection[IPv4Address], wanted: str
) -> IPv4Address:
    """A static address asked for by the caller, checked: in the subnet, usable, not taken."""
    try:
        address = IPv4Address(wanted)
    except ValueError:
        raise errors.InvalidArgument(
            f"invalid IPv4 address {wanted!r}", reason="ADDRESS_INVALID"
        ) from None
    if address not in subnet:
        raise errors.InvalidArgument(
            f"address {address} is not in the network's subnet {subnet}", reason="ADDRESS_INVALID"
        )
    if address in (subnet.network_address, subnet.broadcast_address):
        raise errors.InvalidArgument(
            f"address {address} is the subnet's network or broadcast address",
            reason="ADDRESS_INVALID",
        )
    if address == gateway or address in used:
        owner = "the network's gateway" if address == gateway else "another container"
        raise errors.PermissionDenied(  # dockerd's "Address already in use" (403)
            f"Address already in use: {address} is {owner}'s", reason="ADDRESS_IN_USE"
        )
    return address


def mac_for(address: IPv4Address) -> str:
    """A locally administered MAC derived from the address: 02:42 then the four address bytes.

    Stable for an address, so neighbours' ARP caches stay right when an address is reused, and
    peers on other hosts can compute it (static FDB entries for overlays).
    """
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def with_prefix(address: IPv4Address, subnet: IPv4Network) -> IPv4Interface:
    """``address`` with the subnet's prefix length, as an interface holds it."""
    return IPv4Interface((address, subnet.prefixlen))
