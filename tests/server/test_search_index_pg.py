"""The PostgreSQL search index is kept off the ack path (migration 20, postgres_search.py,
postgres_indexing.py): the writer's batch inserts into a table with no trigram index, a
background task copies new messages into ``message_search`` in slices afterwards, and a
search still sees every message acknowledged before it, never one recalled, held or purged.

The index is held back where a test needs a backlog by holding its lock shared from a
connection of the test's own, as a change of messages does (a slice needs it exclusively).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from server.storage import changes as ch
from server.storage.base import MessageRow
from server.storage.postgres_schema import MIGRATIONS
from server.storage.postgres_search import LOCK_SEARCH
from tests import pgtools

G1, G2 = "100000001", "100000002"


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = pgtools.unavailable()
    if reason is not None:
        pytest.skip(reason)
    name, url = pgtools.create_db()
    yield url
    pgtools.drop_db(name)


@pytest.fixture
async def side(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own to the store's database."""
    conn = await asyncpg.connect(pg_url)
    yield conn
    await conn.close()


async def hold_index(conn: asyncpg.Connection, gids: tuple[str, ...] = (G1, G2)) -> None:
    """Keep the index task off ``gids``: their search locks taken shared, as a change of their messages takes them."""
    for gid in gids:
        await conn.execute("SELECT pg_advisory_lock_shared($1, hashtext($2))", LOCK_SEARCH, gid)


async def release_index(conn: asyncpg.Connection, gids: tuple[str, ...] = (G1, G2)) -> None:
    for gid in gids:
        await conn.execute("SELECT pg_advisory_unlock_shared($1, hashtext($2))", LOCK_SEARCH, gid)


async def opened(url: str, cluster: bool = False) -> Any:
    from server.storage.postgres import PostgresStore

    store = PostgresStore(url)
    if cluster:
        await store.claim(cluster="qunguan")
    await store.open()
    store.set_record_key(b"k" * 32)
    return store


async def with_groups(url: str) -> Any:
    store = await opened(url)
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    for gid in (G1, G2):
        await store.apply(ch.CreateGroup(gid, "g", "tech", "open", "u1", 1))
    return store


async def send(store: Any, rows: list[tuple[str, int, str]]) -> None:
    loop = asyncio.get_running_loop()
    futs = []
    for gid, seq, text in rows:
        fut: asyncio.Future[BaseException | None] = loop.create_future()
        store.append_message(MessageRow(gid, seq, seq, "u1", "owner", text, None, 0),
                             lambda exc, fut=fut: fut.set_result(exc))
        futs.append(fut)
    assert set(await asyncio.gather(*futs)) == {None}


async def drained(store: Any, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while store.search_index_backlog() > 0:
        assert asyncio.get_running_loop().time() < deadline, f"backlog {store.search_index_backlog()} left"
        await asyncio.sleep(0.02)


async def indexed(conn: asyncpg.Connection) -> dict[tuple[str, int], str]:
    return {(r[0], r[1]): r[2] for r in await conn.fetch("SELECT group_id, seq, text FROM message_search")}


async def visible(conn: asyncpg.Connection) -> dict[tuple[str, int], str]:
    rows = await conn.fetch("SELECT group_id, seq, text FROM messages WHERE held = 0 AND deleted_at IS NULL")
    return {(r[0], r[1]): r[2] for r in rows}


async def marks(conn: asyncpg.Connection) -> dict[str, int]:
    return {r[0]: r[1] for r in await conn.fetch("SELECT group_id, indexed_seq FROM search_progress")}


async def found(store: Any, gid: str, query: str) -> list[int]:
    return [r.seq for r in await store.search_messages(gid, 0, query, None, 50)]


async def test_messages_carry_no_trigram_index_and_an_ack_leaves_the_search_index_alone(
        pg_url: str, side: asyncpg.Connection) -> None:
    store = await with_groups(pg_url)
    try:
        gin = await side.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messages'"
                               " AND (indexdef ILIKE '%gin%' OR indexdef ILIKE '%trgm%')")
        assert gin == []
        assert (await side.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'message_search_trgm'")
                ).startswith("CREATE INDEX message_search_trgm ON public.message_search USING gin (text gin_trgm_ops)")
        await hold_index(side)
        await send(store, [(G1, s, f"acked text {s}") for s in range(1, 41)])
        assert await indexed(side) == {}  # acknowledged, and not in the index
        assert store.search_index_backlog() == 40
        await release_index(side)
        await drained(store)
        assert await indexed(side) == await visible(side)
        assert await marks(side) == {G1: 40}
        # The slice only appended to the index's pending list; the task merged it afterwards (a
        # search reads all of the list), not waiting for the list's 32 MB limit.
        await side.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        for _ in range(100):
            if await side.fetchval("SELECT pending_tuples FROM pgstatginindex('message_search_trgm')") == 0:
                break
            await asyncio.sleep(0.02)
        assert await side.fetchval("SELECT pending_tuples FROM pgstatginindex('message_search_trgm')") == 0
    finally:
        await store.close()


async def test_a_search_right_after_an_ack_sees_the_message(pg_url: str, side: asyncpg.Connection,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from server.storage import postgres_search

    store = await with_groups(pg_url)
    try:
        await send(store, [(G1, s, f"older {s}") for s in range(1, 11)])
        await drained(store)
        await hold_index(side)
        await send(store, [(G1, 11, "Brand NEW message"), (G1, 12, "older but unindexed")])
        for window in (0, 500):  # past the window of newest seqs too: the unindexed ones are read directly
            monkeypatch.setattr(postgres_search, "SEARCH_WINDOW", window)
            assert await found(store, G1, "new mess") == [11]
            assert await found(store, G1, "older") == [12, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
            assert await found(store, G1, "ol") == [12, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
        assert (G1, 11) not in await indexed(side)
    finally:
        await store.close()


async def test_a_large_unindexed_backlog_is_read_up_to_a_bound_and_a_search_past_it_is_refused(
        pg_url: str, side: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group's index far behind: a search reads at most UNINDEXED_MAX of its unindexed seqs
    directly (the newest). When they hold the page, it is answered; when not, the rest cannot be
    read through the index yet, and the search is refused ``rate_limited`` rather than scanning
    the whole backlog (or answering without it). Once the index has caught up, it is answered."""
    from protocol.errors import ContractError
    from server.storage import postgres_search

    monkeypatch.setattr(postgres_search, "SEARCH_WINDOW", 10)
    monkeypatch.setattr(postgres_search, "UNINDEXED_MAX", 50, raising=False)
    store = await with_groups(pg_url)
    try:
        await hold_index(side)
        await send(store, [(G1, s, "needle, the oldest" if s == 5 else "hay near the top" if s == 250 else f"hay {s}")
                           for s in range(1, 301)])
        with pytest.raises(ContractError) as refused:  # (290 unindexed below the window: 50 read)
            await found(store, G1, "the oldest")
        assert refused.value.code == "rate_limited" and refused.value.extra["retry_after_ms"] > 0
        # The newest 10 (the window) and 50 unindexed below them hold a match: answered.
        assert [r.seq for r in await store.search_messages(G1, 0, "near the top", None, 1)] == [250]
        assert [r.seq for r in await store.search_messages(G1, 0, "hay", None, 3)] == [300, 299, 298]
        await release_index(side)
        await drained(store)
        assert await found(store, G1, "the oldest") == [5]
    finally:
        await store.close()


async def test_changed_before_indexed_never_found_and_the_index_matches_its_source(
        pg_url: str, side: asyncpg.Connection) -> None:
    store = await with_groups(pg_url)
    try:
        await send(store, [(G1, s, f"early secret {s}") for s in range(1, 6)])
        await drained(store)
        await hold_index(side)
        await send(store, [(G1, s, f"late secret {s}") for s in range(6, 12)])
        await store.apply(ch.DeleteMessages(((G1, 2), (G1, 7)), 999, "u1"))  # recalled: indexed and not
        await store.apply(ch.SetMessageHeld(G1, 3, 1))  # held for review: indexed and not
        await store.apply(ch.SetMessageHeld(G1, 8, 1))
        await store.apply(ch.EditMessage(G1, 4, "u1", "edited plain 4", 1000))
        await store.apply(ch.EditMessage(G1, 9, "u1", "edited plain 9", 1000))
        await side.execute("DELETE FROM messages WHERE group_id = $1 AND seq IN (5, 10)", G1)  # as a purge
        expected = [11, 6, 1]
        assert await found(store, G1, "secret") == expected
        await release_index(side)
        await drained(store)
        assert await found(store, G1, "secret") == expected
        assert await found(store, G1, "plain") == [9, 4]
        assert await indexed(side) == await visible(side)
        await store.apply(ch.SetMessageHeld(G1, 8, 0))  # released once indexed past: found again
        assert await found(store, G1, "secret") == [11, 8, 6, 1]
        assert await indexed(side) == await visible(side)
    finally:
        await store.close()


async def test_a_restart_indexes_what_was_left(pg_url: str, side: asyncpg.Connection) -> None:
    store = await with_groups(pg_url)
    await hold_index(side)
    await send(store, [(gid, s, f"left {s}") for gid in (G1, G2) for s in range(1, 31)])
    await store.close()
    assert await indexed(side) == {}
    store = await opened(pg_url)
    try:
        for _ in range(100):  # the new writer reads the backlog the last one left
            if store.search_index_backlog() == 60:
                break
            await asyncio.sleep(0.02)
        assert store.search_index_backlog() == 60
        assert await found(store, G2, "left 2") == [29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 2]
        await release_index(side)
        await drained(store)
        assert await indexed(side) == await visible(side)
        assert await marks(side) == {G1: 30, G2: 30}
    finally:
        await store.close()


async def test_a_cluster_node_indexes_once_it_is_the_home(pg_url: str, side: asyncpg.Connection) -> None:
    store = await with_groups(pg_url)  # the home before
    await hold_index(side)
    await send(store, [(G1, s, f"before failover {s}") for s in range(1, 21)])
    await store.close()
    await release_index(side)
    node = await opened(pg_url, cluster=True)
    try:
        await asyncio.sleep(0.3)
        assert await indexed(side) == {}  # not the home: it writes nothing, so it indexes nothing
        assert await found(node, G1, "failover 1") == [19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 1]
        assert node.search_index_backlog() == 0  # (what it reports: it does not index)
        epoch = await node.take_lease("home", "n2", 30)
        assert epoch is not None
        await hold_index(side)
        node.set_fence("home", epoch)  # the new home: it picks up the backlog the last one left
        for _ in range(100):
            if node.search_index_backlog() == 20:
                break
            await asyncio.sleep(0.02)
        assert node.search_index_backlog() == 20
        await release_index(side)
        await drained(node)
        assert len(await indexed(side)) == 20
        assert await marks(side) == {G1: 20}
    finally:
        await node.close()


async def test_a_slice_waits_for_a_change_of_messages_in_flight(pg_url: str, side: asyncpg.Connection) -> None:
    store = await with_groups(pg_url)
    try:
        await send(store, [(G1, 1, "kept secret"), (G1, 2, "recalled secret")])
        async with side.transaction():  # a recall not yet committed when the slice comes
            await side.execute("UPDATE messages SET deleted_at = 5 WHERE group_id = $1 AND seq = 2", G1)
            await asyncio.sleep(0.3)
            assert store.search_index_backlog() == 2
        await drained(store)
        assert await indexed(side) == {(G1, 1): "kept secret"}
        assert await found(store, G1, "secret") == [1]
    finally:
        await store.close()


async def test_a_change_in_flight_holds_back_its_own_group_only(pg_url: str, side: asyncpg.Connection) -> None:
    """The search lock is per group: a change of one group's messages in flight keeps slices off
    that group, not off the others (with one lock for the service, the writer's edit or recall
    in any group waited for a whole slice of every group's backlog, and so did its acks)."""
    store = await with_groups(pg_url)
    try:
        await hold_index(side, (G1,))
        await send(store, [(gid, s, f"text {s}") for gid in (G1, G2) for s in range(1, 21)])
        for _ in range(250):
            if (await marks(side)).get(G2) == 20:
                break
            await asyncio.sleep(0.02)
        assert (await marks(side)).get(G2) == 20
        assert (await marks(side)).get(G1, 0) == 0 and store.search_index_backlog() == 20
        await release_index(side, (G1,))
        await drained(store)
        assert await marks(side) == {G1: 20, G2: 20}
        assert await indexed(side) == await visible(side)
    finally:
        await store.close()


async def test_the_migration_copies_an_existing_store_into_the_index(pg_url: str, side: asyncpg.Connection) -> None:
    for version, script in MIGRATIONS:  # a store as the previous version left it, with data
        if version < 20:
            await side.execute(script)
    await side.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
    await side.execute("INSERT INTO schema_migrations SELECT v, 0 FROM generate_series(1, 19) AS v")
    await side.execute("INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at, last_seq)"
                       " VALUES ($1, 'g', 'tech', 'open', 'u1', 1, 4)", G1)
    await side.executemany("INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text, held, deleted_at)"
                           " VALUES ($1, $2, $2, 'u1', 'owner', $3, $4, $5)",
                           [(G1, 1, "old one", 0, None), (G1, 2, "old held", 1, None),
                            (G1, 3, "old recalled", 0, 9), (G1, 4, "old four", 0, None)])
    store = await opened(pg_url)
    try:
        assert await indexed(side) == {(G1, 1): "old one", (G1, 4): "old four"}
        assert await marks(side) == {G1: 4}
        assert store.search_index_backlog() == 0
        assert await found(store, G1, "old") == [4, 1]
        assert await side.fetchval("SELECT to_regclass('messages_text_trgm')") is None
    finally:
        await store.close()
