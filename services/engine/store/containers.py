"""Container records in engine.db. SQL only; rows in and out as domain objects."""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from services.engine.containers.models import (
    Container,
    ContainerSpec,
    Endpoint,
    Health,
    Healthcheck,
    HealthResult,
    Mount,
    Port,
    Resolved,
    Resources,
    RestartPolicy,
    Sandbox,
)
from services.kit import errors
from services.kit.db import Database, IntegrityError, Row

COLUMNS = (
    "id, name, image_id, state, created_at, spec, resolved, pid, conmon_pid, exit_code, error, "
    "started_at, finished_at, oom_killed, restart_count, manually_stopped, sandbox"
)
# what is read; the health column is written only by services.engine.store.health
READ_COLUMNS = COLUMNS + ", health"
DECODED_CACHE = 4096  # per kind of document; about a kilobyte each


class ContainerStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, c: Container) -> None:
        try:
            async with self._db.write() as tx:
                await tx.execute(
                    f"INSERT INTO containers ({COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _values(c),
                )
        except IntegrityError as exc:
            if "name" in str(exc):
                raise errors.AlreadyExists(
                    f'Conflict. The container name "/{c.name}" is already in use. You have to '
                    "remove (or rename) that container to be able to reuse that name.",
                    reason="NAME_CONFLICT",
                ) from exc
            raise errors.InvalidArgument(f"cannot record the container: {exc}") from exc

    async def update(self, c: Container) -> None:
        """Write back the changing fields of ``c`` (state, pids, exit, sandbox, name)."""
        try:
            async with self._db.write() as tx:
                changed = await tx.execute(
                    "UPDATE containers SET name = ?, state = ?, pid = ?, conmon_pid = ?, "
                    "exit_code = ?, error = ?, started_at = ?, finished_at = ?, oom_killed = ?, "
                    "restart_count = ?, manually_stopped = ?, sandbox = ? WHERE id = ?",
                    (
                        c.name,
                        c.state,
                        c.pid,
                        c.conmon_pid,
                        c.exit_code,
                        c.error,
                        c.started_at,
                        c.finished_at,
                        int(c.oom_killed),
                        c.restart_count,
                        int(c.manually_stopped),
                        _sandbox_json(c.sandbox),
                        c.id,
                    ),
                )
        except IntegrityError as exc:
            raise errors.AlreadyExists(
                f'Conflict. The container name "/{c.name}" is already in use.',
                reason="NAME_CONFLICT",
            ) from exc
        if changed == 0:
            raise errors.NotFound(f"No such container: {c.id}", reason="CONTAINER_UNKNOWN")

    async def retire(self, container_id: str, image_id: str) -> None:
        """Remove the record and note, in the same transaction, that the container's kernel
        state is still to be taken down (``containers.teardown``)."""
        async with self._db.write() as tx:
            await tx.execute("DELETE FROM containers WHERE id = ?", (container_id,))
            await tx.execute(
                "INSERT OR REPLACE INTO teardowns (container_id, image_id) VALUES (?, ?)",
                (container_id, image_id),
            )

    async def root_down(self, container_id: str) -> None:
        """The noted container's root is unmounted: its image is no longer held."""
        async with self._db.write() as tx:
            await tx.execute(
                "UPDATE teardowns SET image_id = NULL WHERE container_id = ?", (container_id,)
            )

    async def torn_down(self, container_id: str) -> None:
        async with self._db.write() as tx:
            await tx.execute("DELETE FROM teardowns WHERE container_id = ?", (container_id,))

    async def teardowns(self) -> list[str]:
        """Ids of the retired containers whose teardown has not finished."""
        async with self._db.read() as tx:
            rows = await tx.fetchall("SELECT container_id FROM teardowns ORDER BY container_id")
        return [str(r[0]) for r in rows]

    async def all(self) -> list[Container]:
        async with self._db.read() as tx:
            rows = await tx.fetchall(
                f"SELECT {READ_COLUMNS} FROM containers ORDER BY created_at DESC"
            )
        return [_from_row(row) for row in rows]

    async def find(self, ref: str) -> Container:
        """By full id, exact name, or unique id prefix, as Docker resolves references."""
        name = ref.lstrip("/")
        async with self._db.read() as tx:
            row = await tx.fetchone(
                f"SELECT {READ_COLUMNS} FROM containers WHERE id = ? OR name = ?", (ref, name)
            )
            if row is None and ref and all(ch in "0123456789abcdef" for ch in ref):
                rows = await tx.fetchall(
                    f"SELECT {READ_COLUMNS} FROM containers WHERE id LIKE ? LIMIT 2", (ref + "%",)
                )
                if len(rows) > 1:
                    raise errors.InvalidArgument(
                        f"multiple IDs found with provided prefix: {ref}", reason="AMBIGUOUS"
                    )
                row = rows[0] if rows else None
        if row is None:
            raise errors.NotFound(f"No such container: {ref}", reason="CONTAINER_UNKNOWN")
        return _from_row(row)

    async def using_image(self, image_id: str) -> list[str]:
        async with self._db.read() as tx:
            rows = await tx.fetchall("SELECT id FROM containers WHERE image_id = ?", (image_id,))
        return [str(r[0]) for r in rows]


def _values(c: Container) -> tuple[Any, ...]:
    return (
        c.id,
        c.name,
        c.image_id,
        c.state,
        c.created,
        _spec_json(c.spec),
        json.dumps(dataclasses.asdict(c.resolved)),
        c.pid,
        c.conmon_pid,
        c.exit_code,
        c.error,
        c.started_at,
        c.finished_at,
        int(c.oom_killed),
        c.restart_count,
        int(c.manually_stopped),
        _sandbox_json(c.sandbox),
    )


def _spec_json(spec: ContainerSpec) -> str:
    return json.dumps(dataclasses.asdict(spec))


def _sandbox_json(sandbox: Sandbox | None) -> str:
    return json.dumps(dataclasses.asdict(sandbox)) if sandbox else "{}"


def _from_row(row: Row) -> Container:
    spec = _spec_of(row["spec"])
    return Container(
        id=row["id"],
        name=row["name"],
        image_id=row["image_id"],
        spec=spec,
        resolved=_resolved_of(row["resolved"]),
        created=row["created_at"],
        state=row["state"],
        pid=row["pid"],
        conmon_pid=row["conmon_pid"],
        exit_code=row["exit_code"],
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        oom_killed=bool(row["oom_killed"]),
        restart_count=row["restart_count"],
        manually_stopped=bool(row["manually_stopped"]),
        sandbox=_sandbox_of(row["sandbox"], spec.network_aliases),
        health=health_from_dict(json.loads(row["health"] or "{}")),
    )


# A container's spec, resolved settings and sandbox are frozen and rarely change: decoded once
# per distinct text and shared by every read (a listing of 50 containers decoded 150 JSON
# documents into nested dataclasses, most of the engine's time for ``ps``).
@functools.lru_cache(maxsize=DECODED_CACHE)
def _spec_of(text: str) -> ContainerSpec:
    return spec_from_dict(json.loads(text))


@functools.lru_cache(maxsize=DECODED_CACHE)
def _resolved_of(text: str) -> Resolved:
    return _resolved(json.loads(text))


@functools.lru_cache(maxsize=DECODED_CACHE)
def _sandbox_of(text: str, aliases: tuple[str, ...]) -> Sandbox | None:
    return sandbox_from_dict(json.loads(text), aliases)


def spec_from_dict(data: dict[str, Any]) -> ContainerSpec:
    data = dict(data)
    data["restart_policy"] = RestartPolicy(**data.get("restart_policy", {}))
    data["resources"] = Resources(**data.get("resources", {}))
    data["mounts"] = tuple(
        Mount(**{**m, "options": tuple(m.get("options", ()))}) for m in data.get("mounts", ())
    )
    for key in ("cmd", "entrypoint", "env", "exposed_ports", "network_aliases"):
        data[key] = tuple(data.get(key, ()))
    data["ports"] = tuple(Port(**p) for p in data.get("ports", ()))
    data["healthcheck"] = _healthcheck(data.get("healthcheck"))
    return ContainerSpec(**data)


def _healthcheck(data: dict[str, Any] | None) -> Healthcheck | None:
    return Healthcheck(**{**data, "test": tuple(data["test"])}) if data else None


def health_from_dict(data: dict[str, Any]) -> Health | None:
    if not data:
        return None
    log = [HealthResult(**entry) for entry in data.get("log", ())]
    return Health(data["status"], data["failing_streak"], log)


def sandbox_from_dict(data: dict[str, Any], aliases: tuple[str, ...] = ()) -> Sandbox | None:
    """The sandbox a row holds. ``aliases`` are the container's own (--network-alias), those of
    its first network in a record written before the endpoints were kept in a list."""
    if not data:
        return None
    data = dict(data)
    ports = tuple(Port(**p) for p in data.pop("ports", ()))
    endpoints = data.pop("endpoints", None)
    legacy = {key: data.pop(key, "") for key in _LEGACY_ENDPOINT}
    if endpoints is None:  # one network's fields in the sandbox itself, maybe all empty
        endpoints = [_legacy_endpoint(legacy, aliases)] if any(legacy.values()) else []
    return Sandbox(
        **data,
        endpoints=tuple(
            Endpoint(**{**e, "aliases": tuple(e.get("aliases", ()))}) for e in endpoints
        ),
        ports=ports,
    )


# What a sandbox recorded of its network before it recorded every endpoint (the first only).
_LEGACY_ENDPOINT = (
    "network",
    "network_id",
    "ip_address",
    "prefix_length",
    "gateway",
    "mac_address",
    "endpoint_id",
)


def _legacy_endpoint(fields: dict[str, Any], aliases: tuple[str, ...]) -> dict[str, Any]:
    return {
        "network": fields["network"],
        "network_id": fields["network_id"],
        "ip_address": fields["ip_address"],
        "prefix_length": fields["prefix_length"] or 0,
        "gateway": fields["gateway"],
        "mac_address": fields["mac_address"],
        "id": fields["endpoint_id"],
        "aliases": aliases,
    }


def _resolved(data: dict[str, Any]) -> Resolved:
    return Resolved(
        **{
            **data,
            "args": tuple(data["args"]),
            "env": tuple(data["env"]),
            "healthcheck": _healthcheck(data.get("healthcheck")),
        }
    )
