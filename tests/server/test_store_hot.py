"""The SQLite writer's hot path: a batch of only message and network-log rows is one call on
the hot connection's thread, with the same guarantees as the general path."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from server.storage import changes as ch
from server.storage.base import MessageRow, NetlogRow
from server.storage.sqlite import SqliteStore


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return [tuple(r) for r in db.execute(sql).fetchall()]


async def test_rows_only_batches_take_the_hot_path_and_a_poison_row_fails_alone(tmp_path):
    path = tmp_path / "q.db"
    store = SqliteStore(path)
    await store.open()
    await store.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
    await store.apply(ch.CreateGroup("100000002", "h", "work", "open", "u1", 1))
    assert store.hot_batches == 0
    done: dict[tuple[str, int], BaseException | None] = {}
    logged: list[BaseException | None] = []
    for seq in range(1, 101):
        for gid in ("100000001", "100000002"):
            text = "\ud800 poison" if (gid, seq) == ("100000001", 40) else f"m{seq}"
            store.append_message(MessageRow(gid, seq, seq, "u1", "owner", text, None, 0),
                                 lambda exc, key=(gid, seq): done.__setitem__(key, exc))
    store.log_network(NetlogRow(1, "connect", None, "127.0.0.1", "{}"), logged.append)
    store.log_network(NetlogRow(1, "connect", None, "127.0.0.1", '{"x": "\udfff"}'), logged.append)
    await store.close()
    assert store.hot_batches >= 1
    assert isinstance(done.pop(("100000001", 40)), UnicodeEncodeError)
    assert set(done.values()) == {None} and len(done) == 199
    assert logged[0] is None and isinstance(logged[1], UnicodeEncodeError)
    assert [r[0] for r in rows(path, "SELECT seq FROM messages WHERE group_id = '100000001' ORDER BY seq")] == \
        [s for s in range(1, 101) if s != 40]
    assert rows(path, "SELECT COUNT(*) FROM messages WHERE group_id = '100000002'") == [(100,)]
    assert rows(path, "SELECT group_id, last_seq FROM groups ORDER BY 1") == [("100000001", 100), ("100000002", 100)]
    assert rows(path, "SELECT COUNT(*) FROM netlog") == [(1,)]


async def test_hot_and_general_batches_interleave_on_one_database(tmp_path):
    """Changes (general path) and rows (hot path) alternate; each sees the other's commits."""
    path = tmp_path / "q.db"
    store = SqliteStore(path)
    await store.open()
    seq = 0
    for i in range(20):
        gid = f"1000000{i:02d}"
        await store.apply(ch.CreateGroup(gid, "g", "work", "open", "u1", 1))  # general path
        committed = asyncio.get_running_loop().create_future()
        for k in range(5):
            seq += 1
            store.append_message(MessageRow(gid, seq, seq, "u1", "owner", "x", None, 0),
                                 committed.set_result if k == 4 else (lambda exc: None))
        assert await committed is None  # a hot batch: nothing else was queued
        await store.ping()  # a general batch after the rows
    await store.close()
    assert store.hot_batches == 20
    assert rows(path, "SELECT COUNT(*) FROM groups") == [(20,)]
    assert rows(path, "SELECT COUNT(*) FROM messages") == [(100,)]
    assert rows(path, "SELECT MAX(last_seq) FROM groups") == [(100,)]
