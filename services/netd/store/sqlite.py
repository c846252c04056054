"""netd's state on services.kit.db: the ``State`` port of the domain. Only this module has SQL."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from services.kit import errors
from services.kit.db import Database, IntegrityError, Row, Tx
from services.netd.domain.models import Endpoint, Mode, Network, Sandbox

_ENDPOINT_SELECT = (
    "SELECT e.id, e.container_id, e.network_id, n.name AS network_name, e.address, n.subnet,"
    " n.gateway, e.mac, e.host_ifname, e.aliases, e.created_at"
    " FROM endpoints e JOIN networks n ON n.id = e.network_id"
)
_NETWORK_SELECT = "SELECT id, name, driver, subnet, gateway, bridge, created_at FROM networks"


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
                "INSERT INTO networks (id, name, driver, subnet, gateway, bridge, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    network.id,
                    network.name,
                    network.driver,
                    str(network.subnet),
                    str(network.gateway),
                    network.bridge,
                    network.created_at,
                ),
            )
        except IntegrityError as exc:
            raise errors.AlreadyExists(
                f"network {network.name!r} exists already", reason="NETWORK_EXISTS"
            ) from exc

    async def ipam_state(self, network_id: str) -> tuple[set[IPv4Address], IPv4Address | None]:
        row = await self._tx.fetchone(
            "SELECT ipam_last, (SELECT group_concat(address, ' ') FROM endpoints"
            " WHERE network_id = n.id) AS used FROM networks n WHERE id = ?",
            (network_id,),
        )
        if row is None:
            return set(), None
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
            f"{_ENDPOINT_SELECT} WHERE e.network_id = ? ORDER BY e.created_at, e.id", (network_id,)
        )
        return [_endpoint(row) for row in rows]

    # -- sandboxes -----------------------------------------------------------------------

    async def sandbox(self, container_id: str) -> Sandbox | None:
        row = await self._tx.fetchone(
            "SELECT container_id, mode, netns_path, hostname, created_at FROM sandboxes"
            " WHERE container_id = ?",
            (container_id,),
        )
        if row is None:
            return None
        rows = await self._tx.fetchall(
            f"{_ENDPOINT_SELECT} WHERE e.container_id = ? ORDER BY e.created_at, e.id",
            (container_id,),
        )
        return _sandbox(row, [_endpoint(r) for r in rows])

    async def sandboxes(self) -> list[Sandbox]:
        rows = await self._tx.fetchall(
            "SELECT container_id, mode, netns_path, hostname, created_at FROM sandboxes"
            " ORDER BY created_at, container_id"
        )
        endpoints: dict[str, list[Endpoint]] = {}
        for row in await self._tx.fetchall(f"{_ENDPOINT_SELECT} ORDER BY e.created_at, e.id"):
            endpoint = _endpoint(row)
            endpoints.setdefault(endpoint.container_id, []).append(endpoint)
        return [_sandbox(row, endpoints.get(row["container_id"], [])) for row in rows]

    async def add_sandbox(self, sandbox: Sandbox) -> None:
        try:
            await self._tx.execute(
                "INSERT INTO sandboxes (container_id, mode, netns_path, hostname, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    sandbox.container_id,
                    str(sandbox.mode),
                    sandbox.netns_path,
                    sandbox.hostname,
                    sandbox.created_at,
                ),
            )
            for e in sandbox.endpoints:
                await self._tx.execute(
                    "INSERT INTO endpoints (id, network_id, container_id, address, created_at,"
                    " mac, host_ifname, aliases) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        e.id,
                        e.network_id,
                        e.container_id,
                        str(e.address.ip),
                        e.created_at,
                        e.mac,
                        e.host_ifname,
                        json.dumps(list(e.aliases)),
                    ),
                )
        except IntegrityError as exc:
            raise errors.AlreadyExists(
                f"sandbox for container {sandbox.container_id!r} collides with a recorded one"
                f" ({exc})",
                reason="SANDBOX_CONFLICT",
            ) from exc

    async def delete_sandbox(self, container_id: str) -> bool:
        await self._tx.execute("DELETE FROM endpoints WHERE container_id = ?", (container_id,))
        return (
            await self._tx.execute("DELETE FROM sandboxes WHERE container_id = ?", (container_id,))
            > 0
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
            endpoints = int(await tx.scalar("SELECT count(*) FROM endpoints"))
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
    )


def _endpoint(row: Row) -> Endpoint:
    prefixlen = IPv4Network(row["subnet"]).prefixlen
    return Endpoint(
        id=row["id"],
        container_id=row["container_id"],
        network_id=row["network_id"],
        network_name=row["network_name"],
        address=IPv4Interface(f"{row['address']}/{prefixlen}"),
        gateway=IPv4Address(row["gateway"]),
        mac=row["mac"],
        host_ifname=row["host_ifname"],
        aliases=tuple(json.loads(row["aliases"])),
        created_at=row["created_at"],
    )


def _sandbox(row: Row, endpoints: list[Endpoint]) -> Sandbox:
    return Sandbox(
        container_id=row["container_id"],
        mode=Mode(row["mode"]),
        netns_path=row["netns_path"],
        hostname=row["hostname"],
        endpoints=tuple(endpoints),
        created_at=row["created_at"],
    )
