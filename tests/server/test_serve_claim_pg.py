"""The refusal to serve a database another node serves names the processes that hold its claim on
that database (server/storage/postgres_cluster.py: ``_CLAIM_HOLDERS``), never those of a node that
serves another database on the same PostgreSQL server: advisory locks are per database, and pg_locks
lists every database's."""

from __future__ import annotations

import asyncio
import logging
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
            await store.claim(cluster=None)
        why = str(refused.value)
        assert "another qunguan node serves this database" in why
        assert f"pid {on_b.get_server_pid()} " in why
        assert f"pid {on_a.get_server_pid()} " not in why, why
    finally:
        await on_a.close()
        await on_b.close()


async def _claim_pids(url: str) -> set[int]:
    """The backends holding a claim on the database at ``url``."""
    conn = await asyncpg.connect(url)
    try:
        return {r[0] for r in await conn.fetch(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = 0 AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", LOCK_SERVE)}
    finally:
        await conn.close()


async def _until(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := await check()):
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)
    return found


@pytest.mark.parametrize("cluster", [True, False])
async def test_a_claim_whose_connection_closed_is_taken_again(two_dbs: tuple[str, str], cluster: bool,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """After a PostgreSQL reset every node logged an ERROR telling the operator to restart it to
    claim the database again (the claim's lock went with its connection, and nothing took it
    again), so a lone node could then start beside a cluster, or beside another. Now the claim is
    taken again on a new connection, with a WARNING, and refuses a second lone node as before."""
    url, _ = two_dbs
    store = PostgresStore(url)
    await store.claim(cluster="svc" if cluster else None)
    try:
        [first] = await _claim_pids(url)
        caplog.set_level(logging.INFO, "qunguan")
        admin = await asyncpg.connect(url)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", first)  # its session ended, as by a restart
        finally:
            await admin.close()

        async def taken_again() -> set[int]:
            pids = await _claim_pids(url)
            return pids if pids and first not in pids else set()

        await _until(taken_again)
        assert "this node's claim on the database is taken again" in caplog.text
        assert [r.levelname for r in caplog.records if "claim on the database" in r.getMessage()] == ["WARNING", "INFO"]
        with pytest.raises(StoreUnavailable, match="another qunguan node serves this database"):
            await PostgresStore(url).claim(cluster=None)
    finally:
        store.release_claim()
    assert await _until(lambda: _no_claim(url))


async def _no_claim(url: str) -> bool:
    return not await _claim_pids(url)


async def test_a_claim_lost_in_an_outage_is_taken_again_once_the_database_is_back(
        two_dbs: tuple[str, str], caplog: pytest.LogCaptureFixture) -> None:
    """The database out of reach for a while (the link cut, new connections refused): the claim is
    tried again, more slowly each time, and taken as soon as it answers again."""
    from urllib.parse import urlsplit

    from tests.server.test_store_postgres import CuttableProxy

    url, _ = two_dbs
    parts = urlsplit(url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    store = PostgresStore(url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}"))
    caplog.set_level(logging.INFO, "qunguan")
    await store.claim(cluster="svc")
    try:
        [first] = await _claim_pids(url)
        await proxy.cut()
        await _until(lambda: _no_claim(url))  # (PostgreSQL saw the link go, and the lock with it)
        await asyncio.sleep(2.0)  # out of reach: attempts refused
        assert "taken again" not in caplog.text
        await proxy.start()  # back, on the same port

        async def taken_again() -> set[int]:
            pids = await _claim_pids(url)
            return pids if pids and first not in pids else set()

        await _until(taken_again)
        assert [r.levelname for r in caplog.records if "claim on the database" in r.getMessage()] == ["WARNING", "INFO"]
    finally:
        store.release_claim()
        await proxy.cut()


async def test_the_lock_of_life_asked_for_twice_at_once_is_taken_once_without_a_warning(
        two_dbs: tuple[str, str], caplog: pytest.LogCaptureFixture) -> None:
    """The claim taken again (its connection replaced) and the node becoming the home both ask for
    the home's lock of its life, on the claim's one connection: the second statement at once failed
    ("another operation is in progress") and warned that a crash would be noticed only when the
    lease expires, while the first had taken the lock. Now they take turns, and the second finds it
    held."""
    url, _ = two_dbs
    store = PostgresStore(url)
    await store.claim(cluster="svc")
    try:
        caplog.set_level(logging.INFO, "qunguan")
        db = store._claim_db
        assert db is not None
        taken = await asyncio.gather(store.hold_home_life(7), store._hold_life(db, 7))
        assert taken == [True, True]
        assert "lock of its life" not in caplog.text, caplog.text
        assert await store.holds_home_life(7)
    finally:
        store.release_claim()
