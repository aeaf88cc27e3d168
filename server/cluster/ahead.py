"""Loading the state ahead of a takeover, while a gateway makes sure that the home is gone.

A gateway that sees the home's lock of its life let go (``_watch_home`` in node.py) waits a second
before it takes the lease: the lock also goes when a live home's database link resets. Until now
the state was loaded only once the lease was taken, after that second; for a large service the
load is most of the takeover (about 4.4 s for a million users, docs/benchmark.md). So the load
starts at once, in the background, on the state as one snapshot of the database shows it
(``PostgresLeases.load_state_ahead``), and the takeover uses it if it is still the database's:

- the home counts its write transactions in the database, by epoch (``qunguan_fence_write``,
  PostgreSQL migration 30), and the snapshot holds the old home's count and the schema's version;
- once this node holds the lease (the take waits for every write of the old home in flight, and
  the fence refuses any later one), both are read again: the same, and no write of the old home
  was committed after the snapshot (nor was the data migrated by a newer node starting meanwhile),
  so the state loaded ahead is the state. Otherwise the load is given up at once (it is not
  waited for) and the state is loaded as before.

It is used only when the lease was taken straight from the home it was loaded against (the epoch
right after it), and only against a home that said in its heartbeat that it counts its writes (a
node of an earlier version does not). One node at a time loads ahead of one takeover (a lock in
the database): the others wait a moment before they contest the lease (node.py), so that the node
holding the load usually takes it. The collector stays off from the load's start until the state
is taken or dropped, as during a load at a takeover: it would walk the million new objects again.
Like a load at a takeover, it keeps the node's event loop busy for most of its time (building the
state is Python work between reads): the gateway's own clients wait meanwhile, as they do for any
takeover, and for nothing when the home turns out to be alive (its database link was reset).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import TYPE_CHECKING, Any

from server.cluster import wire

if TYPE_CHECKING:
    from server.app import App
    from server.state import State
    from server.storage.postgres_cluster import PostgresLeases

log = logging.getLogger("qunguan.cluster")

# A state loaded ahead that no takeover has used by then is dropped (this node did not take the lease
# and heard no other home, cut off from NATS, say): it would hold a second copy of the state, and the
# collector off, for good.
KEEP_SECONDS = 60.0


class LoadAhead:
    """At most one load ahead of a takeover at a time (see the module's doc)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._task: asyncio.Task[State | None] | None = None
        self._counted: asyncio.Future[tuple[int, int]] | None = None  # the snapshot's count and schema
        self._gone_epoch = 0
        self._lost_turn = False  # another node loads ahead of this takeover
        self._gc_off = False
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def leases(self) -> PostgresLeases:
        return self.app.store  # type: ignore[return-value]  # a cluster runs on PostgreSQL

    def start(self, gone_epoch: int) -> None:
        """Load the state ahead of a takeover from the home of ``gone_epoch`` (any earlier load dropped)."""
        self.drop()
        self._gone_epoch = gone_epoch
        self._lost_turn = False
        if gc.isenabled():
            gc.disable()
            self._gc_off = True
        loop = asyncio.get_running_loop()
        self._counted = loop.create_future()
        self._task = asyncio.create_task(self._load(gone_epoch, self._counted), name="cluster-load-ahead")
        self._expiry = loop.call_later(KEEP_SECONDS, self._expired, self._task)

    async def _load(self, gone_epoch: int, counted: asyncio.Future[tuple[int, int]]) -> State | None:
        app = self.app
        began = time.monotonic()
        try:
            state = await self.leases.load_state_ahead(wire.HOME_LEASE, gone_epoch, app.now_ms(),
                                                       app.cfg.groups.activity_window_days, counted)
        except Exception as err:
            log.warning("could not load the state ahead of the takeover (%r): it is loaded once the lease is "
                        "taken", err)
            self._collector_back()
            return None
        if state is None:
            self._lost_turn = True
            self._collector_back()
            log.info("another node loads the state ahead of the takeover from the home of epoch %d", gone_epoch)
        else:
            log.info("state loaded ahead of the takeover in %.2f s", time.monotonic() - began)
        return state

    def another_node_loads(self) -> bool:
        """Whether this node's load ahead found another node loading it (not a load that failed)."""
        return self._lost_turn

    def heard_home(self, epoch: int) -> None:
        """A home at ``epoch`` is heard: a load ahead of the takeover of an earlier one is of no use now."""
        if self._task is not None and epoch > self._gone_epoch:
            self.drop()

    def drop(self) -> None:
        """Give up the load ahead (another home was heard, the home was alive after all): its state is freed."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._counted = None
        self._collector_back()

    def _expired(self, task: asyncio.Task[State | None]) -> None:
        if self._task is task:
            log.info("the state loaded ahead was not used within %.0f s: dropped", KEEP_SECONDS)
            self.drop()

    async def take(self, epoch: int) -> State | None:
        """Once this node holds the lease at ``epoch``: the state loaded ahead if it is still the
        database's (taken straight from the home it was loaded against, and neither a write of that
        home counted nor the schema migrated since its snapshot); None otherwise (none loaded, or it
        is dropped): load it now. Each check is made as soon as it can be, so a load that will not
        be used is given up at once, not waited for. The collector comes back on only after the
        checks: a pass during their awaits would walk the state."""
        task, counted = self._task, self._counted
        self._task = self._counted = None
        try:
            if task is None or counted is None:
                return None
            if epoch != self._gone_epoch + 1:
                task.cancel()
                log.info("the state loaded ahead was for the home of epoch %d, not %d: loaded again",
                         self._gone_epoch, epoch - 1)
                return None
            try:
                either: set[asyncio.Future[Any]] = {task, counted}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if not counted.done():  # (the load ended without a count: another node's turn, or failed)
                    return None
                try:
                    now = await self.leases.writes_of(wire.HOME_LEASE, self._gone_epoch)
                except Exception as err:
                    task.cancel()
                    log.warning("could not check the state loaded ahead (%r): loaded again", err)
                    return None
                if now != counted.result():
                    task.cancel()
                    log.info("the old home wrote, or the schema changed, after the state was loaded ahead "
                             "(writes and schema version then %s, now %s): loaded again", counted.result(), now)
                    return None
                await asyncio.wait({task})
            except asyncio.CancelledError:
                task.cancel()  # (a stop during the takeover: nobody else would)
                raise
            state = None if task.cancelled() else task.result()
            if state is not None:
                log.info("the state loaded ahead of the takeover is the database's: used")
            return state
        finally:
            self._collector_back()

    def _collector_back(self) -> None:
        if self._expiry is not None and self._task is None:
            self._expiry.cancel()
            self._expiry = None
        if self._gc_off:
            self._gc_off = False
            gc.enable()
