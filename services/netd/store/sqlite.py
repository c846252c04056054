"""netd's state on services.kit.db: the ``State`` port of the domain. Only this module has SQL."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from services.kit import errors
from services.kit.db import Database, IntegrityError, Row, Tx
from services.netd.domain.models import Endpoint, Mode, Network, PortBinding, Sandbox

PARSED_CACHE = 8192  # addresses and interfaces parsed from their text, kept
_ENDPOINT_SELECT = (
    "SELECT e.id, e.container_id, e.network_id, n.name AS network_name, e.address, n.subnet,"
    " n.gateway, n.internal, e.mac, e.host_ifname, e.aliases, e.created_at, e.ifname,"
    " coalesce(s.name, '') AS container_name"
    " FROM endpoints e JOIN networks n ON n.id = e.network_id"
    " LEFT JOIN sandboxes s ON s.container_id = e.container_id"
)
_NETWORK_SELECT = (
    "SELECT id, name, driver, subnet, gateway, bridge, created_at, internal, attachable,"
    " ip_range, labels, options FROM networks"
)
_SANDBOX_SELECT = (
    "SELECT container_id, mode, netns_path, hostname, created_at, name, removing FROM sandboxes"
)
# Endpoints of sandboxes being removed still hold their addresses, but are no network's users.
_PRESENT = "coalesce(s.removing, 0) = 0"


class SqliteTx:
    """The statements of netd's rules, bound to one transaction (or read connection)."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    # -- networks ------------------------------------------------------------------------

    async def networks(self) -> list[Network]:
        rows = await self._tx.fetchall(f"{_NETWORK_SELECT} ORDER BY created_at, name")
        return [_network(row) for row in rows]

    async def add_network(self, network: Network) -> None:
        try:
            await self._tx.execute(
                "INSERT INTO networks (id, name, driver, subnet, gateway, bridge, created_at,"
                " internal, attachable, ip_range, labels, options)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    network.id,
                    network.name,
                    network.driver,
                    str(network.subnet),
                    str(network.gateway),
                    network.bridge,
                    network.created_at,
                    int(network.internal),
                    int(network.attachable),
                    str(network.ip_range) if network.ip_range else "",
                    json.dumps(dict(network.labels)),
                    json.dumps(dict(network.options)),
                ),
            )
        except IntegrityError as exc:
            raise errors.AlreadyExists(
                f"network with name {network.name} already exists", reason="NETWORK_EXISTS"
            ) from exc

    async def delete_network(self, network_id: str) -> bool:
        return await self._tx.execute("DELETE FROM networks WHERE id = ?", (network_id,)) > 0

    async def endpoint_counts(self) -> dict[str, int]:
        rows = await self._tx.fetchall(
            "SELECT e.network_id, count(*) FROM endpoints e"
            " LEFT JOIN sandboxes s ON s.container_id = e.container_id"
            f" WHERE {_PRESENT} GROUP BY e.network_id"
        )
        return {row[0]: int(row[1]) for row in rows}

    async def ipam_state(
        self, network_id: str
    ) -> tuple[set[IPv4Address], IPv4Address | None] | None:
        row = await self._tx.fetchone(
            "SELECT ipam_last, (SELECT group_concat(address, ' ') FROM endpoints"
            " WHERE network_id = n.id) AS used FROM networks n WHERE id = ?",
            (network_id,),
        )
        if row is None:
            return None
        used = {IPv4Address(a) for a in (row["used"] or "").split()}
        return used, IPv4Address(row["ipam_last"]) if row["ipam_last"] else None

    async def free_ifname(self, candidates: Sequence[str]) -> str | None:
        marks = ", ".join("?" * len(candidates))
        rows = await self._tx.fetchall(
            f"SELECT host_ifname FROM endpoints WHERE host_ifname IN ({marks})", tuple(candidates)
        )
        taken = {row[0] for row in rows}
        return next((c for c in candidates if c not in taken), None)

    async def set_ipam_last(self, network_id: str, address: IPv4Address) -> None:
        await self._tx.execute(
            "UPDATE networks SET ipam_last = ? WHERE id = ?", (str(address), network_id)
        )

    async def endpoints_of(self, network_id: str) -> list[Endpoint]:
        rows = await self._tx.fetchall(
            f"{_ENDPOINT_SELECT} WHERE e.network_id = ? AND {_PRESENT} ORDER BY e.created_at, e.id",
            (network_id,),
        )
        return [_endpoint(row) for row in rows]

    async def removing_on(self, network_id: str) -> list[str]:
        rows = await self._tx.fetchall(
            "SELECT DISTINCT e.container_id FROM endpoints e"
            " JOIN sandboxes s ON s.container_id = e.container_id"
            " WHERE e.network_id = ? AND s.removing != 0 ORDER BY e.container_id",
            (network_id,),
        )
        return [row[0] for row in rows]

    # -- sandboxes -----------------------------------------------------------------------

    async def sandbox(self, container_id: str) -> Sandbox | None:
        row = await self._tx.fetchone(f"{_SANDBOX_SELECT} WHERE container_id = ?", (container_id,))
        if row is None:
            return None
        rows = await self._tx.fetchall(
            f"{_ENDPOINT_SELECT} WHERE e.container_id = ? ORDER BY e.created_at, e.id",
            (container_id,),
        )
        ports = await self._tx.fetchall(
            "SELECT * FROM ports WHERE container_id = ? ORDER BY rowid", (container_id,)
        )
        return _sandbox(row, [_endpoint(r) for r in rows], [_port(p) for p in ports])

    async def sandboxes(self) -> list[Sandbox]:
        rows = await self._tx.fetchall(f"{_SANDBOX_SELECT} ORDER BY created_at, container_id")
        endpoints: dict[str, list[Endpoint]] = {}
        for row in await self._tx.fetchall(f"{_ENDPOINT_SELECT} ORDER BY e.created_at, e.id"):
            endpoint = _endpoint(row)
            endpoints.setdefault(endpoint.container_id, []).append(endpoint)
        ports: dict[str, list[PortBinding]] = {}
        for row in await self._tx.fetchall("SELECT * FROM ports ORDER BY rowid"):
            ports.setdefault(row["container_id"], []).append(_port(row))
        return [
            _sandbox(
                row, endpoints.get(row["container_id"], []), ports.get(row["container_id"], [])
            )
            for row in rows
        ]

    async def add_sandbox(self, sandbox: Sandbox) -> None:
        try:
            await self._tx.execute(
                "INSERT INTO sandboxes (container_id, mode, netns_path, hostname, created_at,"
                " name) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    sandbox.container_id,
                    str(sandbox.mode),
                    sandbox.netns_path,
                    sandbox.hostname,
                    sandbox.created_at,
                    sandbox.name,
                ),
            )
            for e in sandbox.endpoints:
                await self._insert_endpoint(e)
            for p in sandbox.ports:
                await self._tx.execute(
                    "INSERT INTO ports (container_id, protocol, container_port, host_ip,"
                    " host_port) VALUES (?, ?, ?, ?, ?)",
                    (
                        sandbox.container_id,
                        p.protocol,
                        p.container_port,
                        str(p.host_ip) if p.host_ip else "",
                        p.host_port,
                    ),
                )
        except IntegrityError as exc:
            raise errors.AlreadyExists(
                f"sandbox for container {sandbox.container_id!r} collides with a recorded one"
                f" ({exc})",
                reason="SANDBOX_CONFLICT",
            ) from exc

    async def add_endpoint(self, endpoint: Endpoint) -> None:
        try:
            await self._insert_endpoint(endpoint)
        except IntegrityError as exc:
            raise errors.AlreadyExists(
                f"endpoint of container {endpoint.container_id!r} on network"
                f" {endpoint.network_name!r} collides with a recorded one ({exc})",
                reason="ENDPOINT_CONFLICT",
            ) from exc

    async def delete_endpoint(self, container_id: str, network_id: str) -> bool:
        deleted = await self._tx.execute(
            "DELETE FROM endpoints WHERE container_id = ? AND network_id = ?",
            (container_id, network_id),
        )
        return deleted > 0

    async def set_sandbox_name(self, container_id: str, name: str) -> bool:
        changed = await self._tx.execute(
            "UPDATE sandboxes SET name = ? WHERE container_id = ? AND removing = 0",
            (name, container_id),
        )
        return changed > 0

    async def mark_removing(self, container_id: str) -> bool:
        changed = await self._tx.execute(
            "UPDATE sandboxes SET removing = 1 WHERE container_id = ? AND removing = 0",
            (container_id,),
        )
        return changed > 0

    async def delete_sandbox(self, container_id: str) -> bool:
        await self._tx.execute("DELETE FROM ports WHERE container_id = ?", (container_id,))
        await self._tx.execute("DELETE FROM endpoints WHERE container_id = ?", (container_id,))
        return (
            await self._tx.execute("DELETE FROM sandboxes WHERE container_id = ?", (container_id,))
            > 0
        )

    async def published(self) -> list[tuple[str, PortBinding]]:
        rows = await self._tx.fetchall("SELECT * FROM ports ORDER BY rowid")
        return [(row["container_id"], _port(row)) for row in rows]

    async def _insert_endpoint(self, e: Endpoint) -> None:
        await self._tx.execute(
            "INSERT INTO endpoints (id, network_id, container_id, address, created_at,"
            " mac, host_ifname, aliases, ifname) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.id,
                e.network_id,
                e.container_id,
                str(e.address.ip),
                e.created_at,
                e.mac,
                e.host_ifname,
                json.dumps(list(e.aliases)),
                e.ifname,
            ),
        )

    # -- settings ------------------------------------------------------------------------

    async def setting(self, name: str) -> str | None:
        value = await self._tx.scalar("SELECT value FROM settings WHERE name = ?", (name,))
        return None if value is None else str(value)

    async def set_setting(self, name: str, value: str, *, replace: bool = True) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        await self._tx.execute(f"{verb} INTO settings (name, value) VALUES (?, ?)", (name, value))


class NetdStore:
    """netd.db as the domain's ``State``, plus the counts GetInfo reports."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteTx]:
        async with self._db.read() as tx:
            yield SqliteTx(tx)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteTx]:
        async with self._db.write() as tx:
            yield SqliteTx(tx)

    async def counts(self) -> tuple[int, int]:
        """(networks, endpoints)."""
        async with self._db.read() as tx:
            networks = int(await tx.scalar("SELECT count(*) FROM networks"))
            endpoints = int(
                await tx.scalar(
                    "SELECT count(*) FROM endpoints e"
                    f" LEFT JOIN sandboxes s ON s.container_id = e.container_id WHERE {_PRESENT}"
                )
            )
        return networks, endpoints


def _network(row: Row) -> Network:
    return Network(
        id=row["id"],
        name=row["name"],
        driver=row["driver"],
        subnet=IPv4Network(row["subnet"]),
        gateway=IPv4Address(row["gateway"]),
        bridge=row["bridge"],
        created_at=row["created_at"],
        internal=bool(row["internal"]),
        attachable=bool(row["attachable"]),
        ip_range=IPv4Network(row["ip_range"]) if row["ip_range"] else None,
        labels=tuple(sorted(json.loads(row["labels"]).items())),
        options=tuple(sorted(json.loads(row["options"]).items())),
    )


# ipaddress parses in Python, tens of microseconds an object: listing sandboxes spent most of
# its time there. The objects are immutable, so each distinct text is parsed once.
@functools.lru_cache(maxsize=PARSED_CACHE)
def _address(text: str) -> IPv4Address:
    return IPv4Address(text)


@functools.lru_cache(maxsize=PARSED_CACHE)
def _interface(address: str, subnet: str) -> IPv4Interface:
    return IPv4Interface(f"{address}/{IPv4Network(subnet).prefixlen}")


def _endpoint(row: Row) -> Endpoint:
    return Endpoint(
        id=row["id"],
        container_id=row["container_id"],
        network_id=row["network_id"],
        network_name=row["network_name"],
        address=_interface(row["address"], row["subnet"]),
        gateway=_address(row["gateway"]),
        mac=row["mac"],
        host_ifname=row["host_ifname"],
        aliases=tuple(json.loads(row["aliases"])),
        created_at=row["created_at"],
        ifname=row["ifname"],
        container_name=row["container_name"],
        internal=bool(row["internal"]),
    )


def _port(row: Row) -> PortBinding:
    return PortBinding(
        protocol=row["protocol"],
        container_port=int(row["container_port"]),
        host_ip=_address(row["host_ip"]) if row["host_ip"] else None,
        host_port=int(row["host_port"]),
    )


def _sandbox(row: Row, endpoints: list[Endpoint], ports: list[PortBinding]) -> Sandbox:
    return Sandbox(
        container_id=row["container_id"],
        mode=Mode(row["mode"]),
        netns_path=row["netns_path"],
        hostname=row["hostname"],
        endpoints=tuple(endpoints),
        created_at=row["created_at"],
        name=row["name"],
        ports=tuple(ports),
        removing=bool(row["removing"]),
    )
