"""The home lease and its fence, on the machine's PostgreSQL: one holder at a time, a takeover
only after expiry, and no write from a home that lost its lease (the fencing token).

The tests on ``two_nodes`` use the machine's PostgreSQL. The ones on ``app`` drive a node's lease loop
in this process with stand-ins for the broker and the lease table (``Broker``, ``Leases``): they pin
moments the real ones cannot be brought to on cue (a take that commits just as its time runs out, a
stop in the middle of a promotion). What real NATS and PostgreSQL do around those moments is tested
on three node processes in tests/cluster (test_silent_cut.py, test_failover.py, test_home_gone.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from server.config import ConfigError, parse_config
from server.storage import changes as ch
from server.storage.base import MessageRow
from tests import pgtools

pg = pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))


@pytest.fixture
async def two_nodes() -> AsyncIterator[tuple[object, object]]:
    from server.storage.postgres import PostgresStore

    name, url = await asyncio.to_thread(pgtools.create_db)
    a, b = PostgresStore(url), PostgresStore(url)
    await a.open()
    await b.open()  # migrations under the advisory lock: the second open applies nothing
    for s in (a, b):
        s.set_record_key(b"k" * 32)
    yield a, b
    await a.close()
    await b.close()
    await asyncio.to_thread(pgtools.drop_db, name)


def _append(store: object, row: MessageRow) -> asyncio.Future[BaseException | None]:
    fut: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    store.append_message(row, fut.set_result)  # type: ignore[attr-defined]
    return fut


@pg
async def test_one_holder_at_a_time_and_a_takeover_only_after_expiry(two_nodes):
    a, b = two_nodes
    assert await a.take_lease("home", "a", 1.0) == 1
    assert await b.take_lease("home", "b", 1.0) is None  # held and not expired
    assert await a.renew_lease("home", "a", 1, 1.0)
    renewed = time.time()  # the lease expires 1 s after the renewal's transaction began (the same clock)
    assert not await b.renew_lease("home", "b", 1, 1.0)  # not b's to renew
    await asyncio.sleep(max(0.0, renewed + 1.05 - time.time()))
    assert await b.take_lease("home", "b", 1.0) == 2  # expired: taken, at a later epoch
    assert not await a.renew_lease("home", "a", 1, 1.0)  # the old holder learns it lost it
    assert await a.lease_holder("home") == ("b", 2, True)
    await b.release_lease("home", "b", 2)
    assert await a.take_lease("home", "a", 1.0) == 3  # released: taken at once


@pg
async def test_a_home_that_lost_its_lease_cannot_write_and_its_late_seq_stays_free(two_nodes):
    a, b = two_nodes
    await a.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    await a.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
    epoch = await a.take_lease("home", "a", 0.5)
    taken = time.time()  # the lease expires 0.5 s after the take's transaction began (the same clock)
    a.set_fence("home", epoch)
    assert await _append(a, MessageRow("100000001", 1, 1, "u1", "owner", "first", None, 0)) is None
    await asyncio.sleep(max(0.0, taken + 0.55 - time.time()))
    new_epoch = await b.take_lease("home", "b", 5.0)
    assert new_epoch == epoch + 1
    b.set_fence("home", new_epoch)
    # The old home, unaware, writes seq 2: refused (never acknowledged) ...
    late = await _append(a, MessageRow("100000001", 2, 2, "u1", "owner", "late", None, 0))
    assert late is not None and "fenced" in str(late)
    with pytest.raises(Exception, match="fenced"):
        await a.apply(ch.SetGroupFields("100000001", {"announcement": "late"}))
    # ... so the new home, which reads last seq 1, uses seq 2 itself.
    assert (await b.load_state(10, 7)).groups["100000001"].last_seq == 1
    assert await _append(b, MessageRow("100000001", 2, 3, "u1", "owner", "second", None, 0)) is None
    assert [r.text for r in await b.history("100000001", 0, None, None, 10)] == ["first", "second"]


@pg
async def test_a_write_in_flight_does_not_hold_up_the_renewal(two_nodes):
    """The fence holds the lease row FOR KEY SHARE, which a renewal (an UPDATE of expires_at
    only) does not wait for: a batch longer than the lease no longer makes its own home miss
    its renewals and lose the lease. Nor does the release, nor another node's attempt on the
    live lease."""
    a, b = two_nodes
    epoch = await a.take_lease("home", "a", 5.0)
    assert a.pool is not None
    async with a.pool.acquire() as db, db.transaction():
        await db.execute("SELECT qunguan_fence($1, $2)", "home", epoch)  # the home's write, still open
        assert await asyncio.wait_for(a.renew_lease("home", "a", epoch, 5.0), 2.0)
        assert await asyncio.wait_for(b.take_lease("home", "b", 5.0), 2.0) is None  # held: refused at once
        await db.execute("SELECT qunguan_fence($1, $2)", "home", epoch)  # still the home's
        await asyncio.wait_for(a.release_lease("home", "a", epoch), 2.0)  # nor does the release
        taking = asyncio.ensure_future(b.take_lease("home", "b", 5.0))
        await asyncio.sleep(0.3)
        assert not taking.done()  # but a takeover of the released lease waits for the write
    assert await taking == epoch + 1


@pg
async def test_a_takeover_waits_for_the_old_homes_write_in_flight(two_nodes):
    """The fence holds the lease row FOR KEY SHARE in the write's transaction and a takeover locks
    the row FOR UPDATE first: a takeover that comes while that write runs commits after it (also
    when the home renewed meanwhile, so the row it locks is a later version), so the new home
    reads a last seq that includes it; the old epoch's writes after the takeover are refused."""
    a, b = two_nodes
    epoch = await a.take_lease("home", "a", 0.3)
    assert a.pool is not None
    async with a.pool.acquire() as db, db.transaction():
        await db.execute("SELECT qunguan_fence($1, $2)", "home", epoch)
        # A new version of the row, which carries the write's lock on:
        assert await asyncio.wait_for(a.renew_lease("home", "a", epoch, 0.3), 2.0)
        await asyncio.sleep(0.4)  # expired, but a still writes with its fence
        taking = asyncio.ensure_future(b.take_lease("home", "b", 5.0))
        await asyncio.sleep(0.3)
        assert not taking.done()  # blocked behind the write in flight
    assert await taking == epoch + 1
    a.set_fence("home", epoch)
    with pytest.raises(Exception, match="fenced"):
        await a.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))


@pg
async def test_a_take_that_ran_out_of_time_behind_a_write_never_commits_later(two_nodes):
    """A take that waits behind the old home's write in flight past its ``lock_wait`` is ended by
    the database itself. Before, the node gave up (its own time ran out) and closed the connection,
    but the statement went on waiting in its backend and committed once the write ended: the node
    then held the lease without knowing it, and no node served until that lease expired."""
    import asyncpg

    a, b = two_nodes
    epoch = await a.take_lease("home", "a", 0.3)
    assert a.pool is not None
    async with a.pool.acquire() as db, db.transaction():
        await db.execute("SELECT qunguan_fence($1, $2)", "home", epoch)  # the old home's write, open
        await asyncio.sleep(0.4)  # expired
        with pytest.raises(asyncpg.LockNotAvailableError):
            await asyncio.wait_for(b.take_lease("home", "b", 5.0, lock_wait=0.2), 2.0)
        with pytest.raises(asyncpg.LockNotAvailableError):
            await asyncio.wait_for(b.steal_lease("home", "b", 5.0, epoch, lock_wait=0.2), 2.0)
    await asyncio.sleep(0.2)  # (a statement still waiting would have committed by now)
    assert await b.lease_holder("home") == ("a", epoch, False)
    assert await b.take_lease("home", "b", 5.0, lock_wait=0.2) == epoch + 1  # the lease is free to take


@pg
async def test_a_write_that_comes_during_a_takeover_is_refused_after_it(two_nodes):
    """The takeover's FOR UPDATE lock makes the old home's next fence wait; once the takeover
    commits, that fence finds the epoch moved and refuses the write."""
    from server.storage.postgres_cluster import _TAKE

    a, b = two_nodes
    epoch = await a.take_lease("home", "a", 0.3)
    await asyncio.sleep(0.4)
    assert a.pool is not None and b.pool is not None
    async with b.pool.acquire() as taker, a.pool.acquire() as writer:
        async with taker.transaction():
            assert await taker.fetchval(_TAKE, "home", "b", 5.0, None) == epoch + 1
            fencing = asyncio.ensure_future(writer.execute("SELECT qunguan_fence($1, $2)", "home", epoch))
            await asyncio.sleep(0.3)
            assert not fencing.done()  # waits for the takeover to end
        with pytest.raises(Exception, match="fenced"):
            await fencing


@pg
async def test_every_node_reads_one_clock_for_its_start_stamp(two_nodes):
    """The start stamp that orders two nodes with one node id (server/cluster/home.py, _twin_talks)
    is read from the database, not from each machine's clock."""
    import time

    a, b = two_nodes
    first = await a.clock_us()
    second = await b.clock_us()
    assert first < second  # (microseconds: two reads one after the other differ)
    assert abs(first / 1e6 - time.time()) < 60  # (the same machine here: about the same time)


def test_a_cluster_needs_postgresql(tmp_path):
    with pytest.raises(ConfigError, match="cluster.broker_url"):
        parse_config({"cluster": {"broker_url": "nats://127.0.0.1:4222"}}, tmp_path)
    cfg = parse_config({"cluster": {"broker_url": "nats://127.0.0.1:4222", "node_id": "n1"},
                        "storage": {"url": "postgresql://postgres@127.0.0.1/q"}}, tmp_path)
    assert cfg.cluster.enabled and cfg.cluster.node_id == "n1"
    with pytest.raises(ConfigError, match="node_id"):
        parse_config({"cluster": {"node_id": "a.b"}}, tmp_path)  # a dot would split its NATS subject


@pytest.mark.parametrize(("broker_url", "servers"), [
    ("nats://127.0.0.1:4222", ["nats://127.0.0.1:4222"]),
    ("nats://a:4222,nats://b:4222", ["nats://a:4222", "nats://b:4222"]),
    ("nats://a:4222 , tls://b:4443,  nats://c:4222", ["nats://a:4222", "tls://b:4443", "nats://c:4222"]),
    ("nats://a:4222,", None),
    (",nats://a:4222", None),
    ("nats://a:4222,,nats://b:4222", None),
    ("nats://a:4222, http://b:80", None),
    ("nats://a:4222 nats://b:4222", None),
])
def test_broker_url_lists_the_servers_of_a_nats_cluster(tmp_path, broker_url, servers):
    raw = {"cluster": {"broker_url": broker_url}, "storage": {"url": "postgresql://postgres@127.0.0.1/q"}}
    if servers is None:
        with pytest.raises(ConfigError, match="cluster.broker_url"):
            parse_config(raw, tmp_path)
    else:
        assert parse_config(raw, tmp_path).cluster.broker_urls == servers


async def test_a_node_cut_off_from_nats_does_not_contest_the_lease(app, monkeypatch):
    """As the home it could serve no gateway (and would give the lease up again): a node that is
    not on NATS leaves the lease to one that is, and contests it again once it is back."""
    import dataclasses

    from server.cluster.node import ClusterNode

    node = ClusterNode(app)
    node.cfg = dataclasses.replace(node.cfg, lease_seconds=0.3)
    tried: list[str] = []

    class Broker:
        is_connected = False

        stats = {"reconnects": 0}

        async def flush(self, timeout: float) -> None:  # (NATS answers the ping a contest begins with)
            pass

    class Leases:
        async def take_lease(self, name: str, holder: str, ttl: float, lock_wait: float | None = None) -> int | None:
            tried.append(name)
            return None  # (held elsewhere: the loop goes on trying)

    node.nc = Broker()  # type: ignore[assignment]
    monkeypatch.setattr(ClusterNode, "leases", property(lambda _self: Leases()))
    loop = asyncio.create_task(node._lease_loop())
    try:
        await asyncio.sleep(0.4)
        assert tried == [], "a node cut off from NATS tried to take the home lease"
        Broker.is_connected = True
        await asyncio.sleep(0.3)
        assert tried, "a node back on NATS does not contest the lease"
    finally:
        loop.cancel()


@pg
async def test_a_lease_call_given_up_on_drops_its_connection(two_nodes):
    """A renewal that timed out (a database host gone without a reset) must not leave the next one
    queued behind it on the same connection: the connection is dropped and the next call opens a
    fresh one."""
    a, _ = two_nodes
    first = await a._leases()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(a._lease_call("fetchval", "SELECT pg_sleep(5)"), 0.3)
    assert a._lease_db is None and first.is_closed()
    assert await asyncio.wait_for(a._lease_call("fetchval", "SELECT 1"), 2) == 1


async def test_a_node_whose_lease_loop_or_tick_ends_stops(app):
    """Those two tasks run for the node's whole life: one ended by a bug would leave a home renewing
    its lease with no heartbeat. The node stops instead (crash-only); a cancel at its stop does not."""
    from server.cluster.node import ClusterNode

    node = ClusterNode(app)

    async def broken() -> None:
        raise RuntimeError("a bug")

    cancelled = asyncio.create_task(asyncio.sleep(10), name="cluster-tick")
    cancelled.add_done_callback(node._ended)
    cancelled.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not node.lost.is_set()
    task = asyncio.create_task(broken(), name="cluster-lease")
    task.add_done_callback(node._ended)
    await asyncio.sleep(0.05)
    assert node.lost.is_set() and "cluster-lease ended" in node.lost_why


async def test_a_take_that_commits_after_its_time_ran_out_is_adopted(app, monkeypatch):
    """The take waited behind the old home's write and committed just as its time ran out: this
    node holds the lease without an answer saying so. It reads the lease and goes on as the home
    (before, nobody was the home until that lease expired)."""
    import dataclasses

    from server.cluster.node import ClusterNode

    node = ClusterNode(app)
    node.cfg = dataclasses.replace(node.cfg, lease_seconds=0.3)
    promoted: list[int] = []

    class Broker:
        is_connected = True

        stats = {"reconnects": 0}

        async def flush(self, timeout: float) -> None:  # (NATS answers the ping a contest begins with)
            pass

    class Leases:
        async def take_lease(self, name: str, holder: str, ttl: float, lock_wait: float | None = None) -> int | None:
            raise TimeoutError

        async def lease_holder(self, name: str) -> tuple[str, int, bool] | None:
            return node.holder, 7, True

        async def renew_lease(self, name: str, holder: str, epoch: int, ttl: float) -> bool:
            return True

    async def promote(self: ClusterNode, epoch: int) -> None:
        promoted.append(epoch)

    node.nc = Broker()  # type: ignore[assignment]
    monkeypatch.setattr(ClusterNode, "leases", property(lambda _self: Leases()))
    monkeypatch.setattr(ClusterNode, "_promote", promote)
    loop = asyncio.create_task(node._lease_loop())
    try:
        await asyncio.sleep(0.3)
        assert promoted == [7]
    finally:
        loop.cancel()


async def test_a_home_that_hands_over_renews_no_more_before_it_releases(app, monkeypatch):
    """A home that gives up (cut off from NATS, or the newer of two twins) releases its lease: its
    renewals stop first, as at a stop. Before, the lease loop went on renewing beside the release:
    one in flight failed the release (one connection), one after it made the lease live again."""
    import dataclasses

    from server.cluster.node import ClusterNode

    node = ClusterNode(app)
    node.cfg = dataclasses.replace(node.cfg, lease_seconds=0.3)
    calls: list[str] = []

    class Broker:
        is_connected = True

        stats = {"reconnects": 0}

        async def flush(self, timeout: float) -> None:  # (NATS answers the ping a contest begins with)
            pass

    class Leases:
        async def take_lease(self, name: str, holder: str, ttl: float, lock_wait: float | None = None) -> int | None:
            return 7

        async def renew_lease(self, name: str, holder: str, epoch: int, ttl: float) -> bool:
            calls.append("renew")
            await asyncio.sleep(0.05)
            return True

        async def release_lease(self, name: str, holder: str, epoch: int) -> None:
            calls.append("release")

    class Home:
        epoch = 7

        async def close(self, grace: float = 0) -> bool:
            return True

    async def promote(self: ClusterNode, epoch: int) -> None:
        self.home = Home()  # type: ignore[assignment]

    node.nc = Broker()  # type: ignore[assignment]
    monkeypatch.setattr(ClusterNode, "leases", property(lambda _self: Leases()))
    monkeypatch.setattr(ClusterNode, "_promote", promote)
    node._tasks.append(asyncio.create_task(node._lease_loop(), name="cluster-lease"))
    try:
        async def renewed_twice() -> None:
            while calls.count("renew") < 2:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(renewed_twice(), 10)
        Broker.is_connected = False  # (no RELEASED beat to publish)
        await node._hand_over_and_lose("handed over")
        await asyncio.sleep(0.3)  # several renewal periods
        assert calls[-1] == "release", calls
        assert node.lost.is_set() and node.lost_why == "handed over"
    finally:
        for task in node._tasks:
            task.cancel()


async def test_a_slow_take_of_the_homes_lock_of_its_life_goes_on_after_the_promotions_wait(app, monkeypatch):
    """Becoming the home waits half a lease for its lock of its life, and no more; the take goes on
    (and retries while the lock is not free). Cancelled at the wait's end, it was never tried again:
    a crash of that home was noticed only when its lease expired."""
    import dataclasses

    from server.cluster.node import ClusterNode

    node = ClusterNode(app)
    node.cfg = dataclasses.replace(node.cfg, lease_seconds=0.3)
    held: list[int] = []

    class Leases:
        async def hold_home_life(self, epoch: int) -> bool:
            await asyncio.sleep(0.3)  # (a slow claim connection)
            held.append(epoch)
            return True

    monkeypatch.setattr(ClusterNode, "leases", property(lambda _self: Leases()))
    started = time.monotonic()
    await node._take_home_life(7)
    assert time.monotonic() - started < 0.28 and held == []  # the promotion went on after half a lease
    await asyncio.sleep(0.3)
    assert held == [7]


async def test_a_node_stopped_while_it_becomes_the_home_gives_the_lease_back(app, monkeypatch):
    """Stopped after it took the lease, while its state still loads: the lease is released, as a
    home's is at a stop. Before, the gateways waited for it to expire."""
    import dataclasses

    from server.cluster.node import ClusterNode

    node = ClusterNode(app)
    node.cfg = dataclasses.replace(node.cfg, lease_seconds=0.3)
    released: list[int] = []
    loading = asyncio.Event()

    class Broker:
        is_connected = True

        stats = {"reconnects": 0}

        async def flush(self, timeout: float) -> None:  # (NATS answers the ping a contest begins with)
            pass

        async def drain(self) -> None:
            pass

    class Leases:
        async def take_lease(self, name: str, holder: str, ttl: float, lock_wait: float | None = None) -> int | None:
            return 7

        async def renew_lease(self, name: str, holder: str, epoch: int, ttl: float) -> bool:
            return True

        async def release_lease(self, name: str, holder: str, epoch: int) -> None:
            released.append(epoch)

    async def promote(self: ClusterNode, epoch: int) -> None:
        loading.set()
        await asyncio.Event().wait()  # (the state load, still running at the stop)

    node.nc = Broker()  # type: ignore[assignment]
    monkeypatch.setattr(ClusterNode, "leases", property(lambda _self: Leases()))
    monkeypatch.setattr(ClusterNode, "_promote", promote)
    node._tasks.append(asyncio.create_task(node._lease_loop(), name="cluster-lease"))
    await asyncio.wait_for(loading.wait(), 2)
    await node.stop()
    assert node.home is None and released == [7]


@pg
async def test_a_gone_homes_lease_is_taken_before_it_expires_once_and_after_its_writes(two_nodes):
    """``steal_lease``: the lease of the epoch whose home's process is gone, taken though it has not
    expired, by one node only (the epoch moves), and after the old home's write in flight, as every
    takeover; that home can renew no more."""
    a, b = two_nodes
    epoch = await a.take_lease("home", "a", 60.0)
    assert await b.steal_lease("home", "b", 60.0, epoch + 1) is None  # not the epoch held
    assert a.pool is not None
    async with a.pool.acquire() as db, db.transaction():
        await db.execute("SELECT qunguan_fence($1, $2)", "home", epoch)
        taking = asyncio.ensure_future(b.steal_lease("home", "b", 60.0, epoch))
        await asyncio.sleep(0.3)
        assert not taking.done()  # blocked behind the write in flight
    assert await taking == epoch + 1
    assert await a.steal_lease("home", "a", 60.0, epoch) is None  # taken once
    assert not await a.renew_lease("home", "a", epoch, 60.0)
    assert await a.lease_holder("home") == ("b", epoch + 1, True)


@pg
async def test_home_ended_returns_when_the_session_holding_the_homes_lock_ends(two_nodes):
    import asyncpg

    from server.storage.postgres_cluster import LOCK_HOME_LIFE

    a, _ = two_nodes
    holder = await asyncpg.connect(a.url)
    await holder.execute("SELECT pg_advisory_lock($1, 7)", LOCK_HOME_LIFE)
    waiting = asyncio.ensure_future(a.home_ended(7, 0.2))  # (in slices of 0.2 s, repeated)
    await asyncio.sleep(0.7)
    assert not waiting.done()
    assert await asyncio.wait_for(a.home_ended(6, 0.2), 2.0) is False  # another epoch's: nobody holds it
    assert await a.holds_home_life(7) and not await a.holds_home_life(6)
    holder.terminate()  # (as the process of a home killed)
    assert await asyncio.wait_for(waiting, 2.0) is True
    assert not await a.holds_home_life(7)
    assert await asyncio.wait_for(a.home_ended(7, 0.2), 2.0) is False  # (the look let it go again)


def _clock_leases(offset: list[float], calls: list[str]) -> type:
    """A lease table whose database clock is this machine's less ``offset[0]`` seconds."""

    class Leases:
        async def clock_us(self) -> int:
            return int((time.time() - offset[0]) * 1e6)

        async def take_lease(self, name: str, holder: str, ttl: float, lock_wait: float | None = None) -> int | None:
            calls.append("take")
            return 7

        async def renew_lease(self, name: str, holder: str, epoch: int, ttl: float) -> bool:
            calls.append("renew")
            self.renewed_clock_us = int((time.time() - offset[0]) * 1e6)  # (as the store's: the clock it read)
            return True

        async def release_lease(self, name: str, holder: str, epoch: int) -> None:
            calls.append("release")

    return Leases


async def test_a_node_whose_clock_stepped_since_its_start_neither_takes_the_lease_nor_keeps_it(app, monkeypatch):
    """The clock was checked at a node's start only: a cluster reviewer stepped a gateway's clock 25 hours
    ahead after it started, killed the home, and the gateway took over and stored a retry of a message
    a second time, stamped a day ahead. A node now checks its clock against the database's before it
    takes the lease, and the home at each renewal (by the clock the renewal itself read: a second
    statement doubled a renewal's time on a slow database), handing the lease over when it is off."""
    import dataclasses

    from server.cluster.node import MAX_CLOCK_SKEW_S, ClusterNode

    node = ClusterNode(app)
    node.cfg = dataclasses.replace(node.cfg, lease_seconds=0.3)
    offset, calls = [25 * 3600.0], []

    class Broker:
        is_connected = True

        stats = {"reconnects": 0}

        async def flush(self, timeout: float) -> None:  # (NATS answers the ping a contest begins with)
            pass

    class Home:
        epoch = 7

        async def close(self, grace: float = 0) -> bool:
            return True

    async def promote(self: ClusterNode, epoch: int) -> None:
        self.home = Home()  # type: ignore[assignment]

    node.nc = Broker()  # type: ignore[assignment]
    leases = _clock_leases(offset, calls)()
    monkeypatch.setattr(ClusterNode, "leases", property(lambda _self: leases))
    monkeypatch.setattr(ClusterNode, "_promote", promote)
    node._tasks.append(asyncio.create_task(node._lease_loop(), name="cluster-lease"))
    try:
        await asyncio.sleep(0.3)
        assert calls == [], "a node whose clock is a day ahead took the home lease"
        offset[0] = MAX_CLOCK_SKEW_S / 2  # set right (within the bound)
        for _ in range(100):
            if calls.count("renew") >= 2:
                break
            await asyncio.sleep(0.02)
        assert calls[:3] == ["take", "renew", "renew"], calls
        Broker.is_connected = False  # (no RELEASED beat to publish)
        offset[0] = -2 * MAX_CLOCK_SKEW_S  # and stepped back a minute while it is the home
        await asyncio.wait_for(node.lost.wait(), 5)
        assert calls[-1] == "release", calls
        assert "clock is 60 s behind the database's" in (node.lost_why or ""), node.lost_why
    finally:
        for task in node._tasks:
            task.cancel()
