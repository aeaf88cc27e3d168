"""A throw-away PostgreSQL database for one benchmark run (``python -m bench --postgres [URL]``).

URL names any database on the server to connect to (default: the local server as
user ``postgres``); the run makes ``qunguan_bench_<pid>`` there, points qunguan's
``storage.url`` at it, and drops it at the end, so no existing database is touched.
"""

from __future__ import annotations

import os

import asyncpg

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def create(admin_url: str, suffix: str = "") -> tuple[str, str]:
    """(database name, its url); ``suffix`` tells apart several databases of one run."""
    name = f"qunguan_bench_{os.getpid()}{suffix}"
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = admin_url.partition("?")[0].rpartition("/")
    return name, f"{base}/{name}"


async def drop(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
