"""The domain's ``Kernel`` port: pyroute2 for the host's links, raw rtnetlink for sandboxes.

One long-lived pyroute2 socket in the host namespace serves the rare requests: dumps (links,
addresses, routes), the bridge, lookups and deletes. A sandbox's own work runs in a fresh
thread per sandbox with raw rtnetlink (``sandbox``, ``rtnl``), because pyroute2's ~0.5 ms of
Python per request would be most of a sandbox's set-up time.

Every link netd creates carries its prefix and its link group (``names.link_group``), set in the
creating message itself. Links are deleted only when they carry both, so a link of somebody else
that happens to share a name is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any, TypeVar

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from services.kit import errors
from services.kit.log import get_logger
from services.netd.domain import names
from services.netd.domain.models import BridgePlan, EndpointPlan, LinkState, NetnsFile, VxlanPlan
from services.netd.netlink import netns, sandbox, sysctl, teardown
from services.netd.netlink.errors import is_exists, is_invalid, is_missing, translate

log = get_logger()
T = TypeVar("T")

IFF_UP = 1
FLOOD_MAC = "00:00:00:00:00:00"  # a VXLAN forwarding entry for every frame no other matches
LOCAL_TABLE = 255


class NetlinkKernel:
    """netd's view of the host's links, namespaces and sysctls."""

    def __init__(self, ipr: Any, prefix: str) -> None:
        self._ipr = ipr
        self._prefix = prefix
        self._group = names.link_group(prefix)
        self._dump_lock = asyncio.Lock()  # one dump at a time per netlink socket (else EBUSY)
        self._bridge_index: dict[str, int] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, prefix: str) -> AsyncIterator[NetlinkKernel]:
        """A kernel adapter with its host netlink socket, closed when the block ends."""
        async with AsyncIPRoute() as ipr:
            yield cls(ipr, prefix)

    # -- host ----------------------------------------------------------------------------

    async def host_networks(self) -> list[IPv4Network]:
        found = []
        for msg in await self._dump(self._ipr.addr, family=socket.AF_INET):
            found.append(IPv4Interface(f"{msg.get('address')}/{msg['prefixlen']}").network)
        for msg in await self._dump(self._ipr.route, family=socket.AF_INET):
            if msg.get("table") != LOCAL_TABLE and msg["dst_len"] > 0 and msg.get("dst"):
                found.append(IPv4Network(f"{msg.get('dst')}/{msg['dst_len']}", strict=False))
        return found

    async def ensure_bridge(self, plan: BridgePlan) -> None:
        index = await self._own_link(
            plan.name,
            lambda: self._ipr.link(
                "add",
                ifname=plan.name,
                kind="bridge",
                group=self._group,
                address=plan.mac,
                state="up",
            ),
            f"create bridge {plan.name}",
        )
        size = {"mtu": plan.mtu} if plan.mtu else {}
        await self._call(
            self._ipr.link("set", index=index, address=plan.mac, state="up", **size),
            f"bring bridge {plan.name} up",
        )
        if plan.vxlan is not None:
            await self._ensure_vxlan(plan.vxlan, index, plan.mtu)
        await self._call(
            self._ipr.addr(
                "add",
                index=index,
                address=str(plan.gateway.ip),
                prefixlen=plan.gateway.network.prefixlen,
            ),
            f"give bridge {plan.name} the address {plan.gateway}",
            exists_ok=True,
        )
        for key in ("forwarding", "route_localnet"):
            await self._thread(
                functools.partial(sysctl.ensure, "1", "net", "ipv4", "conf", plan.name, key),
                f"turn {key} on for {plan.name}",
            )
        self._bridge_index[plan.name] = index

    async def _ensure_vxlan(self, plan: VxlanPlan, bridge_index: int, mtu: int) -> None:
        """The overlay's VXLAN link on the bridge, up, with a flood entry for every peer (and
        none for a node no longer among them).

        No learning: the peers are known, so the kernel never adds tunnel entries of its own,
        and a frame for an address no bridge has seen yet goes to every peer (the all-zeros
        entries), as broadcasts do.
        """
        index = await self._own_link(
            plan.name,
            lambda: self._ipr.link(
                "add",
                ifname=plan.name,
                kind="vxlan",
                group=self._group,
                vxlan_id=plan.vni,
                vxlan_local=str(plan.local),
                vxlan_port=plan.port,
                vxlan_learning=0,
            ),
            f"create the VXLAN link {plan.name}",
        )
        size = {"mtu": mtu} if mtu else {}
        await self._call(
            self._ipr.link("set", index=index, master=bridge_index, state="up", **size),
            f"attach {plan.name} to its bridge",
        )
        for peer in plan.peers:
            await self._call(
                self._ipr.fdb("append", ifindex=index, lladdr=FLOOD_MAC, dst=str(peer)),
                f"flood {plan.name} to {peer}",
                exists_ok=True,
            )
        wanted = {str(peer) for peer in plan.peers}
        for entry in await self._dump(self._ipr.fdb, ifindex=index):
            dst = entry.get("NDA_DST")
            flood = entry.get("ifindex") == index and entry.get("NDA_LLADDR") == FLOOD_MAC
            if flood and dst and dst not in wanted:  # a node no longer in overlay_peers
                await self._call(
                    self._ipr.fdb("del", ifindex=index, lladdr=FLOOD_MAC, dst=dst),
                    f"stop flooding {plan.name} to {dst}",
                    missing_ok=True,
                )

    async def links(self) -> list[LinkState]:
        msgs = await self._dump(self._ipr.link)
        by_index = {m["index"]: m.get("ifname") for m in msgs}
        return [
            LinkState(
                name=m.get("ifname"),
                kind=m.get(("linkinfo", "kind")) or "",
                master=by_index.get(m.get("master")),
                up=bool(m["flags"] & IFF_UP),
            )
            for m in msgs
            if self._ours(m)
        ]

    async def delete_link(self, name: str) -> None:
        link = await self._link(name)
        if link is None:
            return
        if not self._ours(link):
            log.warning("link_not_deleted", link=name, why="not netd's (prefix or group)")
            return
        await self._call(
            self._ipr.link("del", index=link["index"]), f"delete link {name}", missing_ok=True
        )
        self._bridge_index.pop(name, None)

    async def enable_ip_forward(self) -> str:
        return await self._thread(
            lambda: sysctl.ensure("1", "net", "ipv4", "ip_forward"), "turn on net.ipv4.ip_forward"
        )

    # -- sandboxes -----------------------------------------------------------------------

    async def create_sandbox(self, path: Path, endpoint: EndpointPlan | None) -> None:
        for attempt in (1, 2):
            veth = await self._veth(endpoint) if endpoint is not None else None
            try:
                await netns.in_fresh_thread(functools.partial(sandbox.create, path, veth))
                return
            except OSError as exc:
                with contextlib.suppress(errors.EstibaError):
                    await self.remove_sandbox(path, [endpoint.host_ifname] if endpoint else [])
                if attempt == 2 or not _retryable(exc):
                    raise translate(exc, f"set up the sandbox at {path}") from exc
                # A leftover link of ours with the veth's name (deleted just above), or a
                # bridge recreated under a new index (the kernel answers EINVAL for a master
                # that does not exist): look the bridge up again and retry once.
                if endpoint is not None:
                    self._bridge_index.pop(endpoint.bridge, None)

    async def add_endpoint(self, path: Path, endpoint: EndpointPlan) -> None:
        for attempt in (1, 2):
            veth = await self._veth(endpoint)
            try:
                await netns.in_fresh_thread(functools.partial(sandbox.add, path, veth))
                return
            except OSError as exc:
                with contextlib.suppress(errors.EstibaError):
                    await self.delete_link(endpoint.host_ifname)
                if attempt == 2 or not _retryable(exc):
                    raise translate(exc, f"add {endpoint.ifname} to the sandbox at {path}") from exc
                self._bridge_index.pop(endpoint.bridge, None)

    async def set_default_route(self, path: Path, gateway: IPv4Address | None) -> None:
        try:
            await netns.in_fresh_thread(functools.partial(sandbox.set_default_route, path, gateway))
        except OSError as exc:
            raise translate(exc, f"set the default route of the sandbox at {path}") from exc

    async def repair_sandbox(self, path: Path, endpoints: Sequence[EndpointPlan]) -> bool:
        veths = [await self._veth(e) for e in endpoints]
        try:
            return await netns.in_fresh_thread(functools.partial(sandbox.repair, path, veths))
        except OSError as exc:
            raise translate(exc, f"repair the sandbox at {path}") from exc

    async def remove_sandbox(self, path: Path, host_ifnames: Sequence[str]) -> None:
        """Off the event loop: a veth's delete waits for the kernel (``teardown``); run after
        RemoveSandbox answered, in the background (``domain.removals``)."""
        names = [n for n in host_ifnames if n.startswith(self._prefix)]
        foreign = await self._thread(
            functools.partial(teardown.remove, path, names, self._group),
            f"remove the sandbox at {path}",
        )
        for name in [*foreign, *(n for n in host_ifnames if n not in names)]:
            log.warning("link_not_deleted", link=name, why="not netd's (prefix or group)")

    async def netns_files(self, directory: Path) -> list[NetnsFile]:
        found = await self._thread(lambda: netns.list_files(directory), f"list {directory}")
        return [NetnsFile(path, mounted) for path, mounted in found]

    # -- helpers -------------------------------------------------------------------------

    async def _veth(self, endpoint: EndpointPlan) -> sandbox.Veth:
        return sandbox.Veth(
            host_ifname=endpoint.host_ifname,
            group=self._group,
            bridge_index=await self._bridge(endpoint.bridge),
            address=endpoint.address,
            gateway=endpoint.gateway,
            mac=endpoint.mac,
            peer_name=endpoint.ifname,
            mtu=endpoint.mtu,
        )

    def _ours(self, msg: Any) -> bool:
        name = msg.get("ifname") or ""
        return bool(name.startswith(self._prefix) and msg.get("group") == self._group)

    async def _bridge(self, name: str) -> int:
        index = self._bridge_index.get(name)
        if index is None:
            link = await self._link(name)
            if link is None:
                raise errors.FailedPrecondition(
                    f"bridge {name} is missing; restart netd to recreate it",
                    reason="BRIDGE_MISSING",
                )
            index = self._bridge_index[name] = int(link["index"])
        return index

    async def _own_link(self, name: str, add: Callable[[], Awaitable[Any]], doing: str) -> int:
        """The index of netd's link ``name``, made with ``add`` if there is none; a link of that
        name that is not netd's is refused (LINK_NAME_TAKEN)."""
        link = await self._link(name)
        if link is None:
            await self._call(add(), doing, exists_ok=True)
            link = await self._link(name)
        if link is None or link.get("group") != self._group:
            raise errors.FailedPrecondition(
                f"a link named {name} exists and is not netd's; choose another kernel_prefix",
                reason="LINK_NAME_TAKEN",
            )
        return int(link["index"])

    async def _link(self, name: str) -> Any | None:
        try:
            found = await self._ipr.link("get", ifname=name)
        except NetlinkError as exc:
            if is_missing(exc):
                return None
            raise translate(exc, f"look up link {name}") from exc
        return found[0] if found else None

    async def _dump(self, method: Callable[..., Awaitable[Any]], **kwargs: Any) -> list[Any]:
        async with self._dump_lock:
            try:
                return [msg async for msg in await method("dump", **kwargs)]
            except NetlinkError as exc:
                raise translate(exc, "list links, addresses or routes") from exc

    @staticmethod
    async def _call(
        step: Awaitable[T], doing: str, *, exists_ok: bool = False, missing_ok: bool = False
    ) -> T:
        try:
            return await step
        except (NetlinkError, OSError) as exc:
            if (exists_ok and is_exists(exc)) or (missing_ok and is_missing(exc)):
                return None  # type: ignore[return-value]
            raise translate(exc, doing) from exc

    @staticmethod
    async def _thread(work: Callable[[], T], doing: str) -> T:
        try:
            return await asyncio.to_thread(work)
        except OSError as exc:
            raise translate(exc, doing) from exc


def _retryable(exc: OSError) -> bool:
    return is_exists(exc) or is_missing(exc) or is_invalid(exc)
