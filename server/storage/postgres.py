"""PostgreSQL store (asyncpg): one writer connection fed by a group-commit batcher, a small read pool.

Selected by ``storage.url = "postgresql://user@host:port/db"`` (or ``postgres://``).
The same behaviour as the SQLite store, in the same three kinds of call:

- **Group commit.** One writer task. Everything queued while the previous
  commit was in flight goes into the next transaction. A batch of only
  messages and network-log rows (the hot path) is *one statement, one round
  trip*: ``unnest`` of column arrays into ``messages`` and ``netlog`` and the
  groups' ``last_seq`` update, as data-modifying CTEs of a single
  auto-committed statement. A batch with changes is one transaction: each
  ``apply`` in a savepoint of its own, then that same statement in a savepoint.
- **A failed write fails alone.** A change that raises rolls back its own
  savepoint only. If the batched insert fails, its rows are inserted one at a
  time, each in its own savepoint, so only the bad row fails. A statement
  that waits for a lock longer than ``storage.lock_timeout_seconds`` (at most
  half of ``command_timeout_seconds``: a table locked by hand, a long
  migration of another node) fails its own change, not the batch around it;
  the batched insert failing so fails its rows at once (one at a time, each
  would wait as long again).
- **Never a false ack.** Callbacks run after COMMIT returned. If the server is
  unreachable the batch fails (callers answer ``internal``) and the writer
  reconnects for the next one.
- **Never a guess.** A batch waits at most ``storage.command_timeout_seconds``
  for its answer. One cut off (or timed out) once its COMMIT may have reached
  the database is settled by what the database holds, learned on a new
  connection; if that cannot be learned either, the store fails for good and
  the server exits (status 75) to load its memory from the database again.

Reads use a pool of their own (``asyncpg.create_pool``), never the writer's
connection. Migrations (``postgres_schema.py``) run at open under an advisory
lock, so nodes starting together apply each version once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from server.config import url_without_password
from server.storage import activity, search_fold
from server.storage.account_measures import COMMENT_COLS
from server.storage.base import (
    PROBE,
    BackupUnsupported,
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
from server.storage.postgres_account_measures import (
    PG_ACCOUNT_EXPORT_AUDIT,
    PG_ACCOUNT_EXPORT_COMMENTS,
    PostgresAccountMeasureReads,
)
from server.storage.postgres_changes import LOCK_MIGRATE, append_audit, apply_change
from server.storage.postgres_cluster import FENCED_SQLSTATE, OUT_OF_REACH, PostgresLeases, server_settings
from server.storage.postgres_indexing import PostgresSearchIndex
from server.storage.postgres_media import PostgresMediaReads
from server.storage.postgres_moderation import PostgresModerationReads
from server.storage.postgres_public import PostgresPublicReads, fill_name_readings
from server.storage.postgres_reads import GROUP_NETLOG, PostgresReads
from server.storage.postgres_schema import MIGRATIONS
from server.storage.postgres_search import PostgresSearchReads
from server.storage.queue import EXIT_OUTCOME_UNKNOWN, Op, WriteQueue
from server.storage.record_chain import RecordChain, attach, chain_of, detach
from server.storage.sqlite_records import AUDIT_COLS, NETLOG_COLS

if TYPE_CHECKING:
    from server.config import Config

log = logging.getLogger("qunguan.store")

# Migrations whose new rows are filled by code after their script, in their transaction (as SQLite's
# FILLS): version -> the fill.
FILLS: dict[int, Callable[[asyncpg.Connection], Awaitable[None]]] = {57: fill_name_readings}

WriteFn = Callable[[asyncpg.Connection], Awaitable[Any]]

CONNECT_TIMEOUT = 10.0  # seconds
COMMAND_TIMEOUT = 30.0  # seconds: storage.command_timeout_seconds's default
LOCK_TIMEOUT = 2.0  # seconds: storage.lock_timeout_seconds's default
READ_POOL_SIZE = 4

# The hot path's one statement: every queued message and network-log row, each group's last_seq
# and its count of messages per day (storage/activity.py), in one round trip (empty arrays insert
# nothing).
_BATCH = """
WITH m AS (
  INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text, client_msg_id, held,
                        reply_to, mentions, mention_all, attachments)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::integer[], $9::bigint[], $10::text[], $11::integer[], $12::text[])
  RETURNING group_id, seq, ts, attachments
), mm AS (
  INSERT INTO message_media (group_id, seq, media_id)
  SELECT m.group_id, m.seq, a ->> 'media_id' FROM m, jsonb_array_elements(m.attachments::jsonb) AS a
  RETURNING 1
), g AS (
  UPDATE groups SET last_seq = x.s
  FROM (SELECT group_id, max(seq) AS s FROM m GROUP BY group_id) AS x
  WHERE groups.group_id = x.group_id AND groups.last_seq < x.s
  RETURNING 1
), d AS (
  INSERT INTO group_daily (day, group_id, messages)
  SELECT (ts / 86400000)::integer, group_id, count(*) FROM m GROUP BY 1, 2
  ON CONFLICT (day, group_id) DO UPDATE SET messages = group_daily.messages + excluded.messages
  RETURNING 1
), n AS (
  INSERT INTO netlog (ts, kind, user_id, ip, detail)
  SELECT * FROM unnest($13::bigint[], $14::text[], $15::text[], $16::text[], $17::text[])
  RETURNING 1
)
SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM n)
"""
# The same for a cluster's home: the fence (``qunguan_fence_write``, postgres_cluster.py: it also
# counts the write, PostgreSQL migration 30) in the same statement, so the hot path stays one round
# trip. The main query reads it, so it always runs; if it raises, nothing of the statement stays.
_FENCED_BATCH = _BATCH.replace(
    "WITH m AS (", "WITH f AS MATERIALIZED (SELECT qunguan_fence_write($18, $19) AS ok), m AS (", 1
).replace("SELECT (SELECT count(*) FROM m),", "SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM m),", 1)
# A batch with held or flagged messages: the same statement, their review items (MessageRow.review)
# in it too, so each message is stored with its item or not at all. Its arrays come after the
# others (the fence's too, on a home); a batch without such a message keeps the statement above.
_REVIEWS = """, r AS (
  INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at)
  SELECT * FROM unnest(${0}::text[], ${1}::bigint[], ${2}::text[], ${3}::text[], ${4}::text[], ${5}::text[],
                       ${6}::bigint[])
  RETURNING 1
)
SELECT """


def _with_reviews(batch: str, first: int) -> str:
    """``batch`` inserting review items too, from parameters ``$first`` to ``$first + 6``."""
    head, sep, tail = batch.rpartition("\nSELECT ")
    assert sep
    return head + _REVIEWS.format(*range(first, first + 7)) + tail


_REVIEWED_BATCH = _with_reviews(_BATCH, 18)
_FENCED_REVIEWED_BATCH = _with_reviews(_FENCED_BATCH, 20)
_INSERT_MESSAGE = (
    "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text, client_msg_id, held,"
    " reply_to, mentions, mention_all, attachments) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)
# The media ids of a stored message's attachments (its JSON array of attachment objects).
_INSERT_MEDIA = (
    "INSERT INTO message_media (group_id, seq, media_id)"
    " SELECT $1, $2, a ->> 'media_id' FROM jsonb_array_elements($3::jsonb) AS a"
)
_LAST_SEQ = "UPDATE groups SET last_seq = $1 WHERE group_id = $2 AND last_seq < $1"
_INSERT_NETLOG = "INSERT INTO netlog (ts, kind, user_id, ip, detail) VALUES ($1, $2, $3, $4, $5)"
_INSERT_REVIEW = (
    "INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
)

_XID = "SELECT txid_current()"
_FENCE_XID = "SELECT qunguan_fence_write($1, $2), txid_current()"
_XID_STATUS = "SELECT txid_status($1)"
_BACKEND_START = "SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
# A backend is known by its pid and its start: a pid may be taken again by a later backend.
_BACKEND_ALIVE = "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2"
# Ended by pid and start in one statement: a pid looked up first and ended in a second round trip
# may meanwhile belong to another backend (the batch's gone, the pid taken again), which it would end.
_END_BACKEND = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2"
_MESSAGE_STORED = "SELECT 1 FROM messages WHERE group_id = $1 AND seq = $2 AND ts = $3 AND sender_id = $4"
# A network-log row has no key of its own: the same millisecond, kind, user, address and detail (a
# connection's rows carry its port) is taken as that row.
_NETLOG_STORED = ("SELECT 1 FROM netlog WHERE ts = $1 AND kind = $2 AND user_id IS NOT DISTINCT FROM $3"
                  " AND ip IS NOT DISTINCT FROM $4 AND detail = $5 LIMIT 1")
OUTCOME_ADVICE = ("PostgreSQL keeps every committed write, so nothing acknowledged is lost; if this repeats, "
                  "check the network path to PostgreSQL and its log.")


def _fenced(exc: BaseException) -> bool:
    return getattr(exc, "sqlstate", None) == FENCED_SQLSTATE


_CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.InterfaceError,
                      asyncpg.PostgresConnectionError, asyncpg.exceptions.AdminShutdownError,
                      asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.InternalClientError)


# What :meth:`PostgresStore.unreachable` counts as the database out of reach (a read cancelled or
# refused by the server too: a statement timeout, too many connections).
_UNREACHABLE = (ConnectionError, TimeoutError, *OUT_OF_REACH)
_NETWORK_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH,
                             errno.ENETUNREACH, errno.ETIMEDOUT, errno.EPIPE})


@backend("postgresql")
@backend("postgres")
def _from_config(cfg: Config) -> PostgresStore:
    return PostgresStore(cfg.storage.url, cfg.storage.command_timeout_seconds, cfg.storage.lock_timeout_seconds,
                         idle_in_transaction=cfg.cluster.lease_seconds if cfg.cluster.enabled else None)


def _batch_args(msgs: list[MessageRow], logs: list[NetlogRow]) -> tuple[list[list[Any]], list[list[Any]] | None]:
    """The batch statement's arrays: the messages' columns and the log rows', and the review items'
    columns, or None when no message has one (then the statement without them, :data:`_BATCH`)."""
    items: list[list[Any]] | None = None
    if msgs:
        *columns, reviews = zip(*msgs, strict=True)
        cols: list[list[Any]] = [list(col) for col in columns]
        if reviews.count(None) != len(reviews):  # (a C loop: nothing per message in Python)
            reviewed = [(r, r.review) for r in msgs if r.review is not None]
            items = [[r.group_id for r, _ in reviewed], [r.seq for r, _ in reviewed],
                     [r.sender_id for r, _ in reviewed], [i.action for _, i in reviewed],
                     [i.category for _, i in reviewed], [i.term for _, i in reviewed], [r.ts for r, _ in reviewed]]
    else:
        cols = [[] for _ in range(len(MessageRow._fields) - 1)]
    cols += [list(col) for col in zip(*logs, strict=True)] if logs else [[] for _ in range(5)]
    return cols, items


def _batch_statement(msgs: list[MessageRow], logs: list[NetlogRow], fence: tuple[Any, ...] | None
                     ) -> tuple[Any, ...]:
    """The batch statement and its arguments, for ``execute``: with the fence on a cluster's home,
    with the review items when a message of the batch has one."""
    cols, items = _batch_args(msgs, logs)
    if items is None:
        return (_BATCH, *cols) if fence is None else (_FENCED_BATCH, *cols, *fence)
    if fence is None:
        return _REVIEWED_BATCH, *cols, *items
    return _FENCED_REVIEWED_BATCH, *cols, *fence, *items


def _plain(exc: BaseException) -> BaseException:
    """asyncpg wraps a value it cannot encode (a lone surrogate) in DataError; give the caller the cause."""
    if isinstance(exc, asyncpg.DataError) and isinstance(exc.__cause__, UnicodeError):
        return exc.__cause__
    return exc


_HAS_CHECKSUMS = ("SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
                  " AND table_name = 'schema_migrations' AND column_name = 'checksum')")


class PostgresStore(WriteQueue, PostgresLeases, PostgresSearchIndex, PostgresPublicReads, PostgresAccountMeasureReads,
                    PostgresModerationReads, PostgresSearchReads, PostgresMediaReads, PostgresReads):
    def unreachable(self, err: BaseException) -> bool:
        """The link to the database failed or timed out, or the database refused or ended the work
        (see :meth:`Store.unreachable`): not a plain ``OSError`` (a file), nor asyncpg's misuse errors."""
        if isinstance(err, OSError) and not isinstance(err, (ConnectionError, TimeoutError)):
            return err.errno in _NETWORK_ERRNOS
        # (also the database refusing the write: a lock held past lock_timeout, or the fence of a home
        # whose lease another node took: a warning in one line, not a traceback per request)
        return isinstance(err, (*_UNREACHABLE, asyncpg.exceptions.LockNotAvailableError)) or _fenced(err)

    def storage_full(self, err: BaseException) -> bool:
        return isinstance(err, asyncpg.exceptions.DiskFullError)

    def __init__(self, url: str, command_timeout: float = COMMAND_TIMEOUT, lock_timeout: float = LOCK_TIMEOUT,
                 idle_in_transaction: float | None = None) -> None:
        self.url = url
        # A cluster's home frozen (SIGSTOP, a VM paused) inside a write transaction: its kernel keeps
        # the connection alive, so PostgreSQL kept the transaction, and its fence's lock on the lease
        # row, for as long as the freeze lasted, and no node could take the lease (a reviewer saw 11
        # minutes). PostgreSQL ends a transaction of the writer or the search index idle this long (a
        # lease: the time after which the home counts as gone anyway); None: no bound (a lone node).
        self.idle_in_transaction = idle_in_transaction
        self.shown_url = url_without_password(url)  # (for messages)
        self.command_timeout = command_timeout
        self.lock_timeout = lock_timeout
        self._locks_held_until = 0.0  # until when (monotonic) batches wait only briefly for locks: LockBudget
        self._w: asyncpg.Connection | None = None
        self._w_backend: tuple[int, Any] = (0, None)  # the writer connection's backend: (pid, backend_start)
        self.pool: asyncpg.Pool | None = None
        self._chain = RecordChain()  # the record key, and the last entry this process appended
        self._init_queue()
        self._init_index()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._cluster = False  # one of a cluster's nodes: it indexes search only while it is the home

    # -- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        """Connect, migrate, start the writer; :class:`StoreUnavailable` when the server cannot be used."""
        try:
            self._w = await self._connect()
            await self._migrate()
            if self.service is not None and not self.service_owned:
                await self._own_service(self._w)  # (a database without the table at the claim: see _claim)
            self.pool = await asyncpg.create_pool(self.url, min_size=1, max_size=READ_POOL_SIZE,
                                                  timeout=CONNECT_TIMEOUT, command_timeout=self.command_timeout,
                                                  server_settings=server_settings("qunguan reads"))
        except StoreUnavailable:  # (a database of another service: one line of its own)
            await self._close_connections()
            self.release_claim()
            raise
        except (*_CONNECTION_ERRORS, asyncpg.PostgresError, ValueError) as err:
            await self._close_connections()
            raise StoreUnavailable(f"the PostgreSQL database {self.shown_url} cannot be used: {err}") from None
        search_fold.fold_table()  # built now (about 10 ms, once a process), not in the first search
        self._task = asyncio.create_task(self._run(), name="store-writer")
        if not self._cluster:
            self._start_indexing()  # a lone node writes from its start (a cluster's home: set_fence)

    def set_fence(self, name: str, epoch: int) -> None:
        """See :meth:`PostgresLeases.set_fence`: this node is the cluster's home and writes from now
        on, so it indexes search too, beginning with what the previous home left."""
        super().set_fence(name, epoch)
        self._start_indexing()

    async def claim(self, cluster: str | None) -> None:
        """See :meth:`PostgresLeases._claim`; an unreachable server is one line, as in :meth:`open`."""
        self._cluster = cluster is not None
        try:
            await self._claim(cluster)
        except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as err:
            raise StoreUnavailable(f"the PostgreSQL database {self.shown_url} cannot be used: {err}") from None

    async def _stored_after_cut(self, backend: tuple[int, Any], xid: int | None,
                                row: MessageRow | NetlogRow | None) -> bool | None:
        """Whether a batch cut off (or timed out) once its COMMIT, or its one statement, may have
        reached the database is stored; None when that cannot be learned.

        Asked on a new connection, once the batch's backend (``backend``: its pid and start) has
        gone: until then it may still commit. It is asked to end (``pg_terminate_backend``): its
        client has given up on it, and a backend that does not notice its client gone (a link
        that drops packets without a reset) could stay for minutes. A batch with changes is known
        by its transaction id (``xid``), one of a single auto-committed statement by one of its
        rows (``row``: a message, or a network-log row when it has no message; the statement is
        all or nothing). The database may be restarting: the question is asked again until
        ``command_timeout`` has passed."""
        deadline = time.monotonic() + self.command_timeout
        why: BaseException | None = None
        while (left := deadline - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(left):
                    conn = await asyncpg.connect(self.url, timeout=left)
                    try:
                        return await _outcome(conn, backend, xid, row)
                    finally:
                        conn.terminate()
            except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                why = exc
                await asyncio.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
        log.error("could not learn within %g s whether a batch cut off before its answer was stored (%r)",
                  self.command_timeout, why)
        return None

    async def _connect(self) -> asyncpg.Connection:
        """The writer's connection (also the one that migrates at open)."""
        # (a change blocked on a lock fails alone: not the batch, whose own timeout it stays within)
        lock_wait_ms = int(min(self.lock_timeout, self.command_timeout / 2) * 1000)
        conn = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT, server_settings={
            **server_settings("qunguan writer", self.idle_in_transaction), "lock_timeout": str(lock_wait_ms)})
        try:
            self._w_backend = (conn.get_server_pid(), await conn.fetchval(_BACKEND_START, timeout=CONNECT_TIMEOUT))
        except BaseException:
            conn.terminate()
            raise
        attach(conn, self._chain)
        return conn

    async def _close_connections(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool = None
        if self._w is not None:
            detach(self._w)
            self._w.terminate()
            self._w = None

    async def _migrate(self) -> None:
        db = self._w
        assert db is not None
        # No lock_timeout here (the writer's, for batches): a node waits for another node's migration
        # to end, and a migration for the transactions on its tables, however long, as before it.
        await db.execute("SET lock_timeout = 0")
        # A session-level lock: nodes starting at once apply each version exactly once.
        await db.execute("SELECT pg_advisory_lock($1, 0)", LOCK_MIGRATE)
        try:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
            )
            summed = await db.fetchval(_HAS_CHECKSUMS)
            rows = await db.fetch(f"SELECT version, {'checksum' if summed else 'NULL'} FROM schema_migrations")
            # Judged before anything is changed: a database refused is left exactly as it was.
            plan = plan_migrations({r[0]: r[1] for r in rows}, MIGRATIONS, f"the database {self.shown_url}")
            if not summed:  # Added once, not at every start (an ALTER waits for every reader of the
                # table). A node of a version before checksums inserts two values: the third is left null.
                await db.execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum TEXT")
            if plan.to_stamp:
                await db.executemany("UPDATE schema_migrations SET checksum = $2 WHERE version = $1",
                                     plan.to_stamp)
            if notice := upgrade_notice(plan, bool(rows), f"the database {self.shown_url}"):
                log.info("%s", notice)
            for version, script in plan.to_apply:
                async with db.transaction():
                    await db.execute(script)
                    if version in FILLS:
                        await FILLS[version](db)
                    await db.execute("INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                                     version, int(time.time() * 1000), checksum(script))
                log.info("applied PostgreSQL schema migration %d", version)
        finally:
            await db.execute("SELECT pg_advisory_unlock($1, 0)", LOCK_MIGRATE)
            await db.execute("RESET lock_timeout")  # (the connection's own: storage.lock_timeout_seconds)

    async def ping(self) -> None:
        """A real write through the writer (:data:`PROBE`): proves the database takes writes now."""
        probe = JobRan(PROBE, int(time.time() * 1000))

        async def write(db: asyncpg.Connection) -> None:
            await apply_change(db, probe)

        await self.run_in_batch(write)

    async def backup(self, dest: Path, record: Callable[[str, int], Awaitable[None]]) -> str:
        raise BackupUnsupported(
            f"back up a PostgreSQL store with PostgreSQL's own tools, e.g. pg_dump --format=custom "
            f"--file={dest} {self.shown_url} (or continuous archiving for point-in-time recovery)"
        )

    def set_record_key(self, key: bytes) -> None:
        """The enforcement record's MAC key, known once the identity key store is open."""
        self._chain.key = key

    def record_head_known(self) -> tuple[int, str | None] | None:
        return self._chain.known_head()

    @contextlib.asynccontextmanager
    async def export_snapshot(self) -> AsyncIterator[ExportReads]:
        # Repeatable read: every statement of the transaction sees the snapshot of its first one.
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.fetchval("SELECT 1")  # the snapshot: taken now
            yield _ExportSnapshot(conn)

    async def close(self) -> None:
        await self._stop_indexing()
        await self.close_leases()
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        if self._w is not None:
            detach(self._w)
            await self._w.close()
            self._w = None
        self.release_claim()  # last: a replacement may start once everything above is committed

    # -- writes ------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not self.queued():
                if self._closing:
                    return  # only once everything queued, even during close, is committed
                await self._wake.wait()
            self._wake.clear()
            ops, raw, msgs, netlog = self.take()
            if not (ops or raw or msgs or netlog):
                continue
            self._commit_since = time.perf_counter()
            self._commit_size = (len(ops) + len(raw), len(msgs), len(netlog))
            try:
                await self._commit(ops, raw, msgs, netlog)
            finally:
                self._commit_since = None

    def _saw_a_held_lock(self) -> None:
        """A write waited its whole ``lock_timeout`` in vain: the batches of the next
        ``lock_timeout`` wait for locks only briefly (:class:`LockBudget`)."""
        self._locks_held_until = time.monotonic() + self.lock_timeout

    async def _commit(
        self,
        ops: list[Op],
        raw: list[tuple[WriteFn, asyncio.Future[Any]]],
        msgs: list[tuple[MessageRow, Done]],
        netlog: list[tuple[NetlogRow, Done]],
    ) -> None:
        """Commit one batch and settle every caller: each after the commit, or with its own error.

        The batch gets ``command_timeout`` to be answered. Cut off or timed out before its COMMIT
        (or its one statement) was sent, it is not stored (the database rolls back what it never
        was told to commit) and fails. Once that may have reached the database, the database is
        asked what it holds (:meth:`_stored_after_cut`); if it cannot say, the store fails for good
        (exit status 75): the callers' undo would guess, and a guess either way could leave memory
        without a change the database holds or with one it does not.
        """
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        msg_errors: dict[int, BaseException] = {}
        log_errors: dict[int, BaseException] = {}
        xid: int | None = None  # the transaction of a batch with changes, to learn its fate if cut off
        probe: MessageRow | NetlogRow | None = None  # a row of a one-statement batch, to learn its fate if cut off
        sent = False  # the COMMIT, or the batch's one statement, may have reached the database
        backend = (0, None)
        self._chain.begin()
        try:
            if self._w is None or self._w.is_closed():
                if self._w is not None:
                    detach(self._w)
                self._w = await self._connect()  # the previous connection was lost: a fresh one
            db = self._w
            backend = self._w_backend
            rows = [m[0] for m in msgs], [n[0] for n in netlog]
            fence = self.fence  # a cluster's home: nothing is written once another node took over
            # Not one await on the connection after a timeout: asyncpg would wait for the answer
            # to its cancel request first, on a link that may never answer (the connection is
            # dropped below instead, and with it the transaction, unless it was committed).
            async with asyncio.timeout(self.command_timeout):
                # While a table is known held (:class:`LockBudget`), even a batch of rows alone takes
                # the transaction's path: its one statement would wait the whole lock_timeout again.
                short = time.monotonic() < self._locks_held_until
                if not ops and not raw and not short:
                    probe = msgs[0][0] if msgs else netlog[0][0] if netlog else None
                    try:  # one statement: its own transaction
                        sent = True
                        await db.execute(*_batch_statement(*rows, fence))
                    except _CONNECTION_ERRORS:
                        raise
                    except Exception as exc:
                        if isinstance(exc, asyncpg.LockNotAvailableError):  # the next batches wait briefly
                            self._saw_a_held_lock()
                        if db.is_closed() or _fenced(exc) or isinstance(exc, asyncpg.LockNotAvailableError):
                            raise  # (a table held locked is no bad row: each row alone would wait again)
                        sent = False  # answered with an error: nothing of it stays
                        log.warning("a batch insert failed (%r); inserting its rows one by one", exc)
                        probe = None  # one by one, rows may be left out: its transaction id tells the batch's fate
                        tr = db.transaction()
                        await tr.start()
                        if fence is None:
                            xid = await db.fetchval(_XID)
                        else:
                            xid = (await db.fetchrow(_FENCE_XID, *fence))[1]
                        msg_errors, log_errors = await _rows_one_by_one(db, *rows)
                        sent = True
                        await tr.commit()
                else:
                    tr = db.transaction()
                    await tr.start()
                    if fence is None:
                        xid = await db.fetchval(_XID)
                    else:
                        xid = (await db.fetchrow(_FENCE_XID, *fence))[1]
                    budget = LockBudget(time.monotonic() + self.command_timeout / 2, short=short)
                    msg_errors, log_errors = await _in_transaction(db, ops, raw, rows, outcomes, budget)
                    if budget.hit:  # a table is held: the next batches wait for it only briefly, a while
                        self._saw_a_held_lock()
                    sent = True
                    await tr.commit()
        except Exception as exc:
            if self._w is not None:  # in an unknown state (a transaction left open, a cancel pending): a new one next
                detach(self._w)
                self._w.terminate()
                self._w = None
            if sent and isinstance(exc, _CONNECTION_ERRORS):  # (a timeout included)
                stored = await self._stored_after_cut(backend, xid, probe)
                if stored:
                    # The COMMIT (or the one statement) reached the database and the answer did
                    # not come back: the batch is stored, so its callers are told so (their undo
                    # would otherwise take out of memory what the database holds).
                    log.warning("the connection was lost after the batch was stored (%r)", exc)
                    self._chain.committed()
                    self._note_unindexed(msgs, msg_errors)
                    self._settle_batch(len(ops) + len(raw), outcomes, msgs, netlog, msg_errors, log_errors)
                    return
                if stored is None:
                    self._fail_for_good(
                        f"PostgreSQL {self.shown_url} did not answer a batch of {len(ops) + len(raw)} changes, "
                        f"{len(msgs)} messages and {len(netlog)} log rows ({exc!r}), and whether it was "
                        f"stored could not be learned",
                        lambda: self._fail_batch(ops, raw, msgs, netlog, self._failed()),
                        status=EXIT_OUTCOME_UNKNOWN, advice=OUTCOME_ADVICE)
                    return
            log.error("batch commit failed (%r); %d ops, %d messages and %d log rows refused",
                      exc, len(ops) + len(raw), len(msgs), len(netlog))
            if _fenced(exc):  # before the callers' undos run: they must not remove shared files
                self.lost_fence()
            self._chain.begin()  # nothing it appended is in the record
            self._fail_batch(ops, raw, msgs, netlog, exc)
            return
        self._chain.committed()
        if msgs:
            self._note_unindexed(msgs, msg_errors)
        self._settle_batch(len(ops) + len(raw), outcomes, msgs, netlog, msg_errors, log_errors)


async def _outcome(conn: asyncpg.Connection, backend: tuple[int, Any], xid: int | None,
                   row: MessageRow | NetlogRow | None) -> bool:
    """:meth:`PostgresStore._stored_after_cut` on ``conn``: end the batch's backend, wait until it
    has gone (its outcome is final then), and look."""
    pid, started = backend
    ended = False
    while await conn.fetchval(_BACKEND_ALIVE, pid, started):
        if not ended:
            ended = True
            try:
                await conn.fetchval(_END_BACKEND, pid, started)
            except asyncpg.PostgresError as exc:  # (not allowed: it ends once it notices its client gone)
                log.warning("could not end the backend of a batch cut off before its answer (%r)", exc)
        await asyncio.sleep(0.05)
    if xid is not None:
        return bool(await conn.fetchval(_XID_STATUS, xid) == "committed")
    if isinstance(row, NetlogRow):
        return await conn.fetchval(_NETLOG_STORED, *row) is not None
    assert row is not None
    return await conn.fetchval(_MESSAGE_STORED, row.group_id, row.seq, row.ts, row.sender_id) is not None


async def _in_transaction(
    db: asyncpg.Connection,
    ops: list[Op],
    raw: list[tuple[WriteFn, asyncio.Future[Any]]],
    rows: tuple[list[MessageRow], list[NetlogRow]],
    outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]],
    budget: LockBudget,
) -> tuple[dict[int, BaseException], dict[int, BaseException]]:
    """A batch inside the caller's transaction: each op in a savepoint of its own, then the rows in
    one more (one by one if that fails). Returns the rows' errors by index (messages, log rows)."""
    left = len(ops) + len(raw) + 1
    for changes, audit, fut in ops:
        await budget.before(db, left)
        outcomes.append((fut, *await budget.after(_in_savepoint(db, _apply_op(db, changes, audit)))))
        left -= 1
    for fn, rfut in raw:
        await budget.before(db, left)
        outcomes.append((rfut, *await budget.after(_in_savepoint(db, fn(db)))))
        left -= 1
    if rows[0] or rows[1]:
        await budget.before(db, left)
        _, err = await _in_savepoint(db, db.execute(*_batch_statement(*rows, None)))
        if budget.saw(err):
            # Not a bad row: a table held locked. Each row alone would wait as long again. It opens
            # (or renews) the short-wait window, as a change's does.
            log.warning("a batch insert waited too long for a lock (%r); its rows fail", err)
            assert err is not None
            return dict.fromkeys(range(len(rows[0])), err), dict.fromkeys(range(len(rows[1])), err)
        if err is not None:
            log.warning("a batch insert failed (%r); inserting its rows one by one", err)
            return await _rows_one_by_one(db, *rows)
    return {}, {}


SHORT_LOCK_WAIT = 0.1  # seconds: a change's lock wait while a table is known to be held (see LockBudget)


class LockBudget:
    """How long the rest of a batch may still wait for locks. Each change may wait
    ``storage.lock_timeout_seconds`` (the writer's ``lock_timeout``) until one of them has waited
    that long in vain; from then on (and in every batch that starts while the store has seen such a
    wait lately: ``short`` at the start) each change waits :data:`SHORT_LOCK_WAIT` at most, and the
    changes left never more than their share of what is left of half the batch's
    ``command_timeout`` (``SET LOCAL``, between savepoints). So changes blocked on a table held
    locked fail alone, each, without holding up for long the messages and changes batched with them,
    and the batch ends in time for the others to be stored."""

    __slots__ = ("deadline", "short", "hit", "_set")

    def __init__(self, deadline: float, short: bool = False) -> None:
        self.deadline = deadline  # time.monotonic()
        self.short = short  # waits are short: a change waited its whole lock_timeout in vain
        self.hit = False  # a change of this batch failed so (the store remembers it for a while)
        self._set = 0  # the lock_timeout this transaction has now (ms; 0: the connection's own)

    async def before(self, db: asyncpg.Connection, left: int) -> None:
        if self.short:
            share = max(0.0, self.deadline - time.monotonic()) / max(left, 1)
            ms = max(1, int(min(share, SHORT_LOCK_WAIT) * 1000))  # (0 would be no timeout at all)
            if ms != self._set:
                await db.execute(f"SET LOCAL lock_timeout = {ms}")
                self._set = ms

    async def after(self, done: Awaitable[tuple[Any, BaseException | None]]) -> tuple[Any, BaseException | None]:
        result, err = await done
        self.saw(err)
        return result, err

    def saw(self, err: BaseException | None) -> bool:
        """Whether ``err`` is a lock waited for in vain; from then on this batch's waits are short."""
        if isinstance(err, asyncpg.LockNotAvailableError):
            self.short = self.hit = True
            return True
        return False


async def _apply_op(db: asyncpg.Connection, changes: tuple[Change, ...], audit: Audit | None) -> list[Any]:
    results = [await apply_change(db, c) for c in changes]
    if audit is not None:
        await append_audit(db, audit)
    return results


async def _in_savepoint(db: asyncpg.Connection, work: Awaitable[Any]) -> tuple[Any, BaseException | None]:
    """Run ``work`` in a savepoint: (result, None), or (None, its error) with its writes undone.

    A lost connection is not a failed write: it propagates and fails the batch. Record entries a
    rolled-back ``work`` appended are forgotten with it (server/storage/record_chain.py).
    """
    chain = chain_of(db)
    mark = chain.mark() if chain is not None else 0
    sp = db.transaction()
    try:
        await sp.start()
    except BaseException:
        getattr(work, "close", lambda: None)()  # (a coroutine never started: no "never awaited" warning)
        raise
    try:
        result = await work
    except _CONNECTION_ERRORS:
        raise
    except Exception as exc:
        await sp.rollback()
        if chain is not None:
            chain.undo_to(mark)
        return None, _plain(exc)
    await sp.commit()
    return result, None


async def _insert_message(db: asyncpg.Connection, row: MessageRow) -> None:
    """One message with its media links and its review item (in the caller's savepoint: all or none)."""
    await db.execute(_INSERT_MESSAGE, *row[:-1])
    if row.attachments is not None:
        await db.execute(_INSERT_MEDIA, row.group_id, row.seq, row.attachments)
    if row.review is not None:
        await db.execute(_INSERT_REVIEW, row.group_id, row.seq, row.sender_id, *row.review, row.ts)


async def _rows_one_by_one(
    db: asyncpg.Connection, msgs: list[MessageRow], logs: list[NetlogRow]
) -> tuple[dict[int, BaseException], dict[int, BaseException]]:
    """Insert each row in a savepoint of its own (inside the caller's transaction); {index: error} of the bad."""
    msg_errors: dict[int, BaseException] = {}
    for i, row in enumerate(msgs):
        _, err = await _in_savepoint(db, _insert_message(db, row))
        if err is not None:
            msg_errors[i] = err
    last, days = activity.tally(msgs, msg_errors)
    if last:
        await db.executemany(_LAST_SEQ, [(seq, gid) for gid, seq in last.items()])
        await db.executemany(activity.PG_ADD, days)
    log_errors: dict[int, BaseException] = {}
    for i, nrow in enumerate(logs):
        _, err = await _in_savepoint(db, db.execute(_INSERT_NETLOG, *nrow))
        if err is not None:
            log_errors[i] = err
    return msg_errors, log_errors


class _ExportSnapshot(PostgresAccountMeasureReads):
    """The export reads (:class:`~server.storage.base.ExportReads`) on one connection in one
    repeatable-read transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.pool = None
        self._conn = conn

    async def _fetchall(self, sql: str, *params: Any) -> list[Any]:
        return list(await self._conn.fetch(sql, *params))

    async def _fetchone(self, sql: str, *params: Any) -> Any:
        return await self._conn.fetchrow(sql, *params)

    async def _log_pages(self, sql: str, params: tuple[Any, ...], per_page: int) -> AsyncIterator[list[Any]]:
        """One statement's rows, read by a cursor ``per_page`` at a time, in the snapshot's
        repeatable-read transaction: every page is of the snapshot's moment."""
        cursor = await self._conn.cursor(sql, *params)
        while rows := await cursor.fetch(per_page):
            yield rows

    async def group_export_netlog(self, people: list[str], since: int, until: int,
                                  per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(GROUP_NETLOG, (people, since, until), per_page):
            yield await rows_as_dicts(NETLOG_COLS, rows)

    async def export_account_comments(self, account_id: str, since: int, until: int,
                                      per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(PG_ACCOUNT_EXPORT_COMMENTS, (account_id, since, until, since, until),
                                          per_page):
            yield await rows_as_dicts(COMMENT_COLS, rows)

    async def export_account_audit(self, account_id: str, since: int, until: int,
                                   per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(PG_ACCOUNT_EXPORT_AUDIT, (account_id, since, until), per_page):
            yield await rows_as_dicts(AUDIT_COLS, rows)
