"""A comment or post penalty looks for an earlier measure on the same comment or post in the
enforcement record, which is never purged: the look-up goes by an index on the comment's or post's
id, not through every entry (a review's rejection of a held post runs the post's look-up too)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from server.storage import changes as ch
from tests import pgtools

# (the look-up's name in the changes modules, its measures, the index it must use, the detail key)
LOOKUPS = [
    ("_COMMENT_PAID", ch.COMMENT_MEASURES, "audit_comment", "comment_id"),
    ("_POST_PAID", ch.POST_MEASURES, "audit_post", "post_id"),
]


@pytest.mark.parametrize(("lookup", "measures", "index", "key"), LOOKUPS)
async def test_sqlite_finds_earlier_measures_by_their_index(tmp_path: Path, lookup: str, measures: tuple[str, ...],
                                                           index: str, key: str) -> None:
    from server.storage import sqlite_changes
    from server.storage.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    await store.close()
    db = sqlite3.connect(tmp_path / "q.db")
    args = (*measures, "17")
    plan = " | ".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + getattr(sqlite_changes, lookup), args))
    assert f"USING INDEX {index}" in plan, plan


@pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))
@pytest.mark.parametrize(("lookup", "measures", "index", "key"), LOOKUPS)
async def test_postgresql_finds_earlier_measures_by_their_index(lookup: str, measures: tuple[str, ...],
                                                               index: str, key: str) -> None:
    import asyncpg

    from server.storage import postgres_changes
    from server.storage.postgres import PostgresStore

    name, url = await asyncio.to_thread(pgtools.create_db)
    try:
        store = PostgresStore(url)
        await store.open()
        await store.close()
        db = await asyncpg.connect(url)
        try:
            # A record of some size, few of its entries about comments or posts (as on a real service).
            await db.execute(
                "INSERT INTO audit (id, ts, actor_type, action, detail, prev_hash, hash)"
                f" SELECT n, n, 'operator', CASE WHEN n % 100 = 0 THEN '{measures[0]}' ELSE 'warn_group' END,"
                f" CASE WHEN n % 100 = 0 THEN '{{\"{key}\": ' || n || '}}' ELSE '{{\"seq\": 1}}' END, 'p', 'h'"
                " FROM generate_series(1, 50000) n")
            await db.execute("ANALYZE audit")
            sql = getattr(postgres_changes, lookup)
            plan = "\n".join(r[0] for r in await db.fetch("EXPLAIN " + sql, list(measures), "500"))
            assert index in plan, plan
        finally:
            await db.close()
    finally:
        await asyncio.to_thread(pgtools.drop_db, name)
