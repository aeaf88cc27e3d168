"""One database is one cluster service (server/storage/postgres_cluster.py: _own_service, migration
29): its first cluster node records its ``[cluster] name``, a node of another name is refused at
its claim, and no lease is taken or renewed for a name that is not the database's. The nodes here
are stores on the machine's PostgreSQL; tests/cluster/test_node_setup.py starts real ones."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from server.storage import postgres, postgres_schema
from server.storage.base import StoreUnavailable
from server.storage.postgres import PostgresStore
from tests import pgtools

pytestmark = pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))


@pytest.fixture
async def database() -> AsyncIterator[Callable[[bool], Coroutine[Any, Any, str]]]:
    """A fresh database: migrated (``True``) or empty, as before a cluster's first node."""
    made: list[str] = []

    async def make(migrated: bool) -> str:
        name, url = await asyncio.to_thread(pgtools.create_migrated_db if migrated else pgtools.create_db)
        made.append(name)
        return url

    yield make
    for name in made:
        await asyncio.to_thread(pgtools.drop_db, name)


async def node(url: str, name: str | None) -> PostgresStore:
    """A store started as a node starts it: the claim (``name``: its [cluster] name), then open."""
    store = PostgresStore(url)
    await store.claim(cluster=name)
    try:
        await store.open()
    except BaseException:
        store.release_claim()
        raise
    return store


def recorded(url: str) -> list[tuple[Any, ...]]:
    return pgtools.query(url, "SELECT name FROM cluster_service")


@pytest.mark.parametrize("migrated", [False, True], ids=["fresh", "migrated"])
async def test_of_two_first_nodes_with_different_names_one_name_wins(database: Any, migrated: bool) -> None:
    """Started at once on a new database (fresh: recorded after the migrations, in open; migrated:
    at the claim), the database decides: one name is recorded, the other node is refused."""
    url = await database(migrated)
    results = await asyncio.gather(node(url, "alpha"), node(url, "bravo"), return_exceptions=True)
    refused = [r for r in results if isinstance(r, BaseException)]
    started = [r for r in results if isinstance(r, PostgresStore)]
    try:
        assert len(refused) == 1 and len(started) == 1, results
        [(winner,)] = recorded(url)
        loser = "bravo" if winner == "alpha" else "alpha"
        assert isinstance(refused[0], StoreUnavailable), refused
        why = str(refused[0])
        assert f"this database belongs to the cluster named {winner!r}, not {loser!r}" in why, why
        assert "[cluster] name" in why and "[storage] url" in why, why
        assert started[0].service == winner
    finally:
        for store in started:
            await store.close()


async def test_a_node_of_another_name_is_refused_before_it_migrates(database: Any) -> None:
    """The database has the table at the claim: a node of another name is refused there, before it
    migrates anything, and it lets its claim go."""
    url = await database(True)
    first = await node(url, "explore638")
    try:
        typo = PostgresStore(url)
        with pytest.raises(StoreUnavailable, match="belongs to the cluster named 'explore638', not 'typo638'"):
            await typo.claim(cluster="typo638")
        assert typo._claim_db is None
        assert recorded(url) == [("explore638",)]
        again = await node(url, "explore638")  # a node of the service starts on it
        await again.close()
    finally:
        await first.close()


async def test_no_lease_is_taken_or_renewed_for_another_name(database: Any) -> None:
    """Defence in depth: a store whose name is not the database's (one that got past the start-up
    check, or a database renamed by hand while its home runs) takes no lease and renews none."""
    url = await database(True)
    home = await node(url, "explore638")
    other = PostgresStore(url)
    await other.open()
    other.service = "typo638"  # (as if its claim had said so and let it through)
    try:
        epoch = await home.take_lease("home", "n1/a", 30.0)
        assert epoch == 1
        await home.release_lease("home", "n1/a", epoch)
        assert await other.take_lease("home", "n4/b", 30.0) is None  # free, but not this service's
        assert await other.lease_holder("home") == ("n1/a", 1, False)
        assert await home.take_lease("home", "n1/c", 30.0) == 2  # the service's own node takes it
        assert await home.renew_lease("home", "n1/c", 2, 30.0)
        pgtools.query(url, "UPDATE cluster_service SET name = 'renamed'")
        assert not await home.renew_lease("home", "n1/c", 2, 30.0)  # no longer this node's service
        other.service = None  # a store with no name (a lone node): none either, once a name is recorded
        pgtools.query(url, "UPDATE cluster_leases SET expires_at = now() - interval '1 second'")
        assert await other.take_lease("home", "lone/d", 30.0) is None
    finally:
        await other.close()
        await home.close()


async def test_an_existing_database_without_a_name_takes_the_first_node_s(database: Any,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """A cluster that ran before names were recorded (its database at migration 28, its home's
    lease live): the first node of this version records its name, takes the lease when it is
    free, and from then on a node of another name is refused."""
    url = await database(False)
    full = postgres_schema.MIGRATIONS
    postgres.MIGRATIONS = [m for m in full if m[0] < 29]  # type: ignore[attr-defined]
    try:
        old = PostgresStore(url)
        await old.open()
        await old.close()
    finally:
        postgres.MIGRATIONS = full  # type: ignore[attr-defined]
    assert pgtools.query(url, "SELECT to_regclass('cluster_service')") == [(None,)]
    pgtools.query(url, "INSERT INTO cluster_leases VALUES ('home', 'n1/old', 7, now() + interval '30 seconds')")
    with caplog.at_level(logging.INFO, logger="qunguan"):
        upgraded = await node(url, "explore638")
    try:
        assert recorded(url) == [("explore638",)]
        assert "this database now belongs to the cluster named 'explore638'" in caplog.text
        assert "node n1 holds the home lease" in caplog.text  # (a cluster served it: said at WARNING)
        pgtools.query(url, "UPDATE cluster_leases SET expires_at = now() - interval '1 second'")
        assert await upgraded.take_lease("home", "n2/new", 30.0) == 8
        with pytest.raises(StoreUnavailable, match="belongs to the cluster named 'explore638', not 'typo638'"):
            await node(url, "typo638")
    finally:
        await upgraded.close()
