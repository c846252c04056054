"""Reconcile at start: make the kernel match netd.db, and netd.db match what survived.

netd.db is the desired state, the kernel the observed one. Kernel state outlives netd (a crash,
a restart, an upgrade), and stopping netd deliberately leaves every sandbox in place, because
containers keep running. So at every start, before serving:

1. networks: the default network exists; every bridge, its address, forwarding and the whole
   nftables table are (re)applied (``NetworkManager.ensure``);
2. sandboxes: one recorded as being removed (RemoveSandbox answered, but netd died, or the
   teardown failed, before the kernel objects were gone) is torn down now and only then
   forgotten, which releases its addresses and ports; a failure is logged and the record
   kept, and ``SandboxManager.restore`` tries again. A recorded sandbox whose namespace file
   is gone (or was never mounted: netd died while creating it) belonged to a container that
   is gone, so its leftovers are deleted and its address released; one whose namespace is
   there is brought back to the planned state (each veth present and attached, eth0, eth1...
   addressed, the default route), which also finishes a create or connect that netd died in
   the middle of;
3. strays: namespace files in netd's directory and links with netd's prefix and group that no
   record explains are deleted.

What lives only in netd's memory (the sockets holding published host ports, the directory of
names, the DNS servers) is rebuilt afterwards from the reconciled records
(``SandboxManager.restore``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from services.kit import errors
from services.kit.log import get_logger
from services.netd.domain import overlay
from services.netd.domain.endpoints import plans
from services.netd.domain.models import LinkState, Mode, Network, Sandbox
from services.netd.domain.networks import NetworkManager
from services.netd.domain.ports import Kernel, State

log = get_logger()


@dataclasses.dataclass
class ReconcileReport:
    """What a reconcile found and did, for the log."""

    networks: int = 0
    kept: int = 0
    repaired: int = 0
    released: int = 0
    removed: int = 0
    """Removals answered before netd stopped, finished now."""
    failed: int = 0
    stray_netns: int = 0
    stray_links: int = 0


async def reconcile(
    state: State, kernel: Kernel, networks: NetworkManager, netns_dir: Path
) -> ReconcileReport:
    """Run the three steps of the module docstring; returns what was done."""
    report = ReconcileReport()
    nets = await networks.ensure()
    report.networks = len(nets)
    by_id = {n.id: n for n in nets}
    async with state.read() as tx:
        sandboxes = await tx.sandboxes()
    mounted = {f.path for f in await kernel.netns_files(netns_dir) if f.mounted}
    keep_links = {n.bridge for n in nets}
    keep_links.update(overlay.vxlan_name(n.bridge) for n in nets if n.is_overlay)
    keep_files: set[Path] = set()
    for sandbox in sandboxes:
        if sandbox.removing:
            if await _finish_removal(state, kernel, sandbox):
                report.removed += 1
                continue
            report.failed += 1  # kept as it is, for the retry: not a stray either
            keep_files.add(Path(sandbox.netns_path))
            keep_links.update(e.host_ifname for e in sandbox.endpoints)
            continue
        if sandbox.mode is Mode.HOST:
            report.kept += 1
            continue
        path = Path(sandbox.netns_path)
        ifnames = [e.host_ifname for e in sandbox.endpoints]
        if path not in mounted or not _networks_exist(sandbox, by_id):
            await _release(state, kernel, sandbox)
            report.released += 1
            continue
        keep_files.add(path)
        keep_links.update(ifnames)
        outcome = await _repair(kernel, sandbox, by_id)
        if outcome is None:
            report.failed += 1
        elif outcome:
            report.repaired += 1
        else:
            report.kept += 1
    for stray in await kernel.netns_files(netns_dir):
        if stray.path not in keep_files:
            await kernel.remove_sandbox(stray.path, [])
            report.stray_netns += 1
    for link in sorted(await kernel.links(), key=_ports_first):
        if link.name not in keep_links:
            await kernel.delete_link(link.name)
            report.stray_links += 1
    log.info("reconciled", **dataclasses.asdict(report))
    return report


def _networks_exist(sandbox: Sandbox, by_id: dict[str, Network]) -> bool:
    return all(e.network_id in by_id for e in sandbox.endpoints)


async def _release(state: State, kernel: Kernel, sandbox: Sandbox) -> None:
    await kernel.remove_sandbox(
        Path(sandbox.netns_path), [e.host_ifname for e in sandbox.endpoints]
    )
    async with state.write() as tx:
        await tx.delete_sandbox(sandbox.container_id)
    log.info("sandbox_released", container_id=sandbox.container_id, why="namespace gone")


async def _finish_removal(state: State, kernel: Kernel, sandbox: Sandbox) -> bool:
    """The teardown of a sandbox being removed, then its record; False if the kernel failed."""
    try:
        if sandbox.mode is not Mode.HOST:
            await kernel.remove_sandbox(
                Path(sandbox.netns_path), [e.host_ifname for e in sandbox.endpoints]
            )
    except errors.EstibaError as exc:
        log.warning("sandbox_teardown_failed", container_id=sandbox.container_id, error=str(exc))
        return False
    async with state.write() as tx:
        await tx.delete_sandbox(sandbox.container_id)
    log.info("sandbox_removed", container_id=sandbox.container_id, why="removal finished")
    return True


async def _repair(kernel: Kernel, sandbox: Sandbox, by_id: dict[str, Network]) -> bool | None:
    """Whether something had to be fixed; None if it could not be."""
    try:
        changed = await kernel.repair_sandbox(Path(sandbox.netns_path), plans(sandbox, by_id))
    except errors.EstibaError as exc:
        # The container keeps its record; the engine can remove it, or a later start retry.
        log.warning("sandbox_repair_failed", container_id=sandbox.container_id, error=str(exc))
        return None
    if changed:
        log.info("sandbox_repaired", container_id=sandbox.container_id)
    return changed


def _ports_first(link: LinkState) -> tuple[bool, str]:
    """Delete veths before bridges: deleting a bridge only detaches its ports."""
    return (link.kind == "bridge", link.name)
