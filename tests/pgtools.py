"""The machine's PostgreSQL for tests: a database per server or store, dropped or emptied for reuse afterwards.

``QUNGUAN_TEST_PG`` names the maintenance database to connect to (default: the
local server as user ``postgres``, trust auth, as on every development and CI
machine of this project). When it cannot be reached, the PostgreSQL variants
of the tests skip with the reason; in CI it is reachable.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
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
    """A database with the server's schema already in it and no rows but the migrations' own: one
    this process used before and emptied (:func:`release_db`), else a copy of a template made once
    per schema by the server's own migrations (:func:`schema_template`). A server started on it
    applies no migration, which saves a third of a PostgreSQL server's start-up in every test; the
    migrations from an empty database are still run by every test that uses :func:`create_db`."""
    try:
        name = _emptied.popleft()
    except IndexError:
        name, url = _new_db(schema_template())
        global _fresh
        if _fresh is None:
            try:
                _fresh = run_sync(_FreshState.read(url))
            except BaseException:
                drop_db(name)
                raise
        return name, url
    return name, _url_for(name)


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


# What a database copied from the template holds, read from this process's first copy (reading
# the template itself would hold it open, and a CREATE DATABASE from it fails while anyone is on it).
_FINGERPRINT = """
SELECT md5(string_agg(item, E'\\n' ORDER BY item)) FROM (
    SELECT 'rel ' || c.relname || ' ' || c.relkind::text FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || ' ' || a.attnotnull || ' ' || a.attisdropped || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0
    UNION ALL
    SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
     WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'idx ' || indexrelid::regclass::text || ' ' || pg_get_indexdef(indexrelid) FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'trg ' || pg_get_triggerdef(oid) || ' ' || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT 'fn ' || p.oid::regprocedure::text || ' ' || md5(p.prosrc) FROM pg_proc p WHERE p.pronamespace NOT IN
        ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
    UNION ALL
    SELECT 'ns ' || nspname FROM pg_namespace
    UNION ALL
    SELECT 'ext ' || extname || ' ' || extversion FROM pg_extension
    UNION ALL
    SELECT 'set ' || array_to_string(setconfig, ' ') FROM pg_db_role_setting
     WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
) AS schema(item)
"""


class _FreshState:
    """A fresh copy's schema (as a fingerprint), its rows (the migrations' own, as JSON per table)
    and its sequences: what :func:`_empty` puts a used database back to, or refuses to."""

    def __init__(self, fingerprint: str, tables: list[str], rows: dict[str, str],
                 sequences: list[tuple[str, int, bool]]) -> None:
        self.fingerprint = fingerprint
        self.tables = tables
        self.rows = rows
        self.sequences = sequences

    @classmethod
    async def read(cls, url: str) -> _FreshState:
        import asyncpg

        conn = await asyncpg.connect(url, timeout=10)
        try:
            fingerprint = await conn.fetchval(_FINGERPRINT)
            tables = [r[0] for r in await conn.fetch(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
            rows = {}
            for table in tables:
                held = await conn.fetchval(f"SELECT json_agg(t) FROM {table} t")
                if held is not None:
                    rows[table] = held
            sequences = [(r[0], r[1] if r[1] is not None else r[2], r[1] is not None) for r in await conn.fetch(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value, start_value"
                " FROM pg_sequences")]
        finally:
            await conn.close()
        return cls(fingerprint, tables, rows, sequences)


async def _empty(name: str, fresh: _FreshState) -> bool:
    """Put a used database back as a fresh copy is (rows and sequences), unless its schema is no
    longer the template's (a test altered it): then False, and it is to be dropped."""
    import asyncpg

    conn = await asyncpg.connect(_url_for(name), timeout=10, command_timeout=30)
    try:
        # Its server is stopped; a backend of a killed one may still be on its way out (waited
        # for, up to 5 s each, so that none still holds a lock the next server takes).
        await conn.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        if await conn.fetchval(_FINGERPRINT) != fresh.fingerprint:
            return False
        async with conn.transaction():
            # (Replica mode: no foreign-key or other trigger fires, so the order of the tables is free.)
            await conn.execute("SET LOCAL session_replication_role = replica")
            for table in fresh.tables:
                await conn.execute(f"DELETE FROM {table}")
            for table, rows in fresh.rows.items():
                await conn.execute(f"INSERT INTO {table} OVERRIDING SYSTEM VALUE"
                                   f" SELECT * FROM json_populate_recordset(NULL::{table}, $1)",
                                   rows)
            for seq, value, called in fresh.sequences:
                await conn.execute("SELECT setval($1::regclass, $2, $3)", seq, value, called)
    finally:
        await conn.close()
    return True


_fresh: _FreshState | None = None
_emptied: collections.deque[str] = collections.deque()  # databases put back by _release_queued, ready for reuse
_later: queue.SimpleQueue[str | None] = queue.SimpleQueue()
_releaser: threading.Thread | None = None
_releaser_lock = threading.Lock()


def release_db(name: str) -> None:
    """Give back a database from :func:`create_migrated_db` once its servers are stopped: on a thread
    of this process's own, while the tests go on, it is emptied for the next test to use, or
    dropped when a test changed its schema. Copying the template costs half a second or more of
    PostgreSQL's time (it writes the whole copy to the WAL), emptying a few hundredths. The
    process drops them all when it ends (``atexit``)."""
    global _releaser
    with _releaser_lock:
        if _releaser is None:
            _releaser = threading.Thread(target=_release_queued, name="pg-release", daemon=True)
            _releaser.start()
            atexit.register(_release_rest, _releaser)
    _later.put(name)


def _release_queued() -> None:
    while (name := _later.get()) is not None:
        try:  # (this thread's own loop: no executor, which ends at the process's exit)
            if _fresh is not None and asyncio.run(_empty(name, _fresh)):
                _emptied.append(name)
                continue
        except Exception as err:  # (e.g. QUNGUAN_TEST_PG names no superuser: no replica mode)
            print(f"pgtools: could not empty {name}, dropping it: {err!r}", file=sys.stderr)
        try:
            asyncio.run(_drop(name))
        except Exception as err:  # (a database left behind is no test's failure)
            print(f"pgtools: could not drop {name}: {err!r}", file=sys.stderr)


def _release_rest(releaser: threading.Thread) -> None:
    _later.put(None)  # after the names queued: the thread empties them, then ends
    releaser.join(120)
    while _emptied:
        name = _emptied.popleft()
        try:
            asyncio.run(_drop(name))
        except Exception as err:
            print(f"pgtools: could not drop {name}: {err!r}", file=sys.stderr)


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
                 dropping: Callable[[], bool] = lambda: False,
                 flowing: asyncio.Event | None = None) -> None:
    """Relay both ways between a client's and a server's streams until either side ends (for the
    tests' cuttable relays to PostgreSQL); what is read while ``dropping()`` is dropped, and what is
    read while ``flowing`` is clear waits for it (a link that delays, not loses)."""
    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                if dropping():
                    continue
                if flowing is not None:
                    await flowing.wait()
                w.write(data)
                await w.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    await asyncio.gather(pipe(cr, sw), pipe(sr, cw))
