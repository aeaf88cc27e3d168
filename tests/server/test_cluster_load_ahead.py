"""The state loaded ahead of a takeover (server/cluster/ahead.py), on the machine's PostgreSQL: the
count of the home's writes read in the load's own snapshot is the count read once the lease is taken
exactly when nothing the home wrote is missing from that state, a write in flight at the snapshot
and committed after it included; one node at a time loads ahead of one takeover."""

from __future__ import annotations

import asyncio
import gc
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


async def _ahead(new: object, gone_epoch: int = 1) -> tuple[tuple[int, int] | None, object]:
    """(the count read in the snapshot, the state), as the load ahead gives them."""
    counted: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
    state = await new.load_state_ahead("home", gone_epoch, 10, 7, counted)  # type: ignore[attr-defined]
    return (counted.result() if counted.done() else None), state


@pg
async def test_every_batch_and_change_of_the_home_is_counted_for_its_epoch(old_and_new):
    old, new = old_and_new
    writes, version = await new.writes_of("home", 1)
    assert await _append(old, MessageRow(GID, 1, 1, "u1", "owner", "one", None, 0)) is None
    assert await new.writes_of("home", 1) == (writes + 1, version)
    await old.apply(ch.SetGroupFields(GID, {"announcement": "rules"}))
    assert await new.writes_of("home", 1) == (writes + 2, version)


@pg
async def test_a_state_loaded_ahead_with_nothing_written_since_is_the_databases(old_and_new):
    old, new = old_and_new
    assert await _append(old, MessageRow(GID, 1, 1, "u1", "owner", "one", None, 0)) is None
    counted, state = await _ahead(new)
    await _take_over(new)
    # The new home's own writes (its store probe, a message) are counted for its own epoch only.
    new.set_fence("home", 2)
    await new.ping()
    assert await _append(new, MessageRow(GID, 2, 2, "u1", "owner", "two", None, 0)) is None
    assert await new.writes_of("home", 1) == counted
    assert state.groups[GID].last_seq == 1 and "u1" in state.users


@pg
async def test_a_write_committed_after_the_snapshot_shows_in_the_count(old_and_new):
    old, new = old_and_new
    counted, state = await _ahead(new)
    assert await _append(old, MessageRow(GID, 1, 1, "u1", "owner", "late", None, 0)) is None
    await _take_over(new)
    assert await new.writes_of("home", 1) != counted  # the state above lacks it: loaded again
    assert state.groups[GID].last_seq == 0


@pg
async def test_a_write_in_flight_when_the_load_begins_is_waited_for_and_in_the_state(old_and_new):
    """The old home's last batch is still running when the load ahead begins (its process died with
    the statement sent): the load waits for it, as a take does, so the snapshot has it and the count
    agrees. Not waited for, it would commit after the snapshot and every such load would be lost."""
    old, new = old_and_new
    side = await asyncpg.connect(old.url)  # type: ignore[attr-defined]
    try:
        tr = side.transaction()
        await tr.start()
        await side.execute("SELECT qunguan_fence_write('home', 1)")
        await side.execute("UPDATE groups SET announcement = 'in flight' WHERE group_id = $1", GID)
        loading = asyncio.ensure_future(_ahead(new))
        await asyncio.sleep(0.5)
        assert not loading.done()  # waiting for the write in flight
        await tr.commit()
        counted, state = await loading
    finally:
        await side.close()
    await _take_over(new)
    assert state.groups[GID].announcement == "in flight"
    assert await new.writes_of("home", 1) == counted


@pg
async def test_a_migration_after_the_snapshot_shows_in_the_check(old_and_new):
    """A newer node that starts during the takeover may migrate data the state holds."""
    old, new = old_and_new
    counted, _ = await _ahead(new)
    assert counted is not None
    old_version = counted[1]
    side = await asyncpg.connect(old.url)  # type: ignore[attr-defined]
    try:
        await side.execute("INSERT INTO schema_migrations VALUES ($1, 0)", old_version + 1)
    finally:
        await side.close()
    assert await new.writes_of("home", 1) == (counted[0], old_version + 1)


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
        assert await _ahead(third) == (None, None)
        assert (await _ahead(third, 2))[1] is not None  # another takeover's turn
        await tr.rollback()
        assert (await _ahead(third))[1] is not None
    finally:
        await holder.close()


class _Node:
    """What LoadAhead reads of a node's App: its (real) store, clock and config."""

    def __init__(self, store: object) -> None:
        self.store = store
        self.cfg = type("Cfg", (), {"groups": type("Groups", (), {"activity_window_days": 7})()})()

    def now_ms(self) -> int:
        return 10


@pg
@pytest.mark.parametrize("case", ["used", "written since", "another epoch"])
async def test_the_takeover_uses_the_state_loaded_ahead_only_when_it_is_the_databases(old_and_new, case):
    from server.cluster.ahead import LoadAhead

    old, new = old_and_new
    ahead = LoadAhead(_Node(new))  # type: ignore[arg-type]
    ahead.start(1)
    await asyncio.sleep(0.5)  # (loaded: a tiny database)
    if case == "written since":
        assert await _append(old, MessageRow(GID, 1, 1, "u1", "owner", "late", None, 0)) is None
    await _take_over(new)
    state = await ahead.take(2 if case != "another epoch" else 3)
    assert (state is not None) == (case == "used")
    assert gc.isenabled()  # (off while the state was held, on again)
