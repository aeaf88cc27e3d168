"""SQLite store: one writer connection fed by a group-commit batcher, one reader.

Durability: WAL journal with ``synchronous=FULL``: a commit returns only after
the WAL is fsynced, so an acknowledged write survives ``kill -9`` and power
loss. Throughput comes from group commit: everything that arrives while a
commit is in flight goes into the next transaction, so the fsync is paid once
per batch, never once per message, and no ack is ever sent before its commit.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from server.storage.base import Done, MessageRow, NetlogRow, StoreUnavailable, backend
from server.storage.changes import Audit, Change
from server.storage.queue import Op, WriteQueue
from server.storage.schema import MIGRATIONS
from server.storage.sqlite_account_measures import SqliteAccountMeasureReads
from server.storage.sqlite_changes import append_audit, apply_change, set_record_key
from server.storage.sqlite_media import SqliteMediaReads
from server.storage.sqlite_moderation import SqliteModerationReads
from server.storage.sqlite_public import SqlitePublicReads
from server.storage.sqlite_reads import SqliteReads
from server.storage.sqlite_records import SqliteRecordReads, SqliteSanctionReads
from server.storage.sqlite_search import INDEX_CATCH_UP, LAGGING, SqliteSearchReads

if TYPE_CHECKING:
    from server.config import Config

log = logging.getLogger("qunguan.store")

WriteFn = Callable[[aiosqlite.Connection], Awaitable[Any]]

CHECKPOINT_INTERVAL = 1.0  # seconds
# New messages go into the search index many at a time (one FTS5 segment per catch-up:
# a few microseconds a message instead of tens when indexed a few at a time): once this
# many are unindexed, once the first has waited INDEX_DELAY seconds, or before a search
# of a group whose index lags (see sqlite_search).
INDEX_BATCH_ROWS = 2000
INDEX_DELAY = 1.0  # seconds
# Under constant writes a PASSIVE checkpoint never finds the WAL fully copied with no
# frame after it, so the WAL never starts over and grows without bound (252 MiB seen in a
# saturation run). Past this size one checkpoint waits for the writer (TRUNCATE): it has
# little left to copy after the PASSIVE one before it, so writes wait for milliseconds.
WAL_TRUNCATE_BYTES = 64 * 1024 * 1024

_INSERT_MESSAGE = (
    "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text, client_msg_id, held,"
    " reply_to, mentions, mention_all, attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The media ids of a stored message's attachments (its JSON array of attachment objects).
_INSERT_MEDIA = (
    "INSERT INTO message_media (group_id, seq, media_id)"
    " SELECT ?, ?, json_extract(value, '$.media_id') FROM json_each(?)"
)
_INSERT_NETLOG = "INSERT INTO netlog (ts, kind, user_id, ip, detail) VALUES (?, ?, ?, ?, ?)"


@backend("sqlite")
def _from_config(cfg: Config) -> SqliteStore:
    assert cfg.storage.sqlite_file is not None
    return SqliteStore(cfg.storage.sqlite_file)


class SqliteStore(WriteQueue, SqliteReads, SqliteRecordReads, SqliteSanctionReads, SqlitePublicReads,
                  SqliteAccountMeasureReads, SqliteModerationReads, SqliteSearchReads, SqliteMediaReads):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._w: aiosqlite.Connection | None = None
        self.r: aiosqlite.Connection | None = None
        self._init_queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._ckpt: aiosqlite.Connection | None = None
        self._ckpt_task: asyncio.Task[None] | None = None
        self._ckpt_at = 0
        self._ckpt_since: float | None = None
        # The hot path (batches of only message and network-log rows): a plain sqlite3
        # connection used only from one thread, so a whole batch is one hand-off.
        self._hot: sqlite3.Connection | None = None
        self._hot_pool: ThreadPoolExecutor | None = None
        self.hot_batches = 0
        self.wal_truncations = 0  # checkpoints that had to wait for the writer (WAL past WAL_TRUNCATE_BYTES)
        # The search index catches up in batches (see _index_due); what it still lacks:
        self._unindexed = 0  # messages committed since it last caught up (as far as this writer knows)
        self._index_asked = False  # a search, the timer or the start wants it caught up in the next batch
        self._index_timer: asyncio.TimerHandle | None = None
        self._indexing = False  # the batch being committed catches it up

    # -- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        """Open (and migrate) the database; :class:`StoreUnavailable` when it cannot be written."""
        try:
            await self._open()
        except sqlite3.Error as err:
            await self._close_connections()
            raise StoreUnavailable(f"the database {self.path} cannot be opened for writing: {err}") from None

    async def _close_connections(self) -> None:
        for conn in (self._w, self.r, self._ckpt):
            if conn is not None:
                try:
                    await conn.close()
                except Exception:
                    pass
        self._w = self.r = self._ckpt = None
        await self._close_hot()

    async def _open_hot(self) -> None:
        self._hot_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-hot")

        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA wal_autocheckpoint=0")
            return db

        self._hot = await asyncio.get_running_loop().run_in_executor(self._hot_pool, connect)

    async def _close_hot(self) -> None:
        pool, hot = self._hot_pool, self._hot
        self._hot_pool = self._hot = None
        if pool is None:
            return
        if hot is not None:
            await asyncio.get_running_loop().run_in_executor(pool, hot.close)
        pool.shutdown(wait=False)

    async def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Probe with a plain connection first: a file that cannot be a database fails here,
        # before any aiosqlite worker thread exists to outlive the event loop.
        probe = sqlite3.connect(self.path)
        try:
            probe.execute("PRAGMA schema_version").fetchone()
        finally:
            probe.close()
        self._w = await aiosqlite.connect(self.path, isolation_level=None)
        await self._w.execute("PRAGMA journal_mode=WAL")
        await self._w.execute("PRAGMA synchronous=FULL")
        await self._w.execute("PRAGMA busy_timeout=5000")
        # Checkpoints fsync the database file; done inside a commit they would stall
        # every ack behind them, so the writer never checkpoints: a connection of
        # its own does, in the background (see _checkpoints).
        await self._w.execute("PRAGMA wal_autocheckpoint=0")
        await self._migrate()
        await self._open_hot()
        self.r = await aiosqlite.connect(self.path, isolation_level=None)
        await self.r.execute("PRAGMA busy_timeout=5000")
        await self.r.execute("PRAGMA query_only=1")
        self._ckpt = await aiosqlite.connect(self.path, isolation_level=None)
        await self._ckpt.execute("PRAGMA busy_timeout=5000")
        self._task = asyncio.create_task(self._run(), name="store-writer")
        self._ckpt_task = asyncio.create_task(self._checkpoints(), name="store-checkpoints")
        if await self._fetchone(LAGGING + " LIMIT 1") is not None:
            self._ask_index()  # left unindexed by the last run

    async def _checkpoints(self) -> None:
        """Move committed WAL pages into the database file without blocking the writer."""
        assert self._ckpt is not None
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            if self.batches == self._ckpt_at:
                continue
            self._ckpt_at = self.batches
            self._ckpt_since = time.perf_counter()
            try:
                await self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)")
                if self._wal_bytes() > WAL_TRUNCATE_BYTES:
                    async with self._ckpt.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
                        busy, _, _ = await cur.fetchone() or (1, 0, 0)
                    self.wal_truncations += 0 if busy else 1
            except Exception:
                log.warning("WAL checkpoint failed; will retry", exc_info=True)
            finally:
                self._ckpt_since = None

    def _wal_bytes(self) -> int:
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size
        except OSError:
            return 0

    def _busy(self) -> list[str]:
        parts = super()._busy()
        if self._ckpt_since is not None:
            parts.append(f"WAL checkpoint running {(time.perf_counter() - self._ckpt_since) * 1000:.0f} ms")
        return parts

    # -- the search index's catch-up (INDEX_CATCH_UP, and when it runs) ----------------------
    def _index_due(self, incoming: int) -> bool:
        return self._index_asked or self._unindexed + incoming >= INDEX_BATCH_ROWS

    def _index_settled(self, committed: bool, messages: int) -> None:
        """After a batch: the index caught up, or it lacks this batch's messages too (then a timer runs)."""
        if committed and self._indexing:
            self._unindexed, self._index_asked = 0, False
            if self._index_timer is not None:
                self._index_timer.cancel()
                self._index_timer = None
        elif committed and messages:
            self._unindexed += messages
            if self._index_timer is None:
                self._index_timer = asyncio.get_running_loop().call_later(INDEX_DELAY, self._ask_index)
        self._indexing = False

    def _ask_index(self) -> asyncio.Future[Any]:
        """Have the next batch catch the index up; resolves after that batch's commit."""
        self._index_timer = None
        self._index_asked = True

        async def nothing(db: aiosqlite.Connection) -> None:
            return None

        fut = self.run_in_batch(nothing)
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # a failure is the next batch's
        return fut

    async def _catch_up_index(self) -> None:
        await self._ask_index()

    async def ping(self) -> None:
        """A write transaction through the writer that changes nothing: proves the database takes writes."""

        async def nothing(db: aiosqlite.Connection) -> None:
            return None

        await self.run_in_batch(nothing)

    async def backup(self, dest: Path) -> None:
        """A consistent copy of the live database at ``dest`` (SQLite's online backup API).

        Written beside ``dest`` first and renamed into place, so ``dest`` is
        always either the old file or a complete new one.
        """
        tmp = dest.with_name(dest.name + ".partial")

        def copy() -> None:
            src = sqlite3.connect(self.path)
            try:
                dst = sqlite3.connect(tmp)
                try:
                    src.backup(dst)
                    dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                finally:
                    dst.close()
            finally:
                src.close()
            tmp.replace(dest)

        try:
            await asyncio.to_thread(copy)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def set_record_key(self, key: bytes) -> None:
        """The enforcement record's MAC key, known once the identity key store is open."""
        assert self._w is not None
        set_record_key(self._w, key)

    async def close(self) -> None:
        if self._ckpt_task is not None:
            self._ckpt_task.cancel()
            try:
                await self._ckpt_task
            except asyncio.CancelledError:
                pass
            self._ckpt_task = None
        if self._index_timer is not None:  # what still waits is indexed after the next start
            self._index_timer.cancel()
            self._index_timer = None
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self.r is not None:
            await self.r.close()
            self.r = None
        if self._ckpt is not None:
            await self._ckpt.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._ckpt.close()
            self._ckpt = None
        if self._w is not None:
            set_record_key(self._w, None)
            await self._w.close()
            self._w = None
        await self._close_hot()

    async def _migrate(self) -> None:
        db = self._w
        assert db is not None
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
        )
        rows = await db.execute_fetchall("SELECT version FROM schema_migrations")
        applied = {r[0] for r in rows}
        for version, script in MIGRATIONS:
            if version in applied:
                continue
            statements = _statements(script)
            await db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in statements:
                    await db.execute(stmt)
                await db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?)", (version, int(time.time() * 1000))
                )
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            log.info("applied schema migration %d", version)

    # -- writes ------------------------------------------------------------
    async def _run(self) -> None:
        db = self._w
        assert db is not None
        while True:
            if not self.queued():
                if self._closing:
                    return  # only once everything queued, even during close, is committed
                await self._wake.wait()
            self._wake.clear()
            ops, raw, msgs, netlog = self.take()
            if ops or raw or msgs or netlog:
                self._commit_since = time.perf_counter()
                self._commit_size = (len(ops) + len(raw), len(msgs), len(netlog))
                self._indexing = self._index_due(len(msgs))
                committed = self.batches
                try:
                    if ops or raw or self._hot is None:
                        await self._commit_batch(db, ops, raw, msgs, netlog)
                    else:
                        await self._commit_hot(msgs, netlog)
                finally:
                    self._commit_since = None
                self._index_settled(self.batches > committed, len(msgs))

    async def _commit_batch(
        self,
        db: aiosqlite.Connection,
        ops: list[Op],
        raw: list[tuple[WriteFn, asyncio.Future[Any]]],
        msgs: list[tuple[MessageRow, Done]],
        netlog: list[tuple[NetlogRow, Done]],
    ) -> None:
        """One transaction for the whole batch; every write that fails is rolled back alone.

        Each op runs in a savepoint of its own. Messages and network-log rows go
        in with one ``executemany`` each; if one of those fails (a row that
        cannot be stored), that savepoint is rolled back and its rows are
        inserted one at a time, so only the bad row fails. Only a failing
        COMMIT (the disk) fails the whole batch.
        """
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        msg_errors: dict[int, BaseException] = {}
        log_errors: dict[int, BaseException] = {}
        try:
            await db.execute("BEGIN IMMEDIATE")
            for changes, audit, fut in ops:
                outcomes.append((fut, *await _in_savepoint(db, _apply_op(db, changes, audit))))
            for fn, rfut in raw:
                outcomes.append((rfut, *await _in_savepoint(db, fn(db))))
            if msgs:
                rows = [m[0] for m in msgs]
                msg_errors = await _insert_rows(db, _INSERT_MESSAGE, rows)
                last: dict[str, int] = {}
                for i, (row, _) in enumerate(msgs):
                    if i not in msg_errors:
                        last[row.group_id] = row.seq
                await db.executemany(
                    "UPDATE groups SET last_seq = ? WHERE group_id = ? AND last_seq < ?",
                    [(seq, gid, seq) for gid, seq in last.items()],
                )
                media = _media_rows(rows, msg_errors)
                if media:
                    await db.executemany(_INSERT_MEDIA, media)
            if self._indexing:
                for stmt in INDEX_CATCH_UP:
                    await db.execute(stmt)
            if netlog:
                log_errors = await _insert_rows(db, _INSERT_NETLOG, [n[0] for n in netlog])
            await db.execute("COMMIT")
        except Exception as exc:
            log.exception("batch commit failed; %d ops and %d messages refused", len(ops), len(msgs))
            try:
                await db.execute("ROLLBACK")
            except Exception:
                pass
            self._fail_batch(ops, raw, msgs, netlog, exc)
            return
        self._settle_batch(len(ops) + len(raw), outcomes, msgs, netlog, msg_errors, log_errors)

    async def _commit_hot(self, msgs: list[tuple[MessageRow, Done]], netlog: list[tuple[NetlogRow, Done]]) -> None:
        """A batch of only message and network-log rows: the whole transaction in one call on
        the hot connection's thread (one loop hand-off instead of one per statement).

        The same transaction as :meth:`_commit_batch` would run (``BEGIN IMMEDIATE``,
        rows in a savepoint with the row-by-row fallback, ``last_seq``, ``COMMIT`` with
        its fsync), on a second connection to the same WAL database. Batches never
        overlap (this task runs one at a time), so the two writer connections never
        wait for each other.
        """
        assert self._hot is not None
        loop = asyncio.get_running_loop()
        try:
            msg_errors, log_errors = await loop.run_in_executor(
                self._hot_pool, _hot_transaction, self._hot, [m[0] for m in msgs], [n[0] for n in netlog],
                self._indexing)
        except Exception as exc:
            log.exception("batch commit failed; %d messages and %d log rows refused", len(msgs), len(netlog))
            self._fail_batch([], [], msgs, netlog, exc)
            return
        self.hot_batches += 1
        self._settle_batch(0, [], msgs, netlog, msg_errors, log_errors)


def _statements(script: str) -> list[str]:
    """A migration script's statements, comments removed; a trigger's body (``BEGIN ...; END``) stays whole."""
    code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    statements: list[str] = []
    pending = ""
    for part in code.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \n;"):
        statements.append(pending.strip())
    return statements


def _hot_transaction(db: sqlite3.Connection, msgs: list[MessageRow], netlog: list[NetlogRow], index: bool = False
                     ) -> tuple[dict[int, BaseException], dict[int, BaseException]]:
    """On the hot connection's thread: one batch of rows, committed (fsynced) or rolled back whole."""
    db.execute("BEGIN IMMEDIATE")
    try:
        msg_errors = _insert_rows_now(db, _INSERT_MESSAGE, msgs) if msgs else {}
        last: dict[str, int] = {}
        for i, row in enumerate(msgs):
            if i not in msg_errors:
                last[row.group_id] = row.seq
        if last:
            db.executemany("UPDATE groups SET last_seq = ? WHERE group_id = ? AND last_seq < ?",
                           [(seq, gid, seq) for gid, seq in last.items()])
        media = _media_rows(msgs, msg_errors)
        if media:
            db.executemany(_INSERT_MEDIA, media)
        if index:
            for stmt in INDEX_CATCH_UP:
                db.execute(stmt)
        log_errors = _insert_rows_now(db, _INSERT_NETLOG, netlog) if netlog else {}
        db.execute("COMMIT")
    except BaseException:
        try:
            db.execute("ROLLBACK")
        except Exception:
            pass
        raise
    return msg_errors, log_errors


def _media_rows(msgs: list[MessageRow], errors: dict[int, BaseException]) -> list[tuple[str, int, str]]:
    """(group id, seq, attachments JSON) of the stored messages that carry attachments."""
    return [(row.group_id, row.seq, row.attachments) for i, row in enumerate(msgs)
            if row.attachments is not None and i not in errors]


def _insert_rows_now(db: sqlite3.Connection, sql: str, rows: list[Any]) -> dict[int, BaseException]:
    """:func:`_insert_rows` on a plain connection: at once, else one by one, each in a savepoint."""
    db.execute("SAVEPOINT rows")
    try:
        db.executemany(sql, rows)
    except Exception as err:
        db.execute("ROLLBACK TO rows")
        db.execute("RELEASE rows")
        log.warning("a batch insert failed (%r); inserting its %d rows one by one", err, len(rows))
    else:
        db.execute("RELEASE rows")
        return {}
    errors: dict[int, BaseException] = {}
    for i, row in enumerate(rows):
        db.execute("SAVEPOINT row")
        try:
            db.execute(sql, row)
        except Exception as exc:
            db.execute("ROLLBACK TO row")
            errors[i] = exc
        db.execute("RELEASE row")
    return errors


async def _apply_op(db: aiosqlite.Connection, changes: tuple[Change, ...], audit: Audit | None) -> list[Any]:
    results = [await apply_change(db, c) for c in changes]
    if audit is not None:
        await append_audit(db, audit)
    return results


async def _in_savepoint(db: aiosqlite.Connection, work: Awaitable[Any]) -> tuple[Any, BaseException | None]:
    """Run ``work`` in a savepoint: (result, None), or (None, its error) with its writes undone."""
    await db.execute("SAVEPOINT op")
    try:
        result = await work
    except Exception as exc:
        await db.execute("ROLLBACK TO op")
        await db.execute("RELEASE op")
        return None, exc
    await db.execute("RELEASE op")
    return result, None


async def _insert_rows(db: aiosqlite.Connection, sql: str, rows: list[Any]) -> dict[int, BaseException]:
    """Insert ``rows`` at once; if that fails, one by one. Returns {index: error} of the rows left out."""
    _, err = await _in_savepoint(db, db.executemany(sql, rows))
    if err is None:
        return {}
    log.warning("a batch insert failed (%r); inserting its %d rows one by one", err, len(rows))
    errors: dict[int, BaseException] = {}
    for i, row in enumerate(rows):
        _, err = await _in_savepoint(db, db.execute(sql, row))
        if err is not None:
            errors[i] = err
    return errors


