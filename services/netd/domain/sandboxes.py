"""SandboxManager: each container's network namespace, interface and address.

Create records first, then builds. The address (and the veth name) is chosen and recorded in
one write transaction before anything touches the kernel, so two containers never get one
address, whatever point netd dies at: after a crash, reconcile at start either finishes the
kernel part (the namespace file exists) or releases the record (it does not). A failure that is
not a crash undoes the kernel part and the record before the error goes back to the caller.

Both directions are idempotent: a repeated create returns the sandbox made the first time, and
removing a sandbox that does not exist succeeds. Calls for one container are serialized, and
once started, a create or remove runs to its end even if the caller goes away, so a retry finds
a finished state instead of a half-built one.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from services.kit import errors
from services.kit.log import get_logger
from services.kit.tasks import spawn
from services.netd.domain import dnsfiles, ipam, names
from services.netd.domain.models import (
    DEFAULT_NETWORK,
    Endpoint,
    EndpointPlan,
    Mode,
    Network,
    Sandbox,
    SandboxFiles,
    SandboxRequest,
    now,
)
from services.netd.domain.networks import NetworkManager
from services.netd.domain.ports import HostFiles, Kernel, State, StateTx

log = get_logger()
T = TypeVar("T")


class SandboxManager:
    """Rules about sandboxes; see the module docstring for the order of things."""

    def __init__(
        self,
        state: State,
        kernel: Kernel,
        host: HostFiles,
        networks: NetworkManager,
        *,
        prefix: str,
        netns_dir: Path,
        dns_fallback: Sequence[str],
    ) -> None:
        self._state = state
        self._kernel = kernel
        self._host = host
        self._networks = networks
        self._prefix = prefix
        self._netns_dir = netns_dir
        self._dns_fallback = tuple(dns_fallback)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._building: set[str] = set()

    async def create(self, request: SandboxRequest) -> tuple[Sandbox, SandboxFiles]:
        """The container's sandbox, made now or returned as made by an earlier identical call."""
        cid = names.check_container_id(request.container_id)
        hostname = names.check_hostname(request.hostname or cid[:12])
        aliases = tuple(names.check_alias(a) for a in request.aliases)
        mode, network = await self._resolve_network(request.network)
        if aliases and network is None:
            raise errors.InvalidArgument(
                f"aliases need a network; a sandbox in {mode} mode has none",
                reason="ALIASES_WITHOUT_NETWORK",
            )
        sandbox, render = await asyncio.gather(
            self._serialized(cid, lambda: self._create(cid, mode, network, hostname, aliases)),
            self._renderer({mode}),  # reads the host's files while the sandbox is built
        )
        return sandbox, render(sandbox)

    async def remove(self, container_id: str) -> bool:
        """Tear the sandbox down and release its address; False if there was none."""
        cid = names.check_container_id(container_id)
        return await self._serialized(cid, lambda: self._remove(cid))

    async def get(self, container_id: str) -> tuple[Sandbox, SandboxFiles]:
        cid = names.check_container_id(container_id)
        async with self._lock(cid):
            sandbox = await self._read(cid)
        if sandbox is None:
            raise errors.NotFound(f"no sandbox for container {cid!r}", reason="SANDBOX_UNKNOWN")
        return sandbox, await self.files(sandbox)

    async def list_all(self) -> list[tuple[Sandbox, SandboxFiles]]:
        """Every finished sandbox with its files (those being built now are left out)."""
        async with self._state.read() as tx:
            found = [s for s in await tx.sandboxes() if s.container_id not in self._building]
        render = await self._renderer({s.mode for s in found})
        return [(s, render(s)) for s in found]

    async def files(self, sandbox: Sandbox) -> SandboxFiles:
        """/etc/hosts and /etc/resolv.conf for the container, from the host's current files."""
        return (await self._renderer({sandbox.mode}))(sandbox)

    async def _renderer(self, modes: set[Mode]) -> Callable[[Sandbox], SandboxFiles]:
        """Read the host's files once for many sandboxes; render each from them."""
        as_host = SandboxFiles("", "")
        if Mode.HOST in modes:
            as_host = SandboxFiles(await self._host.etc_hosts(), await self._host.etc_resolv_conf())
        resolv = ""
        if modes - {Mode.HOST}:
            host_resolv = await self._host.resolv_conf()
            resolv = dnsfiles.container_resolv_conf(host_resolv, self._dns_fallback)

        def render(sandbox: Sandbox) -> SandboxFiles:
            if sandbox.mode is Mode.HOST:
                return as_host
            address = sandbox.endpoints[0].address.ip if sandbox.endpoints else None
            return SandboxFiles(dnsfiles.hosts_file(sandbox.hostname, address), resolv)

        return render

    def netns_path(self, container_id: str) -> Path:
        return self._netns_dir / container_id

    # -- the steps -------------------------------------------------------------------------

    async def _resolve_network(self, ref: str) -> tuple[Mode, Network | None]:
        if ref in (Mode.NONE, Mode.HOST):
            return Mode(ref), None
        network = await self._networks.find(ref or DEFAULT_NETWORK)
        if network is None:
            raise errors.NotFound(f"network {ref!r} not found", reason="NETWORK_UNKNOWN")
        return Mode.BRIDGE, network

    async def _create(
        self,
        cid: str,
        mode: Mode,
        network: Network | None,
        hostname: str,
        aliases: tuple[str, ...],
    ) -> Sandbox:
        self._building.add(cid)
        try:
            sandbox, made = await self._record(cid, mode, network, hostname, aliases)
            if not made:
                return sandbox
            try:
                await self._build(sandbox, network)
            except BaseException:
                await self._undo(sandbox)
                raise
        finally:
            self._building.discard(cid)
        log.info("sandbox_created", container_id=cid, mode=str(mode), netns=sandbox.netns_path)
        return sandbox

    async def _record(
        self,
        cid: str,
        mode: Mode,
        network: Network | None,
        hostname: str,
        aliases: tuple[str, ...],
    ) -> tuple[Sandbox, bool]:
        """The sandbox recorded with its address; False if it was recorded before."""
        created = now()
        path = "" if mode is Mode.HOST else str(self.netns_path(cid))
        async with self._state.write() as tx:
            existing = await tx.sandbox(cid)
            if existing is not None:
                _check_same(existing, mode, network, hostname, aliases)
                return existing, False
            endpoints: tuple[Endpoint, ...] = ()
            if network is not None:
                endpoints = (await self._allocate(tx, cid, network, aliases, created),)
            sandbox = Sandbox(cid, mode, path, hostname, endpoints, created)
            await tx.add_sandbox(sandbox)
        return sandbox, True

    async def _allocate(
        self, tx: StateTx, cid: str, network: Network, aliases: tuple[str, ...], created: str
    ) -> Endpoint:
        used, last = await tx.ipam_state(network.id)
        address = ipam.next_address(network.subnet, used, last)
        await tx.set_ipam_last(network.id, address)
        ifname = await tx.free_ifname(names.veth_names(self._prefix, cid, network.id))
        if ifname is None:
            raise errors.Aborted(f"no free interface name for container {cid!r}; retry")
        return Endpoint(
            id=secrets.token_hex(32),
            container_id=cid,
            network_id=network.id,
            network_name=network.name,
            address=ipam.with_prefix(address, network.subnet),
            gateway=network.gateway,
            mac=ipam.mac_for(address),
            host_ifname=ifname,
            aliases=aliases,
            created_at=created,
        )

    async def _build(self, sandbox: Sandbox, network: Network | None) -> None:
        if sandbox.mode is Mode.HOST:
            return
        plan = None
        if network is not None:
            plan = endpoint_plan(sandbox.endpoints[0], network.bridge)
        await self._kernel.create_sandbox(Path(sandbox.netns_path), plan)

    async def _undo(self, sandbox: Sandbox) -> None:
        """Take back a failed create; a failure here is logged and left to reconcile."""
        try:
            if sandbox.mode is not Mode.HOST:
                await self._kernel.remove_sandbox(
                    Path(sandbox.netns_path), [e.host_ifname for e in sandbox.endpoints]
                )
            async with self._state.write() as tx:
                await tx.delete_sandbox(sandbox.container_id)
        except Exception as exc:
            log.warning("sandbox_undo_failed", container_id=sandbox.container_id, error=str(exc))

    async def _remove(self, cid: str) -> bool:
        sandbox = await self._read(cid)
        if sandbox is None:
            return False
        if sandbox.mode is not Mode.HOST:
            await self._kernel.remove_sandbox(
                Path(sandbox.netns_path), [e.host_ifname for e in sandbox.endpoints]
            )
        async with self._state.write() as tx:
            await tx.delete_sandbox(cid)
        log.info("sandbox_removed", container_id=cid)
        return True

    async def _read(self, cid: str) -> Sandbox | None:
        async with self._state.read() as tx:
            return await tx.sandbox(cid)

    def _lock(self, cid: str) -> asyncio.Lock:
        lock = self._locks.get(cid)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[cid] = lock
        return lock

    async def _serialized(self, cid: str, step: Callable[[], Awaitable[T]]) -> T:
        """Run ``step`` under the container's lock, to its end even if the caller is cancelled."""
        lock = self._lock(cid)

        async def locked() -> T:
            async with lock:
                return await step()

        return await asyncio.shield(spawn(locked(), name=f"sandbox-{cid[:12]}"))


def endpoint_plan(endpoint: Endpoint, bridge: str) -> EndpointPlan:
    return EndpointPlan(
        host_ifname=endpoint.host_ifname,
        bridge=bridge,
        address=endpoint.address,
        gateway=endpoint.gateway,
        mac=endpoint.mac,
    )


def _check_same(
    existing: Sandbox,
    mode: Mode,
    network: Network | None,
    hostname: str,
    aliases: tuple[str, ...],
) -> None:
    """A repeated create must ask for what exists; anything else is a conflict."""
    networks = [e.network_id for e in existing.endpoints]
    wanted = [network.id] if network is not None else []
    existing_aliases = existing.endpoints[0].aliases if existing.endpoints else ()
    if (existing.mode, networks, existing.hostname) != (mode, wanted, hostname) or (
        network is not None and existing_aliases != aliases
    ):
        raise errors.AlreadyExists(
            f"container {existing.container_id!r} already has a different sandbox"
            f" ({existing.mode} mode, hostname {existing.hostname!r}); remove it first",
            reason="SANDBOX_EXISTS",
        )
