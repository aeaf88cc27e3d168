"""The state loaded ahead of a takeover (server/cluster/ahead.py), on the machine's PostgreSQL: the
count of the home's writes read in the load's own snapshot is the count read once the lease is taken
exactly when nothing the home wrote is missing from that state, a write in flight at the snapshot
and committed after it included; one node at a time loads ahead of one takeover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from server.storage import changes as ch
from server.storage.base import MessageRow
from tests import pgtools
from tests.server.test_cluster_lease import _append

pg = pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))
GID = "100000001"


@pytest.fixture
async def old_and_new() -> AsyncIterator[tuple[object, object]]:
    """Two nodes' stores on one database: ``old`` is the home (epoch 1, fenced), ``new`` a gateway."""
    from server.storage.postgres import PostgresStore

    name, url = await asyncio.to_thread(pgtools.create_db)
    old, new = PostgresStore(url), PostgresStore(url)
    await old.open()
    await new.open()
    for s in (old, new):
        s.set_record_key(b"k" * 32)
    await old.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    await old.apply(ch.CreateGroup(GID, "g", "work", "open", "u1", 1))
    assert await old.take_lease("home", "old", 0.5) == 1
    old.set_fence("home", 1)
    yield old, new
    await old.close()
    await new.close()
    await asyncio.to_thread(pgtools.drop_db, name)


async def _take_over(new: object) -> None:
    """``new`` takes the expired lease (epoch 2), as a gateway would once the home is gone."""
    deadline = time.monotonic() + 5
    while await new.take_lease("home", "new", 5.0) is None:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


@pg
async def test_every_batch_and_change_of_the_home_is_counted(old_and_new):
    old, new = old_and_new
    before = await new.writes_of("home")
    assert await _append(old, MessageRow(GID, 1, 1, "u1", "owner", "one", None, 0)) is None
    assert await new.writes_of("home") == before + 1
    await old.apply(ch.SetGroupFields(GID, {"announcement": "rules"}))
    assert await new.writes_of("home") == before + 2


@pg
async def test_a_state_loaded_ahead_with_nothing_written_since_is_the_databases(old_and_new):
    old, new = old_and_new
    assert await _append(old, MessageRow(GID, 1, 1, "u1", "owner", "one", None, 0)) is None
    writes, state = await new.load_state_ahead("home", 1, 10, 7)
    await _take_over(new)
    assert await new.writes_of("home") == writes
    assert state.groups[GID].last_seq == 1 and "u1" in state.users


@pg
async def test_a_write_committed_after_the_snapshot_shows_in_the_count(old_and_new):
    old, new = old_and_new
    writes, state = await new.load_state_ahead("home", 1, 10, 7)
    assert await _append(old, MessageRow(GID, 1, 1, "u1", "owner", "late", None, 0)) is None
    await _take_over(new)
    assert await new.writes_of("home") != writes  # the state above lacks it: loaded again
    assert state.groups[GID].last_seq == 0


@pg
async def test_a_write_in_flight_at_the_snapshot_and_committed_after_it_shows_in_the_count(old_and_new):
    """The old home's last batch began before the load's snapshot and commits after it (the process
    died with its COMMIT on the wire): the snapshot does not see it, and the count says so."""
    old, new = old_and_new
    side = await asyncpg.connect(old.url)  # type: ignore[attr-defined]
    try:
        tr = side.transaction()
        await tr.start()
        await side.execute("SELECT qunguan_fence_write('home', 1)")
        await side.execute("UPDATE groups SET announcement = 'in flight' WHERE group_id = $1", GID)
        writes, state = await new.load_state_ahead("home", 1, 10, 7)
        await tr.commit()
    finally:
        await side.close()
    await _take_over(new)
    assert state.groups[GID].announcement == ""
    assert await new.writes_of("home") == writes + 1


@pg
async def test_one_node_at_a_time_loads_ahead_of_one_takeover(old_and_new):
    old, new = old_and_new
    third = type(new)(new.url)  # type: ignore[attr-defined]
    holder = await asyncpg.connect(new.url)  # type: ignore[attr-defined]
    try:
        # Another node is loading ahead of the takeover from epoch 1: its transaction holds the turn.
        tr = holder.transaction()
        await tr.start()
        assert await holder.fetchval("SELECT pg_try_advisory_xact_lock($1, $2)", 0x5147_000D, 1)
        assert await third.load_state_ahead("home", 1, 10, 7) is None
        assert await third.load_state_ahead("home", 2, 10, 7) is not None  # another takeover's turn
        await tr.rollback()
        assert await third.load_state_ahead("home", 1, 10, 7) is not None
    finally:
        await holder.close()
