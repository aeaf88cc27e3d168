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

from tests.e2e.harness import ServerProcess

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


# clock_nanosleep and nanosleep, by machine: the system calls SQLite's busy handler sleeps in.
SLEEP_SYSCALLS = {"x86_64": {"230", "35"}, "aarch64": {"115", "101"}}


async def until_write_waits(srv: Any, table: str, timeout: float = 10.0) -> None:
    """Return once the server's writer waits for the hold of :func:`writes_held` (on ``table``): a
    write it was given is in flight, taken from the queue (its claims made before), and held back.

    PostgreSQL: a statement of the server waits for the lock on ``table`` (``pg_locks``, not granted).
    SQLite: a thread of the server sleeps in SQLite's busy handler between two tries of the WAL write
    lock (its current system call, ``/proc/PID/task/TID/syscall``, which a parent may read, is a
    sleep); nothing else of the server sleeps so: its threads otherwise wait on futexes, its event
    loop in epoll."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    if srv.backend == "postgresql":
        import asyncpg

        conn = await asyncpg.connect(srv.pg_url)
        try:
            while not await conn.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = to_regclass($1)"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", table):
                if loop.time() > deadline:
                    raise AssertionError(f"no write of the server waited for the hold on {table} within {timeout} s")
                await asyncio.sleep(0.02)
        finally:
            await conn.close()
        return
    import platform

    sleeps = SLEEP_SYSCALLS[platform.machine()]
    tasks = f"/proc/{srv.proc.pid}/task"
    while True:
        for tid in os.listdir(tasks):
            try:
                with open(f"{tasks}/{tid}/syscall", encoding="ascii") as f:
                    if f.read().split(" ", 1)[0] in sleeps:
                        return
            except FileNotFoundError:  # (a thread that ended meanwhile)
                continue
        if loop.time() > deadline:
            raise AssertionError(f"no write of the server waited for the hold within {timeout} s")
        await asyncio.sleep(0.01)


async def until(check: Any, timeout: float = 5.0) -> None:
    """Wait until the coroutine function ``check`` returns true."""
    for _ in range(int(timeout / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


METERED = "\n[metrics]\nport = {port}\n"  # the extra config of a server whose queued writes a test watches

COUNTED = """
import sys
from server import operations
operations.PROBE_INTERVAL = 86400.0
from server.cli import main
sys.exit(main())
"""


class CountedServer(ServerProcess):
    """The server of a test that counts queued writes (:func:`until_writes_queued`), its metrics
    served: as ``python -m server`` runs it but for its readiness probe, a write that changes nothing
    sent through the writer every 2 s (server/operations.py, for /readyz). One queued during a hold
    was counted as the command's own write: the hold ended before the command had made its claim.
    The tests that count ask nothing of /readyz."""

    LAUNCH = ("-c", COUNTED)

    def __init__(self, workdir: Any, extra_config: str = "", backend: str = "sqlite", **fmt: Any) -> None:
        from tests.e2e.ops_helpers import free_port

        super().__init__(workdir, extra_config + metered(free_port()), backend, **fmt)


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


# -- an operator command on its way ----------------------------------------------------------------
# Once a ``qunguan admin`` process has connected to the operator socket, the server reads its request
# and runs the command up to its first wait on the store or a lock within milliseconds; this margin
# is for that alone (the process's own start, which a busy machine delays by seconds, is waited for).
REACHED = 0.3


def operator_socket(srv: Any) -> str:
    """The path of the server's operator socket, as its config names it."""
    from server.config import load_config

    return str(load_config(str(srv.config)).admin.socket)


def operator_connections(srv: Any, path: str | None = None) -> int:
    """How many connections the server's operator socket (at ``path``, default: its config's) has now:
    operator commands under way. The kernel's table of Unix sockets (``/proc/net/unix``) names the
    socket's path on its listener and on each connection made to it (accepted or not, until the
    server closes it after the answer)."""
    tail = " " + (path or operator_socket(srv))
    with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
        return sum(1 for line in f if line.rstrip("\n").endswith(tail)) - 1


async def until_operator_connections(srv: Any, at_least: int, timeout: float = 10.0) -> None:
    """Return once at least ``at_least`` operator commands are connected to the server, then
    :data:`REACHED` later: a ``qunguan admin`` this test started has reached the server and run up
    to where it waits. Waiting on this rather than a fixed time: the command's process, started
    by the test, starts late on a busy machine."""
    deadline = asyncio.get_running_loop().time() + timeout
    path = operator_socket(srv)
    while operator_connections(srv, path) < at_least:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"fewer than {at_least} operator commands reached the server within {timeout} s")
        await asyncio.sleep(0.01)
    await asyncio.sleep(REACHED)


async def operator(srv: Any, cmd: str, **args: Any) -> list[str]:
    """Run operator command ``cmd`` on the server's socket from this process (for a quick look at
    what the server holds in memory, such as ``accounts``, while a command under test waits): its
    output lines. Read to the end: the server has closed its side when this returns, so the
    connection is gone from :func:`operator_connections`."""
    import json

    reader, writer = await asyncio.open_unix_connection(operator_socket(srv))
    try:
        writer.write(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")
        await writer.drain()
        reply = json.loads(await reader.readline())
        await reader.read()  # EOF: the server closed its end
    finally:
        writer.close()
    assert reply.get("ok"), reply
    return list(reply["lines"])
