"""The cluster's lease rows (``cluster_leases``, migration 11) and the fence on the home's writes.

A lease names one role in the service ("home": the node that runs the logic). Times are on the
database's clock (``now()``), so the nodes' clocks never decide who holds a lease. ``epoch``
grows on every takeover; the holder's write transactions call ``qunguan_fence(name, epoch)``
first, which fails once somebody else has taken the lease (see ``PostgresStore._commit``). The
fence holds the row FOR KEY SHARE (migration 22): a renewal does not wait for the home's writes,
a takeover (FOR UPDATE, see ``_TAKE``) does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from server.storage.base import StoreUnavailable

log = logging.getLogger("qunguan")

# The takeover locks the expired row FOR UPDATE before it changes the holder and the epoch: that
# lock waits for every write of the old home in flight (the fence holds the row FOR KEY SHARE,
# which only FOR UPDATE conflicts with, see migration 22), so such a write either commits before
# the takeover or, waiting for it, finds the epoch moved and is refused. The ON CONFLICT update
# alone would only take FOR NO KEY UPDATE (no key column changes), which does not wait for the
# fence. The aggregate makes the lock come first; the update happens only on the row it locked
# (not on one released a moment later, which no FOR UPDATE waited for). A live lease is not
# locked, so another node's attempt on it never waits for the home's writes.
_TAKE = """
WITH expired AS MATERIALIZED (
    SELECT 1 FROM cluster_leases WHERE name = $1 AND expires_at < now() FOR UPDATE
)
INSERT INTO cluster_leases AS l (name, holder, epoch, expires_at)
SELECT $1, $2, 1, now() + make_interval(secs => $3) FROM (SELECT count(*) FROM expired) AS locked
ON CONFLICT (name) DO UPDATE
    SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at
    WHERE l.expires_at < now() AND EXISTS (SELECT 1 FROM expired)
RETURNING epoch
"""
# The renewal and the release change expires_at only (FOR NO KEY UPDATE): they do not wait for
# the home's writes in flight, nor for a batch longer than the lease. They must never change the
# holder or the epoch: whatever does must lock the row FOR UPDATE first, as _TAKE does.
_RENEW = """
UPDATE cluster_leases SET expires_at = now() + make_interval(secs => $4)
WHERE name = $1 AND holder = $2 AND epoch = $3
RETURNING 1
"""
_RELEASE = """
UPDATE cluster_leases SET expires_at = now() - interval '1 second'
WHERE name = $1 AND holder = $2 AND epoch = $3
"""
_CLOCK = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
_HOLDER = "SELECT holder, epoch, expires_at > now() FROM cluster_leases WHERE name = $1"
_ANY_LIVE_LEASE = "SELECT holder FROM cluster_leases WHERE expires_at > now() LIMIT 1"
FENCED_SQLSTATE = "QGF01"  # raised by qunguan_fence (migration 11)
LOCK_SERVE = 0x5147_0005  # pg_advisory_lock(LOCK_SERVE, 0): who serves the database (see claim)


KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 10, 5, 3  # seconds, seconds, probes
# Silence after which the backend gives its client up: the keepalives' last unanswered probe.
GIVE_UP_MS = (KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_COUNT) * 1000


def server_settings(application_name: str) -> dict[str, str]:
    """The settings of every store connection: its name in ``pg_stat_activity``, and how soon
    PostgreSQL drops the session of a host that died or was cut off (and the locks, a fence's
    ``FOR KEY SHARE`` included, and the open transaction it held): within about half a minute,
    not after the system's default two hours of silence.

    Keepalives alone do not do it: Linux sends no keepalive probe while data the backend sent is
    unacknowledged, so a partition in the middle of a batch (a result on its way back) leaves the
    session to TCP's retransmissions, which give up after about 15 minutes. ``tcp_user_timeout``
    (PostgreSQL 12 and later) bounds that case, and with keepalives on it also decides when their
    probes have failed; it is the keepalives' own bound, so both cases end alike."""
    return {"application_name": application_name, "tcp_keepalives_idle": str(KEEPALIVE_IDLE),
            "tcp_keepalives_interval": str(KEEPALIVE_INTERVAL), "tcp_keepalives_count": str(KEEPALIVE_COUNT),
            "tcp_user_timeout": str(GIVE_UP_MS)}


_CLAIM_SETTINGS = server_settings("qunguan serve")
# Who holds this database's claim: advisory locks are per database, and pg_locks lists every one's.
_CLAIM_HOLDERS = """
SELECT a.pid, a.client_addr::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = 0 AND l.granted AND a.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _claim_lost(conn: asyncpg.Connection) -> None:
    log.error("the connection holding this node's claim on the database closed: another server could now "
              "start on it beside this one; restart this node at a quiet moment to claim it again")


class PostgresLeases:
    """Mixed into :class:`server.storage.postgres.PostgresStore`. Lease statements go through a
    connection of their own, never the writer's nor the read pool's: a renewal must not wait behind
    a large batch, nor behind a burst of reads (a flood of ``auth`` token lookups once made a home
    miss its renewals and lose its lease)."""

    url: str
    fence: tuple[str, int] | None = None  # (lease name, epoch) that every write transaction must still hold
    _lease_db: asyncpg.Connection | None = None

    async def _leases(self) -> asyncpg.Connection:
        db = self._lease_db
        if db is None or db.is_closed():
            db = self._lease_db = await asyncpg.connect(self.url, timeout=5,
                                                        server_settings=server_settings("qunguan leases"))
        return db

    async def _lease_call(self, method: str, sql: str, *args: object) -> object:
        db = await self._leases()
        try:
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
        if db is not None:
            db.remove_termination_listener(_claim_lost)
            db.terminate()

    _claim_db: asyncpg.Connection | None = None

    async def _claim(self, cluster: bool) -> None:
        """Refuse to serve a database another node serves outside this one's cluster.

        The contract: nodes sharing a database must form a cluster (``[cluster] broker_url``). A
        lone node holds an exclusive session-level advisory lock for as long as it runs, a
        cluster's nodes a shared one, on a connection of its own; so a lone node does not start
        beside a running cluster or another lone node, nor a cluster node beside a lone node.
        A start-up guard: if that connection breaks later, the lock goes with it (logged there).
        """
        # Keepalives (server_settings): if this host dies, PostgreSQL drops the session and the lock.
        db = await asyncpg.connect(self.url, timeout=5, server_settings=_CLAIM_SETTINGS)
        taken = await db.fetchval("SELECT pg_try_advisory_lock_shared($1, 0)" if cluster else
                                  "SELECT pg_try_advisory_lock($1, 0)", LOCK_SERVE)
        if (not cluster and taken and await db.fetchval("SELECT to_regclass('cluster_leases')") is not None
                and await db.fetchval(_ANY_LIVE_LEASE) is not None):
            taken = False  # a cluster runs on it (its nodes started before this guard existed)
        if not taken:
            holders = await db.fetch(_CLAIM_HOLDERS, LOCK_SERVE)
            db.terminate()
            who = ", ".join(f"pid {r[0]} from {r[1] or 'a local socket'}" for r in holders) or "a cluster's home"
            raise StoreUnavailable(
                f"another qunguan node serves this database ({who})"
                + ("" if cluster else ", a lone node or a cluster")
                + ": nodes that share a database must form one cluster; set [cluster] broker_url on each")
        db.add_termination_listener(_claim_lost)
        self._claim_db = db

    async def take_lease(self, name: str, holder: str, ttl_seconds: float) -> int | None:
        """The new epoch if ``holder`` now holds ``name`` (it was free or had expired), else None."""
        epoch = await self._lease_call("fetchval", _TAKE, name, holder, ttl_seconds)
        return None if epoch is None else int(epoch)  # type: ignore[call-overload]

    async def renew_lease(self, name: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        """Push the expiry on; False when the lease is no longer ``holder``'s at ``epoch``."""
        return await self._lease_call("fetchval", _RENEW, name, holder, epoch, ttl_seconds) is not None

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
