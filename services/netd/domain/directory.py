"""Who is who on which network: the data the embedded DNS answers from, kept in memory.

The managers tell the directory about every change as it is committed (a sandbox made, removed,
connected, disconnected, renamed; a network made or removed), so a name follows a container at
once and a query never touches the database: it is a few dictionary lookups.

What a container can resolve (Docker's rules for user-defined networks):

* on each user-defined network it is on, every container of that network by its name, by its
  short id (the first 12 characters of the id), by its aliases on that network, and as
  ``<name>.<network>``; the default network "bridge" has no names;
* the querier is recognised by its source address, so a container on several networks gets
  the names of all of them, whichever of its networks' servers it asks; a name on the network
  the query arrived on wins over the same name on another;
* a source no container has gets the names of the network it asked on if it is on that
  network's subnet (the host itself, from the gateway address), else none at all;
* names that are not known go to the host's resolvers, unless every network of the querier is
  internal: an internal network has no way out, not even through DNS;
* on an overlay network, the containers of the network of the same name on the other nodes
  too, as their netd reported them (``set_remote``); a local container wins a name over them.

``changed`` is set at every local change, for what tells the other nodes (the peering loop);
what the other nodes report does not set it, so two nodes never echo each other.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from ipaddress import IPv4Address

from services.netd.domain.models import Network, RemoteEndpoint, Sandbox


@dataclasses.dataclass(frozen=True)
class Scope:
    """What one querier may resolve: networks in order of preference, and whether to forward."""

    networks: tuple[str, ...]
    forward: bool


class Directory:
    """Names and addresses of containers on user-defined networks, for the embedded DNS."""

    def __init__(self) -> None:
        self._networks: dict[str, Network] = {}
        self._sandboxes: dict[str, Sandbox] = {}
        self._owners: dict[IPv4Address, str] = {}
        self._zones: dict[str, dict[str, list[IPv4Address]]] = {}
        self._reverse: dict[IPv4Address, str] = {}
        self._remote: dict[IPv4Address, tuple[RemoteEndpoint, ...]] = {}
        self._stale = True
        self.changed = asyncio.Event()

    # -- changes -------------------------------------------------------------------------

    def set_networks(self, networks: Iterable[Network]) -> None:
        self._networks = {n.id: n for n in networks}
        self._touch()

    def put(self, sandbox: Sandbox) -> None:
        """Add or replace a container's entry (after create, connect, disconnect, rename)."""
        self._sandboxes[sandbox.container_id] = sandbox
        self._touch()

    def drop(self, container_id: str) -> None:
        if self._sandboxes.pop(container_id, None) is not None:
            self._touch()

    def set_remote(self, peer: IPv4Address, endpoints: Iterable[RemoteEndpoint]) -> None:
        """Replace all that is known of the peer's overlay endpoints (empty: forget it)."""
        found = tuple(endpoints)
        if found:
            self._remote[peer] = found
        else:
            self._remote.pop(peer, None)
        self._stale = True

    def remote_peers(self) -> set[IPv4Address]:
        return set(self._remote)

    def remote_addresses(self, network: Network) -> set[IPv4Address]:
        """What the other nodes' containers hold on the overlay network, as they told."""
        if not network.is_overlay:
            return set()
        return {
            r.address
            for found in self._remote.values()
            for r in found
            if r.network == network.name and r.address in network.subnet
        }

    def overlay_endpoints(self) -> list[RemoteEndpoint]:
        """This node's containers on overlay networks, as the other nodes are told of them."""
        found = []
        for sandbox in self._sandboxes.values():
            for endpoint in sandbox.endpoints:
                network = self._networks.get(endpoint.network_id)
                if network is None or not network.is_overlay:
                    continue
                found.append(
                    RemoteEndpoint(
                        network=network.name,
                        container_id=sandbox.container_id,
                        name=sandbox.name,
                        aliases=endpoint.aliases,
                        address=endpoint.address.ip,
                    )
                )
        return found

    def _touch(self) -> None:
        self._stale = True
        self.changed.set()

    def load(self, networks: Iterable[Network], sandboxes: Iterable[Sandbox]) -> None:
        """Start over from the records (at start)."""
        self._sandboxes = {s.container_id: s for s in sandboxes}
        self.set_networks(networks)

    # -- queries -------------------------------------------------------------------------

    def scope(self, network_id: str, source: IPv4Address) -> Scope:
        """What the querier at ``source``, asking the server of ``network_id``, may resolve."""
        self._refresh()
        owner = self._owners.get(source)
        if owner is not None:
            endpoints = self._sandboxes[owner].endpoints
            nets = [e.network_id for e in endpoints if self._named(e.network_id)]
            nets.sort(key=lambda n: n != network_id)
            forward = any(not e.internal for e in endpoints)
            return Scope(tuple(nets), forward)
        network = self._networks.get(network_id)
        if network is not None and source in network.subnet:
            return Scope((network_id,), not network.internal)
        return Scope((), False)

    def lookup(self, scope: Scope, name: str) -> list[IPv4Address] | None:
        """The addresses of ``name`` within the scope; None if no container there has it."""
        self._refresh()
        key = name.rstrip(".").lower()
        for network_id in scope.networks:
            found = self._zones.get(network_id, {}).get(key)
            if found:
                return list(found)
        return None

    def reverse(self, scope: Scope, address: IPv4Address) -> str | None:
        """The name for a container's address (``<name>.<network>``), if in the scope."""
        self._refresh()
        name = self._reverse.get(address)
        owner = self._owners.get(address)
        if name is None or owner is None:
            return None
        on = {e.network_id for e in self._sandboxes[owner].endpoints if e.address.ip == address}
        return name if on & set(scope.networks) else None

    def owns(self, address: IPv4Address) -> bool:
        """Whether the address is in one of the subnets of netd's networks."""
        return any(address in n.subnet for n in self._networks.values())

    # -- the index -----------------------------------------------------------------------

    def _named(self, network_id: str) -> bool:
        network = self._networks.get(network_id)
        return network is not None and network.has_dns

    def _refresh(self) -> None:
        if not self._stale:
            return
        owners: dict[IPv4Address, str] = {}
        zones: dict[str, dict[str, list[IPv4Address]]] = {}
        reverse: dict[IPv4Address, str] = {}
        for sandbox in self._sandboxes.values():
            for endpoint in sandbox.endpoints:
                address = endpoint.address.ip
                owners[address] = sandbox.container_id
                network = self._networks.get(endpoint.network_id)
                if network is None or not network.has_dns:
                    continue
                zone = zones.setdefault(network.id, {})
                label = sandbox.name or sandbox.container_id[:12]
                reverse[address] = f"{label}.{network.name}"
                for name in _names(sandbox, endpoint.aliases, network.name):
                    found = zone.setdefault(name, [])
                    if address not in found:
                        found.append(address)
        overlays = {n.name: n for n in self._networks.values() if n.is_overlay}
        local = {network_id: set(zone) for network_id, zone in zones.items()}
        for remotes in self._remote.values():
            for remote in remotes:
                network = overlays.get(remote.network)
                if network is None or remote.address not in network.subnet:
                    continue
                if remote.address in owners:
                    continue  # a local container has the address: it speaks for it
                zone = zones.setdefault(network.id, {})
                mine = local.get(network.id, set())
                for name in _remote_names(remote) - mine:  # a local name is not shadowed
                    found = zone.setdefault(name, [])
                    if remote.address not in found:
                        found.append(remote.address)
        self._owners, self._zones, self._reverse = owners, zones, reverse
        self._stale = False


def _remote_names(remote: RemoteEndpoint) -> set[str]:
    names = {remote.container_id[:12].lower(), *(a.lower() for a in remote.aliases)}
    if remote.name:
        names.update({remote.name.lower(), f"{remote.name}.{remote.network}".lower()})
    return names


def _names(sandbox: Sandbox, aliases: Iterable[str], network: str) -> set[str]:
    names = {sandbox.container_id[:12].lower(), *(a.lower() for a in aliases)}
    if sandbox.name:
        names.update({sandbox.name.lower(), f"{sandbox.name}.{network}".lower()})
    return names
