"""Fixtures shared by the store tests of tests/server/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from server.storage.sqlite import SqliteStore
from tests import pgtools


@pytest.fixture(params=["sqlite", "postgresql"])
async def open_store(request, tmp_path) -> AsyncIterator[Callable[[], object]]:
    """``make()`` opens one more store on the same database (PostgreSQL: one more node's writer, as
    two nodes of a cluster write one database). Both backends; closed afterwards. The PostgreSQL
    database is a copy of the migrated template, given back to be emptied for the next test (the
    migrations from an empty database are tests/server/test_migrations.py's). A module marked
    ``fresh_database`` gets a new database, migrated by its first store (its tests read when the
    database was made)."""
    stores: list = []
    name = None
    fresh = False
    if request.param == "postgresql":
        if pgtools.unavailable() is not None:
            pytest.skip(str(pgtools.unavailable()))
        fresh = request.node.get_closest_marker("fresh_database") is not None
        name, url = await asyncio.to_thread(pgtools.create_db if fresh else pgtools.create_migrated_db)

    async def make():
        if request.param == "sqlite":
            store = SqliteStore(tmp_path / "q.db")
        else:
            from server.storage.postgres import PostgresStore

            store = PostgresStore(url)
        await store.open()
        store.set_record_key(b"k" * 32)
        stores.append(store)
        return store

    yield make
    for s in stores:
        await s.close()
    if name is not None:
        await asyncio.to_thread(pgtools.drop_db if fresh else pgtools.release_db, name)


@pytest.fixture
async def app(tmp_path) -> AsyncIterator[object]:
    """A real server in this process, on a free port and SQLite (the config of test_group_ids.py),
    for tests that must step into a handler's ``await`` (a store read made to answer late)."""
    from server.app import App
    from tests.server.test_group_ids import config

    server = App(config(tmp_path))
    await server.start()
    yield server
    await server.stop()
