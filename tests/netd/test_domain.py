"""netd's rules with a real netd.db and a fake kernel (the only fake: the kernel boundary)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
import structlog

from services.kit import errors
from services.kit.db import Database
from services.netd.domain import names
from services.netd.domain.directory import Directory
from services.netd.domain.models import (
    BridgePlan,
    ConnectRequest,
    EndpointPlan,
    LinkState,
    Mode,
    NetnsFile,
    Network,
    NetworkSpec,
    PortBinding,
    Publication,
    SandboxRequest,
)
from services.netd.domain.networks import IP_FORWARD_SETTING, NetworkManager
from services.netd.domain.reconcile import reconcile
from services.netd.domain.sandboxes import SandboxManager
from services.netd.firewall.hostports import SocketHostPorts
from services.netd.store.migrations import MIGRATIONS
from services.netd.store.sqlite import NetdStore

NETNS = Path("/fake/netns")


class FakeKernel:
    """Links and namespace files in memory; records what it was asked to do."""

    def __init__(self) -> None:
        self.host = [IPv4Network("10.0.0.0/24"), IPv4Network("10.0.1.0/24")]
        self.table: dict[str, LinkState] = {}
        self.files: dict[Path, bool] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_create: errors.EstibaError | None = None
        self.fail_bridge: errors.EstibaError | None = None
        self.ip_forward = "0"
        self.delay = 0.0
        self.hold: asyncio.Event | None = None
        """When set, a sandbox's teardown waits for it (a slow RTM_DELLINK, made controllable)."""
        self.fail_remove: errors.EstibaError | None = None

    async def host_networks(self) -> list[IPv4Network]:
        return list(self.host)

    async def ensure_bridge(self, plan: BridgePlan) -> None:
        self.calls.append(("bridge", plan.name))
        if self.fail_bridge is not None:
            raise self.fail_bridge
        self.table[plan.name] = LinkState(plan.name, "bridge", None, True)

    async def links(self) -> list[LinkState]:
        return list(self.table.values())

    async def delete_link(self, name: str) -> None:
        self.calls.append(("delete", name))
        self.table.pop(name, None)

    async def create_sandbox(self, path: Path, endpoint: EndpointPlan | None) -> None:
        self.calls.append(("create", path.name))
        await asyncio.sleep(self.delay)
        if self.fail_create is not None:
            raise self.fail_create
        self.files[path] = True
        if endpoint is not None:
            self.table[endpoint.host_ifname] = LinkState(
                endpoint.host_ifname, "veth", endpoint.bridge, True
            )

    async def add_endpoint(self, path: Path, endpoint: EndpointPlan) -> None:
        self.calls.append(("add", f"{path.name}/{endpoint.ifname}"))
        self.table[endpoint.host_ifname] = LinkState(
            endpoint.host_ifname, "veth", endpoint.bridge, True
        )

    async def set_default_route(self, path: Path, gateway: IPv4Address | None) -> None:
        self.calls.append(("route", f"{path.name}/{gateway}"))

    async def repair_sandbox(self, path: Path, endpoints: Sequence[EndpointPlan]) -> bool:
        self.calls.append(("repair", path.name))
        return False

    async def remove_sandbox(self, path: Path, host_ifnames: Sequence[str]) -> None:
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_remove is not None:
            raise self.fail_remove
        self.calls.append(("remove", path.name))
        for name in host_ifnames:
            self.table.pop(name, None)
        self.files.pop(path, None)

    async def netns_files(self, directory: Path) -> list[NetnsFile]:
        return [NetnsFile(p, m) for p, m in sorted(self.files.items()) if p.parent == directory]

    async def enable_ip_forward(self) -> str:
        before, self.ip_forward = self.ip_forward, "1"
        return before


class FakeFirewall:
    def __init__(self) -> None:
        self.applied: list[list[str]] = []
        self.published: list[Publication] = []

    async def apply(self, networks: Sequence[Network], published: Sequence[Publication]) -> None:
        self.applied.append([n.bridge for n in networks])
        self.published = list(published)


class FakeNameServers:
    def __init__(self) -> None:
        self.serving: dict[str, IPv4Address] = {}

    async def start(self, network: Network) -> None:
        self.serving[network.id] = network.gateway

    async def stop(self, network_id: str) -> None:
        self.serving.pop(network_id, None)


class FakeHostFiles:
    resolv = "nameserver 10.0.2.53\nnameserver 127.0.0.53\n"

    async def resolv_conf(self) -> str:
        return self.resolv

    async def etc_resolv_conf(self) -> str:
        return "nameserver 127.0.0.53\n"

    async def etc_hosts(self) -> str:
        return "127.0.0.1 localhost myhost\n"


@dataclasses.dataclass
class World:
    store: NetdStore
    kernel: FakeKernel
    firewall: FakeFirewall
    networks: NetworkManager
    sandboxes: SandboxManager
    dns: FakeNameServers


def make_world(
    db: Database,
    kernel: FakeKernel,
    *,
    pool: str = "10.0.0.0/16",
    prefixlen: int = 24,
    prefix: str = "est",
    ip_forward: bool = True,
) -> World:
    store, firewall, host, dns = NetdStore(db), FakeFirewall(), FakeHostFiles(), FakeNameServers()
    networks = NetworkManager(
        store,
        kernel,
        firewall,
        host,
        dns,
        Directory(),
        prefix=prefix,
        pool=IPv4Network(pool),
        subnet_prefixlen=prefixlen,
        ip_forward=ip_forward,
    )
    sandboxes = SandboxManager(
        store,
        kernel,
        host,
        networks,
        SocketHostPorts(),
        prefix=prefix,
        netns_dir=NETNS,
        dns_fallback=("9.9.9.9",),
    )
    return World(store, kernel, firewall, networks, sandboxes, dns)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "netd.db", MIGRATIONS)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def world(db: Database) -> AsyncIterator[World]:
    w = make_world(db, FakeKernel())
    await w.networks.ensure()
    yield w
    await w.sandboxes.drain()  # as netd's stop: teardowns end before the database closes


def req(
    cid: str, network: str = "bridge", hostname: str = "", aliases: tuple[str, ...] = ()
) -> SandboxRequest:
    return SandboxRequest(cid, network, hostname, aliases)


async def test_default_network_avoids_the_host_and_stays_put(db: Database) -> None:
    kernel = FakeKernel()
    w = make_world(db, kernel)
    [net] = await w.networks.ensure()
    # 10.0.0/24 and 10.0.1/24 are on the host; the resolver 10.0.2.53 rules out 10.0.2/24.
    assert (net.name, str(net.subnet), str(net.gateway), net.bridge) == (
        "bridge", "10.0.3.0/24", "10.0.3.1", "est0")  # fmt: skip
    assert ("bridge", "est0") in kernel.calls
    assert w.firewall.applied == [["est0"]]
    kernel.host.append(IPv4Network("10.0.3.0/24"))  # the host changes later...
    again = make_world(db, kernel)
    assert await again.networks.ensure() == [net]  # ...the recorded subnet is kept
    assert await again.networks.find(net.id[:5]) == net


async def test_ip_forward_before_value_is_recorded_once(db: Database) -> None:
    kernel = FakeKernel()
    w = make_world(db, kernel)
    await w.networks.ensure()
    await make_world(db, kernel).networks.ensure()  # now "1" before: the first value stays
    async with w.store.read() as tx:
        assert await tx.setting(IP_FORWARD_SETTING) == "0"
    kernel.ip_forward = "0"
    await make_world(db, kernel, ip_forward=False).networks.ensure()
    assert kernel.ip_forward == "0"  # not touched when turned off


async def test_a_database_keeps_its_prefix(db: Database, world: World) -> None:
    with pytest.raises(errors.FailedPrecondition) as caught:
        await make_world(db, world.kernel, prefix="xyz").networks.ensure()
    assert caught.value.reason == "KERNEL_PREFIX_CHANGED"


async def test_create_allocates_serially_and_renders_files(world: World) -> None:
    a, files = await world.sandboxes.create(req("a1", hostname="alpha", aliases=("db",)))
    b, _ = await world.sandboxes.create(req("b2"))
    assert [str(s.endpoints[0].address) for s in (a, b)] == ["10.0.3.2/24", "10.0.3.3/24"]
    assert a.netns_path == str(NETNS / "a1")
    assert a.endpoints[0].host_ifname == names.veth_names("est", "a1", a.endpoints[0].network_id)[0]
    assert files.hosts.endswith("10.0.3.2\talpha\n")
    assert files.resolv_conf == "nameserver 10.0.2.53\n"
    assert [s.container_id for s, _ in await world.sandboxes.list_all()] == ["a1", "b2"]


async def test_a_kernel_failure_leaves_no_record_and_no_address(world: World) -> None:
    world.kernel.fail_create = errors.Internal("boom", reason="KERNEL_ERROR")
    with pytest.raises(errors.Internal):
        await world.sandboxes.create(req("a1"))
    assert ("remove", "a1") in world.kernel.calls
    assert await world.sandboxes.list_all() == []
    assert await world.store.counts() == (1, 0)
    world.kernel.fail_create = None
    sandbox, _ = await world.sandboxes.create(req("a1"))
    assert str(sandbox.endpoints[0].address.ip) == "10.0.3.3"  # serial: .2 is not reused at once


async def test_concurrent_creates_of_one_container_make_one_sandbox(world: World) -> None:
    world.kernel.delay = 0.01
    results = await asyncio.gather(*(world.sandboxes.create(req("a1")) for _ in range(5)))
    assert len({r[0] for r in results}) == 1
    assert [c for c in world.kernel.calls if c[0] == "create"] == [("create", "a1")]


async def test_concurrent_creates_get_distinct_addresses(world: World) -> None:
    world.kernel.delay = 0.005
    results = await asyncio.gather(*(world.sandboxes.create(req(f"c{i}")) for i in range(20)))
    addresses = {r[0].endpoints[0].address for r in results}
    assert len(addresses) == 20


async def test_a_cancelled_caller_does_not_cancel_the_create(world: World) -> None:
    world.kernel.delay = 0.05
    call = asyncio.ensure_future(world.sandboxes.create(req("a1")))
    await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    sandbox, _ = await world.sandboxes.get("a1")  # waits for the create to finish
    assert sandbox.endpoints[0].host_ifname in world.kernel.table


async def test_a_full_subnet_refuses_and_keeps_nothing(db: Database) -> None:
    w = make_world(db, FakeKernel(), pool="10.7.0.0/30", prefixlen=30)
    await w.networks.ensure()
    await w.sandboxes.create(req("a1"))  # a /30 has room for the gateway and one container
    with pytest.raises(errors.ResourceExhausted) as caught:
        await w.sandboxes.create(req("b2"))
    assert caught.value.reason == "SUBNET_EXHAUSTED"
    assert [s.container_id for s, _ in await w.sandboxes.list_all()] == ["a1"]


async def test_modes_and_conflicts(world: World) -> None:
    none, _ = await world.sandboxes.create(req("n1", "none"))
    host, files = await world.sandboxes.create(req("h1", "host"))
    assert (none.mode, none.endpoints, host.mode, host.netns_path) == (Mode.NONE, (), Mode.HOST, "")
    assert files.hosts == "127.0.0.1 localhost myhost\n"
    assert [c for c in world.kernel.calls if c[0] == "create"] == [("create", "n1")]
    with pytest.raises(errors.AlreadyExists):
        await world.sandboxes.create(req("n1", "bridge"))
    with pytest.raises(errors.NotFound):
        await world.sandboxes.get("zz")
    assert await world.sandboxes.remove("h1")
    assert not await world.sandboxes.remove("h1")


async def test_reconcile_releases_repairs_and_sweeps(db: Database, world: World) -> None:
    gone, _ = await world.sandboxes.create(req("gone"))
    kept, _ = await world.sandboxes.create(req("kept"))
    await world.sandboxes.create(req("none", "none"))
    kernel = world.kernel
    kernel.files[NETNS / "gone"] = False  # the file is there, no namespace is bound to it
    kernel.files[NETNS / "stray"] = True
    kernel.table["eststray"] = LinkState("eststray", "veth", "est0", True)
    kernel.table["est9"] = LinkState("est9", "bridge", None, True)
    kernel.calls.clear()
    report = await reconcile(world.store, kernel, make_world(db, kernel).networks, NETNS)
    assert (report.released, report.kept, report.stray_netns, report.stray_links) == (1, 2, 1, 2)
    assert ("remove", "gone") in kernel.calls
    assert ("repair", "kept") in kernel.calls
    assert ("repair", "none") in kernel.calls
    deletes = [name for verb, name in kernel.calls if verb == "delete"]
    assert deletes == ["eststray", "est9"]  # ports before bridges
    assert kept.endpoints[0].host_ifname in kernel.table
    assert gone.endpoints[0].host_ifname not in kernel.table
    assert [s.container_id for s, _ in await world.sandboxes.list_all()] == ["kept", "none"]


async def test_a_user_network_is_built_announced_and_taken_down(world: World) -> None:
    net = await world.networks.create(NetworkSpec("app", labels=(("k", "v"),)))
    assert (str(net.subnet), net.bridge, net.labels) == ("10.0.4.0/24", f"est-{net.id[:11]}",
                                                         (("k", "v"),))  # fmt: skip
    assert world.firewall.applied[-1] == ["est0", net.bridge]
    assert world.dns.serving == {net.id: net.gateway}
    assert await world.networks.delete("app") == net
    assert world.dns.serving == {}
    assert world.firewall.applied[-1] == ["est0"]
    assert ("delete", net.bridge) in world.kernel.calls


async def test_a_failed_bridge_takes_the_new_network_back(world: World) -> None:
    world.kernel.fail_bridge = errors.Internal("no bridge today", reason="KERNEL_ERROR")
    with pytest.raises(errors.Internal):
        await world.networks.create(NetworkSpec("app"))
    world.kernel.fail_bridge = None
    assert [n.name for n in await world.networks.list_all()] == ["bridge"]
    assert world.firewall.applied[-1] == ["est0"]
    assert world.dns.serving == {}
    again = await world.networks.create(NetworkSpec("app"))  # nothing left in the way
    assert again.name == "app"


async def test_the_default_route_follows_the_endpoints(world: World) -> None:
    await world.networks.create(NetworkSpec("closed", internal=True))
    await world.networks.create(NetworkSpec("open"))
    sandbox, _ = await world.sandboxes.create(req("a1", "closed", aliases=("x",)))
    assert sandbox.default_endpoint is None
    sandbox, _ = await world.sandboxes.connect(ConnectRequest("a1", "open"))
    assert [e.ifname for e in sandbox.endpoints] == ["eth0", "eth1"]
    assert sandbox.default_endpoint == sandbox.endpoints[1]
    sandbox, _ = await world.sandboxes.connect(ConnectRequest("a1", "bridge"))
    assert sandbox.default_endpoint == sandbox.endpoints[1]  # the oldest not internal one
    sandbox, _ = await world.sandboxes.disconnect("a1", "open")
    bridge_gw = sandbox.endpoints[1].gateway
    assert ("route", f"a1/{bridge_gw}") in world.kernel.calls
    sandbox, _ = await world.sandboxes.disconnect("a1", "bridge")
    assert ("route", "a1/None") in world.kernel.calls
    assert [e.network_name for e in sandbox.endpoints] == ["closed"]


async def test_published_ports_go_to_the_firewall_and_come_back(world: World) -> None:
    ports = (PortBinding("tcp", 80, None, 0),)
    sandbox, _ = await world.sandboxes.create(SandboxRequest("a1", "bridge", "", ports=ports))
    [chosen] = sandbox.ports
    assert chosen.host_port > 0
    [published] = world.firewall.published
    assert (published.port, published.address) == (chosen, sandbox.endpoints[0].address.ip)
    with pytest.raises(errors.FailedPrecondition) as caught:
        await world.sandboxes.create(
            SandboxRequest(
                "b2", "bridge", "", ports=(PortBinding("tcp", 81, None, chosen.host_port),)
            )
        )
    assert caught.value.reason == "PORT_IN_USE"
    assert await world.sandboxes.remove("a1")
    await world.sandboxes.drain()  # the rules go with the teardown, as the port does
    assert world.firewall.published == []


# -- removal: answered at once, torn down after ------------------------------------------------


async def test_a_removed_address_is_not_handed_out_until_its_veth_is_gone(world: World) -> None:
    await world.networks.create(NetworkSpec("app"))
    a, _ = await world.sandboxes.create(SandboxRequest("a1", "app", "", ip_address="10.0.4.5"))
    veth = a.endpoints[0].host_ifname
    world.kernel.hold = asyncio.Event()
    assert await world.sandboxes.remove("a1")
    # Gone for every caller at once...
    with pytest.raises(errors.NotFound):
        await world.sandboxes.get("a1")
    assert await world.sandboxes.list_all() == []
    network, users = await world.networks.get("app")
    assert users == []
    assert await world.store.counts() == (2, 0)
    # ...but its address and veth name stay held while the veth exists.
    assert veth in world.kernel.table
    async with world.store.read() as tx:
        held = await tx.ipam_state(network.id)
    assert held is not None
    assert IPv4Address("10.0.4.5") in held[0]
    taker = asyncio.ensure_future(
        world.sandboxes.create(SandboxRequest("b2", "app", "", ip_address="10.0.4.5"))
    )
    await asyncio.sleep(0.05)
    assert not taker.done()  # waits for the teardown instead of failing with ADDRESS_IN_USE
    world.kernel.hold.set()
    b, _ = await taker
    assert str(b.endpoints[0].address.ip) == "10.0.4.5"
    assert veth not in world.kernel.table
    verbs = [c for c in world.kernel.calls if c[0] in ("remove", "create")]
    assert verbs.index(("remove", "a1")) < verbs.index(("create", "b2"))


async def test_a_full_subnet_and_a_published_port_wait_for_the_removal(db: Database) -> None:
    w = make_world(db, FakeKernel(), pool="10.7.0.0/30", prefixlen=30)
    await w.networks.ensure()
    ports = (PortBinding("tcp", 80, None, 0),)
    a, _ = await w.sandboxes.create(SandboxRequest("a1", "bridge", "", ports=ports))
    [chosen] = a.ports
    w.kernel.hold = asyncio.Event()
    assert await w.sandboxes.remove("a1")
    same = (PortBinding("tcp", 80, None, chosen.host_port),)
    taker = asyncio.ensure_future(
        w.sandboxes.create(SandboxRequest("b2", "bridge", "", ports=same))
    )
    await asyncio.sleep(0.05)
    assert not taker.done()  # neither SUBNET_EXHAUSTED nor PORT_IN_USE: the teardown runs
    w.kernel.hold.set()
    b, _ = await taker
    assert (b.endpoints[0].address, b.ports) == (a.endpoints[0].address, same)
    assert [p.address for p in w.firewall.published] == [b.endpoints[0].address.ip]
    assert await w.sandboxes.remove("b2")
    await w.sandboxes.drain()
    assert w.firewall.published == []


async def test_the_same_container_gets_a_new_sandbox_after_the_teardown(world: World) -> None:
    a, _ = await world.sandboxes.create(req("a1"))
    world.kernel.hold = asyncio.Event()
    assert await world.sandboxes.remove("a1")
    assert not await world.sandboxes.remove("a1")  # removed already
    again = asyncio.ensure_future(world.sandboxes.create(req("a1")))
    await asyncio.sleep(0.05)
    assert not again.done()
    world.kernel.hold.set()
    b, _ = await again
    assert b.endpoints[0].address != a.endpoints[0].address  # serial, as before
    assert b.endpoints[0].host_ifname in world.kernel.table
    assert [c for c in world.kernel.calls if c[1] == "a1"][-2:] == [
        ("remove", "a1"), ("create", "a1")]  # fmt: skip


async def test_a_network_removed_right_after_its_last_container_waits(world: World) -> None:
    net = await world.networks.create(NetworkSpec("app"))
    await world.sandboxes.create(req("a1", "app", aliases=("web",)))
    world.kernel.hold = asyncio.Event()
    assert await world.sandboxes.remove("a1")
    [(_, users)] = [x for x in await world.networks.list_filtered({}) if x[0].name == "app"]
    assert users == 0
    deleting = asyncio.ensure_future(world.networks.delete("app"))
    await asyncio.sleep(0.05)
    assert not deleting.done()  # no 403 "in use": waits for the teardown
    world.kernel.hold.set()
    assert await deleting == net
    deletes = [c for c in world.kernel.calls if c in (("remove", "a1"), ("delete", net.bridge))]
    assert deletes == [("remove", "a1"), ("delete", net.bridge)]


async def test_names_stop_resolving_when_remove_answers(world: World) -> None:
    net = await world.networks.create(NetworkSpec("app"))
    a, _ = await world.sandboxes.create(
        SandboxRequest("a1", "app", "", aliases=("db",), name="web")
    )
    directory = world.networks.directory
    scope = directory.scope(net.id, net.gateway)
    assert directory.lookup(scope, "web") == [a.endpoints[0].address.ip]
    world.kernel.hold = asyncio.Event()
    assert await world.sandboxes.remove("a1")
    assert a.endpoints[0].host_ifname in world.kernel.table  # still there...
    for name in ("web", "db", "web.app", "a1"):
        assert directory.lookup(scope, name) is None  # ...its names are not
    world.kernel.hold.set()


async def test_a_failed_teardown_is_logged_kept_and_finished_at_start(
    db: Database, world: World
) -> None:
    a, _ = await world.sandboxes.create(req("a1"))
    world.kernel.fail_remove = errors.Internal("device busy", reason="KERNEL_ERROR")
    with structlog.testing.capture_logs() as logs:
        assert await world.sandboxes.remove("a1")
        await world.sandboxes.drain()
        # A new sandbox for the container waits, tries the teardown again, and says why not.
        with pytest.raises(errors.Unavailable) as caught:
            await world.sandboxes.create(req("a1"))
    assert caught.value.reason == "SANDBOX_REMOVING"
    failures = [e for e in logs if e["event"] == "sandbox_teardown_failed"]
    assert len(failures) == 3  # the remove's teardown, and the retries of drain and create
    assert failures[0]["container_id"] == "a1"
    assert "device busy" in failures[0]["error"]
    async with world.store.read() as tx:
        kept = await tx.sandbox("a1")
    assert kept is not None
    assert kept.removing
    assert a.endpoints[0].host_ifname in world.kernel.table
    # The next start finishes it.
    world.kernel.fail_remove = None
    again = make_world(db, world.kernel)
    report = await reconcile(again.store, world.kernel, again.networks, NETNS)
    assert (report.removed, report.failed) == (1, 0)
    assert a.endpoints[0].host_ifname not in world.kernel.table
    async with world.store.read() as tx:
        assert await tx.sandbox("a1") is None
    await again.sandboxes.restore()
    assert (await again.sandboxes.create(req("a1")))[0].container_id == "a1"


async def test_reconcile_finishes_a_removal_netd_died_in(db: Database, world: World) -> None:
    a, _ = await world.sandboxes.create(req("a1"))
    b, _ = await world.sandboxes.create(req("b2"))
    async with world.store.write() as tx:  # what a crash right after the answer leaves
        assert await tx.mark_removing("a1")
    kernel = world.kernel
    kernel.calls.clear()
    again = make_world(db, kernel)
    report = await reconcile(again.store, kernel, again.networks, NETNS)
    assert (report.removed, report.kept, report.stray_netns, report.stray_links) == (1, 1, 0, 0)
    assert ("remove", "a1") in kernel.calls
    assert a.endpoints[0].host_ifname not in kernel.table
    assert NETNS / "a1" not in kernel.files
    assert b.endpoints[0].host_ifname in kernel.table
    async with again.store.read() as tx:
        network = await tx.networks()
        state = await tx.ipam_state(network[0].id)
    assert state is not None
    assert state[0] == {b.endpoints[0].address.ip}
    await again.sandboxes.restore()
    assert [s.container_id for s, _ in await again.sandboxes.list_all()] == ["b2"]
