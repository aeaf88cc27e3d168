"""Issue 15: under constant writes the WAL stays bounded (a PASSIVE checkpoint alone never lets it start over)."""

from __future__ import annotations

import asyncio

from server.storage import changes as ch
from server.storage import sqlite as sqlite_store
from server.storage.base import MessageRow
from server.storage.sqlite import SqliteStore


async def test_the_wal_stays_bounded_under_constant_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 0.05)
    monkeypatch.setattr(sqlite_store, "WAL_TRUNCATE_BYTES", 512 * 1024)
    path = tmp_path / "q.db"
    store = SqliteStore(path)
    await store.open()
    await store.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
    wal = path.with_name(path.name + "-wal")
    words = ["群聊", "消息", "hello", "world", "今天", "开会", "qunguan", "测试", "晚饭", "weekend"]
    sizes: list[int] = []
    seq = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3.0
    while loop.time() < deadline:  # never a pause: writes are always in flight
        committed = loop.create_future()
        for _ in range(50):
            seq += 1
            text = " ".join(words[(seq * k) % len(words)] for k in range(1, 40))  # about 300 bytes
            store.append_message(MessageRow("100000001", seq, seq, "u1", "owner", text, None, 0),
                                 lambda exc: None)
        store.append_message(MessageRow("100000001", seq + 1, seq + 1, "u1", "owner", "last", None, 0),
                             lambda exc, fut=committed: fut.set_result(exc))
        seq += 1
        assert await committed is None
        sizes.append(wal.stat().st_size)
    await store.close()
    # Without the TRUNCATE step the WAL only ever grows while writes never pause (to 170 MiB
    # here). With it, the WAL starts over again and again: it was cut back to a fraction of its
    # size several times during the run. (How large it gets in between depends on how fast this
    # machine copies pages, so that is not asserted.)
    assert store.wal_truncations >= 2
    cuts = sum(1 for before, after in zip(sizes, sizes[1:], strict=False) if after < before // 2)
    assert cuts >= 2, (cuts, max(sizes))
