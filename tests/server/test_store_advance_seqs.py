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
