"""The store's search and unread counts against a plain reference, on both backends.

Random texts from a small alphabet (mixed case, Chinese, the LIKE wildcards, FTS
quotes), some held, deleted, edited or purged, in two groups; every search
(2, 3 and 4 characters, with and without the directly-read window of newest
messages) must return exactly what a substring scan returns.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from server.storage import changes as ch
from server.storage import postgres_search, sqlite_search
from server.storage.base import MessageRow
from server.storage.sqlite import SqliteStore
from tests import pgtools

ALPHABET = "aAbB%_\\\" 我们好的"
G1, G2 = "100000001", "100000002"


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request, tmp_path) -> Iterator[Callable[[], tuple[Any, Any]]]:
    dbs: list[str] = []

    def make() -> tuple[Any, Any]:
        if request.param == "sqlite":
            path = tmp_path / "q.db"
            return SqliteStore(path), lambda sql: sqlite3.connect(path, isolation_level=None).execute(sql).fetchall()
        reason = pgtools.unavailable()
        if reason is not None:
            pytest.skip(reason)
        from server.storage.postgres import PostgresStore

        name, url = pgtools.create_db()
        dbs.append(name)
        return PostgresStore(url), lambda sql: pgtools.query(url, sql)

    yield make
    for name in dbs:
        pgtools.drop_db(name)


async def append(store: Any, rows: list[MessageRow]) -> None:
    loop = asyncio.get_running_loop()
    futs = []
    for row in rows:
        fut = loop.create_future()
        store.append_message(row, lambda exc, fut=fut: fut.set_result(exc))
        futs.append(fut)
    assert set(await asyncio.gather(*futs)) == {None}


def reference(texts: dict[int, str], hidden: set[int], floor: int, query: str, before: int | None,
              limit: int) -> list[int]:
    q = query.lower()
    hits = [s for s, t in texts.items()
            if s not in hidden and floor < s < (before or 1 << 40) and q in t.lower()]
    return sorted(hits, reverse=True)[:limit]


async def hold_pg_index(store: Any) -> Any:
    """PostgreSQL: wait for the search index to catch up, then hold it back (its lock taken shared
    on a connection of our own, as a change of messages takes it) until that connection closes."""
    if isinstance(store, SqliteStore):
        return None
    import asyncpg

    for _ in range(500):
        if store.search_index_backlog() == 0:
            break
        await asyncio.sleep(0.02)
    assert store.search_index_backlog() == 0
    conn = await asyncpg.connect(store.url)
    for gid in (G1, G2):
        await conn.execute("SELECT pg_advisory_lock_shared($1, hashtext($2))", postgres_search.LOCK_SEARCH, gid)
    return conn


async def test_search_matches_a_substring_scan(make_store, monkeypatch):
    store, rows = make_store()
    await store.open()
    store.set_record_key(b"k" * 32)
    rng = random.Random(11)
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup(G1, "one", "tech", "open", "u1", 1))
    await store.apply(ch.CreateGroup(G2, "two", "tech", "open", "u1", 1))
    texts: dict[int, str] = {}
    hidden: set[int] = set()
    batch = []
    for seq in range(1, 301):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))
        held = 1 if seq % 23 == 0 else 0
        texts[seq] = text
        if held:
            hidden.add(seq)
        batch.append(MessageRow(G1, seq, seq, "u1", "owner", text, None, held))
        batch.append(MessageRow(G2, seq, seq, "u1", "owner", text[::-1] + "x", None, 0))
        if seq == 200:  # the first 200 get indexed (a search catches the index up); the rest wait
            await append(store, batch)
            batch = []
            await store.search_messages(G1, 0, "zz", None, 1)
            held_back = await hold_pg_index(store)
    await append(store, batch)
    deleted = tuple((G1, s) for s in range(5, 301, 17))
    await store.apply(ch.DeleteMessages(deleted, 999, "u1"))
    hidden.update(s for _, s in deleted)
    for seq in range(3, 301, 29):  # edits, indexed and waiting ones (a deleted one is refused)
        if seq in hidden:
            continue
        texts[seq] = "edited 我们" + texts[seq][::-1]
        await store.apply(ch.EditMessage(G1, seq, "u1", texts[seq], 1000 + seq))
    await store.apply(ch.SetMessageHeld(G1, 23, 0))  # released: visible (and searchable) now
    hidden.discard(23)
    rows("DELETE FROM messages WHERE group_id = '100000001' AND seq IN (2, 4, 6, 250)")  # as a purge would
    for s in (2, 4, 6, 250):
        del texts[s]

    queries = ["我们", "aa", "Ab", "%", "_b", "\\\"", '"a', "我们好", "a%b", "BAb", "好的a", "我们 a", "zz", "的的的的"]
    for window in (0, 7, 2000):
        monkeypatch.setattr(sqlite_search, "SEARCH_WINDOW", window)
        monkeypatch.setattr(postgres_search, "SEARCH_WINDOW", window)
        for query in queries:
            if len(query) < 2:
                continue
            for floor, before, limit in ((0, None, 20), (150, None, 7), (0, 200, 100), (10, 12, 5)):
                got = [r.seq for r in await store.search_messages(G1, floor, query, before, limit)]
                assert got == reference(texts, hidden, floor, query, before, limit), (window, query, floor, before)
        if held_back is not None and window == 7:  # PostgreSQL: the same once the index has caught up
            await held_back.close()
            held_back = None
            for _ in range(500):
                if store.search_index_backlog() == 0:
                    break
                await asyncio.sleep(0.02)
            assert store.search_index_backlog() == 0
            assert sorted(rows("SELECT group_id, seq, text FROM message_search")) == sorted(
                rows("SELECT group_id, seq, text FROM messages WHERE held = 0 AND deleted_at IS NULL"))
    row = (await store.search_messages(G1, 0, texts[3][-3:] if len(texts[3]) >= 3 else "edited", None, 1))[0]
    assert (row.text, row.deleted) == (texts[row.seq], False)

    visible = [s for s in texts if s not in hidden]
    counts = await store.unread_counts("u2", {G1: 100, G2: 290})
    assert counts == {G1: len([s for s in visible if s > 100]), G2: 10}
    assert await store.unread_counts("u1", {G1: 0, G2: 0}) == {}
    await store.close()
    if isinstance(store, SqliteStore):  # the index agrees with its source, row for row
        rows("INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 1)")


async def test_mark_read_never_moves_back(make_store):
    store, rows = make_store()
    await store.open()
    store.set_record_key(b"k" * 32)
    results = await asyncio.gather(*(store.apply(ch.MarkRead("u1", G1, seq)) for seq in (5, 9, 3)))
    assert results == [[None]] * 3
    await store.apply(ch.MarkRead("u1", G1, 4))
    await store.apply(ch.MarkRead("u1", G2, 1))
    assert sorted(rows("SELECT group_id, seq FROM read_state WHERE user_id = 'u1'")) == [(G1, 9), (G2, 1)]
    await store.close()
