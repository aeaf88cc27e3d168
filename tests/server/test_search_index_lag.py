"""The SQLite search index is kept off the ack path: no commit that acks a write touches it,
the writer indexes afterwards (when idle, or past a bounded backlog), and a search still
sees every message acknowledged before it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.storage import changes as ch
from server.storage import sqlite as sqlite_store
from server.storage import sqlite_search
from server.storage.base import MessageRow
from server.storage.sqlite import SqliteStore

G1, G2 = "100000001", "100000002"


def one(path: Path, sql: str) -> Any:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchone()
    finally:
        db.close()


def indexed_seq(path: Path, group_id: str) -> int:
    return int(one(path, f"SELECT indexed_seq FROM search_groups WHERE group_id = '{group_id}'")[0])


async def opened(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    await store.open()
    store.set_record_key(b"k" * 32)
    return store


async def with_groups(path: Path) -> SqliteStore:
    store = await opened(path)
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    for gid in (G1, G2):
        await store.apply(ch.CreateGroup(gid, "g", "tech", "open", "u1", 1))
    return store


def send(store: SqliteStore, gid: str, seq: int, text: str,
         on_ack: Any = None) -> asyncio.Future[BaseException | None]:
    fut: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    def done(exc: BaseException | None) -> None:
        if on_ack is not None:
            on_ack(gid, seq)
        fut.set_result(exc)

    store.append_message(MessageRow(gid, seq, seq, "u1", "owner", text, None, 0), done)
    return fut


async def test_no_commit_that_acks_a_send_touches_the_index_and_the_backlog_stays_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "INDEX_QUIET", 60.0)  # never idle here: only the bound indexes
    monkeypatch.setattr(sqlite_store, "INDEX_BACKLOG_ROWS", 300)
    monkeypatch.setattr(sqlite_store, "INDEX_SLICE_ROWS", 100)
    path = tmp_path / "q.db"
    store = await with_groups(path)
    ack_path: list[str] = []  # every statement on the two connections that commit writes
    assert store._hot is not None and store._w is not None
    store._hot.set_trace_callback(ack_path.append)
    await store._w.set_trace_callback(ack_path.append)
    seen: list[tuple[int, int]] = []  # (seq, indexed_seq) when the message was acked

    def on_ack(gid: str, seq: int) -> None:
        seen.append((seq, indexed_seq(path, gid)))

    batch = 50
    for start in range(0, 3000, batch):
        futs: list[asyncio.Future[Any]] = [send(store, G1, seq, f"m{seq} words", on_ack if seq % 10 == 0 else None)
                                           for seq in range(start + 1, start + batch + 1)]
        if start % (2 * batch):  # half the batches take the general path (a change with the rows)
            futs.append(store.apply(ch.MarkRead("u1", G2, start + 1)))
        assert (await asyncio.gather(*futs))[:batch] == [None] * batch
    assert 0 < store.hot_batches < store.batches

    # When its ack went out, no message had been indexed by the commit that carried it ...
    assert all(done < seq for seq, done in seen)
    assert not [s for s in ack_path if "message_search" in s]
    assert any(s.startswith("INSERT INTO messages") for s in ack_path)
    # ... and the index never fell further behind than the bound plus one batch.
    assert store.index_slices > 0
    assert max(seq - done for seq, done in seen) <= 300 + batch
    assert 3000 - indexed_seq(path, G1) <= 300 + batch
    await store.close()


async def test_a_search_right_after_an_ack_sees_the_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "INDEX_QUIET", 60.0)
    monkeypatch.setattr(sqlite_store, "INDEX_BACKLOG_ROWS", 10**9)  # nothing is indexed until a search asks
    path = tmp_path / "q.db"
    store = await with_groups(path)
    for start in range(0, 2000, 500):
        await asyncio.gather(*(send(store, G1, seq, f"filler {seq}") for seq in range(start + 1, start + 501)))
    await asyncio.gather(*(send(store, G2, seq, f"other {seq}") for seq in range(1, 11)))
    assert await send(store, G1, 2001, "the Needle 针 here") is None
    assert (indexed_seq(path, G1), store.index_slices) == (0, 0)

    assert [r.seq for r in await store.search_messages(G1, 0, "needle", None, 5)] == [2001]
    assert [r.seq for r in await store.search_messages(G1, 0, "针 ", None, 5)] == [2001]
    assert [r.seq for r in await store.search_messages(G1, 0, "filler 1999", None, 5)] == [1999]
    # The search read the unindexed messages directly: it indexed nothing, waited for nothing...
    assert (indexed_seq(path, G1), indexed_seq(path, G2), store.index_slices) == (0, 0, 0)
    # ... and asked that its group be indexed first.
    assert list(store._searched) == [G1]
    # A query with a cased letter outside ASCII (which LIKE would not fold) has its group indexed first.
    assert await send(store, G1, 2002, "CAFÉ au lait") is None
    assert [r.seq for r in await store.search_messages(G1, 0, "café", None, 5)] == [2002]
    assert (indexed_seq(path, G1), indexed_seq(path, G2)) == (2002, 0)
    # And again while sends keep arriving: each search sees what was acked before it.
    for seq in range(2003, 2043):
        pending = [send(store, G1, seq, f"token{seq}x")] + [send(store, G2, 10 + seq, "busy") for _ in range(1)]
        await pending[0]
        assert [r.seq for r in await store.search_messages(G1, 0, f"token{seq}x", None, 5)] == [seq]
        await asyncio.gather(*pending)
    await store.close()


async def wait_for(cond: Any, seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not cond():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_an_idle_writer_indexes_and_merges_and_a_restart_finishes_what_was_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "INDEX_QUIET", 60.0)
    monkeypatch.setattr(sqlite_store, "INDEX_BACKLOG_ROWS", 10**9)
    path = tmp_path / "q.db"
    store = await with_groups(path)
    for start in range(0, 1000, 250):  # G1: 2,000 messages, G2: 1,000, interleaved
        await asyncio.gather(*(send(store, gid, seq, f"word{seq % 97} {seq}")
                               for i in range(start + 1, start + 251)
                               for gid, seq in ((G1, 2 * i - 1), (G2, i), (G1, 2 * i))))
    await store.close()  # closed with everything unindexed
    assert (indexed_seq(path, G1), indexed_seq(path, G2)) == (0, 0)

    monkeypatch.setattr(sqlite_store, "INDEX_QUIET", 0.005)
    monkeypatch.setattr(sqlite_store, "INDEX_SLICE_ROWS", 100)  # 30 slices: segments enough to merge
    store = await opened(path)
    assert store._unindexed == 3000
    await wait_for(lambda: store._unindexed == 0 and not store._side_work())
    assert (indexed_seq(path, G1), indexed_seq(path, G2)) == (2000, 1000)
    assert store.index_slices >= 30
    assert store.index_merges > 0  # FTS5's automerge is off: the writer merged the slices' segments
    assert one(path, "SELECT group_concat(k || '=' || v) FROM message_search_config WHERE k LIKE '%merge'"
               ) == ("automerge=0,usermerge=8",)
    rows = await store.search_messages(G2, 0, "word5 ", None, 100)
    assert [r.seq for r in rows] == sorted((s for s in range(1, 1001) if s % 97 == 5), reverse=True)
    await store.close()
    db = sqlite3.connect(path)
    try:  # the index agrees with its source, row for row
        db.execute("INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 1)")
    finally:
        db.close()


async def test_a_failed_index_step_leaves_the_acks_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "INDEX_QUIET", 0.005)
    monkeypatch.setattr(sqlite_store, "INDEX_BACKLOG_ROWS", 10)
    calls = 0

    def broken(db: sqlite3.Connection, plan: Any) -> Any:
        nonlocal calls
        calls += 1
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    path = tmp_path / "q.db"
    store = await with_groups(path)
    monkeypatch.setattr(sqlite_store, "index_slice", broken)
    results = await asyncio.gather(*(send(store, G1, seq, f"m{seq}") for seq in range(1, 101)))
    assert results == [None] * 100
    await wait_for(lambda: calls >= 1)  # the bound tried a slice after the batch (and the idle writer too)
    results = await asyncio.gather(*(send(store, G1, seq, f"m{seq}") for seq in range(101, 201)))
    assert results == [None] * 100
    # A search still answers, from the messages themselves ...
    assert [r.seq for r in await store.search_messages(G1, 0, "m150", None, 5)] == [150]
    # ... except one that needs the index (a cased letter outside ASCII): its catch-up's error.
    with pytest.raises(sqlite3.OperationalError):
        await store.search_messages(G1, 0, "m1É", None, 5)
    monkeypatch.undo()
    await wait_for(lambda: store._unindexed == 0)  # the idle writer catches up once the fault is gone
    assert indexed_seq(path, G1) == 200
    assert [r.seq for r in await store.search_messages(G1, 0, "m150", None, 5)] == [150]
    await store.close()


# Texts and queries where reading directly (LIKE) and reading the index (trigrams folded by
# FTS5) could disagree: case, LIKE's wildcards and escape, Chinese, two characters, punctuation.
TEXTS = ["Hello World", "hello world", "HELLO", "50% off_today", "50%", "a_b", "a\\b", "明天下午三点开会",
         "下午茶", "开会吗？", "Ünïcode ÜBER über", "Ж ж", "ЖЖ жЖ", "abc abd", "ababab", "x", "", "100_000", "a%b_c"]
QUERIES = ["hello", "HeLLo wor", "50%", "% o", "_to", "a_b", "a\\b", "明天", "下午", "开会", "会吗？",
           "über", "ÜBER", "жж", "Ж ж", "ab", "aba", "bab", "00_", "%b_", "b_c", "lo", "LO", "三点开"]


@pytest.mark.parametrize("split", [sqlite_search.SCAN_SPLIT_SEQS, 1], ids=["one-read", "split-reads"])
async def test_reading_directly_finds_what_the_index_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           split: int) -> None:
    """The direct read (LIKE, or instr for caseless queries; whole or split over the
    scanners) and the index give the same messages in the same order."""
    monkeypatch.setattr(sqlite_search, "SCAN_SPLIT_SEQS", split)
    monkeypatch.setattr(sqlite_store, "INDEX_QUIET", 60.0)
    monkeypatch.setattr(sqlite_store, "INDEX_BACKLOG_ROWS", 10**9)
    path = tmp_path / "q.db"
    store = await with_groups(path)
    texts = TEXTS * 3
    assert await asyncio.gather(*(send(store, G1, i + 1, t) for i, t in enumerate(texts))) == [None] * len(texts)
    scannable = [q for q in QUERIES if sqlite_search.scannable(q) or len(q) == 2]  # (pairs: case variants)
    assert set(QUERIES) - set(scannable) == {"über", "ÜBER", "Ж ж"}
    direct = {q: [r.seq for r in await store.search_messages(G1, 0, q, None, 100)] for q in scannable}
    assert indexed_seq(path, G1) == 0  # all of it read directly
    await store._catch_up_index(G1)
    assert indexed_seq(path, G1) == len(texts)
    for q in scannable:
        through_index = [r.seq for r in await store.search_messages(G1, 0, q, None, 100)]
        assert direct[q] == through_index, q
        expected = [i + 1 for i, t in enumerate(texts) if q.lower() in t.lower()]
        assert through_index == expected[::-1], q
    # Half read directly, half through the index, and limits and `before` across the split.
    assert await asyncio.gather(*(send(store, G1, len(texts) + i + 1, t)
                                  for i, t in enumerate(texts))) == [None] * len(texts)
    for q in scannable:
        expected = [i + 1 for i, t in enumerate(texts * 2) if q.lower() in t.lower()][::-1]
        assert [r.seq for r in await store.search_messages(G1, 0, q, None, 100)] == expected, q
        assert [r.seq for r in await store.search_messages(G1, 0, q, None, 3)] == expected[:3], q
        assert [r.seq for r in await store.search_messages(G1, 40, q, 70, 100)] == [
            s for s in expected if 40 < s < 70], q
    await store.close()


@given(st.integers(0, 10**6), st.integers(0, 300), st.integers(1, 4))
def test_a_split_range_covers_each_seq_once_newest_part_first(lo: int, width: int, parts: int) -> None:
    hi = lo + width
    ranges = sqlite_search.split_range(lo, hi, parts)
    assert len(ranges) == parts
    seqs = [seq for a, b in ranges for seq in range(b - 1, a, -1)]  # each part read newest first
    assert seqs == list(range(hi - 1, lo, -1))
