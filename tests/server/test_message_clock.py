"""The clock of changes to messages (**[ext]** ``message_changes``), as the store keeps it on both
backends: what stamps a message (its triggers), what does not, and a page's bounds (``changes_page``)."""

from __future__ import annotations

from typing import Any

import pytest

from server.storage import changes as ch
from server.storage.base import CHANGES_SCAN, changes_page
from tests.server.raw_sql import rows_of, run_sql

G = "100000001"


async def _revs(store: Any) -> dict[int, int | None]:
    return {int(r[0]): r[1] for r in await rows_of(store, "SELECT seq, rev FROM messages ORDER BY seq")}


async def _group_with(store: Any, n: int) -> None:
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup(G, "g", "other", "open", "u1", 1))
    await run_sql(store, "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
                         " VALUES (?, ?, ?, ?, ?, ?)",
                  *[(G, seq, seq, "u1", "owner", f"m{seq}") for seq in range(1, n + 1)])
    await run_sql(store, "UPDATE groups SET last_seq = ? WHERE group_id = ?", (n, G))  # (as the writer keeps it)


async def test_each_change_stamps_its_message_once_in_the_order_of_the_clock(open_store) -> None:
    """A deletion of many messages in one statement stamps each once, in one step of the clock (on
    PostgreSQL a trigger per statement: one per row rewrote the clock's row per message); an edit,
    also one that keeps the text, and a reaction left or taken back each stamp theirs; a purge's
    deletion of a reaction after its message stamps nothing."""
    store = await open_store()
    await _group_with(store, 40)
    assert set((await _revs(store)).values()) == {None} and await store.message_clock() == 0
    await store.apply(ch.DeleteMessages(tuple((G, seq) for seq in range(1, 31)), 5, "u1"))
    revs = await _revs(store)
    assert sorted(revs[seq] for seq in range(1, 31)) == list(range(1, 31)) and revs[31] is None
    assert await store.message_clock() == 30
    await store.apply(ch.EditMessage(G, 35, "u1", "m35", 6))  # the same text: edited_at is a change too
    await store.apply(ch.SetReaction(G, 36, "u1", "👍", True, 7, 10))
    await store.apply(ch.SetReaction(G, 37, "u1", "👍", True, 7, 10))
    await store.apply(ch.SetReaction(G, 37, "u1", "👍", False, 8, 10))
    revs = await _revs(store)
    assert (revs[35], revs[36], revs[37]) == (31, 32, 34) and await store.message_clock() == 34
    await store.apply(ch.SetReaction(G, 38, "u1", "👍", True, 7, 10))
    [(gone, _)] = await store.apply(ch.PurgeMessages(10**9, 10**8, 100, None))  # (every message goes)
    assert gone == 40 and await store.message_clock() == 35  # (its reaction went after it: no stamp)


async def test_a_restore_sets_the_floor_below_which_a_cursor_is_reset(open_store) -> None:
    store = await open_store()
    await _group_with(store, 3)
    await store.apply(ch.EditMessage(G, 1, "u1", "edited", 6))
    old = await store.message_clock()
    [moved] = await store.apply(ch.AdvanceSeqs(10))
    assert moved == 1
    now = await store.message_clock()
    assert now == old + ch.RESTORE_CLOCK_GAP
    assert (await store.message_changes(G, 0, 3, old, 10)).reset is True
    page = await store.message_changes(G, 0, 3, now, 10)
    assert page == (page.rows, now, False, False) and page.rows == []
    await store.apply(ch.EditMessage(G, 2, "u1", "after", 7))
    assert [r.seq for r in (await store.message_changes(G, 0, 3, now, 10)).rows] == [2]


def _row(rev: int, seq: int, held: int = 0) -> tuple[Any, ...]:
    return (rev, held, seq, seq, "u1", "member", f"m{seq}", False)


@pytest.mark.parametrize(("found", "limit", "floor", "top", "want"), [
    # (found rows as (rev, seq, held), limit, the reader's join point, the last durable seq,
    #  (seqs listed, cursor, more)); read at clock 100
    ([(1, 5, 0), (2, 6, 0)], 10, 0, 10, ([5, 6], 100, False)),
    ([(1, 5, 0), (2, 6, 0), (3, 7, 0)], 2, 0, 10, ([5, 6], 2, True)),
    ([(1, 5, 0), (2, 6, 0)], 2, 0, 10, ([5, 6], 100, False)),  # the last row found is the limit's
    ([(1, 5, 0), (2, 6, 1), (3, 2, 0), (4, 11, 0)], 10, 4, 10, ([5], 100, False)),  # held, below, not durable
])
def test_a_page_lists_what_the_reader_may_see_and_says_where_to_go_on(found, limit, floor, top, want) -> None:
    page = changes_page([_row(rev, seq, held) for rev, seq, held in found], 100, limit, floor, top)
    assert ([r.seq for r in page.rows], page.cursor, page.more) == want


def test_a_page_looks_at_no_more_than_its_scan_whatever_the_reader_may_see() -> None:
    """Changes a reader may not see (before their join point) are passed over by the cursor, a scan at a
    time: no page's cost grows with them."""
    hidden = [_row(rev, 1) for rev in range(1, CHANGES_SCAN + 1)]
    page = changes_page(hidden, 10**6, 100, 5, 10)
    assert (page.rows, page.cursor, page.more) == ([], CHANGES_SCAN, True)
