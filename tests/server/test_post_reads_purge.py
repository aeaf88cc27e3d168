"""The retention purge of read logs (``post_reads``). A read's row stays while its post does (it says
the reader was counted), so most old rows are kept; the purge must cost the one SQLite writer what it
deletes, not what it keeps. It walked the read log by age and tested each row against ``posts``, so
every batch walked all the kept rows older than the first deletable one again (300 000 kept rows:
about 80 ms per 1000-row batch, acknowledgements waiting meanwhile)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from server.storage import changes as ch
from server.storage.sqlite import SqliteStore
from tests import pgtools
from tests.server.test_store_public_accounts import _account, _people
from tests.server.upgrade_backend import account_before_upgrade

CUTOFF = 10**9  # every read below is older than this


def _post(db: sqlite3.Connection, post_id: int) -> None:
    """A bare post row (what the purge looks at is its id)."""
    info = list(db.execute("PRAGMA table_info(posts)"))
    values = {c[1]: post_id if c[1] == "post_id" else 0 if "INT" in c[2].upper() else "x" for c in info}
    db.execute(f"INSERT INTO posts ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
               list(values.values()))


def _reads(path: Path, post_id: int, n: int, first_ts: int, gone: bool) -> None:
    """``n`` reads of post ``post_id`` from ``first_ts`` on; ``gone``: the post goes afterwards (as the
    posts purge takes it)."""
    db = sqlite3.connect(path)
    try:
        if not gone or not list(db.execute("SELECT 1 FROM posts WHERE post_id = ?", (post_id,))):
            _post(db, post_id)
        db.executemany("INSERT INTO post_reads (post_id, user_id, ts) VALUES (?, ?, ?)",
                       ((post_id, f"r{i}", first_ts + i) for i in range(n)))
        if gone:
            db.execute("DELETE FROM posts WHERE post_id = ?", (post_id,))
        db.commit()
    finally:
        db.close()


async def _purge_steps(store: SqliteStore) -> tuple[int, int]:
    """(rows purged, SQLite VM steps in hundreds) of one post_reads purge batch on the writer."""
    ticks = [0]

    def tick() -> int:
        ticks[0] += 1
        return 0

    async def counting(db: Any) -> None:
        await db.set_progress_handler(tick, 100)

    async def quiet(db: Any) -> None:
        await db.set_progress_handler(None, 100)

    await store.run_in_batch(counting)
    ticks[0] = 0
    [n] = await store.apply(ch.Purge("post_reads", 0, CUTOFF, 1000))
    await store.run_in_batch(quiet)
    return n, ticks[0]


async def test_the_read_log_purge_does_not_walk_the_reads_it_keeps(tmp_path: Path) -> None:
    """A batch costs the same with 1 000 or 100 000 old reads kept with their post: it starts from
    the posts that are gone and reaches only their reads past the period. The kept reads all stay."""
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    try:
        path = tmp_path / "q.db"
        _reads(path, 1, 1_000, 0, gone=False)  # kept: older than every deletable read
        _reads(path, 2, 200, 200_000, gone=True)
        few = await _purge_steps(store)
        _reads(path, 3, 99_000, 1_000, gone=False)
        _reads(path, 4, 200, 300_000, gone=True)
        many = await _purge_steps(store)
        assert few[0] == many[0] == 200
        assert many[1] < 2 * few[1] + 20, (few, many)  # (it grew with them: 75 times as much here)
        db = sqlite3.connect(path)
        try:
            assert list(db.execute("SELECT post_id, count(*) FROM post_reads GROUP BY post_id")) == [
                (1, 1_000), (3, 99_000)]
        finally:
            db.close()
    finally:
        await store.close()


async def test_a_read_of_a_post_gone_meanwhile_is_not_logged(open_store) -> None:
    """A read stored after its post went (read, then purged before the read's write) would name a
    post the read-log purge no longer looks for, and stay for ever: it is not stored."""
    store = await open_store()
    await _people(store, 1)
    await store.apply(_account("100000001", "u0", "Tea"))
    [p1] = await store.apply(ch.InsertPost("100000001", "u0", "one", "b", "[]", (), "open", 10, 0))
    [p2] = await store.apply(ch.InsertPost("100000001", "u0", "two", "b", "[]", (), "open", 10**12, 0))
    assert await store.apply(ch.Purge("posts", 11, 11, 1000)) == [1]  # p1 goes, p2 is too young
    assert await store.apply(ch.ReadPost(p1, "u0", 12), ch.ReadPost(p2, "u0", 12)) == [False, True]
    sql = "SELECT post_id FROM post_reads"
    if isinstance(store, SqliteStore):
        db = sqlite3.connect(store.path)
        try:
            rows = list(db.execute(sql))
        finally:
            db.close()
    else:
        rows = pgtools.query(store.url, sql)  # type: ignore[attr-defined]
    assert [r[0] for r in rows] == [p2]


@pytest.fixture(params=["sqlite", "postgresql"])
async def upgrade(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[bool], Any]]:
    """``open(upgraded)``: a store on one database, at the schema before the read-log notes
    (SQLite 27, PostgreSQL 25) or the current one."""
    from server.storage import postgres_schema, schema

    name = url = None
    if request.param == "postgresql":
        if pgtools.unavailable() is not None:
            pytest.skip(str(pgtools.unavailable()))
        name, url = await asyncio.to_thread(pgtools.create_db)
    stores: list[Any] = []

    async def open_(upgraded: bool) -> Any:
        if url is None:
            from server.storage import sqlite as mod
            store: Any = SqliteStore(tmp_path / "q.db")
            full, first = schema.MIGRATIONS, 27
        else:
            from server.storage import postgres as mod  # type: ignore[no-redef]
            from server.storage.postgres import PostgresStore
            store = PostgresStore(url)
            full, first = postgres_schema.MIGRATIONS, 25
        mod.MIGRATIONS = [m for m in full if upgraded or m[0] < first]  # type: ignore[attr-defined]
        try:
            await store.open()
        finally:
            mod.MIGRATIONS = full  # type: ignore[attr-defined]
        store.set_record_key(b"k" * 32)
        stores.append(store)
        return store

    yield open_
    for s in stores:
        await s.close()
    if name is not None:
        await asyncio.to_thread(pgtools.drop_db, name)


async def test_reads_of_posts_gone_before_the_upgrade_are_still_purged(upgrade) -> None:
    """Posts purged before the upgrade left reads the new purge would not find (it starts from the
    posts noted as gone): the upgrade notes their posts, and they go once past their period."""
    store = await upgrade(False)
    await _people(store, 2)
    account_before_upgrade(store)
    [old] = await store.apply(ch.InsertPost("100000001", "u0", "old", "b", "[]", (), "open", 10, 0))
    [new] = await store.apply(ch.InsertPost("100000001", "u0", "new", "b", "[]", (), "open", 10**12, 0))
    await store.apply(*(ch.ReadPost(p, u, 12) for p in (old, new) for u in ("u0", "u1")))
    assert await store.apply(ch.Purge("posts", 11, 11, 1000)) == [1]  # the old post goes, its reads stay
    await store.close()
    store = await upgrade(True)
    assert await store.apply(ch.Purge("post_reads", 13, 13, 1000)) == [2]
    assert await store.apply(ch.Purge("post_reads", 13, 13, 1000)) == [0]
    assert await store.apply(ch.ReadPost(new, "u0", 14)) == [False]  # still counted once
