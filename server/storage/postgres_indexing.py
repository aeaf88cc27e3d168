"""The PostgreSQL search index's background task: new messages into ``message_search`` after their commit.

The writer's batch never touches the trigram index (see ``postgres_search.py`` and migration 20).
A task of the node that writes (a lone node from its start, a cluster's home from the moment it
takes the home lease) copies the messages stored since into the index in slices
(:func:`postgres_search.index_slice`), on a connection of its own, so the index's CPU (about three
quarters of the PostgreSQL backend's per message) and its GIN pending-list merges are spent beside
the acks, not inside them. What is left when a node stops is in the database (each group's
``search_progress.indexed_seq`` against its ``groups.last_seq``): the next writer, after a restart
or a failover, reads that backlog at its start and indexes it.

The backlog is kept in memory, by group, for :meth:`search_index_backlog` and for choosing what a
slice takes: the writer adds what each commit stored; each slice sets its groups' lag from what the
database said (``last_seq``, or a higher seq the writer has since stored, minus the new mark).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

import asyncpg

from server.storage.base import Done, MessageRow
from server.storage.postgres_cluster import FENCED_SQLSTATE, server_settings
from server.storage.postgres_search import BACKLOG, MERGE_PENDING, index_slice

log = logging.getLogger("qunguan.store")

INDEX_SLICE_SEQS = 5000  # seqs per slice (one transaction)
INDEX_GATHER = 0.05  # seconds a slice waits for more messages when less than a slice's worth waits
INDEX_BUSY = 0.005  # seconds before trying again while a change of messages holds the index's lock
INDEX_PAUSE = 1.0  # seconds after a failed slice (the database unreachable, say)
CONNECT_TIMEOUT = 10.0  # seconds
STOP_WAIT = 2.0  # seconds a close waits for the slice under way


class PostgresSearchIndex:
    """Mixed into :class:`server.storage.postgres.PostgresStore`."""

    url: str
    fence: tuple[str, int] | None
    command_timeout: float  # seconds any one statement may take (storage.command_timeout_seconds)
    idle_in_transaction: float | None  # seconds after which PostgreSQL ends an idle transaction (PostgresStore)

    def _init_index(self) -> None:
        self._lag: dict[str, int] = {}  # group id -> seqs not yet indexed (a slice corrects it)
        self._top: dict[str, int] = {}  # group id -> the highest seq known stored, for the groups in _lag
        self._unindexed = 0  # the sum of _lag
        self._searched: dict[str, None] = {}  # groups a search read directly: indexed first
        self._index_wake = asyncio.Event()
        self._index_halt = asyncio.Event()
        self._index_task: asyncio.Task[None] | None = None
        self.index_slices = 0

    def search_index_backlog(self) -> int:
        return self._unindexed

    def _index_soon(self, group_id: str) -> None:
        self._searched[group_id] = None
        self._index_wake.set()

    def _note_unindexed(self, msgs: list[tuple[MessageRow, Done]], errors: dict[int, BaseException]) -> None:
        """The writer stored ``msgs`` (but those with an error): they wait for the index."""
        lag, top = self._lag, self._top
        for i, (row, _) in enumerate(msgs):
            if i in errors:
                continue
            gid = row.group_id
            lag[gid] = lag.get(gid, 0) + 1
            if row.seq > top.get(gid, 0):
                top[gid] = row.seq
            self._unindexed += 1
        if self._index_task is not None:
            self._index_wake.set()

    def _start_indexing(self) -> None:
        """Index from now on (this node writes); a no-op while the task runs."""
        if self._index_task is None or self._index_task.done():
            self._index_halt.clear()
            self._index_task = asyncio.create_task(self._index_run(), name="search-index")

    async def _stop_indexing(self) -> None:
        """Stop after the slice under way, if any (what is left stays in the database's backlog)."""
        task, self._index_task = self._index_task, None
        if task is not None:
            self._index_halt.set()
            self._index_wake.set()
            try:  # (a connection attempt to a database gone is not waited for: what is left stays owed)
                await asyncio.wait_for(asyncio.shield(task), STOP_WAIT)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _count_backlog(self, rows: list[asyncpg.Record]) -> None:
        """The database's backlog (postgres_search.BACKLOG) into the in-memory one."""
        for gid, last, done in rows:
            top = max(self._top.get(gid, 0), int(last))
            lag = max(top - int(done), 0)
            self._unindexed += lag - self._lag.get(gid, 0)
            self._lag[gid], self._top[gid] = lag, top

    def _plan(self) -> list[tuple[str, int]]:
        """The next slice: the groups searched meanwhile first, then the others in turn."""
        budget = INDEX_SLICE_SEQS
        plan: dict[str, int] = {}
        for gid in itertools.chain([g for g in self._searched if g in self._lag], self._lag):
            if budget <= 0:
                break
            if gid in plan:
                continue
            take = min(max(self._lag[gid], 1), budget)
            plan[gid] = take
            budget -= take
        self._searched.clear()
        return list(plan.items())

    def _account(self, plan: list[tuple[str, int]], state: dict[str, tuple[int, int]]) -> None:
        """Each planned group's lag from what the slice read (and what the writer stored since)."""
        for gid, _ in plan:
            old = self._lag.pop(gid, 0)  # (put back at the end: the next slice begins with the groups after it)
            got = state.get(gid)
            lag = top = 0
            if got is not None:
                last, done = got
                top = max(self._top.get(gid, 0), last)
                lag = max(top - done, 0)
            if lag:
                self._lag[gid], self._top[gid] = lag, top
            else:
                self._top.pop(gid, None)
            self._unindexed += lag - old
        self.index_slices += 1

    async def _index_run(self) -> None:
        db: asyncpg.Connection | None = None
        counted = False
        try:
            while not self._index_halt.is_set():
                try:
                    if db is None or db.is_closed():
                        db = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT,
                                                   command_timeout=self.command_timeout,
                                                   server_settings=server_settings("qunguan search index",
                                                                                   self.idle_in_transaction))
                        counted = False
                    if not counted:  # a start, a failover, or the connection back: what the database owes
                        self._count_backlog(await db.fetch(BACKLOG))
                        counted = True
                    if not self._lag:
                        self._index_wake.clear()
                        await self._index_wake.wait()
                        continue
                    if self._unindexed < INDEX_SLICE_SEQS and not self._searched:
                        with contextlib.suppress(TimeoutError):  # more messages to one slice
                            await asyncio.wait_for(self._index_halt.wait(), INDEX_GATHER)
                        if self._index_halt.is_set():
                            return
                    plan = self._plan()
                    state, busy = await index_slice(db, plan, self.fence)
                    for gid in busy:  # a change of its messages holds its lock: first in the next slice
                        self._searched[gid] = None
                    done = [(gid, n) for gid, n in plan if gid not in busy]
                    if not done:
                        await asyncio.sleep(INDEX_BUSY)
                        continue
                    self._account(done, state)
                    # Outside the slice's transaction: a change of messages never waits for the merge.
                    await db.execute(MERGE_PENDING)
                except Exception as exc:
                    if getattr(exc, "sqlstate", None) == FENCED_SQLSTATE:
                        log.warning("the search index stops: another node holds the home lease")
                        return
                    log.warning("a search index slice failed (%r); trying again in %.0f s", exc, INDEX_PAUSE)
                    if db is not None:
                        db.terminate()
                        db = None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._index_halt.wait(), INDEX_PAUSE)
        finally:
            if db is not None:
                db.terminate()
