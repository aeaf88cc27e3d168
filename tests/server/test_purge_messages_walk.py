"""The messages purge walks on from each batch's last message (changes.PurgeMessages): the messages
kept past their period are looked at once per purge, each by its key, and the batches after pass
them over; rows of one millisecond split across batches lose none. Both backends."""

from __future__ import annotations

import re
from typing import Any

from server.storage import changes as ch
from server.storage.sqlite import SqliteStore

TS, CUTOFF, NOW = 5, 100, 1_000
G1, G2 = "100000001", "100000002"


async def _sql(store: Any, statement: str, *rows: tuple[Any, ...]) -> None:
    if not isinstance(store, SqliteStore):
        counter = iter(range(1, 100))
        statement = re.sub(r"\?", lambda _: f"${next(counter)}", statement)

    async def fn(db: Any) -> None:
        await db.executemany(statement, list(rows))

    await store.run_in_batch(fn)


async def _seqs(store: Any, gid: str) -> list[int]:
    sqlite = isinstance(store, SqliteStore)
    sql = "SELECT seq FROM messages WHERE group_id = " + ("?" if sqlite else "$1") + " ORDER BY seq"
    rows = await (store._fetchall(sql, (gid,)) if sqlite else store._fetchall(sql, gid))
    return [int(r[0]) for r in rows]


async def test_each_batch_goes_on_after_the_last_message_it_looked_at(open_store) -> None:
    store = await open_store()
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup(G1, "live", "other", "open", "u1", 1))
    await store.apply(ch.CreateGroup(G2, "gone", "other", "open", "u1", 1))
    await _sql(store, "UPDATE groups SET dissolved_at = 2 WHERE group_id = ?", (G2,))
    # Every message in one millisecond, past the cutoff: the walk's key splits them by group and seq.
    await _sql(store, "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
                      " VALUES (?, ?, ?, ?, ?, ?)",
               *[(G1, seq, TS, "u1", "owner", f"m{seq}") for seq in range(1, 41)],
               *[(G2, seq, TS, "u1", "owner", f"d{seq}") for seq in range(1, 4)])
    pins = [(G1, seq, 1, "u1") for seq in range(1, 11)] + [(G2, seq, 1, "u1") for seq in range(1, 4)]
    await _sql(store, "INSERT INTO group_pins (group_id, seq, pinned_at, pinned_by) VALUES (?, ?, ?, ?)", *pins)
    item = ("INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at, status,"
            " decision, decided_at, kind) VALUES (?, ?, 'u1', 'review', 'x', 'x', 1, ?, ?, ?, 'message')")
    await _sql(store, item, *[(G1, seq, "open", None, None) for seq in range(11, 16)],
               *[(G1, seq, "decided", "release", CUTOFF + 1) for seq in range(16, 21)],  # released within
               *[(G1, seq, "decided", "release", CUTOFF - 1) for seq in range(21, 26)])  # released before
    await _sql(store, "UPDATE messages SET edited_at = ? WHERE group_id = ? AND seq > 25 AND seq <= 30", (CUTOFF, G1))
    await _sql(store, "INSERT INTO reactions (group_id, seq, user_id, emoji, ts) VALUES (?, ?, 'u1', 'ok', 1)",
               (G1, 31), (G1, 9))

    batches = []
    after = None
    while True:
        [(n, after)] = await store.apply(ch.PurgeMessages(NOW, CUTOFF, 10, after))
        batches.append((n, after))
        if after is None:
            break
    # Kept: pinned in a live group (1-10), under review (11-15), released within the period (16-20),
    # edited within it (26-30). Gone: released before it (21-25), plain (31-40), pinned in a dissolved
    # group (G2's). Each batch looked at ten messages past the last one the batch before looked at.
    assert batches == [(0, (TS, G1, 10)), (0, (TS, G1, 20)), (5, (TS, G1, 30)), (10, (TS, G1, 40)), (3, None)]
    assert await _seqs(store, G1) == list(range(1, 21)) + list(range(26, 31))
    assert await _seqs(store, G2) == []
    sqlite = isinstance(store, SqliteStore)
    reactions = await (store._fetchall("SELECT seq FROM reactions") if sqlite
                       else store._fetchall("SELECT seq FROM reactions"))
    assert [int(r[0]) for r in reactions] == [9]  # (with its message)
