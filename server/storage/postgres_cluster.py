"""The cluster's lease rows (``cluster_leases``, migration 11) and the fence on the home's writes.

A lease names one role in the service ("home": the node that runs the logic). Times are on the
database's clock (``now()``), so the nodes' clocks never decide who holds a lease. ``epoch``
grows on every takeover; the holder's write transactions call ``qunguan_fence(name, epoch)``
first, which fails once somebody else has taken the lease (see ``PostgresStore._commit``).
"""

from __future__ import annotations

import asyncpg

_TAKE = """
INSERT INTO cluster_leases AS l (name, holder, epoch, expires_at)
VALUES ($1, $2, 1, now() + make_interval(secs => $3))
ON CONFLICT (name) DO UPDATE
    SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at
    WHERE l.expires_at < now()
RETURNING epoch
"""
_RENEW = """
UPDATE cluster_leases SET expires_at = now() + make_interval(secs => $4)
WHERE name = $1 AND holder = $2 AND epoch = $3
RETURNING 1
"""
_RELEASE = """
UPDATE cluster_leases SET expires_at = now() - interval '1 second'
WHERE name = $1 AND holder = $2 AND epoch = $3
"""
_HOLDER = "SELECT holder, epoch, expires_at > now() FROM cluster_leases WHERE name = $1"


class PostgresLeases:
    """Mixed into :class:`server.storage.postgres.PostgresStore`; uses its read pool, never the writer
    (a lease must be renewed on time even while a large batch commits)."""

    pool: asyncpg.Pool | None
    fence: tuple[str, int] | None = None  # (lease name, epoch) that every write transaction must still hold

    async def take_lease(self, name: str, holder: str, ttl_seconds: float) -> int | None:
        """The new epoch if ``holder`` now holds ``name`` (it was free or had expired), else None."""
        assert self.pool is not None
        return await self.pool.fetchval(_TAKE, name, holder, ttl_seconds)  # type: ignore[no-any-return]

    async def renew_lease(self, name: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        """Push the expiry on; False when the lease is no longer ``holder``'s at ``epoch``."""
        assert self.pool is not None
        return await self.pool.fetchval(_RENEW, name, holder, epoch, ttl_seconds) is not None

    async def release_lease(self, name: str, holder: str, epoch: int) -> None:
        """Let the lease expire now (a clean stop), so another node takes over without waiting."""
        assert self.pool is not None
        await self.pool.execute(_RELEASE, name, holder, epoch)

    async def lease_holder(self, name: str) -> tuple[str, int, bool] | None:
        """(holder, epoch, still valid) of a lease, or None if it was never taken."""
        assert self.pool is not None
        row = await self.pool.fetchrow(_HOLDER, name)
        return None if row is None else (row[0], row[1], row[2])

    def set_fence(self, name: str, epoch: int) -> None:
        """From now on every write transaction first proves ``name`` is still held at ``epoch``."""
        self.fence = (name, epoch)
