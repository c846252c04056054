"""Each service's SQLite database: WAL, busy timeout, foreign keys, ordered migrations.

A service opens exactly one ``Database`` (SQLite has a single writer). ``read()`` gives a
connection for queries; ``write()`` runs one ``BEGIN IMMEDIATE`` transaction, serialized by a lock,
committed when the block ends and rolled back if it raises. Migrations are an ordered list applied
at open, tracked with ``PRAGMA user_version``; a database written by newer code is refused, so an
old binary never scribbles over a schema it does not know. Statements run in aiosqlite's thread,
or, opened ``inline``, on the caller's (see ``Database.open``).

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

    def __init__(
        self,
        path: Path,
        conn: aiosqlite.Connection | None = None,
        writer: sqlite3.Connection | None = None,
        reader: sqlite3.Connection | None = None,
    ) -> None:
        self._conn = conn
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(
        cls, path: Path, migrations: Sequence[Migration], *, inline: bool = False
    ) -> Database:
        """Open (or create) the database at ``path`` and bring its schema up to date.

        ``inline`` runs every statement on the event loop's thread, writes on one connection
        and reads on a read-only one of their own, instead of in aiosqlite's thread. For a
        service whose statements are small indexed ones (tens of microseconds), the three hops
        to that thread and back of every statement cost a millisecond or more on a busy
        machine: most of a ``GetSandbox``, a container inspect or a container's record written
        at create. WAL lets the reader see the last committed state while a write transaction
        is open; a commit does not wait for the disk (``synchronous=NORMAL``), a checkpoint
        now and then does.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        if inline:
            writer = _connect(path)
            db = cls(path, writer=writer)
            try:
                await db._migrate(migrations)
                db._reader = _connect(path, read_only=True)
            except BaseException:
                writer.close()
                raise
            return db
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        db = cls(path, conn=conn)
        try:
            for pragma in PRAGMAS:
                await conn.execute(pragma)
            await db._migrate(migrations)
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        for inline in (self._reader, self._writer):
            if inline is not None:
                inline.close()
        if self._conn is not None:
            await self._conn.close()

    async def schema_version(self) -> int:
        async with self.read() as tx:
            return int(await tx.scalar("PRAGMA user_version") or 0)

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
            tx = self._tx(self._writer)
            await tx.execute("BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                await tx.execute("ROLLBACK")
                raise
            await tx.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A connection for reads; statements see the last committed state."""
        # while migrating, before the reader is opened, reads go through the writer
        yield self._tx(self._reader or self._writer, read_only=True)

    def _tx(self, inline: sqlite3.Connection | None, *, read_only: bool = False) -> Tx:
        if inline is not None:
            return _InlineTx(inline, read_only=read_only)
        assert self._conn is not None  # a Database has aiosqlite's connection or inline ones
        return Tx(self._conn)


PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    if read_only:
        conn.execute("PRAGMA query_only=ON")
    return conn


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


class _InlineTx(Tx):
    """Statements run at once on the calling (event loop's) thread, with ``inline``."""

    def __init__(self, conn: sqlite3.Connection, *, read_only: bool = False) -> None:
        self._inline = conn
        self._read_only = read_only

    def _writable(self) -> None:
        if self._read_only:
            raise errors.Internal("a read may not change the database; use write()")

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        self._writable()
        return self._inline.execute(sql, params).rowcount

    async def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self._writable()
        self._inline.executemany(sql, params)

    async def executescript_in_tx(self, script: str) -> None:
        self._writable()
        for statement in split_statements(script):
            self._inline.execute(statement)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
        row: Row | None = self._inline.execute(sql, params).fetchone()
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        return list(self._inline.execute(sql, params).fetchall())
