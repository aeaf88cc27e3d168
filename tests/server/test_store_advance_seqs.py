"""A restore's move of every group's next seq (``changes.AdvanceSeqs``), on both backends: from the
higher of the backup's last seq and what the replaced database had handed out (``floors``; the same
backup restored twice handed out the first restore's seqs again), the clock of changes likewise, and
refused whole past SQLite's search index's 32-bit bound."""

from __future__ import annotations

import pytest

from server.storage import changes as ch


async def test_seqs_and_the_clock_move_up_from_the_higher_and_never_past_the_bound(open_store) -> None:
    store = await open_store()
    await store.apply(ch.InsertUser("ann", "ann", "ann", "h", "ANN", b"\x01" * 32, b"e", 100, 1))
    for gid in ("500000001", "500000002", "500000003"):
        await store.apply(ch.CreateGroup(gid, "g", "friends", "open", "ann", 1))
    # (the replaced database: one group further on, one behind the backup, one it never had)
    [moved] = await store.apply(ch.AdvanceSeqs(100, clock_gap=1000, floors=(("500000001", 50),), clock_floor=7))
    assert moved == 3
    last = dict(await store._fetchall("SELECT group_id, last_seq FROM groups"))
    assert last == {"500000001": 150, "500000002": 100, "500000003": 100}
    assert [tuple(r) for r in await store._fetchall("SELECT rev, floor FROM message_clock")] == [(1007, 1007)]
    [_] = await store.apply(ch.AdvanceSeqs(10, clock_gap=1000, floors=(("500000002", 5),), clock_floor=3))
    last = dict(await store._fetchall("SELECT group_id, last_seq FROM groups"))
    assert last == {"500000001": 160, "500000002": 110, "500000003": 110}  # (a lower floor changes nothing)
    assert [tuple(r) for r in await store._fetchall("SELECT rev, floor FROM message_clock")] == [(2007, 2007)]

    with pytest.raises(ValueError, match="past the search index's bound"):
        await store.apply(ch.AdvanceSeqs(ch.SEQ_LIMIT - 160))
    assert dict(await store._fetchall("SELECT group_id, last_seq FROM groups"))["500000001"] == 160
    [_] = await store.apply(ch.AdvanceSeqs(ch.SEQ_LIMIT - 161))  # (the last seq that fits)


async def _review_item(store) -> int:
    """A content-review item inserted as the writer does (its id from the table's counter)."""
    sql = ("INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at)"
           " VALUES (?, ?, ?, ?, ?, ?, ?)")

    async def fn(db) -> None:
        if "Postgres" in type(store).__name__:
            await db.execute(sql.replace("?", "${}").format(*range(1, 8)), "500000001", 1, "ann", "review", "c", "t", 1)
        else:
            await db.execute(sql, ("500000001", 1, "ann", "review", "c", "t", 1))

    await store.run_in_batch(fn)
    [(last,)] = await store._fetchall("SELECT MAX(item_id) FROM review_queue")
    return int(last)


async def test_the_ids_never_given_again_move_on_from_the_higher_counter(open_store) -> None:
    """Post, comment, complaint and review-item ids are never given again, but a restore puts back the
    backup's counters: the rows lost with the replaced database had their ids given to new ones."""
    store = await open_store()
    assert [await _review_item(store) for _ in range(2)] == [1, 2]
    await store.apply(ch.AdvanceSeqs(1, id_floors=(("review_queue", 7),)))  # (the replaced database got to 7)
    assert await _review_item(store) == 7 + ch.RESTORE_ID_GAP + 1
    await store.apply(ch.AdvanceSeqs(1))  # (the replaced database unknown: from the restored counter)
    assert await _review_item(store) == 7 + 2 * ch.RESTORE_ID_GAP + 2
