"""Holding a running server's store reads back from outside, to test what a handler does when
the world changes during its ``await`` (a race that timing alone cannot produce reliably).

PostgreSQL: a transaction of the test's own takes ``ACCESS EXCLUSIVE`` on one table, so the
server's reads of it wait until the test lets go; writes to other tables go on.

SQLite (WAL mode): the test process takes the exclusive locks on the five read-mark bytes of
the WAL-index (bytes 123 to 127 of ``qunguan.db-shm``, the file format's WAL_READ_LOCK(0..4)).
No connection of the server can begin a read transaction meanwhile, so every read waits (SQLite
retries for about ten seconds before giving up), and so do writes, which begin with a read.
While a hold is on, this process must not open and close the database itself: closing any
descriptor of a file drops this process's POSIX locks on it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

WAL_READ_LOCKS = (123, 5)  # (first byte, count) in the -shm file
WAL_WRITE_LOCK = (120, 1)  # WAL_WRITE_LOCK: held by whoever writes (BEGIN IMMEDIATE)


@asynccontextmanager
async def reads_held(srv: Any, table: str) -> AsyncIterator[None]:
    """While inside, the server's reads of ``table`` wait (on SQLite: all its reads and writes)."""
    if srv.backend == "postgresql":
        async with _table_locked(srv, table, "ACCESS EXCLUSIVE"):
            yield
        return
    async with _shm_locked(srv, WAL_READ_LOCKS, "the server's reads never let go of the WAL read locks"):
        yield


@asynccontextmanager
async def writes_held(srv: Any, table: str) -> AsyncIterator[None]:
    """While inside, the server's writes wait (on PostgreSQL: those touching ``table``) and its
    reads go on: a change claimed in memory stays in flight, so a test can act meanwhile.

    PostgreSQL: ``EXCLUSIVE`` on ``table`` conflicts with every row change, not with plain reads.
    SQLite: the WAL write lock (byte 120 of the -shm file); the writer's ``BEGIN IMMEDIATE`` retries
    for ``busy_timeout`` (5 s), so a hold must stay well under that.
    """
    if srv.backend == "postgresql":
        async with _table_locked(srv, table, "EXCLUSIVE"):
            yield
        return
    async with _shm_locked(srv, WAL_WRITE_LOCK, "the server's writer never let go of the WAL write lock"):
        yield


@asynccontextmanager
async def _table_locked(srv: Any, table: str, mode: str) -> AsyncIterator[None]:
    """A transaction of the test's own holding ``table`` in ``mode`` until the block ends."""
    import asyncpg

    conn = await asyncpg.connect(srv.pg_url)
    try:
        tr = conn.transaction()
        await tr.start()
        await conn.execute(f"LOCK TABLE {table} IN {mode} MODE")
        try:
            yield
        finally:
            await tr.rollback()
    finally:
        await conn.close()


@asynccontextmanager
async def _shm_locked(srv: Any, span: tuple[int, int], stuck: str) -> AsyncIterator[None]:
    """This process's exclusive POSIX lock on ``span`` (first byte, count) of the -shm file, taken
    as soon as the server lets go of it for a moment (``stuck``: the error if it never does)."""
    start, count = span
    fd = os.open(srv.dir / "qunguan.db-shm", os.O_RDWR)
    try:
        for _ in range(2000):
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, count, start, os.SEEK_SET)
                break
            except OSError:
                await asyncio.sleep(0.005)
        else:
            raise AssertionError(stuck)
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, count, start, os.SEEK_SET)
    finally:
        os.close(fd)


async def until(check: Any, timeout: float = 5.0) -> None:
    """Wait until the coroutine function ``check`` returns true."""
    for _ in range(int(timeout / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


METERED = "\n[metrics]\nport = {port}\n"  # the extra config of a server whose queued writes a test watches


def metered(port: int) -> str:
    """The extra config text that serves a server's metrics on ``port`` (for :func:`until_writes_queued`)."""
    return METERED.format(port=port)


async def writes_queued(srv: Any) -> int:
    """How many writes wait behind the one in flight now (``qunguan_store_writes_queued``)."""
    from tests.e2e import ops_helpers as ops

    return int((await asyncio.to_thread(ops.scrape, ops.metrics_url(srv))).get("qunguan_store_writes_queued", 0))


async def until_writes_queued(srv: Any, timeout: float = 20.0, more_than: int = 0) -> None:
    """Return once the server's writer has more than ``more_than`` writes queued behind the one a
    hold keeps in flight (``qunguan_store_writes_queued``): a command the test started has made its
    claims in memory and queued its write. Waiting on this rather than a fixed time: an operator
    command runs in a process of its own, which a busy machine starts late. Pass what
    :func:`writes_queued` said before the command when the client's own write may be queued too
    (behind a network-log batch in flight)."""
    from tests.e2e import ops_helpers as ops

    url = ops.metrics_url(srv)
    deadline = asyncio.get_running_loop().time() + timeout
    while (await asyncio.to_thread(ops.scrape, url)).get("qunguan_store_writes_queued", 0) <= more_than:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no write was queued within {timeout} s")
        await asyncio.sleep(0.02)
