"""``Store.recent_messages``: what a new cluster home reads of the previous one's last messages
(server/cluster/home.py Tail). Only messages members were sent as ``message`` events and still see
as sent, from a moment on, the last few of each group; the same on both backends."""

from __future__ import annotations

import asyncio

from server.storage import changes as ch
from server.storage.base import MessageRow


async def _append(store, row: MessageRow) -> None:  # type: ignore[no-untyped-def]
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    store.append_message(row, lambda exc: done.set_exception(exc) if exc else done.set_result(None))
    await done


async def test_recent_messages_are_the_delivered_ones_the_last_few_per_group(open_store) -> None:  # type: ignore[no-untyped-def]
    store = await open_store()
    await store.apply(ch.InsertUser("u1", "u1", "u1", "h", "U1", b"\x01" * 32, b"e", 100, 1))
    for gid in ("100000001", "100000002"):
        await store.apply(ch.CreateGroup(gid, "g", "friends", "open", "u1", 1))
    a, b = "100000001", "100000002"
    for seq in range(1, 9):  # ts = 1000 * seq
        held = 1 if seq == 5 else 0
        await _append(store, MessageRow(a, seq, 1000 * seq, "u1", "owner", f"a{seq}", None, held))
    await _append(store, MessageRow(b, 1, 7500, "u1", "owner", "b1", None, 0))
    await store.apply(ch.QueueReview(a, 5, "u1", "review", "rumour_fraud", "x", 5000))
    await store.apply(ch.QueueReview(a, 6, "u1", "review", "rumour_fraud", "x", 6000))  # held, then released
    await store.apply(ch.QueueReview(a, 7, "u1", "flag", "rumour_fraud", "x", 7000))  # delivered, flagged
    await store.apply(ch.DeleteMessages(((a, 8),), 9000, "u1"))  # recalled

    got = await store.recent_messages(3000, 200)
    assert [(gid, r.seq, r.text, r.deleted) for gid, r in got] == [
        (a, 3, "a3", False), (a, 4, "a4", False), (a, 7, "a7", False), (b, 1, "b1", False)]
    assert [(gid, r.seq) for gid, r in await store.recent_messages(3000, 2)] == [(a, 4), (a, 7), (b, 1)]
    assert await store.recent_messages(10_000, 200) == []
