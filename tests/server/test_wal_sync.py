"""The SQLite WAL's fsync by a helper process (server/storage/wal_sync.py).

A batch of messages is settled only after the helper's fdatasync: with the helper
stopped, no callback runs; with the helper gone, the store syncs on a thread and
loses nothing; a sync that fails fails its writes; a batch that finds the database
locked by another connection waits on the hot thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from server.storage.base import MessageRow
from server.storage.sqlite import INLINE_ROWS, SqliteStore
from server.storage.wal_sync import HelperLost, SyncFailed, WalSyncer

GID = "100000001"


def _row(seq: int) -> MessageRow:
    return MessageRow(GID, seq, seq, "u1", "owner", f"m{seq}", None, 0)


async def _settled(done: dict[int, BaseException | None], n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(done) < n:
        assert time.monotonic() < deadline, f"only {len(done)} of {n} writes settled"
        await asyncio.sleep(0.005)


def _helper_pid(store: SqliteStore) -> int:
    proc = store._syncer._proc if store._syncer is not None else None
    assert proc is not None
    return proc.pid


@contextmanager
def _helper_stopped(store: SqliteStore) -> Iterator[int]:
    """The store's helper stopped (SIGSTOP) for the block, running again after it; yields its pid."""
    pid = _helper_pid(store)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_a_message_is_settled_only_after_the_helpers_fsync(tmp_path):
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    try:
        done: dict[int, BaseException | None] = {}
        with _helper_stopped(store):
            store.append_message(_row(1), lambda exc: done.__setitem__(1, exc))
            await asyncio.sleep(0.4)
            assert done == {}, "settled before the WAL was fsynced"
            # The row is committed (in the WAL, not yet on disk): only the ack waits.
            rows = sqlite3.connect(tmp_path / "q.db").execute("SELECT seq FROM messages").fetchall()
            assert rows == [(1,)]
        await _settled(done, 1)
        assert done == {1: None}
        assert store._syncer is not None and store._syncer.syncs >= 1
    finally:
        await store.close()


async def test_with_the_helper_gone_the_store_syncs_on_a_thread_and_loses_nothing(tmp_path, caplog):
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    done: dict[int, BaseException | None] = {}
    pid = _helper_pid(store)
    os.kill(pid, signal.SIGSTOP)
    for seq in (1, 2, 3):  # three batches, each waiting for its sync
        store.append_message(_row(seq), lambda exc, seq=seq: done.__setitem__(seq, exc))
        await asyncio.sleep(0.05)
    assert done == {}
    with caplog.at_level(logging.ERROR, logger="qunguan.store"):
        os.kill(pid, signal.SIGKILL)  # dies with their syncs unanswered
        await _settled(done, 3)
    assert list(done.items()) == [(1, None), (2, None), (3, None)]  # synced on the thread instead, in order
    assert "syncing the WAL on a thread from now on" in caplog.text
    for seq in range(4, 6):
        store.append_message(_row(seq), lambda exc, seq=seq: done.__setitem__(seq, exc))
    await _settled(done, 5)
    await store.close()
    assert set(done.values()) == {None}
    rows = sqlite3.connect(tmp_path / "q.db").execute("SELECT seq FROM messages ORDER BY seq").fetchall()
    assert rows == [(s,) for s in range(1, 6)]


async def test_a_large_batch_goes_to_the_hot_thread_and_is_synced_too(tmp_path):
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    done: dict[int, BaseException | None] = {}
    n = INLINE_ROWS * 4
    for seq in range(1, n + 1):
        store.append_message(_row(seq), lambda exc, seq=seq: done.__setitem__(seq, exc))
    await _settled(done, n)
    assert store._syncer is not None and store._syncer.syncs >= 1
    await store.close()
    assert set(done.values()) == {None}
    assert sqlite3.connect(tmp_path / "q.db").execute("SELECT COUNT(*) FROM messages").fetchone() == (n,)


async def test_a_database_locked_by_another_connection_never_holds_the_event_loop(tmp_path):
    """The inline commit does not wait for the write lock on the loop: the batch goes to the
    hot thread, which waits there; the loop keeps running meanwhile."""
    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    other = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    done: dict[int, BaseException | None] = {}
    try:
        store.append_message(_row(1), lambda exc: done.__setitem__(1, exc))
        worst = 0.0
        for _ in range(20):  # 0.4 s of loop ticks while the lock is held
            t = time.perf_counter()
            await asyncio.sleep(0.02)
            worst = max(worst, time.perf_counter() - t)
        assert done == {}
        assert worst < 0.2, f"the event loop was held {worst * 1000:.0f} ms"
    finally:
        other.execute("COMMIT")
        other.close()
    await _settled(done, 1)
    await store.close()
    assert done == {1: None}


async def test_the_syncer_reports_a_failed_sync_and_follows_a_replaced_file(tmp_path: Path):
    wal = tmp_path / "x-wal"
    wal.write_bytes(b"a")
    syncer = WalSyncer(wal)
    syncer.start()
    loop = asyncio.get_running_loop()

    async def sync() -> BaseException | None:
        fut: asyncio.Future[BaseException | None] = loop.create_future()
        syncer.request(fut.set_result)
        return await asyncio.wait_for(fut, 5)

    try:
        assert await sync() is None
        wal.unlink()  # nothing to sync: the writes waiting fail, they are not settled as durable
        err = await sync()
        assert isinstance(err, SyncFailed) and not isinstance(err, HelperLost)
        assert syncer.usable
        wal.write_bytes(b"b")  # a new file: the helper opens it again
        assert await sync() is None
        assert syncer.syncs == 3
    finally:
        await syncer.close()
    assert not syncer.usable


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
async def test_the_helper_outlives_the_signals_sent_to_its_process_group(tmp_path: Path, sig: int):
    """Ctrl-C in a terminal, or a service manager's stop, reaches every process of the group:
    the helper must still sync the server's last commits while it shuts down."""
    wal = tmp_path / "x-wal"
    wal.write_bytes(b"a")
    syncer = WalSyncer(wal)
    syncer.start()
    loop = asyncio.get_running_loop()
    try:
        assert syncer._proc is not None
        first: asyncio.Future[BaseException | None] = loop.create_future()
        syncer.request(first.set_result)
        assert await asyncio.wait_for(first, 5) is None  # its loop runs: the handlers are set
        os.kill(syncer._proc.pid, sig)
        second: asyncio.Future[BaseException | None] = loop.create_future()
        syncer.request(second.set_result)
        assert await asyncio.wait_for(second, 5) is None
    finally:
        await syncer.close()


def test_the_helper_ends_quietly_when_the_server_died_with_a_request_in_flight(tmp_path: Path) -> None:
    """After a server's ``kill -9`` the helper's answer found no reader: it printed a traceback
    (BrokenPipeError) into the service's log. It ends quietly, as at EOF."""
    import subprocess
    import sys

    from server.storage import wal_sync_helper

    wal = tmp_path / "x-wal"
    wal.write_bytes(b"a")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-I", "-S", wal_sync_helper.__file__, str(wal)],
                            stdin=subprocess.PIPE, stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    os.close(read_end)  # the server is gone: nobody reads the answer
    assert proc.stdin is not None
    proc.stdin.write(b"x")
    proc.stdin.flush()
    try:
        _, err = proc.communicate(timeout=5)
    finally:
        proc.kill()
    assert proc.returncode == 0 and b"Traceback" not in err, err


def _count(path: Path) -> int:
    return sqlite3.connect(path).execute("SELECT COUNT(*) FROM messages").fetchone()[0]


async def test_the_writer_commits_on_while_a_sync_runs_and_settles_in_commit_order(tmp_path):
    """Bursts commit while earlier batches wait for their fsync (at most MAX_UNSYNCED of them);
    everything is settled in the order it committed, a change after the messages before it."""
    from server.storage import changes as ch
    from server.storage.sqlite import MAX_UNSYNCED, PIPELINE_ROWS

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    order: list[str] = []
    n = (MAX_UNSYNCED + 4) * PIPELINE_ROWS
    with _helper_stopped(store):
        for seq in range(1, n + 1):  # bursts of PIPELINE_ROWS, one batch each
            store.append_message(_row(seq), lambda exc, seq=seq: order.append(f"m{seq}:{exc}"))
            if seq % PIPELINE_ROWS == 0:
                await asyncio.sleep(0.01)
        assert _count(tmp_path / "q.db") == MAX_UNSYNCED * PIPELINE_ROWS  # committed, then held back
        change = store.apply(ch.CreateGroup(GID, "g", "work", "open", "u1", 1))
        change.add_done_callback(lambda f: order.append(f"change:{f.exception()}"))
        await asyncio.sleep(0.2)
        assert order == [] and not change.done()
    await asyncio.wait_for(change, 5)
    await store.close()
    assert order == [f"m{seq}:None" for seq in range(1, n + 1)] + ["change:None"]
    assert _count(tmp_path / "q.db") == n


async def test_a_trickle_of_rows_gathers_while_a_sync_runs(tmp_path):
    """Fewer than PIPELINE_ROWS rows queued while a sync runs wait for it and then commit as
    one batch: a commit costs about as much for one row as for several."""
    from server.storage.sqlite import PIPELINE_ROWS

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    done: dict[int, BaseException | None] = {}
    with _helper_stopped(store):
        store.append_message(_row(1), lambda exc: done.__setitem__(1, exc))
        await asyncio.sleep(0.05)
        assert _count(tmp_path / "q.db") == 1  # committed; its sync is stuck
        for seq in range(2, PIPELINE_ROWS + 1):  # one fewer than a burst, one at a time
            store.append_message(_row(seq), lambda exc, seq=seq: done.__setitem__(seq, exc))
            await asyncio.sleep(0.02)
        assert _count(tmp_path / "q.db") == 1  # waiting for the sync, not committed one by one
        batches = store.hot_batches
    await _settled(done, PIPELINE_ROWS)
    await store.close()
    assert store.hot_batches == batches + 1  # the trickle went in as one batch
    assert set(done.values()) == {None} and _count(tmp_path / "q.db") == PIPELINE_ROWS


async def test_a_failed_wal_fsync_fails_the_store_for_good(tmp_path, caplog):
    """A failed fdatasync (not a lost helper) is fatal: the batch waiting on it fails, so does
    everything queued behind it and every later write, even once the disk would sync again; the
    store's ``fatal`` event is set (the server exits on it, server/app.py) and CRITICAL says why.
    Carrying on would ack rows that may never reach the disk (the module docstring of wal_sync)."""
    from server.storage import changes as ch
    from server.storage.base import StoreFailed

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    done: dict[int, BaseException | None] = {}
    store.append_message(_row(1), lambda exc: done.__setitem__(1, exc))
    await _settled(done, 1)
    assert done == {1: None}
    wal, keep = tmp_path / "q.db-wal", tmp_path / "kept-wal"
    try:
        with caplog.at_level(logging.ERROR, logger="qunguan.store"), _helper_stopped(store):
            store.append_message(_row(2), lambda exc: done.__setitem__(2, exc))
            await asyncio.sleep(0.05)
            assert _count(tmp_path / "q.db") == 2  # committed; its sync waits
            os.link(wal, keep)
            os.unlink(wal)  # the helper opens the WAL by name: its fdatasync fails (SyncFailed)
            store.append_message(_row(3), lambda exc: done.__setitem__(3, exc))  # queued behind the sync
            change = store.apply(ch.CreateGroup(GID, "g", "work", "open", "u1", 1))
            await asyncio.sleep(0.05)
            assert done.keys() == {1}
        await _settled(done, 3)
        assert isinstance(done[2], SyncFailed) and not isinstance(done[2], HelperLost)
        assert isinstance(done[3], StoreFailed)
        with pytest.raises(StoreFailed):
            await asyncio.wait_for(change, 5)
    finally:
        os.link(keep, wal)  # the same file again: a sync would succeed from now on
    assert store.fatal.is_set() and store.fatal_why is not None and "fsync" in store.fatal_why
    assert any(r.levelno == logging.CRITICAL and "exits (status 74)" in r.getMessage() for r in caplog.records)
    store.append_message(_row(4), lambda exc: done.__setitem__(4, exc))  # a later write: refused, not acked
    await _settled(done, 4)
    assert isinstance(done[4], StoreFailed)
    await asyncio.sleep(0.2)
    await store.close()
    assert _count(tmp_path / "q.db") == 2  # nothing was committed after the failure


async def test_a_batch_committed_after_a_failed_fsync_is_not_acked_by_its_own_sync(tmp_path):
    """On Linux a failed writeback leaves the lost pages clean: the next fsync succeeds without
    them, and a recovery stops at the first bad WAL frame. So a batch committed after the one
    whose sync failed fails too, even when the sync that covers it succeeds."""
    from server.storage.sqlite import PIPELINE_ROWS

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    done: dict[int, BaseException | None] = {}
    try:
        with _helper_stopped(store):
            store.append_message(_row(1), lambda exc: done.__setitem__(1, exc))
            await asyncio.sleep(0.05)
            for seq in range(2, PIPELINE_ROWS + 2):  # a burst: commits while the first sync runs
                store.append_message(_row(seq), lambda exc, seq=seq: done.__setitem__(seq, exc))
            await asyncio.sleep(0.05)
            assert _count(tmp_path / "q.db") == PIPELINE_ROWS + 1 and len(store._unsynced) == 2
            store._on_synced(SyncFailed("injected: fdatasync of the WAL failed"))  # the first request's answer
        await _settled(done, PIPELINE_ROWS + 1)  # the helper answers both requests: synced, as far as it knows
        await asyncio.sleep(0.1)
    finally:
        await store.close()
    assert all(isinstance(exc, OSError) for exc in done.values()), done
    assert store.fatal.is_set()


async def test_a_failed_fsync_on_the_thread_is_fatal_too(tmp_path, monkeypatch):
    """Without the helper the store fsyncs on a thread; a failure there is as fatal."""
    import server.storage.sqlite as sqlite_store
    from server.storage.base import StoreFailed

    def eio(path: Path) -> None:
        raise OSError(5, "Input/output error")

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    done: dict[int, BaseException | None] = {}
    try:
        os.kill(_helper_pid(store), signal.SIGKILL)
        store.append_message(_row(1), lambda exc: done.__setitem__(1, exc))
        await _settled(done, 1)  # synced on the thread once the helper is found gone
        assert done == {1: None}
        monkeypatch.setattr(sqlite_store, "fdatasync_file", eio)
        store.append_message(_row(2), lambda exc: done.__setitem__(2, exc))
        await _settled(done, 2)
        assert isinstance(done[2], SyncFailed)
        monkeypatch.undo()
        store.append_message(_row(3), lambda exc: done.__setitem__(3, exc))
        await _settled(done, 3)
        assert isinstance(done[3], StoreFailed)  # the disk syncs again: still refused
        assert store.fatal.is_set()
    finally:
        await store.close()


def test_only_a_full_disk_at_commit_is_known_to_leave_nothing_behind(tmp_path):
    """A COMMIT that fails with SQLITE_FULL wrote no whole commit frame (the frames' write ran out
    of space), so its batch fails alone; any other error at COMMIT stops the store (status 74:
    tests/e2e/test_store_fails_for_good.py), since it may come after that frame."""
    from server.storage.sqlite import _rolled_back

    db = sqlite3.connect(tmp_path / "full.db")
    db.execute("PRAGMA max_page_count = 2")  # a disk with room for two pages
    db.execute("CREATE TABLE t (x)")
    with pytest.raises(sqlite3.Error) as full:
        db.execute("INSERT INTO t VALUES (zeroblob(100000))")
    assert full.value.sqlite_errorcode == sqlite3.SQLITE_FULL and _rolled_back(full.value)
    with pytest.raises(sqlite3.Error) as other:
        db.execute("INSERT INTO nowhere VALUES (1)")
    assert not _rolled_back(other.value)
    assert not _rolled_back(OSError(5, "Input/output error"))
