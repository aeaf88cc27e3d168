"""The cluster's lease rows (``cluster_leases``, migration 11) and the fence on the home's writes.

A lease names one role in the service ("home": the node that runs the logic). Times are on the
database's clock (``now()``), so the nodes' clocks never decide who holds a lease. ``epoch``
grows on every takeover; the holder's write transactions call ``qunguan_fence(name, epoch)``
first, which fails once somebody else has taken the lease (see ``PostgresStore._commit``). The
fence holds the row FOR KEY SHARE (migration 22): a renewal does not wait for the home's writes,
a takeover (FOR UPDATE, see ``_TAKE``) does.

One database is one service: its ``[cluster] name`` is recorded by its first cluster node
(``cluster_service``, migration 29; see ``_own_service``), a node of another name refuses to start
on it, and the take and the renewal of a lease check that name in their own statement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from server.storage import loading
from server.storage.base import StoreUnavailable

if TYPE_CHECKING:
    from server.state import State

log = logging.getLogger("qunguan")

# The takeover locks the expired row FOR UPDATE before it changes the holder and the epoch: that
# lock waits for every write of the old home in flight (the fence holds the row FOR KEY SHARE,
# which only FOR UPDATE conflicts with, see migration 22), so such a write either commits before
# the takeover or, waiting for it, finds the epoch moved and is refused. The ON CONFLICT update
# alone would only take FOR NO KEY UPDATE (no key column changes), which does not wait for the
# fence. The aggregate makes the lock come first; the update happens only on the row it locked
# (not on one released a moment later, which no FOR UPDATE waited for). A live lease is not
# locked, so another node's attempt on it never waits for the home's writes. No lease is taken
# for a service whose name is not the database's ($4, see _own_service): nothing is inserted.
_TAKE = """
WITH expired AS MATERIALIZED (
    SELECT 1 FROM cluster_leases WHERE name = $1 AND expires_at < now() FOR UPDATE
)
INSERT INTO cluster_leases AS l (name, holder, epoch, expires_at)
SELECT $1, $2, 1, now() + make_interval(secs => $3) FROM (SELECT count(*) FROM expired) AS locked
WHERE NOT EXISTS (SELECT 1 FROM cluster_service WHERE name IS DISTINCT FROM $4)
ON CONFLICT (name) DO UPDATE
    SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at
    WHERE l.expires_at < now() AND EXISTS (SELECT 1 FROM expired)
RETURNING epoch
"""
# The renewal and the release change expires_at only (FOR NO KEY UPDATE): they do not wait for
# the home's writes in flight, nor for a batch longer than the lease. They must never change the
# holder or the epoch: whatever does must lock the row FOR UPDATE first, as _TAKE does. Nor is a
# lease renewed for a service whose name is not the database's ($5), as in _TAKE.
_RENEW = """
UPDATE cluster_leases SET expires_at = now() + make_interval(secs => $4)
WHERE name = $1 AND holder = $2 AND epoch = $3
  AND NOT EXISTS (SELECT 1 FROM cluster_service WHERE name IS DISTINCT FROM $5)
RETURNING (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
"""
# A takeover from a home whose process is gone (see ``steal_lease``): the lease of that epoch, whether
# or not it has expired yet, locked FOR UPDATE first as in _TAKE, so that it waits for the old home's
# writes still in flight; the update happens only if no other node took the lease meanwhile.
_STEAL = """
WITH gone AS MATERIALIZED (
    SELECT 1 FROM cluster_leases WHERE name = $1 AND epoch = $4 FOR UPDATE
)
UPDATE cluster_leases AS l
SET holder = $2, epoch = l.epoch + 1, expires_at = now() + make_interval(secs => $3)
FROM (SELECT count(*) FROM gone) AS locked
WHERE l.name = $1 AND l.epoch = $4 AND EXISTS (SELECT 1 FROM gone)
  AND NOT EXISTS (SELECT 1 FROM cluster_service WHERE name IS DISTINCT FROM $5)
RETURNING l.epoch
"""
_RELEASE = """
UPDATE cluster_leases SET expires_at = now() - interval '1 second'
WHERE name = $1 AND holder = $2 AND epoch = $3
"""
_CLOCK = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
_HOLDER = "SELECT holder, epoch, expires_at > now() FROM cluster_leases WHERE name = $1"
_ANY_LIVE_LEASE = "SELECT holder FROM cluster_leases WHERE expires_at > now() LIMIT 1"
# The service of the database (migration 29). The key allows one row: of two first nodes started at
# once, one insert wins and the other does nothing (it waits for the winner's commit). The read is
# a statement of its own, after the insert: its snapshot has the winner's row (one in the insert's
# statement would not, when the insert waited for another's).
_RECORD_SERVICE = "INSERT INTO cluster_service (one, name) VALUES (1, $1) ON CONFLICT (one) DO NOTHING RETURNING 1"
_SERVICE = "SELECT name FROM cluster_service"
FENCED_SQLSTATE = "QGF01"  # raised by qunguan_fence (migration 11)
LOCK_SERVE = 0x5147_0005  # pg_advisory_lock(LOCK_SERVE, 0): who serves the database (see claim)
# pg_advisory_lock(LOCK_HOME_LIFE, epoch): held by the home of that epoch for as long as its process
# lives (see hold_home_life); a gateway waiting for it learns that the process is gone.
LOCK_HOME_LIFE = 0x5147_000C
# pg_try_advisory_xact_lock(LOCK_LOAD_AHEAD, gone epoch): the one node loading the state ahead of
# the takeover of that epoch's home (see load_state_ahead), for as long as its load's transaction.
LOCK_LOAD_AHEAD = 0x5147_000D


# Whether nobody holds a home's lock of its life: taken and let go in one statement (CASE decides
# the order), so that the home taking it again never finds it held by a node that only looked.
_LIFE_FREE = "SELECT CASE WHEN pg_try_advisory_lock($1, $2) THEN pg_advisory_unlock($1, $2) ELSE false END"


# How many write transactions the holder of a lease at an epoch committed (qunguan_fence_write,
# migration 30), and the schema's version (a newer node starting meanwhile may migrate data).
_WRITES = ("SELECT coalesce((SELECT writes FROM cluster_marks WHERE name = $1 AND epoch = $2), 0),"
           " (SELECT max(version) FROM schema_migrations)")
_AHEAD_TURN = "SELECT pg_try_advisory_lock($1, $2)"
# Waits for every write of the lease's holder in flight (each holds the row FOR KEY SHARE, the fence),
# and lets the row go at once (its transaction ends with the statement).
_WRITES_IN_FLIGHT = "SELECT 1 FROM cluster_leases WHERE name = $1 FOR UPDATE"


def _life_key(epoch: int) -> int:
    """The lock's second key (an int4) for ``epoch``; epochs this far apart never run at once."""
    return epoch & 0x7FFF_FFFF


async def _try_life(db: asyncpg.Connection, epoch: int) -> bool:
    """Take the lock of the home of ``epoch`` on ``db`` if nobody holds it (as that home)."""
    return bool(await db.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_HOME_LIFE, _life_key(epoch)))


KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 10, 5, 3  # seconds, seconds, probes
# Silence after which the backend gives its client up: the keepalives' last unanswered probe.
GIVE_UP_MS = (KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_COUNT) * 1000


def server_settings(application_name: str, idle_in_transaction: float | None = None) -> dict[str, str]:
    """The settings of every store connection: its name in ``pg_stat_activity``, and how soon
    PostgreSQL drops the session of a host that died or was cut off (and the locks, a fence's
    ``FOR KEY SHARE`` included, and the open transaction it held): within about half a minute,
    not after the system's default two hours of silence.

    Keepalives alone do not do it: Linux sends no keepalive probe while data the backend sent is
    unacknowledged, so a partition in the middle of a batch (a result on its way back) leaves the
    session to TCP's retransmissions, which give up after about 15 minutes. ``tcp_user_timeout``
    (PostgreSQL 12 and later) bounds that case, and with keepalives on it also decides when their
    probes have failed; it is the keepalives' own bound, so both cases end alike.

    ``idle_in_transaction`` (seconds): a transaction left idle this long is ended by PostgreSQL, its
    locks with it; the client process may be alive but frozen, which no keepalive detects.

    ``jit`` off: PostgreSQL compiles a plan whose estimated cost passes ``jit_above_cost``, and the
    store's few large statements pass it while running in milliseconds (a query-plan review at
    platform scale: a purge batch of messages 1,254 ms of which 1,070 ms compiling, 183 ms without;
    the recent messages at start 637 ms more)."""
    settings = {"application_name": application_name, "tcp_keepalives_idle": str(KEEPALIVE_IDLE),
                "tcp_keepalives_interval": str(KEEPALIVE_INTERVAL), "tcp_keepalives_count": str(KEEPALIVE_COUNT),
                "tcp_user_timeout": str(GIVE_UP_MS), "jit": "off"}
    if idle_in_transaction is not None:
        settings["idle_in_transaction_session_timeout"] = str(max(1, int(idle_in_transaction * 1000)))
    return settings


_CLAIM_SETTINGS = server_settings("qunguan serve")
# Who holds this database's claim: advisory locks are per database, and pg_locks lists every one's.
_CLAIM_HOLDERS = """
SELECT a.pid, a.client_addr::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = 0 AND l.granted AND a.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


CLAIM_RETRY_SECONDS = (0.5, 5.0)  # taking the claim again after its connection closed: first wait, longest
# The server refusing or ending sessions: gone, shutting down or starting (OperatorIntervention
# covers AdminShutdown and CannotConnectNow), or out of connections.
OUT_OF_REACH = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
                asyncpg.exceptions.InsufficientResourcesError)
_CLAIM_ERRORS = (OSError, asyncpg.InterfaceError, *OUT_OF_REACH)  # (TimeoutError is an OSError)


class PostgresLeases:
    """Mixed into :class:`server.storage.postgres.PostgresStore`. Lease statements go through a
    connection of their own, never the writer's nor the read pool's: a renewal must not wait behind
    a large batch, nor behind a burst of reads (a flood of ``auth`` token lookups once made a home
    miss its renewals and lose its lease)."""

    url: str
    command_timeout: float
    pool: asyncpg.Pool | None
    fence: tuple[str, int] | None = None  # (lease name, epoch) that every write transaction must still hold
    # The [cluster] name this node claimed the database for (see _claim): the only service whose
    # lease it may take or renew. None: a lone node (or a test's store), which takes none on a
    # database that has a service recorded.
    service: str | None = None
    service_owned = False  # the database's recorded service is this node's (see _own_service)
    _lease_db: asyncpg.Connection | None = None

    async def _leases(self) -> asyncpg.Connection:
        db = self._lease_db
        if db is None or db.is_closed():
            db = self._lease_db = await asyncpg.connect(self.url, timeout=5,
                                                        server_settings=server_settings("qunguan leases"))
        return db

    async def _lease_call(self, method: str, sql: str, *args: object, lock_wait: float | None = None) -> object:
        """One lease statement. ``lock_wait``: how long PostgreSQL itself lets it wait for the row's
        lock (``lock_timeout``), for a take, which waits behind the old home's writes in flight. It
        must be shorter than the caller's own wait: a statement the caller gave up on keeps running
        in the database (closing the connection does not stop a backend waiting on a lock), and
        would commit once the old write ends, making this node the holder without its knowing."""
        db = await self._leases()
        try:
            if lock_wait is None:
                return await getattr(db, method)(sql, *args)
            async with db.transaction():
                await db.execute(f"SET LOCAL lock_timeout = {max(1, int(lock_wait * 1000))}")
                return await getattr(db, method)(sql, *args)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, asyncio.CancelledError,
                TimeoutError):
            # A fresh connection next time. Also after a call the caller gave up on (its time ran
            # out): the next one would wait behind it, on a link that may be dead without a reset
            # (a database host gone), for as long as the kernel keeps the connection (minutes).
            db.terminate()
            self._lease_db = None
            raise

    async def close_leases(self) -> None:
        if self._lease_db is not None:
            self._lease_db.terminate()
            self._lease_db = None

    def release_claim(self) -> None:
        """Let the claim go (the store's last step, after its writes are committed)."""
        db, self._claim_db = self._claim_db, None
        self._claim_held = False
        self._life_on = None
        if self._life_retry is not None:
            self._life_retry.cancel()
            self._life_retry = None
        if self._reclaiming is not None:
            self._reclaiming.cancel()
            self._reclaiming = None
        if db is not None:
            db.remove_termination_listener(self._claim_closed)
            db.terminate()

    _claim_db: asyncpg.Connection | None = None
    _claim_held = False  # between a claim and its release: a closed claim connection is replaced
    _reclaiming: asyncio.Task[None] | None = None

    async def _try_claim(self, cluster: bool) -> tuple[asyncpg.Connection, bool]:
        # Keepalives (server_settings): if this host dies, PostgreSQL drops the session and the lock.
        db = await asyncpg.connect(self.url, timeout=5, server_settings=_CLAIM_SETTINGS)
        try:
            taken = await db.fetchval("SELECT pg_try_advisory_lock_shared($1, 0)" if cluster else
                                      "SELECT pg_try_advisory_lock($1, 0)", LOCK_SERVE)
        except BaseException:
            db.terminate()
            raise
        return db, bool(taken)

    def _claim_closed(self, conn: asyncpg.Connection) -> None:
        """The claim's connection closed (PostgreSQL restarted, its session was ended, the link
        reset), and its lock with it: taken again as soon as the database answers."""
        if conn is not self._claim_db or not self._claim_held:
            return
        log.warning("the connection holding this node's claim on the database closed (PostgreSQL restarted, "
                    "or the link to it reset); taking the claim again")
        if self._reclaiming is None or self._reclaiming.done():
            self._reclaiming = asyncio.get_running_loop().create_task(self._reclaim(), name="claim-again")

    async def _reclaim(self) -> None:
        wait, longest = CLAIM_RETRY_SECONDS
        while self._claim_held:
            try:
                db, taken = await self._try_claim(self.service is not None)  # (a cluster's node: shared)
            except _CLAIM_ERRORS:
                await asyncio.sleep(wait)  # (the database still out of reach)
                wait = min(wait * 2, longest)
                continue
            if not self._claim_held:  # released meanwhile (a stop)
                db.terminate()
                return
            if not taken:
                try:
                    holders = await db.fetch(_CLAIM_HOLDERS, LOCK_SERVE)
                except _CLAIM_ERRORS:
                    holders = []
                db.terminate()
                who = ", ".join(f"pid {r[0]} from {r[1] or 'a local socket'}" for r in holders) or "unknown"
                log.error("this node's claim on the database could not be taken again: another qunguan server "
                          "started on it while the claim was lost (%s), and both may now write it; nodes that "
                          "share a database must form one cluster: stop the server that should not run there",
                          who)
                return
            db.add_termination_listener(self._claim_closed)
            self._claim_db = db
            log.info("this node's claim on the database is taken again")
            if self._life_epoch is not None:
                await self._hold_life(db, self._life_epoch)
            return

    async def _claim(self, cluster: str | None) -> None:
        """Refuse to serve a database another node serves outside this one's cluster (``cluster``:
        the name of this node's, None for a lone node).

        The contract: nodes sharing a database must form a cluster (``[cluster] broker_url``). A
        lone node holds an exclusive session-level advisory lock for as long as it runs, a
        cluster's nodes a shared one, on a connection of its own; so a lone node does not start
        beside a running cluster or another lone node, nor a cluster node beside a lone node.
        If that connection closes later (PostgreSQL restarted, the link reset), the lock goes with
        it, and is taken again on a new connection as soon as the database answers (see
        :meth:`_claim_closed`). A cluster node also refuses a database that belongs to a service of
        another name (see _own_service): here when the database has the table for it, else once
        migrated (open).
        """
        db, taken = await self._try_claim(cluster is not None)
        if (cluster is None and taken and await db.fetchval("SELECT to_regclass('cluster_leases')") is not None
                and await db.fetchval(_ANY_LIVE_LEASE) is not None):
            taken = False  # a cluster runs on it (its nodes started before this guard existed)
        if not taken:
            holders = await db.fetch(_CLAIM_HOLDERS, LOCK_SERVE)
            db.terminate()
            who = ", ".join(f"pid {r[0]} from {r[1] or 'a local socket'}" for r in holders) or "a cluster's home"
            raise StoreUnavailable(
                f"another qunguan node serves this database ({who})"
                + ("" if cluster is not None else ", a lone node or a cluster")
                + ": nodes that share a database must form one cluster; set [cluster] broker_url on each")
        db.add_termination_listener(self._claim_closed)
        self._claim_db = db
        self._claim_held = True
        self.service = cluster
        if cluster is not None and await db.fetchval("SELECT to_regclass('cluster_service')") is not None:
            try:
                await self._own_service(db)
            except BaseException:
                self.release_claim()
                raise

    async def _own_service(self, db: asyncpg.Connection) -> None:
        """Record this node's service as the database's if none is recorded yet (the first cluster
        node on it, or the first after an upgrade from a version that recorded none); refuse to
        start when the database belongs to a service of another name. Such a node would share the
        home lease with the service without hearing it on NATS (its subjects are under its own
        name): it would take the lease from it, and nobody would answer the service's gateways."""
        assert self.service is not None
        for _ in range(3):  # (a row deleted by hand between the two statements: recorded again)
            recorded = await db.fetchval(_RECORD_SERVICE, self.service) is not None
            owner = await db.fetchval(_SERVICE)
            if owner is not None:
                break
        else:
            raise StoreUnavailable("the name of the database's cluster could not be recorded "
                                   "(its cluster_service row went away)")
        if owner != self.service:
            raise StoreUnavailable(
                f"this database belongs to the cluster named {owner!r}, not {self.service!r} (this node's "
                "[cluster] name): nodes that share a database must form one cluster; set [cluster] "
                f"name = {owner!r} if this node is one of that service's, or give it a database of its own "
                "([storage] url)")
        if recorded:
            running = await db.fetchval(_ANY_LIVE_LEASE)
            if running is None:
                log.info("this database now belongs to the cluster named %r (recorded by this node, "
                         "its first of a cluster)", self.service)
            else:
                log.warning("this database now belongs to the cluster named %r: this node is the first to "
                            "record a name on it since the upgrade, while a cluster serves it (node %s holds "
                            "the home lease); nodes of another name are refused from now on (a wrong name "
                            "recorded: see docs/scale-out.md, Configuration)", self.service,
                            str(running).split("/", 1)[0])
        self.service_owned = True

    async def take_lease(self, name: str, holder: str, ttl_seconds: float,
                         lock_wait: float | None = None) -> int | None:
        """The new epoch if ``holder`` now holds ``name`` (it was free or had expired), else None
        (also when the database belongs to a service other than this node's, see ``service``).
        ``lock_wait``: see :meth:`_lease_call` (past it, ``asyncpg.LockNotAvailableError``)."""
        epoch = await self._lease_call("fetchval", _TAKE, name, holder, ttl_seconds, self.service, lock_wait=lock_wait)
        return None if epoch is None else int(epoch)  # type: ignore[call-overload]

    renewed_clock_us: int | None = None  # the database's clock at the last renewal (see renew_lease)

    async def renew_lease(self, name: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        """Push the expiry on; False when the lease is no longer ``holder``'s at ``epoch`` (or the
        database no longer belongs to this node's service). The database's clock as it renewed is
        kept in ``renewed_clock_us``: the home checks its own clock by it at no extra round trip."""
        clock = await self._lease_call("fetchval", _RENEW, name, holder, epoch, ttl_seconds, self.service)
        if clock is None:
            return False
        self.renewed_clock_us = int(clock)  # type: ignore[call-overload]
        return True

    async def steal_lease(self, name: str, holder: str, ttl_seconds: float, gone_epoch: int,
                          lock_wait: float | None = None) -> int | None:
        """The new epoch if ``holder`` now holds ``name``, taken from its holder at ``gone_epoch``
        whose process is known to be gone (see ``home_ended``), before the lease expires; None if
        another node took it first (or the service is not this node's). ``lock_wait``: as for a take."""
        epoch = await self._lease_call("fetchval", _STEAL, name, holder, ttl_seconds, gone_epoch, self.service,
                                       lock_wait=lock_wait)
        return None if epoch is None else int(epoch)  # type: ignore[call-overload]

    _life_epoch: int | None = None  # the epoch whose LOCK_HOME_LIFE this node holds (as the home)
    _life_retry: asyncio.Task[None] | None = None

    async def hold_home_life(self, epoch: int) -> bool:
        """As the home at ``epoch``: hold ``LOCK_HOME_LIFE`` for it on the claim's connection, which
        lives as long as this process (and is taken again with the claim, see _reclaim). When the
        process ends (a crash, ``kill -9``), its sessions end and the lock with them: a gateway
        waiting for it (``home_ended``) hears of it at once, not a lease period later. True if held."""
        self._life_epoch = epoch
        db = self._claim_db
        return db is not None and await self._hold_life(db, epoch)

    _life_on: tuple[asyncpg.Connection, int] | None = None  # (the claim's connection, epoch) it is held on
    _life_lock: asyncio.Lock | None = None

    async def _hold_life(self, db: asyncpg.Connection, epoch: int) -> bool:
        """Take the lock on ``db`` (the claim's connection); if it cannot be taken now, keep trying in
        the background, every second, while this node is the home of ``epoch`` on that connection."""
        try:
            held = await self._life_taken(db, epoch)
        except (*_CLAIM_ERRORS, asyncpg.PostgresError) as err:
            log.warning("the home's lock of its life was not taken (%r): until it is, a crash of this home is "
                        "noticed when its lease expires", err)
            return False
        if not held:
            # Held by another session: the old session of this node's claim, whose end PostgreSQL has
            # not noticed yet (its link reset on one side only), or a gateway's look for an instant.
            log.warning("the home's lock of its life is held by another session: until it is taken, a crash "
                        "of this home is noticed when its lease expires")
            if self._life_retry is not None:
                self._life_retry.cancel()  # (one for an earlier connection of the claim)
            self._life_retry = asyncio.get_running_loop().create_task(self._retry_life(db, epoch),
                                                                      name="home-life-again")
        return held

    async def _life_taken(self, db: asyncpg.Connection, epoch: int) -> bool:
        """Whether this node holds the lock for ``epoch`` on ``db`` now, taking it if it is free.

        One at a time: the claim taken again (_reclaim), this node becoming the home and the retry
        may ask at once, and two statements at once on one connection fail the second (which then
        warned that the lock was not taken while the first took it)."""
        if self._life_lock is None:
            self._life_lock = asyncio.Lock()
        async with self._life_lock:
            if self._life_on == (db, epoch):
                return True
            if not await _try_life(db, epoch):
                return False
            self._life_on = (db, epoch)
            return True

    def _still_home_on(self, db: asyncpg.Connection, epoch: int) -> bool:
        return self._life_epoch == epoch and not db.is_closed() and self._claim_db is db

    async def _retry_life(self, db: asyncpg.Connection, epoch: int) -> None:
        while self._still_home_on(db, epoch):
            await asyncio.sleep(1.0)
            try:
                if await self._life_taken(db, epoch):
                    log.info("the home's lock of its life is taken")
                    return
            except (*_CLAIM_ERRORS, asyncpg.PostgresError):
                return  # (the connection went: taken again with the claim, see _reclaim)

    async def home_ended(self, epoch: int, slice_seconds: float) -> bool:
        """Wait for the home of ``epoch`` to let ``LOCK_HOME_LIFE`` go: True once a session that held
        it has ended (its process ended, or its claim's connection closed); False at once when
        nobody holds it (a home of an earlier version, or one that could not take it): nothing to
        wait for, and no sign of anything.

        The wait runs on a connection of its own, in statements of at most ``slice_seconds``
        (``lock_timeout``), each repeated while the lock is held: a watch given up on (cancelled, the
        node stopping) leaves no backend waiting for longer than that, and a database host that
        vanished is noticed when a slice's answer does not come."""
        key = _life_key(epoch)
        ms = max(1, int(slice_seconds * 1000))
        db = await self._watch_db(lock_timeout=str(ms), statement_timeout=str(2 * ms))
        try:
            if await db.fetchval(_LIFE_FREE, LOCK_HOME_LIFE, key):
                return False
            while True:
                try:
                    # Let go in the same statement: the home taking its lock again (its claim's
                    # connection replaced) must not find it held by a gateway that only looked.
                    await db.execute("SELECT pg_advisory_lock($1, $2), pg_advisory_unlock($1, $2)",
                                     LOCK_HOME_LIFE, key, timeout=slice_seconds + 5)
                    return True
                except asyncpg.LockNotAvailableError:
                    continue  # held still: wait another slice
        finally:
            db.terminate()

    async def _watch_db(self, **settings: str) -> asyncpg.Connection:
        """A connection of its own for a look at a home's lock of its life (closed by the caller)."""
        return await asyncpg.connect(self.url, timeout=5,
                                     server_settings={**server_settings("qunguan home watch"), **settings})

    async def holds_home_life(self, epoch: int) -> bool:
        """Whether a session holds the lock of the home of ``epoch`` now: a look, on a connection of its
        own (the lease connection may be in the middle of the lease loop's statement)."""
        db = await self._watch_db()
        try:
            return not await db.fetchval(_LIFE_FREE, LOCK_HOME_LIFE, _life_key(epoch))
        finally:
            db.terminate()

    async def release_lease(self, name: str, holder: str, epoch: int) -> None:
        """Let the lease expire now (a clean stop), so another node takes over without waiting."""
        await self._lease_call("execute", _RELEASE, name, holder, epoch)

    async def lease_holder(self, name: str) -> tuple[str, int, bool] | None:
        """(holder, epoch, still valid) of a lease, or None if it was never taken."""
        row = await self._lease_call("fetchrow", _HOLDER, name)
        return None if row is None else (row[0], row[1], row[2])  # type: ignore[index]

    async def clock_us(self) -> int:
        """The database's clock, in microseconds since 1970: one clock for every node of the
        cluster (a node's start stamp, which orders two nodes started with one node id)."""
        now = await self._lease_call("fetchval", _CLOCK)
        assert isinstance(now, int)
        return now

    async def writes_of(self, name: str, epoch: int) -> tuple[int, int]:
        """How many write transactions the holder of lease ``name`` at ``epoch`` committed (each
        batch of a home's writer counts one, ``qunguan_fence_write``; the search index's slices
        none), and the schema's version."""
        # On the read pool: the lease connection takes one statement at a time, and the lease loop
        # renews on it from the take on (asyncpg refuses a second statement meanwhile).
        assert self.pool is not None
        row = await self.pool.fetchrow(_WRITES, name, epoch)
        assert row is not None
        return int(row[0]), int(row[1])

    async def load_state_ahead(self, name: str, gone_epoch: int, now_ms: int, activity_window_days: int,
                               counted: asyncio.Future[tuple[int, int]]) -> State | None:
        """The whole state as one snapshot of the database shows it; :meth:`writes_of` ``name`` at
        ``gone_epoch`` in the same snapshot is set on ``counted`` as soon as it is read (before the
        load: a caller who finds it moved need not wait for the rest). None when another node is
        loading it ahead of the same takeover (``counted`` then not set).

        For a node about to take over from the home of ``gone_epoch``, whose process seems to have
        ended: the load runs while the node makes sure of that, and is used only if no write of
        that home was committed after its snapshot (the count is the same once the lease is held;
        the take waits for every write in flight). Its writes in flight when its process ended are
        waited for before the snapshot, as a take waits for them (the lease row ``FOR UPDATE``, let
        go at once). One node at a time per takeover (an advisory lock held by the load's
        connection), on a connection of its own: with many gateways, not every one of them reads
        the whole database and holds a second copy of the state. Each statement is bounded by
        ``storage.command_timeout_seconds``, as the read pool's are."""
        db = await asyncpg.connect(self.url, timeout=5, command_timeout=self.command_timeout,
                                   server_settings=server_settings("qunguan load ahead"))

        async def fetch(sql: str, *params: object) -> list[Any]:
            return list(await db.fetch(sql.replace("?", "$1"), *params))

        try:
            # (The turn is this connection's, let go when it closes below.)
            if not await db.fetchval(_AHEAD_TURN, LOCK_LOAD_AHEAD, _life_key(gone_epoch)):
                return None
            # A batch the old home's process sent before it ended may still be running: waited for,
            # so that the snapshot has it (otherwise it commits after the snapshot, the count moves,
            # and the load is of no use: in a busy service, most of the time).
            await db.execute(_WRITES_IN_FLIGHT, name)
            # (Repeatable read: every statement below sees the snapshot of the first one.)
            async with db.transaction(isolation="repeatable_read", readonly=True):
                row = await db.fetchrow(_WRITES, name, gone_epoch)
                if not counted.done():
                    counted.set_result((int(row[0]), int(row[1])))
                return await loading.load_state(fetch, now_ms, activity_window_days)
        finally:
            db.terminate()

    def set_fence(self, name: str, epoch: int) -> None:
        """From now on every write transaction first proves ``name`` is still held at ``epoch``."""
        self.fence = (name, epoch)

    fenced_out: bool
    on_fenced: Callable[[], None] | None = None  # the cluster node: it stops at once

    def lost_fence(self) -> None:
        """A write was refused by the fence: another node holds the lease. From now on nothing
        shared is removed on this node's word (see WriteQueue.fenced_out), and the node stops."""
        self.fenced_out = True
        if self.on_fenced is not None:
            self.on_fenced()
