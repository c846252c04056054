"""Each service's SQLite database: WAL, busy timeout, foreign keys, ordered migrations.

A service opens exactly one ``Database`` (SQLite has a single writer). ``read()`` gives a
connection for queries; ``write()`` runs one ``BEGIN IMMEDIATE`` transaction, serialized by a lock,
committed when the block ends and rolled back if it raises. Migrations are an ordered list applied
at open, tracked with ``PRAGMA user_version``; a database written by newer code is refused, so an
old binary never scribbles over a schema it does not know.

This is the only module that imports ``aiosqlite`` or ``sqlite3``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from services.kit import errors

Row = sqlite3.Row
IntegrityError = sqlite3.IntegrityError


@dataclasses.dataclass(frozen=True)
class Migration:
    """One step of a schema's history. Versions start at 1 and never change once released."""

    version: int
    name: str
    sql: str


class SchemaTooNew(errors.FailedPrecondition):
    """The database was written by a newer estiba."""


class Database:
    """One open SQLite database file."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._reader: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(
        cls, path: Path, migrations: Sequence[Migration], *, inline_reads: bool = False
    ) -> Database:
        """Open (or create) the database at ``path`` and bring its schema up to date.

        With ``inline_reads``, ``read()`` runs its queries on the event loop's thread, on a
        read-only connection of its own, instead of in aiosqlite's thread: for a service whose
        reads are small indexed queries (tens of microseconds), the three hops to that thread
        and back of every statement cost a millisecond or more on a busy machine, most of a
        ``GetSandbox`` or a container inspect. WAL lets that connection read the last committed
        state while the writer works.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        db = cls(conn, path)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            await db._migrate(migrations)
            if inline_reads:
                db._reader = _reader(path)
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        await self._conn.close()

    async def schema_version(self) -> int:
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self, migrations: Sequence[Migration]) -> None:
        check_order(migrations)
        current = await self.schema_version()
        newest = migrations[-1].version if migrations else 0
        if current > newest:
            raise SchemaTooNew(
                f"database {self.path} has schema version {current}, newer than this estiba "
                f"knows ({newest}); upgrade estiba or restore a matching backup",
                reason="SCHEMA_TOO_NEW",
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            async with self.write() as tx:
                await tx.executescript_in_tx(migration.sql)
                await tx.execute(f"PRAGMA user_version={migration.version:d}")

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """One write transaction; commits on success, rolls back on any exception."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A connection for reads; statements see the last committed state."""
        yield Tx(self._conn) if self._reader is None else _InlineReads(self._reader)


def _reader(path: Path) -> sqlite3.Connection:
    reader = sqlite3.connect(path, isolation_level=None)
    reader.row_factory = sqlite3.Row
    reader.execute("PRAGMA query_only=ON")
    reader.execute("PRAGMA busy_timeout=1000")  # WAL readers wait only on a crashed writer's
    return reader


class Tx:
    """The statements a store may run, bound to one connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        async with self._conn.execute(sql, params) as cur:
            return cur.rowcount

    async def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, params)

    async def executescript_in_tx(self, script: str) -> None:
        """Run a script of statements without leaving the current transaction."""
        for statement in split_statements(script):
            await self._conn.execute(statement)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return list(rows)

    async def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


def check_order(migrations: Sequence[Migration]) -> None:
    """Migrations must be numbered 1, 2, 3, ... with no gap and no repeat."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(
                f"migration {migration.name!r} has version {migration.version}, expected {expected}"
            )


def split_statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (sqlite3.complete_statement decides)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:60]!r}")
    return statements


class _InlineReads(Tx):
    """``read()``'s statements with ``inline_reads``: run at once on the loop's thread."""

    def __init__(self, reader: sqlite3.Connection) -> None:
        self._reader = reader

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        raise errors.Internal("a read may not change the database; use write()")

    async def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        raise errors.Internal("a read may not change the database; use write()")

    async def executescript_in_tx(self, script: str) -> None:
        raise errors.Internal("a read may not change the database; use write()")

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
        row: Row | None = self._reader.execute(sql, params).fetchone()
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        return list(self._reader.execute(sql, params).fetchall())
