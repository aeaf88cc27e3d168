"""SQLite: a hot batch whose COMMIT fails on the hot thread (an I/O error, not a full disk) after a
failed WAL fsync already made the store fail for good: its writers are told (``StoreFailed``), as
every other write then is. Before, the second failure found the store failed and returned, and that
batch's callbacks were never called: its senders waited for an answer until the process exited."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import pytest

from server.storage import sqlite as s
from server.storage.base import MessageRow
from server.storage.wal_sync import SyncFailed


async def test_a_batch_failing_after_the_store_failed_is_still_answered(tmp_path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real = s._hot_transaction

    def on_the_thread_then_io_error(db: Any, msgs: Any, netlog: Any, busy_ms: int) -> Any:
        if busy_ms == 0:
            return None  # as if the database were locked: the batch goes to the hot thread
        time.sleep(0.3)
        err = sqlite3.OperationalError("disk I/O error")
        err.sqlite_errorcode = sqlite3.SQLITE_IOERR_WRITE  # type: ignore[attr-defined]
        raise s._CommitFailed(err)

    store = s.SqliteStore(tmp_path / "q.db")
    await store.open()
    got: list[BaseException | None] = []
    try:
        monkeypatch.setattr(s, "_hot_transaction", on_the_thread_then_io_error)
        store.append_message(MessageRow("100000001", 1, 1, "u1", "owner", "m1", None, 0), got.append)
        await asyncio.sleep(0.1)  # on the hot thread now
        store._on_synced(SyncFailed("fdatasync of the WAL failed"))  # an earlier batch's fsync failed
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        assert store.fatal_why is not None and store.fatal_why.startswith("fsync of the SQLite WAL")
        assert len(got) == 1 and got[0] is not None, got  # answered once, with a failure
    finally:
        monkeypatch.setattr(s, "_hot_transaction", real)
        await asyncio.wait_for(store.close(), 10)
