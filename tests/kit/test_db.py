from __future__ import annotations

from pathlib import Path

import pytest

from services.kit import errors
from services.kit.db import Database, Migration, SchemaTooNew, split_statements

M1 = Migration(1, "t", "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);")
M2 = Migration(2, "u", "CREATE TABLE u (x INTEGER);\nINSERT INTO u VALUES (1);")


@pytest.mark.parametrize("inline", [False, True])
async def test_open_applies_migrations_in_order_and_sets_wal(tmp_path: Path, inline: bool) -> None:
    db = await Database.open(tmp_path / "a.db", [M1, M2], inline=inline)
    try:
        assert await db.schema_version() == 2
        async with db.read() as tx:
            assert await tx.scalar("PRAGMA journal_mode") == "wal"
            assert await tx.scalar("PRAGMA foreign_keys") == 1
            assert await tx.scalar("SELECT x FROM u") == 1
    finally:
        await db.close()


async def test_reopen_applies_only_new_migrations(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db", [M1])
    async with db.write() as tx:
        await tx.execute("INSERT INTO t VALUES ('a', 1)")
    await db.close()
    db = await Database.open(tmp_path / "a.db", [M1, M2])
    try:
        async with db.read() as tx:
            assert await tx.scalar("SELECT v FROM t WHERE k = 'a'") == 1
        assert await db.schema_version() == 2
    finally:
        await db.close()


@pytest.mark.parametrize("inline", [False, True])
async def test_newer_schema_is_refused_and_left_alone(tmp_path: Path, inline: bool) -> None:
    db = await Database.open(tmp_path / "a.db", [M1, M2], inline=inline)
    await db.close()
    with pytest.raises(SchemaTooNew, match="schema version 2"):
        await Database.open(tmp_path / "a.db", [M1], inline=inline)
    db = await Database.open(tmp_path / "a.db", [M1, M2], inline=inline)
    assert await db.schema_version() == 2
    await db.close()


@pytest.mark.parametrize("inline", [False, True])
async def test_write_rolls_back_on_error(tmp_path: Path, inline: bool) -> None:
    db = await Database.open(tmp_path / "a.db", [M1], inline=inline)
    try:

        async def insert_then_fail() -> None:
            async with db.write() as tx:
                await tx.execute("INSERT INTO t VALUES ('a', 1)")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await insert_then_fail()
        async with db.read() as tx:
            assert await tx.scalar("SELECT count(*) FROM t") == 0
    finally:
        await db.close()


@pytest.mark.parametrize("inline", [False, True])
async def test_failed_migration_leaves_the_previous_version(tmp_path: Path, inline: bool) -> None:
    bad = Migration(2, "bad", "CREATE TABLE w (x INTEGER);\nINSERT INTO nope VALUES (1);")
    with pytest.raises(Exception, match="nope"):
        await Database.open(tmp_path / "a.db", [M1, bad], inline=inline)
    db = await Database.open(tmp_path / "a.db", [M1], inline=inline)
    try:
        assert await db.schema_version() == 1
        async with db.read() as tx:
            assert await tx.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'w'") == 0
    finally:
        await db.close()


def test_migrations_must_be_numbered_without_gaps() -> None:
    from services.kit.db import check_order

    with pytest.raises(ValueError, match="expected 2"):
        check_order([M1, Migration(3, "x", "SELECT 1;")])


def test_split_statements() -> None:
    assert split_statements("SELECT 1;\nSELECT ';';\n") == ["SELECT 1;", "SELECT ';';"]
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("SELECT 1")


@pytest.mark.parametrize("module", ["services.registry", "services.engine", "services.netd"])
async def test_each_service_schema_applies(tmp_path: Path, module: str) -> None:
    import importlib

    migrations = importlib.import_module(f"{module}.store.migrations").MIGRATIONS
    db = await Database.open(tmp_path / "s.db", migrations)
    try:
        assert await db.schema_version() == len(migrations)
    finally:
        await db.close()


async def test_inline_reads_see_each_commit_and_refuse_changes(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db", [M1], inline=True)
    try:
        async with db.write() as tx:
            await tx.execute("INSERT INTO t VALUES ('a', 1)")
        async with db.read() as tx:
            assert await tx.scalar("SELECT v FROM t WHERE k = 'a'") == 1
            assert [tuple(r) for r in await tx.fetchall("SELECT k, v FROM t")] == [("a", 1)]
        async with db.write() as tx:
            await tx.execute("UPDATE t SET v = 2")
            async with db.read() as reader:  # what is not committed yet is not seen
                assert await reader.scalar("SELECT v FROM t") == 1
        async with db.read() as tx:
            assert await tx.scalar("SELECT v FROM t") == 2
            with pytest.raises(errors.Internal):
                await tx.execute("DELETE FROM t")
        async with db.write() as tx:
            await tx.execute("UPDATE t SET v = 3")
        async with db.read() as tx:
            assert await tx.scalar("SELECT v FROM t") == 3
    finally:
        await db.close()
