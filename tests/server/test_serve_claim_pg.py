"""The refusal to serve a database another node serves names the processes that hold its claim on
that database (server/storage/postgres_cluster.py: ``_CLAIM_HOLDERS``), never those of a node that
serves another database on the same PostgreSQL server: advisory locks are per database, and pg_locks
lists every database's."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest

from server.storage.base import StoreUnavailable
from server.storage.postgres import PostgresStore
from server.storage.postgres_cluster import LOCK_SERVE
from tests import pgtools


@pytest.fixture
def two_dbs() -> Iterator[tuple[str, str]]:
    reason = pgtools.unavailable()
    if reason is not None:
        pytest.skip(reason)
    (a, url_a), (b, url_b) = pgtools.create_db(), pgtools.create_db()
    yield url_a, url_b
    pgtools.drop_db(a)
    pgtools.drop_db(b)


async def test_a_claim_on_another_database_is_not_named(two_dbs: tuple[str, str]) -> None:
    url_a, url_b = two_dbs
    # A lone node on each database (its claim: the exclusive lock, on a connection of its own).
    on_a, on_b = await asyncpg.connect(url_a), await asyncpg.connect(url_b)
    try:
        for conn in (on_a, on_b):
            assert await conn.fetchval("SELECT pg_try_advisory_lock($1, 0)", LOCK_SERVE)
        store = PostgresStore(url_b)
        with pytest.raises(StoreUnavailable) as refused:
            await store.claim(cluster=False)
        why = str(refused.value)
        assert "another qunguan node serves this database" in why
        assert f"pid {on_b.get_server_pid()} " in why
        assert f"pid {on_a.get_server_pid()} " not in why, why
    finally:
        await on_a.close()
        await on_b.close()
