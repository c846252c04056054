"""SandboxManager: each container's network namespace, interfaces, addresses and ports.

Create records first, then builds. The address (and the veth name, and the host ports) are
chosen and recorded in one write transaction before anything touches the kernel, so two
containers never get one address or one port, whatever point netd dies at: after a crash,
reconcile at start either finishes the kernel part (the namespace file exists) or releases the
record (it does not). A failure that is not a crash undoes the kernel part and the record
before the error goes back to the caller. Connect follows the same order for one endpoint;
disconnect forgets the endpoint first and then deletes its veth (a leftover veth is a stray
that reconcile deletes).

Remove runs the other way round, in two parts. First, one write transaction marks the record
as being removed, the directory forgets the container's names, and the caller gets its
answer: from then on the sandbox is gone for every caller (not listed, not found). Then, in
the background (``removals``), the kernel teardown deletes the host-side veths and the
namespace (slow: the kernel waits for RCU grace periods), and only after it one transaction
deletes the record with its endpoints and ports, releasing their addresses and host ports
together, so none is handed to another container while the veth that carried it exists. If
netd dies in between, reconcile at start finishes the removal. What needs the sandbox really
gone waits for its teardown: a new sandbox for the same container, and an allocation that
finds its address or port held by a removal (it waits for the pending teardowns and tries
once more); removing a network waits in the network manager, stopping netd in ``drain``.

Both directions are idempotent: a repeated create returns the sandbox made the first time, and
removing a sandbox that does not exist succeeds. Calls for one container are serialized, and
once started, a change runs to its end even if the caller goes away, so a retry finds a
finished state instead of a half-built one. Every committed change is told to the directory
the embedded DNS answers from, so names follow at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from services.kit import errors
from services.kit.log import get_logger
from services.kit.tasks import spawn
from services.netd.domain import dnsfiles, endpoints, names, publish
from services.netd.domain.models import (
    DEFAULT_NETWORK,
    NO_FILES,
    ConnectRequest,
    Endpoint,
    Mode,
    Network,
    PortBinding,
    Sandbox,
    SandboxFiles,
    SandboxRequest,
    now,
)
from services.netd.domain.networks import NetworkManager
from services.netd.domain.ports import HostFiles, HostPorts, Kernel, State

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
        host_ports: HostPorts,
        *,
        prefix: str,
        netns_dir: Path,
        dns_fallback: Sequence[str],
    ) -> None:
        self._state = state
        self._kernel = kernel
        self._host = host
        self._networks = networks
        self._host_ports = host_ports
        self._directory = networks.directory
        self._removals = networks.removals
        self._prefix = prefix
        self._netns_dir = netns_dir
        self._dns_fallback = tuple(dns_fallback)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._building: set[str] = set()

    async def create(self, request: SandboxRequest) -> tuple[Sandbox, SandboxFiles]:
        """The container's sandbox, made now or returned as made by an earlier identical call."""
        cid = names.check_container_id(request.container_id)
        hostname = names.check_hostname(request.hostname or cid[:12])
        name = names.check_container_name(request.name)
        aliases = tuple(names.check_alias(a) for a in request.aliases)
        ports = publish.check(request.ports)
        mode, network = await self._resolve_network(request.network)
        if network is None and (aliases or request.ip_address or ports):
            raise errors.InvalidArgument(
                f"aliases, a static address and published ports need a network; a sandbox in"
                f" {mode} mode has none",
                reason="ALIASES_WITHOUT_NETWORK",
            )
        asked = Sandbox(cid, mode, "", hostname, (), "", name, ports)
        sandbox, render = await asyncio.gather(
            self._serialized(
                cid, lambda: self._create(asked, network, aliases, request.ip_address)
            ),
            self._renderer({mode}),  # reads the host's files while the sandbox is built
        )
        return sandbox, render(sandbox)

    async def remove(self, container_id: str) -> bool:
        """Remove the sandbox; its teardown, and then the release of its addresses and ports,
        follow in the background. False if there was none (or it was being removed)."""
        cid = names.check_container_id(container_id)
        return await self._serialized(cid, lambda: self._remove(cid))

    async def connect(self, request: ConnectRequest) -> tuple[Sandbox, SandboxFiles]:
        """One more interface in the container's namespace, on another network."""
        cid = names.check_container_id(request.container_id)
        aliases = tuple(names.check_alias(a) for a in request.aliases)
        network = await self._networks.require(request.network)
        sandbox = await self._serialized(
            cid, lambda: self._connect(cid, network, aliases, request.ip_address)
        )
        return sandbox, await self.files(sandbox)

    async def disconnect(self, container_id: str, network_ref: str) -> tuple[Sandbox, SandboxFiles]:
        """Take the container's interface on a network away."""
        cid = names.check_container_id(container_id)
        network = await self._networks.require(network_ref)
        sandbox = await self._serialized(cid, lambda: self._disconnect(cid, network))
        return sandbox, await self.files(sandbox)

    async def update(self, container_id: str, name: str) -> tuple[Sandbox, SandboxFiles]:
        """Record the container's new name; what others resolve changes at once."""
        cid = names.check_container_id(container_id)
        checked = names.check_container_name(name)
        sandbox = await self._serialized(cid, lambda: self._rename(cid, checked))
        return sandbox, await self.files(sandbox)

    async def get(self, container_id: str, *, files: bool = True) -> tuple[Sandbox, SandboxFiles]:
        """The container's sandbox, with its /etc files unless ``files`` is False (empty then:
        rendering them reads the host's files)."""
        cid = names.check_container_id(container_id)
        async with self._lock(cid):
            sandbox = await self._read(cid)
        return sandbox, await self.files(sandbox) if files else NO_FILES

    async def list_all(self, *, files: bool = True) -> list[tuple[Sandbox, SandboxFiles]]:
        """Every finished sandbox with its files (those being built or removed are left out;
        the files empty unless ``files``)."""
        async with self._state.read() as tx:
            found = [
                s
                for s in await tx.sandboxes()
                if s.container_id not in self._building and not s.removing
            ]
        if not files:
            return [(s, NO_FILES) for s in found]
        render = await self._renderer({s.mode for s in found})
        return [(s, render(s)) for s in found]

    async def files(self, sandbox: Sandbox) -> SandboxFiles:
        """/etc/hosts and /etc/resolv.conf for the container, from the host's current files."""
        return (await self._renderer({sandbox.mode}))(sandbox)

    async def restore(self) -> None:
        """After reconcile: hold the recorded host ports again, load the directory, and only
        then start answering names. A removal reconcile could not finish is tried again in
        the background."""
        async with self._state.read() as tx:
            sandboxes = await tx.sandboxes()
        for sandbox in sandboxes:
            if sandbox.removing:
                self._removals.start(sandbox.container_id, functools.partial(self._finish, sandbox))
            for port in sandbox.ports:
                try:
                    self._host_ports.reserve(port)
                except errors.EstibaError as exc:
                    log.warning(
                        "port_not_held", container_id=sandbox.container_id, error=exc.message
                    )
        present = [s for s in sandboxes if not s.removing]
        self._directory.load(await self._networks.list_all(), present)
        await self._networks.serve_names()

    async def drain(self, timeout: float = 10.0) -> None:
        """At stop: wait for the teardowns still running; what is left (a failure, or time
        out) stays recorded as being removed, for reconcile at the next start."""
        pending = len(self._removals.pending())
        if pending and not await self._removals.wait(timeout=timeout):
            left = len(self._removals.pending())
            log.warning("sandbox_teardowns_left", count=left, why="finished at the next start")

    async def _renderer(self, modes: set[Mode]) -> Callable[[Sandbox], SandboxFiles]:
        """Read the host's files once for many sandboxes; render each from them."""
        as_host = SandboxFiles("", "")
        if Mode.HOST in modes:
            as_host = SandboxFiles(await self._host.etc_hosts(), await self._host.etc_resolv_conf())
        host_resolv = resolv = ""
        if modes - {Mode.HOST}:
            host_resolv = await self._host.resolv_conf()
            resolv = dnsfiles.container_resolv_conf(host_resolv, self._dns_fallback)

        def render(sandbox: Sandbox) -> SandboxFiles:
            if sandbox.mode is Mode.HOST:
                return as_host
            addresses = [e.address.ip for e in sandbox.endpoints]
            hosts = dnsfiles.hosts_file(sandbox.hostname, addresses)
            named = next((e for e in sandbox.endpoints if e.network_name != DEFAULT_NETWORK), None)
            if named is None:
                return SandboxFiles(hosts, resolv)
            return SandboxFiles(hosts, dnsfiles.embedded_resolv_conf(named.gateway, host_resolv))

        return render

    def netns_path(self, container_id: str) -> Path:
        return self._netns_dir / container_id

    # -- create and remove -------------------------------------------------------------------

    async def _resolve_network(self, ref: str) -> tuple[Mode, Network | None]:
        if ref in (Mode.NONE, Mode.HOST):
            return Mode(ref), None
        return Mode.BRIDGE, await self._networks.require(ref or DEFAULT_NETWORK)

    async def _create(
        self, asked: Sandbox, network: Network | None, aliases: tuple[str, ...], static: str
    ) -> Sandbox:
        cid = asked.container_id
        await self._removals.wait([cid])  # the container's previous sandbox, removed just now
        self._building.add(cid)
        try:
            sandbox, made = await self._after_removals(
                lambda: self._record(asked, network, aliases, static)
            )
            if not made:
                self._directory.put(sandbox)  # its name may have changed
                return sandbox
            try:
                await self._build(sandbox, network)
            except BaseException:
                await self._undo(sandbox)
                raise
        finally:
            self._building.discard(cid)
        self._directory.put(sandbox)
        if sandbox.ports:
            await self._networks.apply_firewall()
        log.info(
            "sandbox_created", container_id=cid, mode=str(asked.mode), netns=sandbox.netns_path
        )
        return sandbox

    async def _record(
        self, asked: Sandbox, network: Network | None, aliases: tuple[str, ...], static: str
    ) -> tuple[Sandbox, bool]:
        """The sandbox recorded with its address and ports; False if it was recorded before."""
        cid, created = asked.container_id, now()
        path = "" if asked.mode is Mode.HOST else str(self.netns_path(cid))
        held: list[PortBinding] = []
        try:
            async with self._state.write() as tx:
                existing = await tx.sandbox(cid)
                if existing is not None and existing.removing:
                    raise errors.Unavailable(
                        f"the previous sandbox of container {cid!r} could not be torn down yet"
                        " (see netd's log); retry, or restart netd",
                        reason="SANDBOX_REMOVING",
                    )
                if existing is not None:
                    _check_same(existing, asked, network, aliases)
                    if asked.name and asked.name != existing.name:
                        await tx.set_sandbox_name(cid, asked.name)
                        existing = await tx.sandbox(cid)
                        assert existing is not None
                    return existing, False
                found: tuple[Endpoint, ...] = ()
                if network is not None:
                    found = (
                        await endpoints.allocate(
                            tx,
                            prefix=self._prefix,
                            container_id=cid,
                            network=network,
                            aliases=aliases,
                            created=created,
                            static=static,
                            elsewhere=self._directory.remote_addresses(network),
                        ),
                    )
                if asked.ports:  # (most containers publish nothing: no query for them)
                    publish.check_free(asked.ports, await tx.published())
                for port in asked.ports:
                    held.append(self._host_ports.reserve(port))
                sandbox = Sandbox(
                    cid, asked.mode, path, asked.hostname, found, created, asked.name, tuple(held)
                )
                await tx.add_sandbox(sandbox)
        except BaseException:
            for port in held:
                self._host_ports.release(port)
            raise
        return sandbox, True

    async def _build(self, sandbox: Sandbox, network: Network | None) -> None:
        if sandbox.mode is Mode.HOST:
            return
        plan = None
        if network is not None:
            endpoint = sandbox.endpoints[0]
            plan = endpoints.plan(endpoint, network, default_route=not network.internal)
        await self._kernel.create_sandbox(Path(sandbox.netns_path), plan)

    async def _unbuild(self, sandbox: Sandbox) -> None:
        """Delete what ``_build`` made: the namespace and the host-side veths."""
        if sandbox.mode is not Mode.HOST:
            await self._kernel.remove_sandbox(
                Path(sandbox.netns_path), [e.host_ifname for e in sandbox.endpoints]
            )

    async def _undo(self, sandbox: Sandbox) -> None:
        """Take back a failed create; a failure here is logged and left to reconcile."""
        for port in sandbox.ports:
            self._host_ports.release(port)
        try:
            await self._unbuild(sandbox)
            async with self._state.write() as tx:
                await tx.delete_sandbox(sandbox.container_id)
        except Exception as exc:
            log.warning("sandbox_undo_failed", container_id=sandbox.container_id, error=str(exc))

    async def _remove(self, cid: str) -> bool:
        """Decide the removal durably and start its teardown; see the module docstring."""
        async with self._state.write() as tx:
            sandbox = await tx.sandbox(cid)
            if sandbox is None:
                return False
            if sandbox.removing:  # answered before; a teardown that failed is tried again
                self._removals.start(cid, functools.partial(self._finish, sandbox))
                return False
            if sandbox.mode is Mode.HOST:  # nothing in the kernel, nothing held
                await tx.delete_sandbox(cid)
            else:
                await tx.mark_removing(cid)
        self._directory.drop(cid)
        if sandbox.mode is Mode.HOST:
            log.info("sandbox_removed", container_id=cid)
        else:
            self._removals.start(cid, functools.partial(self._finish, sandbox))
        return True

    async def _finish(self, sandbox: Sandbox) -> bool:
        """The teardown of a sandbox marked as being removed, then the release of its
        addresses and ports in one transaction; a failure is logged and left for a retry."""
        cid = sandbox.container_id
        try:
            await self._unbuild(sandbox)
            async with self._state.write() as tx:
                await tx.delete_sandbox(cid)
        except Exception as exc:
            log.warning(
                "sandbox_teardown_failed",
                container_id=cid,
                error=str(exc),
                retry="at the next removal of the container, its network, or netd's start",
            )
            return False
        if sandbox.ports:  # the rules first, then the sockets: a port is free once both went
            try:
                await self._networks.apply_firewall()
            except errors.EstibaError as exc:  # its rules go with the next apply
                log.warning("firewall_apply_failed", container_id=cid, error=str(exc))
        for port in sandbox.ports:
            self._host_ports.release(port)
        log.info("sandbox_removed", container_id=cid)
        return True

    async def _after_removals(self, step: Callable[[], Awaitable[T]]) -> T:
        """``step``, once more after the pending teardowns if they may be why it failed: an
        address or a host port still held by a removed container, a subnet full of them."""
        try:
            return await step()
        except errors.EstibaError as exc:
            if exc.reason not in _HELD_BY_REMOVALS or not self._removals.pending():
                raise
        await self._removals.wait()
        return await step()

    # -- connect, disconnect, rename -----------------------------------------------------------

    async def _connect(
        self, cid: str, network: Network, aliases: tuple[str, ...], static: str
    ) -> Sandbox:
        sandbox = await self._read(cid)
        if sandbox.mode is not Mode.BRIDGE:
            raise errors.InvalidArgument(  # dockerd's words (400) for none and host
                "container cannot be connected to multiple networks with one of the networks"
                " in private (none) mode"
                if sandbox.mode is Mode.NONE
                else "container cannot be disconnected from host network or connected to host"
                " network",
                reason="SANDBOX_MODE",
            )
        if endpoints.find(sandbox, network) is not None:
            raise errors.PermissionDenied(  # dockerd's answer (403), which clients rely on
                f"endpoint with name {sandbox.name or cid[:12]} already exists in network"
                f" {network.name}",
                reason="ENDPOINT_EXISTS",
            )

        async def record() -> Endpoint:
            async with self._state.write() as tx:
                endpoint = await endpoints.allocate(
                    tx,
                    prefix=self._prefix,
                    container_id=cid,
                    network=network,
                    aliases=aliases,
                    created=now(),
                    static=static,
                    taken_ifnames={e.ifname for e in sandbox.endpoints},
                    elsewhere=self._directory.remote_addresses(network),
                )
                await tx.add_endpoint(endpoint)
            return endpoint

        endpoint = await self._after_removals(record)
        carries_route = sandbox.default_endpoint is None and not network.internal
        plan = endpoints.plan(endpoint, network, default_route=carries_route)
        try:
            await self._kernel.add_endpoint(Path(sandbox.netns_path), plan)
        except BaseException:
            with contextlib.suppress(Exception):
                async with self._state.write() as tx:
                    await tx.delete_endpoint(cid, network.id)
            raise
        updated = await self._read(cid)
        self._directory.put(updated)
        if updated.ports and carries_route:
            await self._networks.apply_firewall()
        log.info("sandbox_connected", container_id=cid, network=network.name, ifname=plan.ifname)
        return updated

    async def _disconnect(self, cid: str, network: Network) -> Sandbox:
        sandbox = await self._read(cid)
        endpoint = endpoints.find(sandbox, network)
        if endpoint is None:
            raise errors.NotFound(
                f"container {cid[:12]} is not connected to network {network.name}",
                reason="ENDPOINT_UNKNOWN",
            )
        async with self._state.write() as tx:
            await tx.delete_endpoint(cid, network.id)
        updated = await self._read(cid)
        self._directory.put(updated)
        await self._kernel.delete_link(endpoint.host_ifname)
        if sandbox.default_endpoint == endpoint:
            successor = updated.default_endpoint
            gateway = successor.gateway if successor is not None else None
            await self._kernel.set_default_route(Path(sandbox.netns_path), gateway)
            if updated.ports:
                await self._networks.apply_firewall()
        log.info("sandbox_disconnected", container_id=cid, network=network.name)
        return updated

    async def _rename(self, cid: str, name: str) -> Sandbox:
        async with self._state.write() as tx:
            if not await tx.set_sandbox_name(cid, name):
                raise _unknown(cid)
        updated = await self._read(cid)
        self._directory.put(updated)
        log.info("sandbox_renamed", container_id=cid, name=name)
        return updated

    # -- helpers -------------------------------------------------------------------------------

    async def _read(self, cid: str) -> Sandbox:
        async with self._state.read() as tx:
            sandbox = await tx.sandbox(cid)
        if sandbox is None or sandbox.removing:
            raise _unknown(cid)
        return sandbox

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


_HELD_BY_REMOVALS = frozenset({"PORT_IN_USE", "ADDRESS_IN_USE", "SUBNET_EXHAUSTED"})


def _unknown(cid: str) -> errors.NotFound:
    return errors.NotFound(f"no sandbox for container {cid!r}", reason="SANDBOX_UNKNOWN")


def _check_same(
    existing: Sandbox, asked: Sandbox, network: Network | None, aliases: tuple[str, ...]
) -> None:
    """A repeated create must ask for what exists; anything else is a conflict.

    Connects and disconnects since the first create are not a conflict: the network asked for
    must still be one of the sandbox's (with the same aliases), the others may have changed.
    A different name is not a conflict either: it is a rename the caller reports.
    """
    on = endpoints.find(existing, network) if network is not None else None
    same = (existing.mode, existing.hostname) == (asked.mode, asked.hostname)
    if not same or (network is not None and (on is None or on.aliases != aliases)):
        raise errors.AlreadyExists(
            f"container {existing.container_id!r} already has a different sandbox"
            f" ({existing.mode} mode, hostname {existing.hostname!r}); remove it first",
            reason="SANDBOX_EXISTS",
        )
