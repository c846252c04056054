"""Telling the other nodes about this node's overlay containers, and learning theirs.

Each netd with an underlay swaps the endpoints of its overlay networks with every peer of
them (``overlay_peers`` and the peers each network names) in one call per peer: its own in the
request, the peer's in the reply. A swap runs at once after every local change and every
``INTERVAL`` seconds anyway, so a peer that restarted, or missed a change while it was
unreachable, catches up within one interval; what a peer said is forgotten once it has not
been heard from for ``FORGET_AFTER`` intervals (its containers may be gone with it).

Full state each time rather than changes: a swap is idempotent, needs no ordering or
acknowledgement, and a lab's few hundred endpoints fit in one small message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address

import grpc

from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.kit import errors
from services.kit.grpcclient import open_channel
from services.kit.log import get_logger
from services.netd.api import convert
from services.netd.domain import overlay
from services.netd.domain.directory import Directory
from services.netd.domain.models import Network, RemoteEndpoint

log = get_logger()

INTERVAL = 5.0
FORGET_AFTER = 3
CALL_TIMEOUT = 2.0
SETTLE = 0.05  # changes made together (a connect with its aliases) go out in one swap


class Peering:
    """The swap loop of one netd (``run``), with a channel per peer kept between swaps, and
    the answer to the peers' swaps (``heard``). ``networks`` lists the node's networks."""

    def __init__(
        self,
        directory: Directory,
        networks: Callable[[], Awaitable[list[Network]]],
        underlay: overlay.Underlay,
        *,
        interval: float = INTERVAL,
    ) -> None:
        self._directory = directory
        self._networks = networks
        self._underlay = underlay
        self._interval = interval
        self._channels: dict[IPv4Address, grpc.aio.Channel] = {}
        self._heard: dict[IPv4Address, float] = {}

    async def run(self) -> None:
        try:
            while True:
                await self.swap_all()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._directory.changed.wait(), self._interval)
                    await asyncio.sleep(SETTLE)
        finally:
            await asyncio.gather(*(c.close() for c in self._channels.values()))
            self._channels.clear()

    async def peers(self) -> set[IPv4Address]:
        """The peers of every overlay network here (none while there is no overlay network)."""
        found: set[IPv4Address] = set()
        for network in await self._networks():
            if network.is_overlay:
                found.update(overlay.peers(network, self._underlay))
        return found

    async def swap_all(self) -> None:
        self._directory.changed.clear()
        peers = await self.peers()
        mine = netd_pb2.ShareEndpointsRequest(
            endpoints=convert.overlay_endpoints(self._directory.overlay_endpoints())
        )
        await asyncio.gather(*(self._swap(peer, mine) for peer in peers))
        stale = time.monotonic() - self._interval * FORGET_AFTER
        for peer in self._directory.remote_peers():
            if peer not in peers or self._heard.get(peer, 0.0) < stale:
                self._directory.set_remote(peer, ())
                self._heard.pop(peer, None)
        for peer in set(self._channels) - peers:
            await self._channels.pop(peer).close()

    async def _swap(self, peer: IPv4Address, mine: netd_pb2.ShareEndpointsRequest) -> None:
        channel = self._channels.get(peer)
        if channel is None:
            channel = self._channels[peer] = open_channel(f"{peer}:{self._underlay.peer_port}")
        try:
            reply = await netd_pb2_grpc.OverlayStub(channel).ShareEndpoints(
                mine, timeout=CALL_TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            log.debug("overlay_peer_unreachable", peer=str(peer), error=exc.code().name)
            return
        self._heard[peer] = time.monotonic()
        self._directory.set_remote(peer, convert.remote_endpoints(reply.endpoints))

    async def heard(
        self, peer: IPv4Address, endpoints: list[RemoteEndpoint]
    ) -> list[RemoteEndpoint]:
        """A peer's swap called in: keep what it said, answer with this node's endpoints.
        PermissionDenied for a caller that is no peer of any overlay network here."""
        if peer not in await self.peers():
            raise errors.PermissionDenied(
                f"{peer} is not a peer of this node's overlay networks", reason="PEER_UNKNOWN"
            )
        self._heard[peer] = time.monotonic()
        self._directory.set_remote(peer, endpoints)
        return self._directory.overlay_endpoints()
