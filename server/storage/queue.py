"""The write queue every backend's group-commit writer drains: the same for SQLite and PostgreSQL.

Callers queue without awaiting; the backend's writer task takes everything
queued since its last batch (:meth:`WriteQueue.take`) and commits it as one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from protocol.errors import ContractError
from server.storage.base import CommitObserver, Done, MessageRow, NetlogRow, StoreFailed
from server.storage.changes import Audit, Change

Op = tuple[tuple[Change, ...], Audit | None, "asyncio.Future[list[Any]]"]
Raw = tuple[Any, "asyncio.Future[Any]"]  # (a backend-specific function of the connection, its future)

log = logging.getLogger("qunguan.store")

# The exit statuses of a server whose store failed for good (server/app.py: run; docs/operations.md).
EXIT_STORE_FAILED = 74  # EX_IOERR: the disk (SQLite: an fsync of the WAL or a COMMIT failed)
EXIT_OUTCOME_UNKNOWN = 75  # EX_TEMPFAIL: PostgreSQL did not tell whether a batch committed; a restart reloads
DISK_ADVICE = ("Check the disk and its kernel log (dmesg) before starting it again; if the disk is failing, "
               "restore from a backup onto a sound one.")


class WriteQueue:
    def _init_queue(self) -> None:
        self._ops: list[Op] = []
        self._raw: list[Raw] = []
        self._msgs: list[tuple[MessageRow, Done]] = []
        self._netlog: list[tuple[NetlogRow, Done]] = []
        self._wake = asyncio.Event()
        self._commit_since: float | None = None  # set by the writer while a batch commits
        self._commit_size = (0, 0, 0)  # (ops, messages, log rows) of that batch
        self._observer: CommitObserver | None = None
        self.batches = 0
        self.batched_messages = 0
        # A cluster's home whose write the fence refused (server/storage/postgres_cluster.py): another
        # node serves the database now. Nothing shared (a media file) is removed on this node's word
        # any more: the media cleanup's orphan sweep stops (server/media/cleanup.py).
        self.fenced_out = False
        # Changes (``apply``) that failed other than by a contract refusal (a change's re-check): a
        # write that may have left memory ahead of the store. The freeze upkeep reads the store again
        # at once when this grew (server/operator/freeze_upkeep.py).
        self.failed_writes = 0
        # Set for good when the store can no longer tell what it holds (SQLite: an fsync of the WAL
        # or a COMMIT failed; PostgreSQL: whether a batch cut off at its COMMIT committed could not
        # be learned; see _fail_for_good): no write is acknowledged or even committed from then on,
        # and the server process exits at once with ``fatal_status`` (server/app.py: run),
        # crash-only, so that it starts again from what the store holds. ``fatal_why`` says what
        # happened.
        self.fatal = asyncio.Event()
        self.fatal_why: str | None = None
        self.fatal_status = EXIT_STORE_FAILED

    def append_message(self, row: MessageRow, done: Done) -> None:
        """Queue a message insert; ``done(None)`` runs after its commit, ``done(exc)`` on failure."""
        if self.fatal_why is not None:
            self._refuse(done)
            return
        self._msgs.append((row, done))
        self._wake.set()

    def log_network(self, row: NetlogRow, done: Done) -> None:
        if self.fatal_why is not None:
            self._refuse(done)
            return
        self._netlog.append((row, done))
        self._wake.set()

    def apply(self, *changes: Change, audit: Audit | None = None) -> asyncio.Future[list[Any]]:
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        if self.fatal_why is not None:
            fut.set_exception(self._failed())
            return fut
        self._ops.append((changes, audit, fut))
        self._wake.set()
        return fut

    def run_in_batch(self, fn: Any) -> asyncio.Future[Any]:
        """Run ``fn(connection)`` in the next batch's transaction, in its own savepoint (tests use it)."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fatal_why is not None:
            fut.set_exception(self._failed())
            return fut
        self._raw.append((fn, fut))
        self._wake.set()
        return fut

    # -- a store that takes no more writes ------------------------------------------------
    def _fail_for_good(self, why: str, unsettled: Callable[[], None] | None = None, *,
                       status: int = EXIT_STORE_FAILED, advice: str = DISK_ADVICE) -> None:
        """The store can no longer tell what it holds: refuse every write queued and every later one.

        ``unsettled`` fails what the backend has committed and not settled (SQLite's batches
        waiting for their fsync, a batch whose outcome is unknown), before what is queued behind
        it, so writes fail in the order they came. Nothing is acknowledged that is not known to be
        stored; the process is then ended by ``run`` (server/app.py), which waits on :attr:`fatal`,
        with ``status``. ``advice``: what the operator should check, for the CRITICAL line.
        """
        if self.fatal_why is not None:
            # Failed already (a WAL fsync, while this batch committed on the hot thread): what this
            # second failure found unsettled is failed all the same, or its writers never heard.
            if unsettled is not None:
                unsettled()
            return
        self.fatal_why = why
        self.fatal_status = status
        log.critical("%s. The store takes no more writes and the server exits (status %d) so that it "
                     "restarts from what the store holds: writes not acknowledged may or may not be stored. "
                     "%s", why, status, advice)
        if unsettled is not None:
            unsettled()
        ops, raw, msgs, netlog = self.take()
        if ops or raw or msgs or netlog:
            self._fail_batch(ops, raw, msgs, netlog, self._failed())
        self.fatal.set()
        self._wake.set()

    def _failed(self) -> StoreFailed:
        return StoreFailed(f"the store takes no more writes: {self.fatal_why}")

    def _refuse(self, done: Done) -> None:
        """A row offered once the store takes no more writes: ``done`` fails, soon (never inside the caller)."""
        asyncio.get_running_loop().call_soon(call_done, done, self._failed())

    def queued(self) -> int:
        return len(self._ops) + len(self._raw) + len(self._msgs) + len(self._netlog)

    def take(self) -> tuple[list[Op], list[Raw], list[tuple[MessageRow, Done]], list[tuple[NetlogRow, Done]]]:
        """Everything queued since the last call (and the queue left empty)."""
        ops, self._ops = self._ops, []
        raw, self._raw = self._raw, []
        msgs, self._msgs = self._msgs, []
        netlog, self._netlog = self._netlog, []
        return ops, raw, msgs, netlog

    # -- what the writer is doing (for the loop monitor and metrics) ----------------------
    def set_commit_observer(self, observer: CommitObserver | None) -> None:
        self._observer = observer

    def _observe(self, ops: int, msgs: int, logs: int, ok: bool, started: float | None = None) -> None:
        """Report a settled batch; ``started``: when its commit began (default: the one running)."""
        since = self._commit_since if started is None else started
        if self._observer is None or since is None:
            return
        try:
            self._observer(ops, msgs, logs, time.perf_counter() - since, ok)
        except Exception:
            log.exception("commit observer failed")

    def _busy(self) -> list[str]:
        parts = []
        if self._commit_since is not None:
            ops, msgs, logs = self._commit_size
            parts.append(f"commit of {ops} ops, {msgs} messages, {logs} log rows running "
                         f"{(time.perf_counter() - self._commit_since) * 1000:.0f} ms")
        queued = self.queued()
        if queued:
            parts.append(f"{queued} writes queued")
        return parts

    def in_flight(self) -> str:
        """What the store is doing right now, in words (for the loop monitor's verdicts)."""
        return ", ".join(self._busy()) or "idle"

    # -- settling a batch: the same for every backend and every commit path ----------------
    def _fail_batch(self, ops: list[Op], raw: list[Raw], msgs: list[tuple[MessageRow, Done]],
                    netlog: list[tuple[NetlogRow, Done]], exc: BaseException, started: float | None = None) -> None:
        """The batch's commit failed: every write in it fails with ``exc``."""
        for fut in (*(o[2] for o in ops), *(r[1] for r in raw)):
            if not fut.done():
                fut.set_exception(exc)
        if ops and not isinstance(exc, ContractError):
            self.failed_writes += len(ops)
        for _, done in (*msgs, *netlog):
            call_done(done, exc)
        self._observe(len(ops) + len(raw), len(msgs), len(netlog), False, started)

    def _settle_batch(self, ops: int, outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]],
                      msgs: list[tuple[MessageRow, Done]], netlog: list[tuple[NetlogRow, Done]],
                      msg_errors: dict[int, BaseException], log_errors: dict[int, BaseException],
                      started: float | None = None) -> None:
        """The batch committed (and is on disk): each op gets its own result or error, each row its callback."""
        self.batches += 1
        self._observe(ops, len(msgs) - len(msg_errors), len(netlog) - len(log_errors), True, started)
        self.batched_messages += len(msgs) - len(msg_errors)
        for fut, result, err in outcomes:
            if fut.done():
                continue
            if err is None:
                fut.set_result(result)
            else:
                fut.set_exception(err)
                if not isinstance(err, ContractError):
                    self.failed_writes += 1
        for i, (_, done) in enumerate(msgs):
            call_done(done, msg_errors.get(i))
        for i, (_, done) in enumerate(netlog):
            call_done(done, log_errors.get(i))


def call_done(done: Done, exc: BaseException | None) -> None:
    try:
        done(exc)
    except Exception:
        log.exception("post-commit callback failed")
