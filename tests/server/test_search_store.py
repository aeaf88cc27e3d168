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

        name, url = pgtools.create_migrated_db()
        dbs.append(name)
        return PostgresStore(url), lambda sql: pgtools.query(url, sql)

    yield make
    for name in dbs:
        pgtools.release_db(name)


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
    assert counts == {G1: (len([s for s in visible if s > 100]), False), G2: (10, False)}
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


# Texts where case folding is not what str.lower, LIKE or ILIKE do: Greek final sigma and the
# Greek symbol letters, long s, Kelvin and Ohm and Angstrom signs, capital sharp s, dotted and
# dotless i, titlecase digraphs, iota subscripts, letters cased only after Unicode 6.1 (Cherokee
# small letters), Deseret (outside the BMP), full-width letters, and U+FFFD..U+FFFF.
FOLD_TEXTS = ["ΟΔΟΣ και ος", "Σοφία σς", "\u212aelvin", "ſtop ſ", "Straße", "STRASSE", "ẞAB", "ＨＥＬＬＯ",
              "hello", "İstanbul", "ISTANBUL", "ıstanbul", "ϐϑϕϰϱϵ", "βθφκρε ΒΘΦΚΡΕ", "ꭰꭱ Ꭰ", "𐐀𐐨 𐐨𐐨",
              "ǅemal ǄEMAL", "\u2126hm Ω", "\u212b Ångström", "µ mu μ", "kiss KISS ks", "ᾈ ᾀ ᾼ ᾳ",
              "ͅι ι", "Ⓐⓐ", "中文 Chinese 文字", "a\uffffb", "x\ufffdy\ufffe", "Masse MASSE",
              "(a+b)*[c]^-\\$.|?{2} \"q\" 50%_off"]
FOLD_QUERIES = ["ος", "ΟΣ", "οσ", "σς", "οδος", "ΟΔΟΣ", "ks", "kelvin", "KEL", "st", "stop", "ſt", "ſtop",
                "ss", "sse", "strasse", "straße", "STRAẞE", "ßa", "ẞab", "ｈｅ", "ｈｅｌｌｏ", "hello", "is",
                "istanbul", "İs", "ıs", "βθ", "ϐϑϕ", "βθφκρε", "ꭰꭱ", "ᎠᎡ ", "𐐨𐐨", "𐐀𐐀", "ǆe", "ǅemal",
                "ωhm", "Ωh", "å ", "ÅNGS", "µ m", "μμ", "ᾀ ", "ᾈ ᾀ", "ιι", "ⓐⓐ", "ⓐⓐ", "中文", "文字",
                "\ufffdx", "x\ufffe", "y\ufffd", "a\uffffb", "Masse", "mas",
                "(A+B)*[C]^-\\$.|?{2}", "[c]^", "\"Q\" 50%_", "%_O"]


async def test_search_folds_case_one_way_indexed_or_not_on_both_backends(make_store, monkeypatch):
    """Every query finds the messages whose text contains it as search_fold folds them (the
    index's folding), whichever way each message is read: through the index (a group indexed,
    the directly-read window 0) or directly (a group not yet indexed, or the whole window)."""
    from server.storage import sqlite as sqlite_store
    from server.storage.search_fold import fold, unsearchable

    monkeypatch.setattr(sqlite_store, "INDEX_QUIET", 60.0)  # SQLite: nothing indexed unless asked
    monkeypatch.setattr(sqlite_store, "INDEX_BACKLOG_ROWS", 10**9)
    store, rows = make_store()
    await store.open()
    store.set_record_key(b"k" * 32)
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    for gid in (G1, G2):
        await store.apply(ch.CreateGroup(gid, gid, "tech", "open", "u1", 1))
    texts = dict(enumerate(FOLD_TEXTS, start=1))
    await append(store, [MessageRow(G1, s, s, "u1", "owner", t, None, 0) for s, t in texts.items()])
    sqlite = isinstance(store, SqliteStore)
    held_back = None
    if sqlite:
        await store._catch_up_index(G1)
        progress = "SELECT indexed_seq FROM search_groups WHERE group_id = '{}'"
    else:
        for _ in range(500):
            if store.search_index_backlog() == 0:
                break
            await asyncio.sleep(0.02)
        import asyncpg

        held_back = await asyncpg.connect(store.url)  # G2's index held back (see hold_pg_index)
        await held_back.execute("SELECT pg_advisory_lock_shared($1, hashtext($2))", postgres_search.LOCK_SEARCH, G2)
        progress = "SELECT COALESCE(max(indexed_seq), 0) FROM search_progress WHERE group_id = '{}'"
    await append(store, [MessageRow(G2, s, s, "u1", "owner", t, None, 0) for s, t in texts.items()])
    assert rows(progress.format(G1)) == [(len(texts),)]

    # SQLite has the index catch up before a query of 3+ characters it cannot read directly
    # (a cased letter outside ASCII): those come last, once the rest was read directly.
    def catches_up(q: str) -> bool:
        return len(q) > 2 and not sqlite_search.scannable(q)

    queries = sorted(FOLD_QUERIES, key=catches_up)
    for i, query in enumerate(queries):
        if catches_up(query) and not catches_up(queries[i - 1]):
            assert rows(progress.format(G2)) == [(0,)]  # G2: everything so far was read directly
        want = [] if unsearchable(query) else sorted(
            (s for s, t in texts.items() if fold(query) in fold(t)), reverse=True)
        for window in (0, 2000):
            monkeypatch.setattr(sqlite_search, "SEARCH_WINDOW", window)
            monkeypatch.setattr(postgres_search, "SEARCH_WINDOW", window)
            for gid in (G1, G2):
                got = [r.seq for r in await store.search_messages(gid, 0, query, None, 100)]
                assert got == want, (query, window, gid, [texts[s] for s in got], [texts[s] for s in want])
    if held_back is not None:
        assert rows(progress.format(G2)) == [(0,)]
        await held_back.close()
    await store.close()
