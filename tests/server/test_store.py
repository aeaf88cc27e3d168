"""The group-commit writer: writes queued while closing are committed, and close returns."""

from __future__ import annotations

import asyncio
import sqlite3

from server.storage.sqlite import SqliteStore


async def test_close_commits_what_was_queued_during_a_batch(tmp_path):
    store = SqliteStore(tmp_path / "q.db")
    await store.open()

    async def slow(db):
        await db.execute("INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at)"
                         " VALUES ('100000001', 'a', 'work', 'open', 'u1', 1)")
        await asyncio.sleep(0.05)  # keeps the batch open while close() begins

    async def late(db):
        await db.execute("INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at)"
                         " VALUES ('100000002', 'b', 'work', 'open', 'u1', 1)")

    first = store.write(slow)
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)
    second = store.write(late)  # queued after close() began, before the writer ends
    await asyncio.wait_for(closing, 5)
    await first
    await second
    rows = sqlite3.connect(tmp_path / "q.db").execute("SELECT group_id FROM groups ORDER BY 1").fetchall()
    assert rows == [("100000001",), ("100000002",)]


async def test_messages_commit_in_order_with_callbacks_after_commit(tmp_path):
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    done = []
    for seq in range(1, 6):
        store.append_message(("100000001", seq, seq, "u1", "owner", f"m{seq}", None, 0),
                             lambda exc, seq=seq: done.append((seq, exc)))
    await store.close()
    assert done == [(s, None) for s in range(1, 6)]
    db = sqlite3.connect(tmp_path / "q.db")
    assert [r[0] for r in db.execute("SELECT seq FROM messages ORDER BY seq")] == [1, 2, 3, 4, 5]
