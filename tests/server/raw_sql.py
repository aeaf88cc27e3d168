"""Rows written and read by hand in a store's database, on either backend: a test sets up what the
server's own changes would take long to (old messages, a legal hold) and reads what a change left.
Statements are written with SQLite's ``?``; PostgreSQL gets them numbered."""

from __future__ import annotations

import re
from typing import Any

from server.storage.sqlite import SqliteStore


def _dialect(store: Any, statement: str) -> str:
    if isinstance(store, SqliteStore):
        return statement
    counter = iter(range(1, 1000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", statement)


async def run_sql(store: Any, statement: str, *rows: tuple[Any, ...]) -> None:
    """``statement`` once per row, in one write batch of the store's writer."""
    sql = _dialect(store, statement)

    async def fn(db: Any) -> None:
        await db.executemany(sql, list(rows))

    await store.run_in_batch(fn)


async def rows_of(store: Any, statement: str, *params: Any) -> list[Any]:
    """What ``statement`` reads, on the store's reader."""
    sql = _dialect(store, statement)
    if isinstance(store, SqliteStore):
        return list(await store._fetchall(sql, params))
    return list(await store._fetchall(sql, *params))
