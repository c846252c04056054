"""bench/net: netd against its targets, in network namespaces of the bench's own.

    bench/net [--count 50] [--containers 100] [--queries 2000] [--seconds 3] [--rounds 3] [--json]

netd's own code runs in this process (assembled as ``python -m services.netd`` assembles it,
and serving gRPC on a socket in the workspace, as the engine calls it) inside a private network
namespace that stands for the host: its bridges, veths, nftables table and ``ip_forward`` are
there and go with it. A second private namespace, joined to it by a veth pair, stands for
another machine. Four figures, each against its target:

* sandbox set-up (namespace, veth, address, routes, DNS entry) on a user-defined network: the
  median of ``--count`` ``SandboxManager.create`` calls inside netd (target < 10 ms), with the
  same through gRPC and the kernel part alone for comparison; and removal;
* ``--containers`` sandboxes made on the default network, each connected to a user-defined
  network and disconnected again, then removed: links, namespace files, nftables rules and
  endpoint records counted before, in between and after (target: the same before and after);
* published-port throughput: iperf3 (Debian's ``iperf3``, installed if missing) to a server in
  a container's namespace, from the other machine's namespace through the published port, and
  directly from another container on the same network (target: published ≥ 80% of direct);
  also from the host to the container and through the port on the host's own address and on
  127.0.0.1, interleaved round by round, the median of ``--rounds`` runs of ``--seconds``;
* DNS answer time: ``--queries`` A queries for a container's name, one after another, from
  another container's namespace to netd's DNS server on the network (target: median < 1 ms).

Needs root. Everything it makes is in its workspace (``/tmp/estiba-bench-net-*``) and its two
namespaces: removed at the end, and the host's own namespace is not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench._common import (
    BenchError,
    PrivateNetns,
    Workspace,
    emit,
    ensure_packages,
    fmt,
    prepare,
    ratio,
    run,
    say,
    table,
)

CLIENT_LINK = ("10.215.0.1", "10.215.0.2")  # host end, other machine's end (a /30)
POOL = "10.214.0.0/16"
IPERF_PORT = 5201
DNS_PROBE = """
import json, socket, sys, time
server, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((server, 53))
times, answer = [], b""
for n in range(count):
    query = (n & 0xFFFF).to_bytes(2, "big") + bytes.fromhex("01000001000000000000")
    query += labels + b"\\x00\\x00\\x01\\x00\\x01"
    t0 = time.perf_counter()
    s.send(query)
    answer = s.recv(512)
    times.append((time.perf_counter() - t0) * 1e6)
print(json.dumps({"us": times, "last": answer.hex()}))
"""


# -- timing helpers -------------------------------------------------------------------------


async def timed(count: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    """Milliseconds of each of ``count`` calls of ``step``, one after another."""
    times = []
    for n in range(count):
        t0 = time.perf_counter()
        await step(n)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(times),
        "p90": statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0],
        "min": min(times),
    }


async def command(*argv: str) -> str:
    """Run ``argv`` to completion (in this thread's namespace); its stdout, or BenchError."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv[:4])} exited {proc.returncode}: {err.decode()[-300:]}")
    return out.decode()


def nsenter(path: str | Path, *argv: str) -> list[str]:
    return ["nsenter", f"--net={path}", *argv]


# -- the bench ------------------------------------------------------------------------------


class NetBench:
    """netd assembled in this process, and the measurements taken against it."""

    def __init__(self, ws: Workspace, client: PrivateNetns, args: argparse.Namespace) -> None:
        from services.kit import config as kconfig
        from services.netd.config import NetdConfig

        self.args = args
        self.client = client
        self.prefix = "b" + secrets.token_hex(2)
        env = {
            "ESTIBA_ROOT": str(ws / "root"),
            "ESTIBA_RUN_DIR": str(ws / "run"),
            "ESTIBA_NETD_KERNEL_PREFIX": self.prefix,
            "ESTIBA_NETD_ADDRESS_POOL": POOL,
            "ESTIBA_NETD_IP_FORWARD": "true",  # the bench's own namespace: its own sysctl
        }
        self.cfg = kconfig.load(NetdConfig, "netd", env=env)
        self.results: dict[str, Any] = {"prefix": self.prefix}
        self.notes: list[str] = []

    async def run(self) -> dict[str, Any]:
        from services.kit import grpcserver
        from services.kit.grpcclient import open_channel
        from services.netd.main import SERVICES, assemble

        async with contextlib.AsyncExitStack() as stack:
            netd = await assemble(self.cfg, stack)
            await stack.enter_async_context(
                grpcserver.serving(self.cfg.grpc_target, netd.registrars, services=SERVICES)
            )
            channel = await stack.enter_async_context(open_channel(self.cfg.grpc_target))
            self.netd = netd
            self.channel = channel
            await netd.networks.create(self._spec("benchnet"))
            await self.setup_times()
            await self.connect_leak()
            await self.dns()
            await self.throughput()
        return self.results

    @staticmethod
    def _spec(name: str) -> Any:
        from services.netd.domain.models import NetworkSpec

        return NetworkSpec(name=name)

    # -- sandbox set-up ---------------------------------------------------------------

    async def setup_times(self) -> None:
        from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
        from services.netd.domain.endpoints import plan as endpoint_plan
        from services.netd.domain.models import SandboxRequest

        count, manager = self.args.count, self.netd.sandboxes
        say(f"sandbox set-up: {count} sandboxes on a user-defined network, three ways")
        ids = [f"{n:012x}" + "a" * 52 for n in range(count)]
        made = await timed(count, lambda n: manager.create(
            SandboxRequest(ids[n], "benchnet", "", name=f"s{n}")))  # fmt: skip
        kept = [(await manager.get(cid))[0] for cid in ids]
        removed = await timed(count, lambda n: manager.remove(ids[n]))
        stub = netd_pb2_grpc.SandboxesStub(self.channel)
        rpc_ids = [f"{n:012x}" + "b" * 52 for n in range(count)]
        rpc = await timed(count, lambda n: stub.CreateSandbox(netd_pb2.CreateSandboxRequest(
            container_id=rpc_ids[n], network="benchnet", name=f"r{n}")))  # fmt: skip
        rpc_removed = await timed(count, lambda n: stub.RemoveSandbox(
            netd_pb2.RemoveSandboxRequest(container_id=rpc_ids[n])))  # fmt: skip
        network, _ = await self.netd.networks.get("benchnet")
        plans = [
            (Path(s.netns_path), endpoint_plan(s.endpoints[0], network, default_route=True))
            for s in kept
        ]
        kernel = self.netd.kernel
        bare = await timed(count, lambda n: kernel.create_sandbox(*plans[n]))
        await timed(count, lambda n: kernel.remove_sandbox(plans[n][0], [plans[n][1].host_ifname]))
        self.results["setup_ms"] = {
            "netd SandboxManager.create": summary(made),
            "gRPC CreateSandbox": summary(rpc),
            "kernel only (netns, veth, address, routes)": summary(bare),
            "netd SandboxManager.remove": summary(removed),
            "gRPC RemoveSandbox": summary(rpc_removed),
        }

    # -- connect and disconnect without a leak -----------------------------------------------

    async def counts(self) -> dict[str, int]:
        links = await command("ip", "-o", "link", "show")
        rules = await command("nft", "-a", "list", "table", "inet", f"estiba_{self.prefix}")
        async with self.netd.store.read() as tx:
            sandboxes = await tx.sandboxes()
        return {
            "links": sum(1 for line in links.splitlines() if f": {self.prefix}" in line),
            "netns files": sum(1 for _ in self.cfg.netns_dir.iterdir()),
            "nft rules": sum(1 for line in rules.splitlines() if "# handle" in line),
            "sandboxes": len(sandboxes),
            "endpoints": sum(len(s.endpoints) for s in sandboxes),
        }

    async def connect_leak(self) -> None:
        from services.netd.domain.models import ConnectRequest, PortBinding, SandboxRequest

        n, manager = self.args.containers, self.netd.sandboxes
        say(f"{n} sandboxes on the default network, each connected and disconnected, removed")
        before = await self.counts()
        ids = [f"{k:012x}" + "c" * 52 for k in range(n)]
        for k, cid in enumerate(ids):  # every tenth publishes a port: rules to leak, too
            ports = (PortBinding("tcp", 80, None, 0),) if k % 10 == 0 else ()
            await manager.create(SandboxRequest(cid, "", "", name=f"c{k}", ports=ports))
        connect = await timed(n, lambda k: manager.connect(
            ConnectRequest(ids[k], "benchnet", aliases=(f"alias{k}",))))  # fmt: skip
        between = await self.counts()
        disconnect = await timed(n, lambda k: manager.disconnect(ids[k], "benchnet"))
        for cid in ids:
            await manager.remove(cid)
        after = await self.counts()
        self.results["connect_ms"] = summary(connect)
        self.results["disconnect_ms"] = summary(disconnect)
        self.results["leak"] = {"before": before, "connected": between, "after": after}

    # -- DNS -----------------------------------------------------------------------------------

    async def dns(self) -> None:
        from services.netd.domain.models import SandboxRequest

        manager = self.netd.sandboxes
        target, _ = await manager.create(SandboxRequest("d" * 64, "benchnet", "", name="target"))
        asker, _ = await manager.create(SandboxRequest("e" * 64, "benchnet", "", name="asker"))
        server = str(asker.endpoints[0].gateway)
        say(f"DNS: {self.args.queries} queries for a container's name to {server}:53")
        out = await command(*nsenter(asker.netns_path, sys.executable, "-c", DNS_PROBE,
                                     server, "target", str(self.args.queries)))  # fmt: skip
        found = json.loads(out)
        expected = bytes(int(x) for x in str(target.endpoints[0].address.ip).split(".")).hex()
        if not found["last"].endswith(expected):
            raise BenchError(f"DNS answered {found['last']}, not the address of 'target'")
        us = found["us"][len(found["us"]) // 20 :]  # the first 5% warm the path up
        self.results["dns_us"] = summary(us)
        for cid in ("d" * 64, "e" * 64):
            await manager.remove(cid)

    # -- published-port throughput ------------------------------------------------------------

    async def throughput(self) -> None:
        from services.netd.domain.models import PortBinding, SandboxRequest

        manager = self.netd.sandboxes
        published = (PortBinding("tcp", IPERF_PORT, None, 0),)
        server, _ = await manager.create(
            SandboxRequest("f" * 64, "benchnet", "", name="iperf", ports=published)
        )
        peer, _ = await manager.create(SandboxRequest("9" * 64, "benchnet", "", name="peer"))
        host_port = str(server.ports[0].host_port)
        ip = str(server.endpoints[0].address.ip)
        proc = await asyncio.create_subprocess_exec(
            *nsenter(server.netns_path, "iperf3", "-s", "-p", str(IPERF_PORT)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        t = str(self.args.seconds)
        paths = {
            "direct, from a container on the network": nsenter(
                peer.netns_path, "iperf3", "-c", ip, "-p", str(IPERF_PORT), "-t", t, "-J"
            ),
            "published, from the other machine": nsenter(
                self.client.path, "iperf3", "-c", CLIENT_LINK[0], "-p", host_port, "-t", t, "-J"
            ),
            "direct, from the host": ["iperf3", "-c", ip, "-p", str(IPERF_PORT), "-t", t, "-J"],
            "published, host's own address": [
                "iperf3",
                "-c",
                CLIENT_LINK[0],
                "-p",
                host_port,
                "-t",
                t,
                "-J",
            ],
            "published, 127.0.0.1": ["iperf3", "-c", "127.0.0.1", "-p", host_port, "-t", t, "-J"],
        }
        samples: dict[str, list[float]] = {name: [] for name in paths}
        try:
            await asyncio.sleep(0.3)  # the server binds its port
            for r in range(self.args.rounds):
                names = list(paths)
                names = names[r % len(names) :] + names[: r % len(names)]  # rotate the order
                for name in names:
                    say(f"iperf3 round {r + 1}/{self.args.rounds}: {name}")
                    report = json.loads(await self._iperf(paths[name]))
                    samples[name].append(report["end"]["sum_received"]["bits_per_second"] / 1e9)
        finally:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
        self.results["throughput_gbit"] = {k: statistics.median(v) for k, v in samples.items()}
        self.results["throughput_samples_gbit"] = samples
        for cid in ("f" * 64, "9" * 64):
            await manager.remove(cid)

    async def _iperf(self, argv: list[str]) -> str:
        for attempt in range(20):
            try:
                return await command(*argv)
            except BenchError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.2)  # the server is still busy with the last client
        raise AssertionError("unreachable")


# -- set-up of the namespaces ---------------------------------------------------------------


def other_machine(ws: Workspace, prefix: str) -> PrivateNetns:
    """A namespace joined to the (bench's) host by a veth pair: addresses on a /30, a route."""
    client = PrivateNetns(ws / "other-machine")
    host_end = f"{prefix}up"
    run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0",
         "netns", str(client.path)])  # fmt: skip
    run(["ip", "addr", "add", f"{CLIENT_LINK[0]}/30", "dev", host_end])
    run(["ip", "link", "set", host_end, "up"])
    run(client.argv(["ip", "addr", "add", f"{CLIENT_LINK[1]}/30", "dev", "eth0"]))
    run(client.argv(["ip", "link", "set", "eth0", "up"]))
    run(client.argv(["ip", "route", "add", "default", "via", CLIENT_LINK[0]]))
    return client


def report(results: dict[str, Any]) -> str:
    setup = results["setup_ms"]
    rows = [[name, fmt(s["median"]), fmt(s["p90"]), fmt(s["min"])] for name, s in setup.items()]
    stats = ("median", "p90", "min")
    rows += [
        ["connect (netd)", *(fmt(results["connect_ms"][k]) for k in stats)],
        ["disconnect (netd)", *(fmt(results["disconnect_ms"][k]) for k in stats)],
        ["DNS answer (µs)", *(fmt(results["dns_us"][k], ".0f") for k in stats)],
    ]
    lines = [f"netd, prefix {results['prefix']}, in namespaces of the bench's own", ""]
    lines.append(table(["step (ms)", *stats], rows))
    leak = results["leak"]
    keys = list(leak["before"])
    counted = [[when, *(str(leak[when][k]) for k in keys)] for when in leak]
    lines += ["", table(["kernel and records", *keys], counted)]
    tput = results["throughput_gbit"]
    lines += ["", table(["iperf3 (Gbit/s, median)", "Gbit/s"],
                        [[k, fmt(v)] for k, v in tput.items()])]  # fmt: skip
    direct = tput["direct, from a container on the network"]
    outside = tput["published, from the other machine"]
    published_ratio = ratio(outside, direct)
    host_ratio = ratio(tput["published, host's own address"], tput["direct, from the host"])
    setup_median = setup["netd SandboxManager.create"]["median"]
    no_leak = leak["before"] == leak["after"]
    lines += [
        "",
        "targets:",
        f"  sandbox set-up median {fmt(setup_median)} ms  (< 10 ms: "
        f"{'met' if setup_median < 10 else 'NOT met'})",
        f"  {results['containers']} connect/disconnect, before == after: "
        f"{'met' if no_leak else 'NOT met'}",
        f"  published / direct = {fmt(published_ratio)}  (>= 0.80: "
        f"{'met' if (published_ratio or 0) >= 0.8 else 'NOT met'}); from the host itself: "
        f"{fmt(host_ratio)}",
        f"  DNS answer median {fmt(results['dns_us']['median'] / 1000, '.3f')} ms  (< 1 ms: "
        f"{'met' if results['dns_us']['median'] < 1000 else 'NOT met'})",
    ]
    results["ratios"] = {"published_over_direct": published_ratio, "host": host_ratio}
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="sandboxes timed per way")
    parser.add_argument("--containers", type=int, default=100, help="connected and disconnected")
    parser.add_argument("--queries", type=int, default=2000, help="DNS queries")
    parser.add_argument("--seconds", type=int, default=3, help="length of each iperf3 run")
    parser.add_argument("--rounds", type=int, default=3, help="iperf3 runs per path")
    parser.add_argument("--json", action="store_true", help="figures as JSON on stdout")
    args = parser.parse_args()
    prepare()
    notes = ensure_packages(["iperf3"], daemons=["/usr/bin/iperf3"])
    ws = Workspace("estiba-bench-net-")
    status = 1
    spaces: list[PrivateNetns] = []
    try:
        from services.kit.log import configure

        configure("netd", level="warning")  # netd's own log lines would drown the progress
        spaces.append(PrivateNetns(ws / "host"))
        spaces[0].enter()  # this thread, and every thread and process it starts from now on
        spaces.append(other_machine(ws, "bn" + secrets.token_hex(2)))
        results = asyncio.run(NetBench(ws, spaces[1], args).run())
        results["containers"] = args.containers
        results["notes"] = notes
        emit(report(results), results, as_json=args.json)
        status = 0
    except BenchError as exc:
        say(f"bench/net: {exc}")
    finally:
        for note in [n for space in reversed(spaces) for n in space.remove()] + ws.remove():
            say(note)
    return status


if __name__ == "__main__":
    sys.exit(main())
