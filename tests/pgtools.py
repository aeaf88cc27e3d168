"""The machine's PostgreSQL for tests: a fresh database per server or store, dropped afterwards.

``QUNGUAN_TEST_PG`` names the maintenance database to connect to (default: the
local server as user ``postgres``, trust auth, as on every development and CI
machine of this project). When it cannot be reached, the PostgreSQL variants
of the tests skip with the reason; in CI it is reachable.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import itertools
import os
import queue
import re
import sys
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

ADMIN_URL = os.environ.get("QUNGUAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_serial = itertools.count(1)


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion on a loop of its own (callable from inside a running loop too)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@functools.cache
def unavailable() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when they can."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed (pip install -e '.[test]')"

    async def probe() -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=3)
        await conn.close()

    try:
        run_sync(probe())
    except Exception as exc:
        return f"PostgreSQL is not reachable at {ADMIN_URL} ({exc!r}); set QUNGUAN_TEST_PG to one that is"
    return None


def _url_for(db: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{db}"


def create_db() -> tuple[str, str]:
    """A fresh, empty database: (its name, its url)."""
    return _new_db(None)


def create_migrated_db() -> tuple[str, str]:
    """A fresh database with the server's schema already in it (no rows): a copy of a template made
    once per schema by the server's own migrations (:func:`schema_template`). A server started on it
    applies no migration, which saves a third of a PostgreSQL server's start-up in every test; the
    migrations from an empty database are still run by every test that uses :func:`create_db`."""
    return _new_db(schema_template())


def _new_db(template: str | None) -> tuple[str, str]:
    import asyncpg

    name = f"qg_test_{os.getpid()}_{next(_serial)}_{uuid.uuid4().hex[:8]}"
    copy_of = f' TEMPLATE "{template}"' if template is not None else ""

    async def create() -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"{copy_of}')
        finally:
            await conn.close()

    run_sync(create())
    return name, _url_for(name)


TEMPLATE_LOCK = 0x716774  # advisory lock key while a worker builds a template (other workers wait)


@functools.cache
def schema_template() -> str:
    """The template database for this code's PostgreSQL schema, built if missing: named after a hash of
    the migrations, migrated by ``PostgresStore.open`` (the server's own code), then marked a template
    (the mark says it is complete). Shared by the test processes, and kept for the next run."""
    import hashlib

    import asyncpg

    from server.storage.postgres import PostgresStore
    from server.storage.postgres_schema import MIGRATIONS

    name = "qg_template_" + hashlib.sha256(repr(MIGRATIONS).encode()).hexdigest()[:16]

    async def build() -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=10)
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK)
            done = await conn.fetchval("SELECT datistemplate FROM pg_database WHERE datname = $1", name)
            if done:
                return
            if done is not None:  # a build that did not finish
                await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
            store = PostgresStore(_url_for(name))
            await store.open()
            await store.close()
            await conn.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE true')
        finally:
            await conn.close()  # (ends the session: the advisory lock goes with it)

    run_sync(build())
    return name


def drop_db(name: str) -> None:
    run_sync(_drop(name))


async def _drop(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_URL, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


_later: queue.SimpleQueue[str | None] = queue.SimpleQueue()
_dropper: threading.Thread | None = None
_dropper_lock = threading.Lock()


def drop_db_later(name: str) -> None:
    """Drop ``name`` on a thread of this process's own, in the order given, while the tests go on: a
    ``DROP DATABASE`` waits for a checkpoint (about 2 s here), which every PostgreSQL variant of an
    end-to-end test waited out in its teardown. The process waits for the drops still queued when
    it ends (``atexit``)."""
    global _dropper
    with _dropper_lock:
        if _dropper is None:
            _dropper = threading.Thread(target=_drop_queued, name="pg-drop", daemon=True)
            _dropper.start()
            atexit.register(_drop_rest, _dropper)
    _later.put(name)


def _drop_queued() -> None:
    while (name := _later.get()) is not None:
        try:
            asyncio.run(_drop(name))  # (this thread's own loop: no executor, which ends at the process's exit)
        except Exception as err:  # (a database left behind is no test's failure)
            print(f"pgtools: could not drop {name}: {err!r}", file=sys.stderr)


def _drop_rest(dropper: threading.Thread) -> None:
    _later.put(None)  # after the names queued: the thread drops them all, then ends
    dropper.join(120)


def dollar_params(sql: str) -> str:
    """SQLite's ``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (none of our test queries quote a ``?``)."""
    n = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(n)}", sql)


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement (``?`` placeholders) on ``url``; its rows as tuples."""
    import asyncpg

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return [tuple(r) for r in await conn.fetch(dollar_params(sql), *params)]
        finally:
            await conn.close()

    return list(run_sync(run()))


async def splice(cr: asyncio.StreamReader, cw: asyncio.StreamWriter,
                 sr: asyncio.StreamReader, sw: asyncio.StreamWriter,
                 dropping: Callable[[], bool] = lambda: False) -> None:
    """Relay both ways between a client's and a server's streams until either side ends (for the
    tests' cuttable relays to PostgreSQL); what is read while ``dropping()`` is dropped."""
    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                if dropping():
                    continue
                w.write(data)
                await w.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    await asyncio.gather(pipe(cr, sw), pipe(sr, cw))
