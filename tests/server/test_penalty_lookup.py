"""A comment penalty looks for an earlier measure on the same comment in the enforcement record,
which is never purged: the look-up goes by an index on the comment id, not through every entry."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from server.storage import changes as ch
from server.storage.sqlite import SqliteStore
from tests import pgtools


async def test_sqlite_finds_a_comments_earlier_measures_by_its_index(tmp_path: Path) -> None:
    from server.storage.sqlite_changes import _COMMENT_PAID

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    await store.close()
    db = sqlite3.connect(tmp_path / "q.db")
    args = (*ch.COMMENT_MEASURES, "17")
    plan = " | ".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + _COMMENT_PAID, args))
    assert "USING INDEX audit_comment" in plan, plan


@pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))
async def test_postgresql_finds_a_comments_earlier_measures_by_its_index() -> None:
    import asyncpg

    from server.storage.postgres import PostgresStore
    from server.storage.postgres_changes import _COMMENT_PAID

    name, url = await asyncio.to_thread(pgtools.create_db)
    try:
        store = PostgresStore(url)
        await store.open()
        await store.close()
        db = await asyncpg.connect(url)
        try:
            # A record of some size, few of its entries about comments (as on a real service).
            await db.execute(
                "INSERT INTO audit (id, ts, actor_type, action, detail, prev_hash, hash)"
                " SELECT n, n, 'operator', CASE WHEN n % 100 = 0 THEN 'remove_comment' ELSE 'warn_group' END,"
                " CASE WHEN n % 100 = 0 THEN '{\"comment_id\": ' || n || '}' ELSE '{\"seq\": 1}' END, 'p', 'h'"
                " FROM generate_series(1, 50000) n")
            await db.execute("ANALYZE audit")
            plan = "\n".join(r[0] for r in await db.fetch("EXPLAIN " + _COMMENT_PAID, list(ch.COMMENT_MEASURES), "500"))
            assert "audit_comment" in plan, plan
        finally:
            await db.close()
    finally:
        await asyncio.to_thread(pgtools.drop_db, name)
