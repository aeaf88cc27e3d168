"""The SQLite writer's hot path: a batch of only message and network-log rows is one call on
the hot connection's thread, with the same guarantees as the general path."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

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


PLAIN = MessageRow("100000001", 0, 0, "u1", "member", "plain", "c-1", 0)
V2_FIELDS = [  # (what the second message of a batch carries, the stored columns it must keep)
    ("nothing", {}),
    ("a reply", {"reply_to": 1}),
    ("mentions", {"mentions": '["u2"]'}),
    ("@all", {"mention_all": 1}),
    ("attachments", {"attachments": '[{"media_id": "m1"}]'}),
]


@pytest.mark.parametrize("label, extra", V2_FIELDS, ids=[v[0] for v in V2_FIELDS])
@pytest.mark.parametrize("path_kind", ["hot", "general"])
async def test_a_batch_with_or_without_v2_fields_stores_every_column(tmp_path, label, extra, path_kind):
    """A batch of plain messages binds eight columns (sqlite._message_insert); one message with any
    v2 field makes the whole batch use the full insert. Either way every column is stored as sent."""
    path = tmp_path / "q.db"
    store = SqliteStore(path)
    await store.open()
    await store.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
    sent = [PLAIN._replace(seq=1, ts=11), PLAIN._replace(seq=2, ts=12, client_msg_id=None, held=1, **extra),
            PLAIN._replace(seq=3, ts=13, text="third")]
    results: list[BaseException | None] = []
    for r in sent:
        store.append_message(r, results.append)
    if path_kind == "general":
        store.run_in_batch(lambda db: asyncio.sleep(0))  # a change in the same batch: the aiosqlite path
    await store.close()
    assert results == [None, None, None]
    assert store.hot_batches == (1 if path_kind == "hot" else 0)
    stored = rows(path, "SELECT group_id, seq, ts, sender_id, sender_role, text, client_msg_id, held,"
                        " reply_to, mentions, mention_all, attachments FROM messages ORDER BY seq")
    assert stored == [tuple(r[:-1]) for r in sent]  # every column (review, the last field, is not one)
