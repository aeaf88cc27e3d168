"""SQLite store: one writer connection fed by a group-commit batcher, one reader.

Durability: WAL journal; a batch is settled (acks, events, futures) only once
the WAL holding it is fsynced, so an acknowledged write survives ``kill -9`` and
power loss. Batches with changes commit with ``synchronous=FULL`` (the fsync
inside the commit); batches of only message and network-log rows commit without
it and are settled after the WAL sync helper's fsync (``wal_sync``). Throughput
comes from group commit: everything that arrives while a commit is in flight goes
into the next transaction, so the fsync is paid once per batch, never once per
message, and no ack is ever sent before its fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import itertools
import json
import logging
import os
import secrets
import shutil
import sqlite3
import stat
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import aiosqlite

from server.logs import Repeats
from server.storage import activity, search_fold
from server.storage.account_measures import ACCOUNT_EXPORT_COMMENTS, COMMENT_COLS
from server.storage.base import (
    PROBE,
    BackupNoRoom,
    Done,
    ExportReads,
    MessageRow,
    NetlogRow,
    StoreUnavailable,
    backend,
    rows_as_dicts,
)
from server.storage.changes import Audit, Change, JobRan
from server.storage.migrations import checksum, plan_migrations, upgrade_notice
from server.storage.queue import Op, WriteQueue
from server.storage.record_chain import RecordChain, attach, chain_of, detach
from server.storage.schema import MIGRATIONS
from server.storage.sqlite_account_measures import SQLITE_ACCOUNT_EXPORT_AUDIT, SqliteAccountMeasureReads
from server.storage.sqlite_changes import append_audit, apply_change
from server.storage.sqlite_media import SqliteMediaReads
from server.storage.sqlite_moderation import SqliteModerationReads
from server.storage.sqlite_public import SqlitePublicReads, fill_name_readings
from server.storage.sqlite_reads import SqliteReads
from server.storage.sqlite_records import (
    AUDIT_COLS,
    NETLOG_COLS,
    SQLITE_GROUP_NETLOG,
    SqliteRecordReads,
    SqliteSanctionReads,
)
from server.storage.sqlite_search import BACKLOG, INDEX_SETTINGS, SqliteSearchReads, index_slice, merge_step
from server.storage.wal_sync import HelperLost, SyncFailed, WalSyncer, fdatasync_file

if TYPE_CHECKING:
    from server.config import Config

log = logging.getLogger("qunguan.store")

# Migrations whose new rows are filled by code after their script, in their transaction (what SQL
# cannot compute: a name's lookalike readings are Python's Unicode): version -> the fill.
FILLS: dict[int, Callable[[aiosqlite.Connection], Awaitable[None]]] = {59: fill_name_readings}

# A batch that could not start (the database locked past the busy timeout, the file unreadable): an
# outage, logged without a traceback and at most once every 30 s (the readiness probe's own write
# fails every 2 s while it lasts), as PostgreSQL's out-of-reach warnings are.
_OUT_OF_REACH = Repeats()
# The disk full (SQLITE_FULL): every batch, index step and checkpoint fails while it lasts, each of
# which logged a traceback (800 lines in 10 s, the log on the same disk failing in turn). One
# warning instead, without a traceback, at most once every 30 s for each kind of write.
_FULL_BATCH, _FULL_INDEX, _FULL_CHECKPOINT = Repeats(), Repeats(), Repeats()

WriteFn = Callable[[aiosqlite.Connection], Awaitable[Any]]

CHECKPOINT_INTERVAL = 1.0  # seconds
# The search index is kept off the ack path, and off a busy server's CPU: no commit that
# carries writes touches it. The writer indexes new messages afterwards, in slices (each its
# own transaction, on a connection of its own that does not fsync: the index is derived data,
# and the next message commit's fsync covers it), and merges the index's segments in small
# steps:
# - when no write has arrived for INDEX_QUIET seconds, one step after another while none comes;
# - between batches while more than INDEX_BACKLOG_ROWS messages wait to be indexed, or more
#   than INDEX_MERGE_DEBT merge steps are owed, so neither can grow without limit under load.
# A search reads its group's unindexed messages directly (sqlite_search), so the backlog
# costs searches a scan, not staleness, and the index need not keep up while writes pour in:
# the trigram index costs about 10 us of CPU a message, which at (a)'s 40,000 messages/s
# took a quarter of the server's throughput on two cores when it kept within 1,000 rows.
# The bound is where that scan stays short: 200,000 rows of one group, read in two halves at
# once (SCANNERS), take about 20 ms (40 ms on one connection; more while the writer indexes
# beside it), a backlog that only a server saturated for five seconds or more without a
# 10 ms pause builds (the benchmark's (a) stores 25,000-40,000 messages a second on two
# cores). Past it, the writer indexes as fast as messages arrive.
# Each step holds the writer for a millisecond or a few, so a write that arrives meanwhile
# waits that long at most (an index slice inside a message commit held its acks for 20-60 ms).
INDEX_QUIET = 0.01  # seconds
SCANNERS = 2  # read-only connections for a search's direct reads, one per core of a small machine
INDEX_SLICE_ROWS = 500  # seqs per slice
INDEX_BACKLOG_ROWS = 200_000
INDEX_MERGE_PAGES = 64  # pages written per merge step (FTS5's automerge writes 64 per level at once)
INDEX_MERGE_DEBT = 8  # merge steps owed (one per slice) before they run between batches
# Under constant writes a PASSIVE checkpoint never finds the WAL fully copied with no
# frame after it, so the WAL never starts over and grows without bound (252 MiB seen in a
# saturation run). Past this size the writer itself runs one TRUNCATE checkpoint between two
# batches: it has little left to copy after the PASSIVE one before it. (Run from the
# checkpoint connection, it took the write lock from the writer, whose busy handler then
# slept in steps of up to 25 ms: commits were held 40-100 ms.)
WAL_TRUNCATE_BYTES = 64 * 1024 * 1024
# A hot batch (only message and network-log rows) of up to this many rows is committed on the
# event loop itself: with the fsync left to the WAL sync helper (wal_sync), SQLite's part of a
# small batch takes about 0.1-0.3 ms, less than a thread's hand-offs cost (a thread woken while
# the loop is busy waits for the GIL to start, between statements and to hand back: 0.4-0.5 ms a
# batch measured on a busy 2-core machine). Larger batches, which only a busy server builds, go
# to the hot thread so that the loop is never held long.
INLINE_ROWS = 32
# Hot batches committed and waiting for their fsync at once, at most: the writer commits the next
# batch while the helper syncs (so a sender with several messages in flight is not held to one
# commit-then-fsync at a time); past this many it waits, so a slow disk holds writes back.
MAX_UNSYNCED = 16
PIPELINE_ROWS = 4  # rows queued that commit while a sync runs; fewer wait for it (_worth_waiting_for_the_sync)
BUSY_MS = 5000  # the writer connections' busy timeout (another process holding the write lock)
# Less room than this left on the database's disk: the readiness probe fails (SqliteStore.ping).
MIN_FREE_BYTES = 1024 * 1024
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

_INSERT_MESSAGE = (
    "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text, client_msg_id, held,"
    " reply_to, mentions, mention_all, attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The same for a message with none of the v2 fields (most of them): MessageRow's first eight.
_INSERT_PLAIN_MESSAGE = (
    "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text, client_msg_id, held)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_PLAIN_COLUMNS = 8
_COLUMNS = len(MessageRow._fields) - 1  # MessageRow's columns; its last field (review) goes to review_queue
# The media ids of a stored message's attachments (its JSON array of attachment objects).
_INSERT_MEDIA = (
    "INSERT INTO message_media (group_id, seq, media_id)"
    " SELECT ?, ?, json_extract(value, '$.media_id') FROM json_each(?)"
)
# A held or flagged message's content-review item, inserted with the message (MessageRow.review).
_INSERT_REVIEW = (
    "INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_NETLOG = "INSERT INTO netlog (ts, kind, user_id, ip, detail) VALUES (?, ?, ?, ?, ?)"
_LAST_SEQ = "UPDATE groups SET last_seq = ? WHERE group_id = ? AND last_seq < ?"


@backend("sqlite")
def _from_config(cfg: Config) -> SqliteStore:
    assert cfg.storage.sqlite_file is not None
    return SqliteStore(cfg.storage.sqlite_file)


# Room a backup leaves on the database's disk for the server's own writes while it copies (past the
# copies themselves): a backup that filled the disk made live sends fail (a reviewer's case).
BACKUP_SPARE_BYTES = 64 * 1024 * 1024
# A backup's hidden partial file in the --out folder not written to for this long was left by a backup
# that did not finish (killed): removed by the next backup to that name (it holds what the database does).
PARTIAL_ABANDONED_S = 600


def _backup_room(db: Path, dest: Path) -> None:
    """:class:`BackupNoRoom` unless the database's disk holds its private copy, and the copy in
    ``dest``'s folder when that is on the same disk, with :data:`BACKUP_SPARE_BYTES` to spare."""
    free = _free_bytes(db)
    if free is None:
        return
    size = sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    copies = 2 if dest.parent.stat().st_dev == db.parent.stat().st_dev else 1
    needed = copies * size + BACKUP_SPARE_BYTES
    if free < needed:
        where = "its copy and the backup" if copies == 2 else "its copy"
        raise BackupNoRoom(
            f"the disk holding the database {db} has {free // 2**20} MiB free; a backup needs {needed // 2**20} MiB "
            f"there ({where}, {size // 2**20} MiB each, and {BACKUP_SPARE_BYTES // 2**20} MiB for the server's own "
            "writes meanwhile): free some space there, or write the backup to another disk")


def _drop_abandoned_partials(folder: int, name: str, now: float) -> None:
    """Remove the hidden partial files of ``name`` in ``folder`` (a descriptor) that no backup has
    written to for :data:`PARTIAL_ABANDONED_S`: a backup killed half-way leaves one, full size."""
    for entry in os.listdir(folder):
        if not (entry.startswith(f".{name}.") and entry.endswith(".partial")):
            continue
        with contextlib.suppress(OSError):
            st = os.stat(entry, dir_fd=folder, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > PARTIAL_ABANDONED_S:
                os.unlink(entry, dir_fd=folder)


def _write_partial(private: Path, dest: Path) -> tuple[int, str, str, int]:
    """``private`` copied into a new file of a random name in ``dest``'s folder, through that folder's
    descriptor (see ``SqliteStore.backup``) and synced: the folder's descriptor, the file's name, its
    SHA-256 and size. The caller gives it ``dest``'s name (:func:`_take_name`) or removes it, and
    closes the descriptor."""
    folder = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
    tmp = f".{dest.name}.{secrets.token_hex(6)}.partial"
    try:
        _drop_abandoned_partials(folder, dest.name, time.time())
        digest = hashlib.sha256()
        size = 0
        with open(private, "rb") as src:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=folder)
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        return folder, tmp, digest.hexdigest(), size
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=folder)
        os.close(folder)
        raise


def _take_name(folder: int, tmp: str, name: str) -> None:
    """The finished copy ``tmp`` renamed to ``name`` in ``folder`` (a descriptor), durably."""
    os.rename(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    os.fsync(folder)  # (the rename itself, durable)


class SqliteStore(WriteQueue, SqliteReads, SqliteRecordReads, SqliteSanctionReads, SqlitePublicReads,
                  SqliteAccountMeasureReads, SqliteModerationReads, SqliteSearchReads, SqliteMediaReads):
    def unreachable(self, err: BaseException) -> bool:
        """Locked past the busy timeout, the file could not be read, or the disk is full (see
        :meth:`Store.unreachable`)."""
        return isinstance(err, sqlite3.OperationalError) and (
            getattr(err, "sqlite_errorcode", 0) & 0xFF) in (*_BUSY_CODES, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL)

    def storage_full(self, err: BaseException) -> bool:
        return disk_full(err)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._wal_path = path.with_name(path.name + "-wal")
        self._w: aiosqlite.Connection | None = None
        self._chain = RecordChain()  # the record key, and the last entry this process appended
        self.r: aiosqlite.Connection | None = None
        self.scanners = []  # a search's direct reads (sqlite_search); opened with the reader
        self._init_queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._ckpt: aiosqlite.Connection | None = None
        self._ckpt_task: asyncio.Task[None] | None = None
        self._ckpt_at = 0
        self._ckpt_since: float | None = None
        self._claim: BinaryIO | None = None
        # The hot path (batches of only message and network-log rows): a plain sqlite3
        # connection used only from one thread, so a whole batch is one hand-off.
        self._hot: sqlite3.Connection | None = None
        self._hot_pool: ThreadPoolExecutor | None = None
        self._syncer: WalSyncer | None = None
        self._unsynced: deque[_Unsynced] = deque()  # hot batches committed, oldest first, awaiting an fsync
        self._resync_due = False  # some of them will not be synced by the helper (it is lost)
        self.hot_batches = 0
        self.wal_truncations = 0  # TRUNCATE checkpoints that started the WAL over (past WAL_TRUNCATE_BYTES)
        self._truncate_due = False
        # The search index (see INDEX_QUIET): its own connection, on the hot thread.
        self._idx: sqlite3.Connection | None = None
        self._lag: dict[str, int] = {}  # group id -> messages not yet indexed (a slice corrects the count)
        self._unindexed = 0  # the sum of _lag
        self._merges_owed = 0
        self._searches: list[tuple[str, asyncio.Future[None]]] = []  # (group id, its search) awaiting a catch-up
        self._searched: dict[str, None] = {}  # groups a search read unindexed messages of: indexed first
        self._index_since: float | None = None  # set while an index step runs
        self._index_pause = 0.0  # after a failed step, no idle step before this (loop time)
        self._last_batch = 0.0  # when the writer last took writes (loop time)
        self._quiet_timer: asyncio.TimerHandle | None = None  # wakes the writer when INDEX_QUIET may have passed
        self.index_slices = 0
        self.index_merges = 0

    # -- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        """Open (and migrate) the database; :class:`StoreUnavailable` when it cannot be written."""
        try:
            await self._open()
        except StoreUnavailable:  # (a database this version must not open: one line of its own)
            await self._close_connections()
            raise
        except sqlite3.Error as err:
            await self._close_connections()
            raise StoreUnavailable(f"the database {self.path} cannot be opened for writing: {err}{_room(self.path)}"
                                   ) from None
        search_fold.fold_table()  # built now (about 10 ms, once a process), not in the first search
        # A backup's private copy that a crash left (see backup): a whole copy of the database, gone.
        for left in self.path.parent.glob(".backup-*"):
            await asyncio.to_thread(shutil.rmtree, left, True)

    async def _close_connections(self) -> None:
        if self._w is not None:
            detach(self._w)
        for conn in (self._w, self.r, self._ckpt, *self.scanners):
            if conn is not None:
                try:
                    await conn.close()
                except Exception:
                    pass
        self._w = self.r = self._ckpt = None
        self.scanners = []
        await self._close_hot()

    async def _open_hot(self) -> None:
        self._hot_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-hot")

        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous=NORMAL")  # the WAL's fsync: the helper (wal_sync)
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA wal_autocheckpoint=0")
            return db

        def connect_index() -> sqlite3.Connection:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous=NORMAL")  # no fsync: see INDEX_QUIET
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA wal_autocheckpoint=0")
            for stmt in INDEX_SETTINGS:
                db.execute(stmt)
            return db

        loop = asyncio.get_running_loop()
        self._hot = await loop.run_in_executor(self._hot_pool, connect)
        self._idx = await loop.run_in_executor(self._hot_pool, connect_index)
        self._syncer = WalSyncer(self._wal_path)
        self._syncer.start()

    async def _close_hot(self) -> None:
        pool, hot, idx = self._hot_pool, self._hot, self._idx
        self._hot_pool = self._hot = self._idx = None
        if self._syncer is not None:
            await self._syncer.close()
            self._syncer = None
        if pool is None:
            return
        for conn in (hot, idx):
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(pool, conn.close)
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
        self._w = await _connect(self.path)
        attach(self._w, self._chain)
        await self._w.execute("PRAGMA journal_mode=WAL")
        await self._w.execute("PRAGMA synchronous=FULL")
        await self._w.execute("PRAGMA busy_timeout=5000")
        # Checkpoints fsync the database file; done inside a commit they would stall
        # every ack behind them, so the writer never checkpoints: a connection of
        # its own does, in the background (see _checkpoints).
        await self._w.execute("PRAGMA wal_autocheckpoint=0")
        await self._migrate()
        await self._open_hot()
        self.r = await self._read_only()
        for _ in range(SCANNERS):
            self.scanners.append(await self._read_only())
        self._ckpt = await _connect(self.path)
        await self._ckpt.execute("PRAGMA busy_timeout=5000")
        for gid, lag in await self._fetchall(BACKLOG):  # left unindexed by the last run
            self._lag[gid] = int(lag)
        self._unindexed = sum(self._lag.values())
        self._task = asyncio.create_task(self._run(), name="store-writer")
        self._ckpt_task = asyncio.create_task(self._checkpoints(), name="store-checkpoints")

    async def _read_only(self) -> aiosqlite.Connection:
        conn = await _connect(self.path)
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA query_only=1")
        return conn

    @contextlib.asynccontextmanager
    async def export_snapshot(self) -> AsyncIterator[ExportReads]:
        # A connection of its own: on the shared reader, a read transaction would also hold the
        # handlers' reads (history) at its snapshot. In WAL mode, every read of one transaction sees
        # the database as its first read did; the writer and checkpoints go on meanwhile (these copy
        # no frame past the snapshot; a TRUNCATE one finds it and gives up at once, holding no commit:
        # the WAL is started over after the export, tests/server/test_export_snapshot.py).
        conn = await self._read_only()
        try:
            await conn.execute("BEGIN")
            await conn.execute_fetchall("SELECT 1 FROM sqlite_master LIMIT 1")  # the snapshot: taken now
            yield _ExportSnapshot(conn)
        finally:
            with contextlib.suppress(sqlite3.Error, ValueError):
                await conn.execute("ROLLBACK")
            await conn.close()

    async def _checkpoints(self) -> None:
        """Move committed WAL pages into the database file without blocking the writer."""
        assert self._ckpt is not None
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            if self.batches == self._ckpt_at or self._truncate_due or self.fatal_why is not None:
                continue
            self._ckpt_at = self.batches
            self._ckpt_since = time.perf_counter()
            try:
                await self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)")
                if self._wal_bytes() > WAL_TRUNCATE_BYTES:
                    self._truncate_due = True  # the writer runs it between two batches
                    self._wake.set()
            except Exception as exc:
                if disk_full(exc):
                    _FULL_CHECKPOINT.log(log, logging.WARNING, "WAL checkpoint failed, the disk is full; will retry")
                else:
                    log.warning("WAL checkpoint failed; will retry", exc_info=True)
            finally:
                self._ckpt_since = None

    async def _truncate_wal(self) -> None:
        """Copy what is left of the WAL into the database and start it over, between two batches.

        On the writer's own sequence, so no commit waits for a lock meanwhile; it waits only
        for readers still reading from the WAL.
        """
        self._ckpt_since = time.perf_counter()
        try:
            if self._hot is not None:
                def truncate(db: sqlite3.Connection) -> Any:
                    return db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

                row = await asyncio.get_running_loop().run_in_executor(self._hot_pool, truncate, self._hot)
            else:
                assert self._w is not None
                async with self._w.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
                    row = await cur.fetchone()
            self.wal_truncations += 0 if row is None or row[0] else 1
        except Exception:
            log.warning("WAL truncation failed; will retry", exc_info=True)
        finally:
            self._ckpt_since = None
            self._truncate_due = False  # (until now no PASSIVE checkpoint starts: they would collide)

    def _wal_bytes(self) -> int:
        try:
            return self._wal_path.stat().st_size
        except OSError:
            return 0

    def _busy(self) -> list[str]:
        parts = super()._busy()
        if self._unsynced:
            parts.append(f"{len(self._unsynced)} committed batches waiting for the WAL fsync")
        if self._ckpt_since is not None:
            parts.append(f"WAL checkpoint running {(time.perf_counter() - self._ckpt_since) * 1000:.0f} ms")
        if self._index_since is not None:
            parts.append(f"search index step running {(time.perf_counter() - self._index_since) * 1000:.0f} ms")
        return parts

    # -- the search index: off the ack path (see INDEX_QUIET) --------------------------------
    def _note_unindexed(self, msgs: list[tuple[MessageRow, Done]]) -> None:
        """A batch with these messages committed: the index lacks them now."""
        lag = self._lag
        for row, _ in msgs:
            lag[row.group_id] = lag.get(row.group_id, 0) + 1
        self._unindexed += len(msgs)

    def _side_work(self) -> bool:
        """Whether the index has anything left to do (a slice or a merge step)."""
        return self._unindexed > 0 or self._merges_owed > 0

    async def _side_step(self) -> None:
        """One slice while messages wait to be indexed, else one merge step."""
        if self._unindexed > 0:
            plan: dict[str, int | None] = {}
            budget = INDEX_SLICE_ROWS
            first = [(gid, self._lag[gid]) for gid in self._searched if gid in self._lag]
            self._searched.clear()
            for gid, lag in itertools.chain(first, self._lag.items()):
                if gid in plan:
                    continue
                plan[gid] = min(lag, budget)
                budget -= lag
                if budget <= 0:
                    break
            if not plan:
                self._unindexed = 0  # (cannot happen: it is the sum of _lag)
                return
            await self._index(list(plan.items()))
        else:
            await self._merge()

    async def _on_index_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self._idx is not None
        self._index_since = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._hot_pool, fn, self._idx, *args)
        finally:
            self._index_since = None

    async def _index(self, plan: list[tuple[str, int | None]]) -> None:
        """Index ``plan`` (see sqlite_search.index_slice) and account for what is left."""
        left, covered = await self._on_index_thread(index_slice, plan)
        for gid, lag in left:
            old = self._lag.pop(gid, 0)
            if lag > 0:
                self._lag[gid] = lag  # (at the end: the next slice starts with the groups after it)
            self._unindexed += lag - old
        if covered:
            self.index_slices += 1
            self._merges_owed += 1

    async def _merge(self) -> None:
        if await self._on_index_thread(merge_step, INDEX_MERGE_PAGES):
            self.index_merges += 1
            self._merges_owed = max(self._merges_owed - 1, 0)
        else:
            self._merges_owed = 0  # nothing (left) to merge

    async def _catch_up_searches(self) -> None:
        """Index the whole backlog of every group a waiting search needs, in one transaction."""
        searches, self._searches = self._searches, []
        try:
            await self._index([(gid, None) for gid in dict.fromkeys(g for g, _ in searches)])
        except Exception as exc:
            log.exception("the search index's catch-up failed")
            for _, fut in searches:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for _, fut in searches:
            if not fut.done():
                fut.set_result(None)

    def search_index_backlog(self) -> int:
        return self._unindexed

    def _index_soon(self, group_id: str) -> None:
        self._searched[group_id] = None

    async def _catch_up_index(self, group_id: str) -> None:
        if self._task is None or self._task.done():
            raise StoreUnavailable("the store is closed")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._searches.append((group_id, fut))
        self._wake.set()
        await fut

    async def _index_work(self, busy: bool) -> None:
        """Index steps: after a batch (``busy``) only past the bounds, else while no write waits."""
        if asyncio.get_running_loop().time() < self._index_pause or self.fatal_why is not None:
            return
        try:
            if busy:
                while self._unindexed > INDEX_BACKLOG_ROWS and not self._searches and not self._closing:
                    await self._side_step()
                while self._merges_owed > INDEX_MERGE_DEBT and not self._searches and not self._closing:
                    await self._merge()
                return
            while self._side_work() and not self.queued() and not self._searches and not self._closing:
                await self._side_step()
        except Exception as exc:
            if disk_full(exc):
                _FULL_INDEX.log(log, logging.WARNING, "a search index step failed, the disk is full; the index "
                                "catches up later")
            else:
                log.exception("a search index step failed; the index catches up later")
            self._index_pause = asyncio.get_running_loop().time() + 1.0

    def _idle_index_due(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Nothing queued: whether to index now; if it is not yet quiet, a timer wakes the writer when it may be.

        One timer at a time (not one per idle moment: under steady load the writer is idle
        between most batches, and every cost there is the event loop's).
        """
        if not self._side_work() or self.fatal_why is not None:
            return False
        due = max(self._last_batch + INDEX_QUIET, self._index_pause)  # (a failed step pauses it a while)
        if loop.time() >= due:
            return True
        if self._quiet_timer is None:
            self._quiet_timer = loop.call_at(due, self._quiet_check)
        return False

    def _quiet_check(self) -> None:
        self._quiet_timer = None
        self._wake.set()

    async def ping(self) -> None:
        """A real write through the writer (:data:`PROBE`), and room on the disk for more: proves the
        database takes writes now. (The write alone is not enough: a small transaction still fits in
        the write-ahead log's file, which is reused after each checkpoint, while no larger one can
        be stored on a full disk.)"""
        free = await asyncio.to_thread(_free_bytes, self.path)
        if free is not None and free < MIN_FREE_BYTES:
            raise StoreUnavailable(f"the disk holding {self.path} is full ({free // 1024} KiB free)")
        probe = JobRan(PROBE, int(time.time() * 1000))

        async def write(db: aiosqlite.Connection) -> None:
            await apply_change(db, probe)

        await self.run_in_batch(write)

    async def backup(self, dest: Path, record: Callable[[str, int], Awaitable[None]]) -> str:
        """A consistent copy of the live database at ``dest`` (SQLite's online backup API); its SHA-256.

        The copy is made in a private folder beside the database (the server's own: SQLite opens
        files by name, and a name in the operator's folder could be swapped for a link to the live
        database or the identity key while it writes). It is then copied into a new file of a
        random name in ``dest``'s folder, created there without following a link, and renamed into
        place through that folder's descriptor, so ``dest`` is always either the old file or a
        complete new one (never a file a link pointed at); mode 0600 whatever the umask (it holds
        password hashes, sealed identity data and client addresses). ``record(sha256, size)`` runs
        (the command's record entry) before the copy takes ``dest``'s name: when it fails, the copy
        is removed and a backup already at ``dest`` is left as it was.
        """

        def copy() -> tuple[int, str, str, int]:
            _backup_room(self.path, dest)
            work = Path(tempfile.mkdtemp(prefix=".backup-", dir=self.path.parent))  # (0700)
            try:
                private = work / "copy.db"
                src = sqlite3.connect(self.path)
                try:
                    dst = sqlite3.connect(private)
                    try:
                        src.backup(dst)
                        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                    finally:
                        dst.close()
                finally:
                    src.close()
                return _write_partial(private, dest)
            finally:
                shutil.rmtree(work, ignore_errors=True)

        folder, tmp, digest, size = await asyncio.to_thread(copy)
        try:
            await record(digest, size)
            await asyncio.to_thread(_take_name, folder, tmp, dest.name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
            raise
        finally:
            os.close(folder)
        return digest

    def set_record_key(self, key: bytes) -> None:
        """The enforcement record's MAC key, known once the identity key store is open."""
        self._chain.key = key

    def record_head_known(self) -> tuple[int, str | None] | None:
        return self._chain.known_head()

    async def close(self) -> None:
        if self._ckpt_task is not None:
            self._ckpt_task.cancel()
            try:
                await self._ckpt_task
            except asyncio.CancelledError:
                pass
            self._ckpt_task = None
        self._closing = True  # what the index still lacks is indexed after the next start
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        for conn in (self.r, *self.scanners):
            if conn is not None:
                await conn.close()
        self.r = None
        self.scanners = []
        if self._ckpt is not None:
            if self.fatal_why is None:  # (else nothing more is written: the next start recovers the WAL)
                await self._ckpt.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._ckpt.close()
            self._ckpt = None
        if self._w is not None:
            detach(self._w)
            await self._w.close()
            self._w = None
        await self._close_hot()
        if self._claim is not None:
            self._claim.close()  # (closing the file lets the lock go)
            self._claim = None

    async def claim(self, cluster: str | None) -> None:
        """Refuse to serve a database file another running server serves: an exclusive ``flock``
        on ``<database>.lock`` for as long as this one runs (the kernel lets it go on any exit,
        ``kill -9`` included). Two servers on one file would each hand out the same seqs."""
        path = self.path.resolve()  # one lock file whatever link or relative path names the database
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115 (held while serving)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise StoreUnavailable(f"another qunguan server is running on {self.path}") from None
        self._claim = f

    async def _migrate(self) -> None:
        db = self._w
        assert db is not None
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL, checksum TEXT)"
        )
        columns = {r[1] for r in await db.execute_fetchall("PRAGMA table_info(schema_migrations)")}
        summed = "checksum" in columns  # (not: recorded by a version before checksums)
        rows = await db.execute_fetchall(f"SELECT version, {'checksum' if summed else 'NULL'} FROM schema_migrations")
        # Judged before anything is changed: a database refused is left exactly as it was.
        plan = plan_migrations({r[0]: r[1] for r in rows}, MIGRATIONS, f"the database {self.path}")
        if not summed:
            await db.execute("ALTER TABLE schema_migrations ADD COLUMN checksum TEXT")
        if plan.to_stamp:
            await db.execute("BEGIN IMMEDIATE")
            await db.executemany("UPDATE schema_migrations SET checksum = ? WHERE version = ?",
                                 [(sha, version) for version, sha in plan.to_stamp])
            await db.execute("COMMIT")
        if notice := upgrade_notice(plan, bool(rows), f"the database {self.path}"):
            log.info("%s", notice)
        for version, script in plan.to_apply:
            statements = _statements(script)
            await db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in statements:
                    await db.execute(stmt)
                if version in FILLS:
                    await FILLS[version](db)
                await db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (version, int(time.time() * 1000), checksum(script)),
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
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            if self._resync_due:
                await self._sync_on_thread()
            if self._searches:
                await self._catch_up_searches()
                continue
            if self._truncate_due and self.fatal_why is None:
                await self._until_synced()
                await self._truncate_wal()
            if self._worth_waiting_for_the_sync():
                await self._wake.wait()  # set by the sync's answer, or by the next write queued
                continue
            ops, raw, msgs, netlog = self.take()
            if ops or raw or msgs or netlog:
                self._last_batch = loop.time()
                self._commit_since = time.perf_counter()
                self._commit_size = (len(ops) + len(raw), len(msgs), len(netlog))
                try:
                    if ops or raw or self._hot is None:
                        # Settled after every hot batch before it (events stay in commit order).
                        await self._until_synced()
                        committed = self.batches
                        await self._commit_batch(db, ops, raw, msgs, netlog)
                        stored = self.batches > committed
                    else:
                        await self._until_synced(MAX_UNSYNCED - 1)
                        stored = await self._commit_hot(msgs, netlog)
                finally:
                    self._commit_since = None
                if stored and msgs:
                    self._note_unindexed(msgs)
                await self._index_work(busy=True)
                continue
            if self._closing:
                if self._unsynced:
                    await self._until_synced()  # nothing committed is left unsettled
                    continue
                if self._quiet_timer is not None:
                    self._quiet_timer.cancel()
                    self._quiet_timer = None
                return  # only once everything queued, even during close, is committed
            if self._idle_index_due(loop):
                await self._index_work(busy=False)
            else:
                await self._wake.wait()

    async def _commit_batch(
        self,
        db: aiosqlite.Connection,
        ops: list[Op],
        raw: list[tuple[WriteFn, asyncio.Future[Any]]],
        msgs: list[tuple[MessageRow, Done]],
        netlog: list[tuple[NetlogRow, Done]],
    ) -> None:
        """One transaction for the whole batch; every write that fails is rolled back alone.

        Each op runs in a savepoint of its own. Messages (with their media links
        and review items) and network-log rows go in with one ``executemany`` each;
        if one of those fails (a row, a link or an item that cannot be stored), that
        savepoint is rolled back and its rows are inserted one at a time (a message
        with its links and its item),
        so only the bad row fails. Only a failing
        COMMIT (the disk) fails the whole batch.
        """
        if self.fatal_why is not None:  # (set while the writer waited for the batches before it)
            self._fail_batch(ops, raw, msgs, netlog, self._failed())
            return
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        msg_errors: dict[int, BaseException] = {}
        log_errors: dict[int, BaseException] = {}
        committing = False
        self._chain.begin()
        try:
            await db.execute("BEGIN IMMEDIATE")
            for changes, audit, fut in ops:
                outcomes.append((fut, *await _in_savepoint(db, _apply_op(db, changes, audit))))
            for fn, rfut in raw:
                outcomes.append((rfut, *await _in_savepoint(db, fn(db))))
            if msgs:
                rows = [m[0] for m in msgs]
                sql, params, plain = _message_insert(rows)
                msg_errors = await _insert_rows(db, sql, params, None if plain else _beside(rows))
                last, days = activity.tally(rows, msg_errors)
                await db.executemany(_LAST_SEQ, [(seq, gid, seq) for gid, seq in last.items()])
                await db.executemany(activity.ADD, days)
            if netlog:
                log_errors = await _insert_rows(db, _INSERT_NETLOG, [n[0] for n in netlog])
            committing = True
            await db.execute("COMMIT")
        except Exception as exc:
            self._chain.begin()  # nothing it appended is in the record
            if disk_full(exc):
                _FULL_BATCH.log(log, logging.WARNING, "a batch could not be stored, the disk is full; %d changes "
                                "and %d messages refused", len(ops) + len(raw), len(msgs))
            elif not committing and self.unreachable(exc):
                _OUT_OF_REACH.log(log, logging.WARNING, "a batch could not be stored, the database is locked or "
                                  "unreadable (%s); %d changes and %d messages refused",
                                  exc, len(ops) + len(raw), len(msgs))
            else:
                log.exception("batch commit failed; %d ops and %d messages refused", len(ops), len(msgs))
            try:
                await db.execute("ROLLBACK")
            except Exception:
                pass
            if committing and not _rolled_back(exc):
                err = exc
                self._commit_failed(err, lambda: self._fail_batch(ops, raw, msgs, netlog, err))
                return
            self._fail_batch(ops, raw, msgs, netlog, exc)
            return
        if self.fatal_why is not None:
            # A WAL fsync failed while this commit ran: its own fsync may have succeeded without
            # writing the pages the failed one lost (see _sync_failed), so it is not known to be on disk.
            self._chain.begin()
            self._fail_batch(ops, raw, msgs, netlog, self._failed())
            return
        self._chain.committed()
        self._settle_batch(len(ops) + len(raw), outcomes, msgs, netlog, msg_errors, log_errors)

    async def _commit_hot(self, msgs: list[tuple[MessageRow, Done]], netlog: list[tuple[NetlogRow, Done]]) -> bool:
        """A batch of only message and network-log rows: committed on the hot connection without
        an fsync, and settled once the WAL sync helper (wal_sync) has fsynced the WAL after it.

        The same transaction as :meth:`_commit_batch` would run (``BEGIN IMMEDIATE``, rows in
        a savepoint with the row-by-row fallback, ``last_seq``, ``COMMIT``), on a second
        connection to the same WAL database. A batch of up to INLINE_ROWS rows runs right here
        on the loop (see INLINE_ROWS); a larger one, or one that finds the database locked by
        another process, runs on the hot thread. Batches never overlap (this task runs one at
        a time), so the two writer connections never wait for each other. The writer need not
        wait for the fsync: a burst commits meanwhile (_worth_waiting_for_the_sync, MAX_UNSYNCED),
        and the batches are settled in the order they committed. True if the batch committed.
        """
        assert self._hot is not None
        if self.fatal_why is not None:  # (set while the writer waited for a sync)
            self._fail_batch([], [], msgs, netlog, self._failed())
            return False
        loop = asyncio.get_running_loop()
        rows, logs = [m[0] for m in msgs], [n[0] for n in netlog]
        try:
            outcome = None
            if len(rows) + len(logs) <= INLINE_ROWS:
                outcome = _hot_transaction(self._hot, rows, logs, busy_ms=0)
            if outcome is None:
                outcome = await loop.run_in_executor(
                    self._hot_pool, _hot_transaction, self._hot, rows, logs, BUSY_MS)
            assert outcome is not None
        except Exception as exc:
            if disk_full(exc.error if isinstance(exc, _CommitFailed) else exc):
                _FULL_BATCH.log(log, logging.WARNING, "a batch could not be stored, the disk is full; %d messages "
                                "and %d log rows refused", len(msgs), len(netlog))
            else:
                log.exception("batch commit failed; %d messages and %d log rows refused", len(msgs), len(netlog))
            if isinstance(exc, _CommitFailed):
                err = exc.error
                if not _rolled_back(err):
                    self._commit_failed(err, lambda: self._fail_batch([], [], msgs, netlog, err))
                    return False
                exc = err
            self._fail_batch([], [], msgs, netlog, exc)
            return False
        if self.fatal_why is not None:  # a sync failed while it committed on the hot thread
            self._fail_batch([], [], msgs, netlog, self._failed())
            return True  # (committed all the same: in the WAL, never acknowledged)
        self.hot_batches += 1
        self._unsynced.append(_Unsynced(msgs, netlog, *outcome, self._commit_since))
        syncer = self._syncer
        if syncer is not None and syncer.usable and not self._resync_due:
            syncer.request(self._on_synced)
        else:
            self._resync_due = True  # synced on the hot thread at the writer's next turn
        return True

    def _worth_waiting_for_the_sync(self) -> bool:
        """Whether the rows queued should wait for the fsync in flight rather than commit now.

        A commit costs about as much CPU for one row as for several (60-90 us on a small
        machine), so a few rows trickling in while a sync runs are left to gather into the
        next batch, as without the helper; a burst of PIPELINE_ROWS or more (a sender's
        window) commits at once, so that its commit overlaps the sync.
        """
        if not self._unsynced or self._resync_due or self._closing or self._ops or self._raw:
            return False
        return 0 < len(self._msgs) + len(self._netlog) < PIPELINE_ROWS

    def _on_synced(self, err: BaseException | None) -> None:
        """The helper answered the oldest request: settle the oldest unsynced batch (or fail for good)."""
        if self.fatal_why is not None:
            return  # (a late answer: every batch it covered failed already)
        if isinstance(err, HelperLost):
            self._resync_due = True  # every batch still waiting is synced on the thread
            self._wake.set()
            return
        if err is None:
            batch = self._unsynced.popleft()
            self._settle_batch(0, [], batch.msgs, batch.netlog, batch.msg_errors, batch.log_errors, batch.started)
        else:
            self._sync_failed(err)
        self._wake.set()  # the writer may be waiting for this (_until_synced, _worth_waiting_for_the_sync)

    def _sync_failed(self, err: BaseException) -> None:
        """An fdatasync of the WAL failed: the store takes no more writes, and the process exits.

        Carrying on is not safe. The rows are committed, and readable from the page cache, so a
        retried send would find its "stored" copy and be acknowledged though it may never reach
        the disk. And on Linux a failed writeback leaves the lost pages marked clean: the next
        fsync succeeds without writing them, and a recovery stops at the first bad WAL frame, so
        every batch acknowledged after it could be lost in a crash. (PostgreSQL panics for the
        same reason.) So every batch waiting for a sync fails, the one that failed and those
        after it alike, and so does everything queued and every later write (_fail_for_good).
        """
        batches, self._unsynced = self._unsynced, deque()

        def fail_waiting() -> None:
            for batch in batches:
                self._fail_batch([], [], batch.msgs, batch.netlog, err, batch.started)

        msgs, rows = sum(len(b.msgs) for b in batches), sum(len(b.netlog) for b in batches)
        self._fail_for_good(f"fsync of the SQLite WAL {self._wal_path} failed ({err}); {msgs} messages and "
                            f"{rows} log rows waiting for it refused", fail_waiting)

    def _commit_failed(self, err: BaseException, fail_batch: Callable[[], None]) -> None:
        """A COMMIT failed other than by a full disk: the store takes no more writes, and the process exits.

        SQLite rolls the transaction back in this process, but what the WAL file holds is not
        known: a commit writes its frames, the last one marking the commit, and then (on the
        writer's connection, ``synchronous=FULL``) fsyncs the WAL and publishes the commit in the
        WAL index. An error after the commit frame is written (the fsync: ``SQLITE_IOERR_FSYNC``;
        the WAL index: ``SQLITE_IOERR_SHM*``) leaves a whole commit in the WAL, which the next
        open's recovery reads and applies, from the page cache or from the disk, while the writers
        here were told it failed and undid it in memory; and a failed fsync has the dangers
        _sync_failed describes. Only ``SQLITE_FULL`` is known to leave no commit behind (see
        :func:`_rolled_back`); any other error is taken as this, so the server restarts from what
        the disk holds. The hot batches committed before it and still waiting for their fsync
        fail first (never acknowledged: they may be on disk or not), then this batch
        (``fail_batch``), then everything queued."""
        batches, self._unsynced = self._unsynced, deque()

        def fail_unsettled() -> None:
            for batch in batches:
                self._fail_batch([], [], batch.msgs, batch.netlog, self._failed(), batch.started)
            fail_batch()

        self._fail_for_good(f"COMMIT of a batch on the SQLite database {self.path} failed ({err}): whether "
                            f"it is on disk is not known", fail_unsettled)

    async def _sync_on_thread(self) -> None:
        """Without the helper: fsync the WAL on the hot thread, then settle every batch waiting."""
        err: BaseException | None = None
        try:
            await asyncio.get_running_loop().run_in_executor(self._hot_pool, fdatasync_file, self._wal_path)
        except OSError as exc:
            err = SyncFailed(f"fdatasync of the WAL failed: {exc}")
        self._resync_due = False
        while self._unsynced and self.fatal_why is None:  # only this task commits: none was added meanwhile
            self._on_synced(err)

    async def _until_synced(self, at_most: int = 0) -> None:
        """Wait until no more than ``at_most`` committed hot batches wait for their fsync."""
        while len(self._unsynced) > at_most:
            if self._resync_due:
                await self._sync_on_thread()
                continue
            self._wake.clear()  # (what is queued meanwhile is taken by the writer's next turn anyway)
            await self._wake.wait()


class _ExportSnapshot(SqliteRecordReads, SqliteAccountMeasureReads):
    """The export reads (:class:`~server.storage.base.ExportReads`) on one connection in one read transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.r = conn

    async def _log_pages(self, sql: str, params: tuple[Any, ...], per_page: int) -> AsyncIterator[list[Any]]:
        """One statement's rows, read by a cursor ``per_page`` at a time: the connection and its read
        transaction are the export's own, so every page is of the snapshot's moment."""
        assert self.r is not None
        async with self.r.execute(sql, params) as cursor:
            while rows := await cursor.fetchmany(per_page):
                yield list(rows)

    async def group_export_netlog(self, people: list[str], since: int, until: int,
                                  per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(SQLITE_GROUP_NETLOG, (json.dumps(people), since, until), per_page):
            yield await rows_as_dicts(NETLOG_COLS, rows)

    async def export_account_comments(self, account_id: str, since: int, until: int,
                                      per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(ACCOUNT_EXPORT_COMMENTS, (account_id, since, until, since, until), per_page):
            yield await rows_as_dicts(COMMENT_COLS, rows)

    async def export_account_audit(self, account_id: str, since: int, until: int,
                                   per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(SQLITE_ACCOUNT_EXPORT_AUDIT, (account_id, account_id, since, until),
                                          per_page):
            yield await rows_as_dicts(AUDIT_COLS, rows)


class _CommitFailed(Exception):
    """The COMMIT of a hot batch failed with ``error`` (told apart from an error before it)."""

    def __init__(self, error: sqlite3.Error) -> None:
        super().__init__(str(error))
        self.error = error


def _free_bytes(path: Path) -> int | None:
    """The bytes this process may still write on the disk holding ``path``'s folder (None: unknown)."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _room(path: Path) -> str:
    """What a refused start adds when the disk is (nearly) full: SQLite then says "disk I/O error" as
    often as "database or disk is full" (the WAL's recovery fails first)."""
    free = _free_bytes(path)
    if free is None or free >= WAL_TRUNCATE_BYTES:
        return ""
    return f" (the disk holding it has only {free // 1024} KiB free: free some space and start again)"


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's ``SQLITE_FULL``: the disk (or a size limit) has no room for a write."""
    return isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL


def _rolled_back(exc: BaseException) -> bool:
    """Whether a COMMIT that failed with ``exc`` is known to have left nothing of its transaction.

    ``SQLITE_FULL``: a write of the WAL frames ran out of space (ENOSPC or a short write). The
    frame that marks the commit is the last one written, so it is missing or torn, and recovery
    ignores a WAL's tail after the last whole commit frame: the disk holds nothing of the batch,
    as this process does not, and the batch fails alone. Any other error may come after that
    frame (see SqliteStore._commit_failed)."""
    return disk_full(exc)


class _Unsynced(NamedTuple):
    """A hot batch committed to the WAL, not yet known to be on disk: nothing in it is settled."""

    msgs: list[tuple[MessageRow, Done]]
    netlog: list[tuple[NetlogRow, Done]]
    msg_errors: dict[int, BaseException]
    log_errors: dict[int, BaseException]
    started: float | None


def _connect(path: Path) -> aiosqlite.Connection:
    """``aiosqlite.connect`` in autocommit mode, its worker thread a daemon: a process that ends
    without closing the store (a crash, a failed test still holding it) must not wait forever at
    exit for threads nobody will stop. Nothing is lost that way: a commit is acknowledged only
    once it has returned, and SQLite rolls back one cut short."""
    conn = aiosqlite.connect(path, isolation_level=None)
    thread = getattr(conn, "_thread", None)  # aiosqlite starts it when the connection is awaited
    if thread is not None:
        thread.daemon = True
    return conn


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


def _hot_transaction(db: sqlite3.Connection, msgs: list[MessageRow], netlog: list[NetlogRow], busy_ms: int
                     ) -> tuple[dict[int, BaseException], dict[int, BaseException]] | None:
    """One batch of rows on the hot connection, committed (not yet fsynced) or rolled back whole.

    None, with nothing done, when another connection holds the write lock for longer than
    ``busy_ms`` (0 on the loop: never wait there; the caller goes to the hot thread).
    """
    db.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as err:
        if busy_ms == 0 and err.sqlite_errorcode in _BUSY_CODES:
            return None
        raise
    try:
        sql, params, plain = _message_insert(msgs)
        msg_errors = _insert_rows_now(db, sql, params, None if plain else _beside(msgs)) if msgs else {}
        last, days = activity.tally(msgs, msg_errors)
        if last:
            db.executemany(_LAST_SEQ, [(seq, gid, seq) for gid, seq in last.items()])
            db.executemany(activity.ADD, days)
        log_errors = _insert_rows_now(db, _INSERT_NETLOG, netlog) if netlog else {}
        try:
            db.execute("COMMIT")
        except sqlite3.Error as err:
            raise _CommitFailed(err) from err
    except BaseException:
        try:
            db.execute("ROLLBACK")
        except Exception:
            pass
        raise
    return msg_errors, log_errors


def _message_insert(rows: list[MessageRow]) -> tuple[str, list[Any], bool]:
    """The insert for a batch of messages, its parameter rows, and whether none has a v2 field
    or a review item (then nothing goes into another table beside the rows: :func:`_beside`).

    A batch in which no message has a reply, mentions, @all or attachments (most batches)
    binds only the first eight columns. The sqlite3 module binds a None through its adapter
    lookup, about 0.2 µs a value: the four unused v2 columns made the writer's insert about
    a third dearer (docs/benchmark.md, "Where the rest went").
    """
    for r in rows:
        if (r.reply_to is not None or r.mentions is not None or r.mention_all or r.attachments is not None
                or r.review is not None):
            return _INSERT_MESSAGE, [r[:_COLUMNS] for r in rows], False
    return _INSERT_PLAIN_MESSAGE, [r[:_PLAIN_COLUMNS] for r in rows], True


class _Beside(NamedTuple):
    """What each message of a batch stores in other tables, by the message's index, None for none:
    its media links' parameters (:data:`_INSERT_MEDIA`: group id, seq, attachments JSON) and its
    review item's (:data:`_INSERT_REVIEW`)."""

    links: list[tuple[str, int, str] | None]
    reviews: list[tuple[str, int, str, str, str, str, int] | None]

    def at_once(self) -> tuple[list[tuple[str, int, str]], list[tuple[str, int, str, str, str, str, int]]]:
        """Every message's links and items, for one ``executemany`` each."""
        return [p for p in self.links if p is not None], [p for p in self.reviews if p is not None]


def _beside(msgs: list[MessageRow]) -> _Beside:
    return _Beside(
        [None if row.attachments is None else (row.group_id, row.seq, row.attachments) for row in msgs],
        [None if (rv := row.review) is None else (row.group_id, row.seq, row.sender_id, rv.action, rv.category,
                                                  rv.term, row.ts) for row in msgs],
    )


def _insert_rows_now(db: sqlite3.Connection, sql: str, rows: list[Any], beside: _Beside | None = None
                     ) -> dict[int, BaseException]:
    """:func:`_insert_rows` on a plain connection: at once, else one by one, each in a savepoint."""
    db.execute("SAVEPOINT rows")
    try:
        db.executemany(sql, rows)
        if beside is not None:
            links, reviews = beside.at_once()
            if links:
                db.executemany(_INSERT_MEDIA, links)
            if reviews:
                db.executemany(_INSERT_REVIEW, reviews)
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
            if beside is not None:
                link, review = beside.links[i], beside.reviews[i]
                if link is not None:
                    db.execute(_INSERT_MEDIA, link)
                if review is not None:
                    db.execute(_INSERT_REVIEW, review)
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
    """Run ``work`` in a savepoint: (result, None), or (None, its error) with its writes undone
    (record entries it appended included: see server/storage/record_chain.py)."""
    chain = chain_of(db)
    mark = chain.mark() if chain is not None else 0
    await db.execute("SAVEPOINT op")
    try:
        result = await work
    except Exception as exc:
        await db.execute("ROLLBACK TO op")
        await db.execute("RELEASE op")
        if chain is not None:
            chain.undo_to(mark)
        return None, exc
    await db.execute("RELEASE op")
    return result, None


async def _insert_rows(db: aiosqlite.Connection, sql: str, rows: list[Any], beside: _Beside | None = None
                       ) -> dict[int, BaseException]:
    """Insert ``rows`` at once; if that fails, one by one. Returns {index: error} of the rows left out.

    ``beside``: each message row's media links and review item, inserted with it (in its
    savepoint when one by one), so a message whose links or item cannot be stored is left out
    alone, with them: a held or flagged message is never stored without its review item.
    """

    async def at_once() -> None:
        await db.executemany(sql, rows)
        if beside is not None:
            links, reviews = beside.at_once()
            if links:
                await db.executemany(_INSERT_MEDIA, links)
            if reviews:
                await db.executemany(_INSERT_REVIEW, reviews)

    async def one(i: int) -> None:
        await db.execute(sql, rows[i])
        if beside is not None:
            link, review = beside.links[i], beside.reviews[i]
            if link is not None:
                await db.execute(_INSERT_MEDIA, link)
            if review is not None:
                await db.execute(_INSERT_REVIEW, review)

    _, err = await _in_savepoint(db, at_once())
    if err is None:
        return {}
    log.warning("a batch insert failed (%r); inserting its %d rows one by one", err, len(rows))
    errors: dict[int, BaseException] = {}
    for i in range(len(rows)):
        _, err = await _in_savepoint(db, one(i))
        if err is not None:
            errors[i] = err
    return errors


