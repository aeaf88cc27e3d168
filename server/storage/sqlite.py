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
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

import aiosqlite

from server.storage.schema import MIGRATIONS

log = logging.getLogger("qunguan.store")

WriteFn = Callable[[aiosqlite.Connection], Awaitable[Any]]
MessageRow = tuple[str, int, int, str, str, str, str | None, int]  # gid, seq, ts, sender, role, text, cmid, held
Done = Callable[[BaseException | None], None]

CHECKPOINT_INTERVAL = 1.0  # seconds

_INSERT_MESSAGE = (
    "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text, client_msg_id, held)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._w: aiosqlite.Connection | None = None
        self.r: aiosqlite.Connection | None = None
        self._ops: list[tuple[WriteFn, asyncio.Future]] = []
        self._msgs: list[tuple[MessageRow, Done]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self._ckpt: aiosqlite.Connection | None = None
        self._ckpt_task: asyncio.Task | None = None
        self._ckpt_at = 0
        self.batches = 0
        self.batched_messages = 0

    # -- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._w = await aiosqlite.connect(self.path, isolation_level=None)
        await self._w.execute("PRAGMA journal_mode=WAL")
        await self._w.execute("PRAGMA synchronous=FULL")
        await self._w.execute("PRAGMA busy_timeout=5000")
        # Checkpoints fsync the database file; done inside a commit they would stall
        # every ack behind them, so the writer never checkpoints: a connection of
        # its own does, in the background (see _checkpoints).
        await self._w.execute("PRAGMA wal_autocheckpoint=0")
        await self._migrate()
        self.r = await aiosqlite.connect(self.path, isolation_level=None)
        await self.r.execute("PRAGMA busy_timeout=5000")
        await self.r.execute("PRAGMA query_only=1")
        self._ckpt = await aiosqlite.connect(self.path, isolation_level=None)
        await self._ckpt.execute("PRAGMA busy_timeout=5000")
        self._task = asyncio.create_task(self._run(), name="store-writer")
        self._ckpt_task = asyncio.create_task(self._checkpoints(), name="store-checkpoints")

    async def _checkpoints(self) -> None:
        """Move committed WAL pages into the database file without blocking the writer."""
        assert self._ckpt is not None
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            if self.batches == self._ckpt_at:
                continue
            self._ckpt_at = self.batches
            try:
                await self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:
                log.warning("WAL checkpoint failed; will retry", exc_info=True)

    async def close(self) -> None:
        if self._ckpt_task is not None:
            self._ckpt_task.cancel()
            try:
                await self._ckpt_task
            except asyncio.CancelledError:
                pass
            self._ckpt_task = None
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
            await self._w.close()
            self._w = None

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
            code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
            statements = [s.strip() for s in code.split(";") if s.strip()]
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
    def append_message(self, row: MessageRow, done: Done) -> None:
        """Queue a message insert; ``done(None)`` runs after its commit, ``done(exc)`` on failure."""
        self._msgs.append((row, done))
        self._wake.set()

    def write(self, fn: WriteFn) -> Awaitable[Any]:
        """Run ``fn(db)`` inside the next batch's transaction (in its own savepoint).

        The returned awaitable resolves after the commit with ``fn``'s result,
        or raises what ``fn`` raised (its statements rolled back) or what the
        commit raised.
        """
        fut = asyncio.get_running_loop().create_future()
        self._ops.append((fn, fut))
        self._wake.set()
        return fut

    async def _run(self) -> None:
        db = self._w
        assert db is not None
        while True:
            if not (self._ops or self._msgs):
                if self._closing:
                    return  # only once everything queued, even during close, is committed
                await self._wake.wait()
            self._wake.clear()
            ops, self._ops = self._ops, []
            msgs, self._msgs = self._msgs, []
            if ops or msgs:
                await self._commit_batch(db, ops, msgs)

    async def _commit_batch(
        self,
        db: aiosqlite.Connection,
        ops: list[tuple[WriteFn, asyncio.Future]],
        msgs: list[tuple[MessageRow, Done]],
    ) -> None:
        outcomes: list[tuple[asyncio.Future, Any, BaseException | None]] = []
        try:
            await db.execute("BEGIN IMMEDIATE")
            for fn, fut in ops:
                await db.execute("SAVEPOINT op")
                try:
                    result = await fn(db)
                except Exception as exc:  # the op's own failure: undo it alone
                    await db.execute("ROLLBACK TO op")
                    await db.execute("RELEASE op")
                    outcomes.append((fut, None, exc))
                else:
                    await db.execute("RELEASE op")
                    outcomes.append((fut, result, None))
            if msgs:
                await db.executemany(_INSERT_MESSAGE, [m[0] for m in msgs])
                last: dict[str, int] = {}
                for row, _ in msgs:
                    last[row[0]] = row[1]
                await db.executemany(
                    "UPDATE groups SET last_seq = ? WHERE group_id = ? AND last_seq < ?",
                    [(seq, gid, seq) for gid, seq in last.items()],
                )
            await db.execute("COMMIT")
        except Exception as exc:
            log.exception("batch commit failed; %d ops and %d messages refused", len(ops), len(msgs))
            try:
                await db.execute("ROLLBACK")
            except Exception:
                pass
            for _, fut in ops:
                if not fut.done():
                    fut.set_exception(exc)
            for _, done in msgs:
                done(exc)
            return
        self.batches += 1
        self.batched_messages += len(msgs)
        for fut, result, exc in outcomes:
            if fut.done():
                continue
            if exc is None:
                fut.set_result(result)
            else:
                fut.set_exception(exc)
        for _, done in msgs:
            try:
                done(None)
            except Exception:
                log.exception("post-commit callback failed")

    # -- reads -------------------------------------------------------------
    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        assert self.r is not None
        return list(await self.r.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None
