"""A home whose process ends (kill -9, a crash) is followed at once, not a lease period later: the
gateways wait on a lock the home holds in PostgreSQL for as long as its process lives, and take the
lease when it goes and NATS, asked twice a second apart, says nobody listens for the home any more.
A home that is only cut from its lock's database session (the link reset, PostgreSQL restarted)
answers on NATS and keeps its lease; a home that holds no lock (an earlier version) is never taken
over that way; and a node that takes the lease from a frozen home, whose lock stays held, goes on.
With a long lease the difference is plain: before, every takeover after a crash waited the lease out."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats

from server.cluster import wire
from server.storage.postgres import PostgresStore
from server.storage.postgres_cluster import LOCK_HOME_LIFE
from tests.cluster.harness import BROKER, Cluster, wait_stopped

LEASE = 9.0


def _watching(c: Cluster, gateways: int) -> None:
    """Until ``gateways`` gateways wait for the home's lock (their connections show in the database)."""
    deadline = time.monotonic() + 10
    while len(c.db_rows("SELECT pid FROM pg_stat_activity WHERE application_name = 'qunguan home watch'"
                        " AND datname = current_database()")) < gateways:
        assert time.monotonic() < deadline, "the gateways do not wait for the home's lock"
        time.sleep(0.05)


def _life_lock_holders(c: Cluster) -> list[tuple[int]]:
    """The backends of the home's lock of its life in the cluster's database (its claim's connection)."""
    return c.db_rows(  # type: ignore[return-value]
        "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.classid = ? AND l.granted AND a.application_name = 'qunguan serve'"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())", LOCK_HOME_LIFE)


def test_a_killed_home_is_followed_within_a_fraction_of_the_lease(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=3, lease_seconds=LEASE)
    home = c.home()
    c.wait_ready()
    _watching(c, 2)
    home.kill9()
    gone = time.monotonic()
    taker = c.wait_home(timeout=3 * LEASE, not_=home)
    took = time.monotonic() - gone
    if took >= LEASE / 3:
        Path("/tmp/home_gone_logs.txt").write_text("\n\n".join(n.log() for n in c.nodes))
    assert took < LEASE / 3, f"a gateway took over {took:.1f} s after the home was killed"
    assert c.lease()[:2] == (taker.node_id, 2), c.lease()  # type: ignore[index]
    assert "is gone (its database session and its NATS subscriptions ended)" in taker.log()
    # The state was loaded while the taker made sure (server/cluster/ahead.py), and used.
    c.wait_log("the state loaded ahead of the takeover is the database's: used", nodes=[taker])
    # The other gateway follows the new home.
    other = next(n for n in c.nodes if n is not home and n is not taker)
    c.wait_ready(nodes=[other])


def test_a_home_that_loses_its_lock_session_but_answers_keeps_its_lease(
        make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=2, lease_seconds=LEASE)
    home, gateway = c.home(), c.gateways()[0]
    c.wait_ready()
    _watching(c, 1)
    pids = _life_lock_holders(c)
    assert len(pids) == 1, pids
    c.db_rows("SELECT pg_terminate_backend(?)", pids[0][0])
    c.wait_log("this node's claim on the database is taken again", nodes=[home])
    time.sleep(LEASE / 2)
    assert c.home_now() is home and c.lease()[:2] == (home.node_id, 1), c.lease()  # type: ignore[index]
    assert "is gone" not in gateway.log()
    # Its lock is held again: a kill now is followed at once.
    deadline = time.monotonic() + LEASE
    while not _life_lock_holders(c):
        assert time.monotonic() < deadline, "the home did not take its lock again"
        time.sleep(0.05)
    _watching(c, 1)  # (the gateway looks again a lease period after the home answered)
    home.kill9()
    gone = time.monotonic()
    assert c.wait_home(timeout=3 * LEASE, not_=home) is gateway
    assert time.monotonic() - gone < LEASE / 3


def test_a_node_that_takes_over_from_a_frozen_home_goes_on(make_cluster: Callable[..., Cluster]) -> None:
    """A frozen home (or one whose host vanished) keeps its database session, so its lock stays held
    while its lease runs out: a gateway takes the lease the usual way, and its watch of the old lock
    is given up, not taken for a failure of the node."""
    c = make_cluster(size=2, lease_seconds=3.0)
    home, gateway = c.home(), c.gateways()[0]
    c.wait_ready()
    _watching(c, 1)
    assert home.proc is not None
    home.proc.send_signal(signal.SIGSTOP)
    try:
        wait_stopped(home.proc.pid)
        assert c.wait_home(timeout=15, not_=home) is gateway
        time.sleep(2.0)
        assert gateway.alive and c.home_now() is gateway, gateway.log()[-3000:]
        assert _life_lock_holders(c), "the frozen home's lock went"
    finally:
        home.kill9()
    assert "is gone" not in gateway.log()


async def test_a_home_holding_no_lock_is_not_taken_for_gone(tmp_path: Path) -> None:
    """A home of an earlier version holds no lock: a gateway finds the lock free, and does not take
    the home for gone even when nobody answers for it on NATS (here the home is the test itself,
    which heartbeats and subscribes to nothing)."""
    c = Cluster(tmp_path, size=1, lease_seconds=3.0)
    [gw] = c.nodes
    store = PostgresStore(c.pg_url)
    await store.open()
    try:
        assert await store.take_lease(wire.HOME_LEASE, "old-home/0", 600.0) == 1
    finally:
        await store.close()
    nc = await nats.connect(BROKER)
    subjects = wire.Subjects(c.name)

    async def heartbeat() -> None:
        while True:
            await nc.publish(subjects.heartbeat, wire.pack(["old-home", 1]))
            await asyncio.sleep(0.3)

    beating = asyncio.create_task(heartbeat())
    try:
        await asyncio.to_thread(gw.start)
        await asyncio.to_thread(c.wait_ready)
        await asyncio.sleep(4.0)
        lease: Any = c.lease()
        assert lease[:2] == ("old-home", 1), lease
        assert "is gone" not in gw.log()
    finally:
        beating.cancel()
        await nc.close()
        await asyncio.to_thread(c.cleanup)


async def test_a_home_that_finds_its_lock_held_takes_it_once_it_is_free(make_cluster: Callable[..., Cluster]) -> None:
    """The session of the home's claim is replaced while the old one still holds its lock (here the
    test's own session holds it, as a backend PostgreSQL has not yet found dead would): the home
    keeps trying, and takes it once it is free, so a crash of it is again noticed at once."""
    import asyncpg

    c = make_cluster(size=1, lease_seconds=3.0)
    [home] = c.nodes
    c.wait_ready()
    [(pid,)] = _life_lock_holders(c)
    squatter = await asyncpg.connect(c.pg_url)
    try:
        # Queued for the lock first, so that PostgreSQL hands it to the squatter, not to the home
        # taking its claim again (which only tries, half a second later).
        await squatter.execute("SET lock_timeout = '20s'")
        squatting = asyncio.ensure_future(squatter.execute("SELECT pg_advisory_lock($1, 1)", LOCK_HOME_LIFE))
        deadline = time.monotonic() + 10
        while not c.db_rows("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = ? AND NOT granted"
                            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                            LOCK_HOME_LIFE):
            assert time.monotonic() < deadline, "the squatter does not wait for the lock"
            await asyncio.sleep(0.05)
        c.db_rows("SELECT pg_terminate_backend(?)", pid)
        await squatting
        await asyncio.to_thread(c.wait_log, "the home's lock of its life is held by another session", 10.0, [home])
        assert not _life_lock_holders(c)
    finally:
        await squatter.close()
    await asyncio.to_thread(c.wait_log, "the home's lock of its life is taken", 10.0, [home])
    assert len(_life_lock_holders(c)) == 1
