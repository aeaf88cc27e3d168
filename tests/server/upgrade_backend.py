"""A store on a fresh database of either backend, opened at the current schema or at the one
before a given migration, with raw SQL beside it: for the tests of a migration's upgrade of
older rows and of what the store does with them afterwards."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.storage import postgres_schema, schema
from tests import pgtools


class Backend:
    """Opens stores on one database (``upgraded=False``: at the schema before the migrations
    ``before`` names, SQLite's and PostgreSQL's) and runs raw SQL on it."""

    def __init__(self, kind: str, path: Any, url: str | None, before: tuple[int, int]) -> None:
        self.kind, self.path, self.url, self.before = kind, path, url, before
        self.stores: list[Any] = []

    async def open(self, upgraded: bool = True) -> Any:
        if self.kind == "sqlite":
            from server.storage import sqlite as mod
            from server.storage.sqlite import SqliteStore

            store: Any = SqliteStore(self.path)
            full, first = schema.MIGRATIONS, self.before[0]
        else:
            from server.storage import postgres as mod  # type: ignore[no-redef]
            from server.storage.postgres import PostgresStore

            store = PostgresStore(self.url)
            full, first = postgres_schema.MIGRATIONS, self.before[1]
        mod.MIGRATIONS = [m for m in full if upgraded or m[0] < first]  # type: ignore[attr-defined]
        try:
            await store.open()
        finally:
            mod.MIGRATIONS = full  # type: ignore[attr-defined]
        store.set_record_key(b"k" * 32)
        self.stores.append(store)
        return store

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.kind == "postgresql":
            assert self.url is not None
            return pgtools.query(self.url, statement, *params)
        con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            return [tuple(r) for r in con.execute(statement, params).fetchall()]
        finally:
            con.close()


async def backend(request: pytest.FixtureRequest, tmp_path: Any, before: tuple[int, int]) -> AsyncIterator[Backend]:
    """The body of a test module's ``db`` fixture (``params=["sqlite", "postgresql"]``)."""
    name = url = None
    if request.param == "postgresql":
        if pgtools.unavailable() is not None:
            pytest.skip(str(pgtools.unavailable()))
        name, url = await asyncio.to_thread(pgtools.create_db)
    opened = Backend(request.param, tmp_path / "q.db", url, before)
    yield opened
    for s in opened.stores:
        await s.close()
    if name is not None:
        await asyncio.to_thread(pgtools.drop_db, name)


def account_before_upgrade(store: Any, account_id: str = "100000001", owner: str = "u0", name: str = "Tea") -> None:
    """An individual's public account written raw beside ``store`` (SQLite or PostgreSQL), for a
    test on a database at an older schema: today's ``InsertAccount`` writes columns (the carried
    suspension) that such a schema does not have yet."""
    statement = ("INSERT INTO accounts (account_id, name, name_key, category, subject_type, subject_key, owner_id,"
                 " credit_score, created_at) VALUES (?, ?, ?, 'culture', 'individual', 'k', ?, 100, 1)")
    params = (account_id, name, name.lower(), owner)
    if hasattr(store, "url"):
        pgtools.query(store.url, statement, *params)
        return
    con = sqlite3.connect(store.path, timeout=10, isolation_level=None)
    try:
        con.execute(statement, params)
    finally:
        con.close()
