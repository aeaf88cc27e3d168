"""A held or flagged message's content-review item goes in with the message (``MessageRow.review``),
in its savepoint, on every write path of both backends: the hot batch, a batch with changes, the
row-by-row fallback, and a cluster home's fenced statement. A message whose item the database
refuses fails alone, with no row and no item left of it; the rest of its batch is stored."""

from __future__ import annotations

import asyncio

import pytest

from server.storage import changes as ch
from server.storage.base import MessageRow, NetlogRow, ReviewItem
from tests import pgtools
from tests.server.test_message_media_rows import GID, append, store_and_rows  # noqa: F401 (a fixture)

ITEMS = "SELECT seq, sender_id, action, category, term, created_at, status FROM review_queue ORDER BY seq"


def msg(seq: int, text: str, item: ReviewItem | None = None) -> MessageRow:
    return MessageRow(GID, seq, seq * 10, "u1", "owner", text, None, 1 if item and item.action == "review" else 0,
                      review=item)


HOLD, FLAG = ReviewItem("review", "rumour_fraud", "刷单"), ReviewItem("flag", "pornography", "vpn下载")
POISON = ReviewItem("flag", "pornography", "\ud800")  # a term no database can store (a lone surrogate)


def item(seq: int, it: ReviewItem) -> tuple[object, ...]:
    return (seq, "u1", it.action, it.category, it.term, seq * 10, "open")


async def test_review_items_are_written_with_their_messages_on_every_path(store_and_rows):  # noqa: F811
    store, read = store_and_rows
    await store.apply(ch.CreateGroup(GID, "g", "work", "open", "u1", 1))
    # rows only (SQLite's hot path, PostgreSQL's one statement)
    done = await append(store, msg(1, "a", HOLD), msg(2, "b"), msg(3, "c", FLAG))
    assert set(done.values()) == {None}
    # rows in a batch with a change (the general path)
    applied = store.apply(ch.SetGroupFields(GID, {"announcement": "hi"}))
    done = await append(store, msg(4, "d", FLAG), msg(5, "e"))
    await applied
    assert set(done.values()) == {None}
    # a message that cannot be stored sends the batch row by row: the others keep their items
    done = await append(store, msg(6, "f", HOLD), msg(7, "\ud800 poison", FLAG), msg(8, "g"))
    assert done[6] is None and done[8] is None and isinstance(done[7], UnicodeError)
    assert read(ITEMS) == [item(1, HOLD), item(3, FLAG), item(4, FLAG), item(6, HOLD)]
    assert sorted(read("SELECT seq, held FROM messages")) == [(1, 1), (2, 0), (3, 0), (4, 0), (5, 0), (6, 1), (8, 0)]


async def test_a_message_whose_review_item_cannot_be_stored_fails_alone(store_and_rows):  # noqa: F811
    """Neither the message nor its item is stored, and its sender's callback gets the error; the
    messages, log rows and changes of its batch are stored, on the hot path and the general one."""
    store, read = store_and_rows
    await store.apply(ch.CreateGroup(GID, "g", "work", "open", "u1", 1))
    logged: list[BaseException | None] = []
    store.log_network(NetlogRow(1, "connect", None, "127.0.0.1", "{}"), logged.append)
    done = await append(store, msg(1, "a", HOLD), msg(2, "b", POISON), msg(3, "c"))
    assert done[1] is None and done[3] is None and done[2] is not None
    applied = store.apply(ch.SetGroupFields(GID, {"announcement": "hi"}))
    done = await append(store, msg(4, "d"), msg(5, "e", POISON), msg(6, "f", FLAG))
    await applied
    assert done[4] is None and done[6] is None and done[5] is not None
    assert logged == [None]
    assert sorted(read("SELECT seq FROM messages")) == [(1,), (3,), (4,), (6,)]
    assert read(ITEMS) == [item(1, HOLD), item(6, FLAG)]
    assert read("SELECT last_seq, announcement FROM groups") == [(6, "hi")]


@pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))
async def test_a_cluster_homes_fenced_batch_stores_the_review_items_too() -> None:
    from server.storage.postgres import PostgresStore

    name, url = await asyncio.to_thread(pgtools.create_db)
    store = PostgresStore(url)
    try:
        await store.open()
        store.set_record_key(b"k" * 32)
        await store.apply(ch.CreateGroup(GID, "g", "work", "open", "u1", 1))
        store.set_fence("home", await store.take_lease("home", "a", 5.0))
        done = await append(store, msg(1, "a", HOLD), msg(2, "b"))
        assert set(done.values()) == {None}
        done = await append(store, msg(3, "c", POISON), msg(4, "d", FLAG))  # one by one, fenced too
        assert done[4] is None and done[3] is not None
        assert pgtools.query(url, ITEMS) == [item(1, HOLD), item(4, FLAG)]
    finally:
        await store.close()
        await asyncio.to_thread(pgtools.drop_db, name)
