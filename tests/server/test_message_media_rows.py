"""A message's attachments are linked in ``message_media`` in the same commit as the message, on every
write path of both backends: the hot batch, a batch with changes, and the row-by-row fallback after a
row that cannot be stored (which gets no links)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.storage import changes as ch
from server.storage.base import MessageRow, NetlogRow
from tests import pgtools

GID = "100000001"


def attachments(*media_ids: str) -> str:
    return json.dumps([{"media_id": m, "kind": "image", "mime": "image/png", "size": 1} for m in media_ids])


def row(seq: int, text: str, *media_ids: str) -> MessageRow:
    return MessageRow(GID, seq, seq, "u1", "owner", text, None, 0, None, None, 0,
                      attachments(*media_ids) if media_ids else None)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_and_rows(request, tmp_path) -> AsyncIterator[tuple[Any, Any]]:
    if request.param == "sqlite":
        from server.storage.sqlite import SqliteStore

        path = tmp_path / "q.db"
        store: Any = SqliteStore(path)

        def read(sql: str) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path) as db:
                return [tuple(r) for r in db.execute(sql).fetchall()]

        await store.open()
        yield store, read
        await store.close()
        return
    reason = pgtools.unavailable()
    if reason is not None:
        pytest.skip(reason)
    from server.storage.postgres import PostgresStore

    name, url = await asyncio.to_thread(pgtools.create_migrated_db)
    store = PostgresStore(url)
    await store.open()
    yield store, lambda sql: pgtools.query(url, sql)
    await store.close()
    await asyncio.to_thread(pgtools.release_db, name)


async def append(store: Any, *rows: MessageRow) -> dict[int, BaseException | None]:
    done: dict[int, BaseException | None] = {}
    waits = []
    for r in rows:
        fut = asyncio.get_running_loop().create_future()
        waits.append(fut)

        def settle(exc: BaseException | None, seq: int = r.seq, fut: asyncio.Future[None] = fut) -> None:
            done[seq] = exc
            fut.set_result(None)

        store.append_message(r, settle)
    await asyncio.gather(*waits)
    return done


async def test_media_links_are_written_with_their_messages_on_every_path(store_and_rows):
    store, read = store_and_rows
    await store.apply(ch.CreateGroup(GID, "g", "work", "open", "u1", 1))
    # rows only (SQLite's hot path, PostgreSQL's one statement)
    done = await append(store, row(1, "a", "m1", "m2"), row(2, "b"), row(3, "c", "m3"))
    assert set(done.values()) == {None}
    # rows in a batch with a change (the general path)
    applied = store.apply(ch.SetGroupFields(GID, {"announcement": "hi"}))
    done = await append(store, row(4, "d", "m4"))
    await applied
    assert done == {4: None}
    # a row that cannot be stored sends the batch row by row: only the stored rows get their links
    done = await append(store, row(5, "e", "m5"), row(6, "\ud800 poison", "m6"), row(7, "f", "m7", "m8"))
    assert done[5] is None and done[7] is None and isinstance(done[6], UnicodeError)
    links = sorted(read("SELECT seq, media_id FROM message_media"))
    assert links == [(1, "m1"), (1, "m2"), (3, "m3"), (4, "m4"), (5, "m5"), (7, "m7"), (7, "m8")]
    stored = read("SELECT seq, attachments FROM messages WHERE seq = 7")
    assert [m["media_id"] for m in json.loads(stored[0][1])] == ["m7", "m8"]


def bad_links(seq: int) -> MessageRow:
    """A message whose media links cannot be stored: an attachment named twice (the primary key of
    message_media) and one with no media id (its NOT NULL)."""
    items = json.loads(attachments("m9", "m9")) + [{"kind": "image", "mime": "image/png", "size": 1}]
    return MessageRow(GID, seq, seq, "u1", "owner", "bad", None, 0, None, None, 0, json.dumps(items))


async def test_a_message_whose_media_links_cannot_be_stored_fails_alone(store_and_rows):
    """The links go in with their message, in its savepoint: a message whose links the database
    refuses fails alone, with no row and no link left of it, on the hot path and on the general
    one; the messages, log rows and changes of its batch are stored."""
    store, read = store_and_rows
    await store.apply(ch.CreateGroup(GID, "g", "work", "open", "u1", 1))
    logged: list[BaseException | None] = []
    # rows only (SQLite's hot path, PostgreSQL's one statement)
    store.log_network(NetlogRow(1, "connect", None, "127.0.0.1", "{}"), logged.append)
    done = await append(store, row(1, "a", "m1"), bad_links(2), row(3, "c", "m3"))
    assert done[1] is None and done[3] is None and done[2] is not None
    # rows in a batch with a change (the general path)
    applied = store.apply(ch.SetGroupFields(GID, {"announcement": "hi"}))
    done = await append(store, row(4, "d", "m4"), bad_links(5), row(6, "f"))
    await applied
    assert done[4] is None and done[6] is None and done[5] is not None
    assert logged == [None]
    assert sorted(read("SELECT seq FROM messages")) == [(1,), (3,), (4,), (6,)]
    assert sorted(read("SELECT seq, media_id FROM message_media")) == [(1, "m1"), (3, "m3"), (4, "m4")]
    assert read("SELECT last_seq, announcement FROM groups") == [(6, "hi")]
    assert read("SELECT COUNT(*) FROM netlog") == [(1,)]
