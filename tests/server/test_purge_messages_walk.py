"""The messages purge walks on from each batch's last message (changes.PurgeMessages): the messages
kept past their period are looked at once per purge, each by its key, and the batches after pass
them over; rows of one millisecond split across batches lose none. Both backends."""

from __future__ import annotations

from typing import Any

from server.storage import changes as ch
from server.storage.sqlite import SqliteStore
from tests.server.raw_sql import rows_of, run_sql

TS, CUTOFF, NOW = 5, 100, 1_000
G1, G2 = "100000001", "100000002"


async def _seqs(store: Any, gid: str) -> list[int]:
    return [int(r[0]) for r in await rows_of(store, "SELECT seq FROM messages WHERE group_id = ? ORDER BY seq", gid)]


async def test_each_batch_goes_on_after_the_last_message_it_looked_at(open_store) -> None:
    store = await open_store()
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup(G1, "live", "other", "open", "u1", 1))
    await store.apply(ch.CreateGroup(G2, "gone", "other", "open", "u1", 1))
    await run_sql(store, "UPDATE groups SET dissolved_at = 2 WHERE group_id = ?", (G2,))
    # Every message in one millisecond, past the cutoff: the walk's key splits them by group and seq.
    await run_sql(store, "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
                         " VALUES (?, ?, ?, ?, ?, ?)",
                  *[(G1, seq, TS, "u1", "owner", f"m{seq}") for seq in range(1, 41)],
                  *[(G2, seq, TS, "u1", "owner", f"d{seq}") for seq in range(1, 4)])
    pins = [(G1, seq, 1, "u1") for seq in range(1, 11)] + [(G2, seq, 1, "u1") for seq in range(1, 4)]
    await run_sql(store, "INSERT INTO group_pins (group_id, seq, pinned_at, pinned_by) VALUES (?, ?, ?, ?)", *pins)
    item = ("INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at, status,"
            " decision, decided_at, kind) VALUES (?, ?, 'u1', 'review', 'x', 'x', 1, ?, ?, ?, 'message')")
    await run_sql(store, item, *[(G1, seq, "open", None, None) for seq in range(11, 16)],
                  *[(G1, seq, "decided", "release", CUTOFF + 1) for seq in range(16, 21)],  # released within
                  *[(G1, seq, "decided", "release", CUTOFF - 1) for seq in range(21, 26)])  # released before
    await run_sql(store, "UPDATE messages SET edited_at = ? WHERE group_id = ? AND seq > 25 AND seq <= 30",
                  (CUTOFF, G1))
    await run_sql(store, "INSERT INTO reactions (group_id, seq, user_id, emoji, ts) VALUES (?, ?, 'u1', 'ok', 1)",
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
    reactions = await rows_of(store, "SELECT seq FROM reactions")
    assert [int(r[0]) for r in reactions] == [9]  # (with its message)


async def test_a_young_reaction_or_one_of_a_held_person_keeps_its_message(open_store) -> None:
    """A reaction is free text members saw: its message (and so the reaction) stays a full period
    after the newest reaction left or taken back, and while the person who left one is held. The
    purge used to take yesterday's reaction, a held person's too, with a message past its period."""
    store = await open_store()
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup(G1, "live", "other", "open", "u1", 1))
    await run_sql(store, "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
                         " VALUES (?, ?, ?, ?, ?, ?)",
                  *[(G1, seq, TS, "u1", "owner", f"m{seq}") for seq in range(1, 6)])
    await run_sql(store, "INSERT INTO legal_holds (target_type, target_id, reason, created_at) VALUES (?, ?, ?, ?)",
                  ("user", "u-held", "a case", 1))
    log = "INSERT INTO reaction_log (group_id, seq, user_id, emoji, added, ts) VALUES (?, ?, ?, ?, ?, ?)"
    left_, taken = (1, 0) if isinstance(store, SqliteStore) else (True, False)
    await run_sql(store, log,
                  (G1, 1, "u2", "👍", left_, CUTOFF),      # left within the period: kept
                  (G1, 2, "u2", "👍", left_, CUTOFF - 1),  # left before it: goes
                  (G1, 3, "u-held", "👎", left_, TS),      # a held person's, however old: kept
                  (G1, 4, "u2", "👍", left_, TS),
                  (G1, 4, "u2", "👍", taken, CUTOFF + 5))  # taken back within the period: kept
    await run_sql(store, "INSERT INTO reactions (group_id, seq, user_id, emoji, ts) VALUES (?, ?, ?, ?, ?)",
                  (G1, 1, "u2", "👍", CUTOFF), (G1, 2, "u2", "👍", CUTOFF - 1), (G1, 3, "u-held", "👎", TS))
    [(gone, _)] = await store.apply(ch.PurgeMessages(NOW, CUTOFF, 100, None))
    assert gone == 2 and await _seqs(store, G1) == [1, 3, 4]
    left = await rows_of(store, "SELECT seq, user_id FROM reaction_log ORDER BY seq, ts")
    assert [(int(r[0]), r[1]) for r in left] == [(1, "u2"), (3, "u-held"), (4, "u2"), (4, "u2")]
    standing = await rows_of(store, "SELECT seq FROM reactions ORDER BY seq")
    assert [int(r[0]) for r in standing] == [1, 3]


async def test_a_deletion_within_the_period_keeps_its_message(open_store) -> None:
    """A recall or removal is a change clients that were away learn from the message itself ([ext]
    message_changes): a message deleted within the period stays a full period after its deletion."""
    store = await open_store()
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup(G1, "live", "other", "open", "u1", 1))
    await run_sql(store, "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text, deleted_at,"
                         " deleted_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  (G1, 1, TS, "u1", "owner", "kept", CUTOFF, "u1"),
                  (G1, 2, TS, "u1", "owner", "gone", CUTOFF - 1, "u1"),
                  (G1, 3, TS, "u1", "owner", "plain", None, None))
    [(gone, _)] = await store.apply(ch.PurgeMessages(NOW, CUTOFF, 100, None))
    assert gone == 2 and await _seqs(store, G1) == [1]


DAY = 86_400_000
H_NOW, H_CUT = 400 * DAY, 400 * DAY - 184 * DAY
H_OLD = H_NOW - 200 * DAY


async def test_what_holds_a_message_keeps_it_through_the_walk(open_store) -> None:
    """Legal holds (a group's, a person's; a released one keeps nothing), open reports (on a group, on a
    person), sanctions that still hold (timed and running, a closure within the period) and open review
    items keep their messages past the period, on both backends, with batches of 2 (a reviewer's table)."""
    store = await open_store()
    groups = {k: f"80000000{i}" for i, k in enumerate(
        ["free", "op_hold", "released", "report", "timed", "timed_over", "closed_recent", "closed_long_ago", "review",
         "timed_lifted"])}
    rows = [(gid, seq, H_OLD, "u-plain") for gid in groups.values() for seq in (1, 2)]
    rows += [("800000100", 1, H_OLD, "u-held"), ("800000101", 1, H_OLD, "u-reported"),
             ("800000102", 1, H_OLD, "u-sanct")]
    await run_sql(store, "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
                         " VALUES (?, ?, ?, ?, 'member', 'x')", *rows)
    await run_sql(store, "INSERT INTO legal_holds (target_type, target_id, reason, created_at, released_at)"
                         " VALUES (?, ?, 'case', ?, ?)",
                  ("group", groups["op_hold"], H_OLD, None), ("group", groups["released"], H_OLD, H_NOW - 1),
                  ("user", "u-held", H_OLD, None))
    await run_sql(store, "INSERT INTO reports (reporter_id, target_type, group_id, user_id, reason, created_at)"
                         " VALUES ('r', ?, ?, ?, 'x', ?)",
                  ("group", groups["report"], None, H_OLD), ("user", None, "u-reported", H_OLD))
    await run_sql(store, "INSERT INTO sanctions (kind, target_type, target_id, reason, actor, starts_at, expires_at)"
                         " VALUES (?, ?, ?, 'x', 'operator', ?, ?)",
                  ("suspend_group", "group", groups["timed"], H_OLD, H_NOW + DAY),
                  ("suspend_group", "group", groups["timed_over"], H_OLD, H_NOW - 1),
                  ("close_group", "group", groups["closed_recent"], H_NOW - 10 * DAY, None),
                  ("close_group", "group", groups["closed_long_ago"], H_NOW - 185 * DAY, None),
                  ("mute", "user", "u-sanct", H_OLD, H_NOW + DAY))
    await run_sql(store, "INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at, kind)"
                         " VALUES (?, 2, 'u-plain', 'review', 'f', 't', ?, 'message')", (groups["review"], H_OLD))
    after, total = None, 0
    while True:
        [(n, after)] = await store.apply(ch.PurgeMessages(H_NOW, H_CUT, 2, after))
        total += n
        if after is None:
            break
    assert {k: await _seqs(store, gid) for k, gid in groups.items()} == {
        "free": [], "op_hold": [1, 2], "released": [], "report": [1, 2], "timed": [1, 2], "timed_over": [],
        "closed_recent": [1, 2], "closed_long_ago": [], "review": [2], "timed_lifted": []}
    for gid in ("800000100", "800000101", "800000102"):
        assert await _seqs(store, gid) == [1]
    assert total == 2 * 5 + 1
