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
    text = "x" * 300
    largest = 0
    seq = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3.0
    while loop.time() < deadline:  # never a pause: writes are always in flight
        committed = loop.create_future()
        for _ in range(50):
            seq += 1
            store.append_message(MessageRow("100000001", seq, seq, "u1", "owner", text, None, 0),
                                 lambda exc: None)
        store.append_message(MessageRow("100000001", seq + 1, seq + 1, "u1", "owner", text, None, 0),
                             lambda exc, fut=committed: fut.set_result(exc))
        seq += 1
        assert await committed is None
        largest = max(largest, wal.stat().st_size)
    await store.close()
    # Over a hundred MiB go through the WAL; it is cut back whenever it passed half a MiB after a
    # PASSIVE checkpoint, so its size is bounded by that plus what arrives during one checkpoint.
    assert seq * 300 > 4 * 1024 * 1024
    assert largest < 40 * 1024 * 1024, largest  # without the TRUNCATE step: 170 MiB here
    assert store.wal_truncations >= 1
