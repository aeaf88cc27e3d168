"""The PostgreSQL store's own guarantees: every change type mapped, contract errors on unique
violations, re-checks that hold across connections (two stores on one database, as two nodes
would be), and a writer that survives losing its connection without a false ack."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from governance.audit import GENESIS, entry_hash
from protocol.errors import ContractError
from server.storage import changes as ch
from server.storage.base import MessageRow, Store
from tests import pgtools

pytestmark = pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    name, url = await asyncio.to_thread(pgtools.create_db)
    yield url
    await asyncio.to_thread(pgtools.drop_db, name)


@pytest.fixture
async def open_pg(pg_url: str) -> AsyncIterator[Callable[[], object]]:
    from server.storage.postgres import PostgresStore

    stores: list[PostgresStore] = []

    async def make() -> PostgresStore:
        store = PostgresStore(pg_url)
        await store.open()
        store.set_record_key(b"k" * 32)
        stores.append(store)
        return store

    yield make
    for s in stores:
        await s.close()


def test_every_change_type_and_read_has_a_postgresql_implementation():
    from server.storage import postgres_changes
    from server.storage.postgres import PostgresStore

    kinds = {obj for obj in vars(ch).values()
             if inspect.isclass(obj) and issubclass(obj, ch.Change) and obj is not ch.Change}
    assert kinds - postgres_changes.appliers() == set()
    wanted = {name for name, _ in inspect.getmembers(Store) if not name.startswith("_")}
    assert {n for n in wanted if not callable(getattr(PostgresStore, n, None))} == set()


async def test_unique_violations_are_contract_errors(open_pg):
    store = await open_pg()
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    with pytest.raises(ContractError, match="username is taken") as err:
        await store.apply(ch.InsertUser("u2", "Alice", "alice", "h", "Alice", b"q" * 32, b"e", 100, 1))
    assert err.value.code == "conflict"
    with pytest.raises(ContractError, match="phone number") as err:
        await store.apply(ch.InsertUser("u3", "bob", "bob", "h", "Bob", b"p" * 32, b"e", 100, 1))
    assert err.value.code == "conflict"
    await store.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
    with pytest.raises(ch.GroupIdTaken):
        await store.apply(ch.CreateGroup("100000001", "h", "work", "open", "u1", 2))
    state = await store.load_state(10, 7)
    assert set(state.users) == {"u1"} and set(state.groups) == {"100000001"}
    assert state.groups["100000001"].members["u1"].role == "owner"


async def test_id_cap_holds_across_two_writers_on_one_database(open_pg):
    """Two stores (two nodes' writers) verify 8 accounts with one ID number at once; the cap is 2."""
    a, b = await open_pg(), await open_pg()
    for i in range(8):
        await a.apply(ch.InsertUser(f"u{i}", f"n{i}", f"n{i}", "h", "N", bytes([i]) * 32, b"e", 100, 1))
    verifies = [(a if i % 2 else b).apply(ch.VerifyIdentity(f"u{i}", b"I" * 32, b"x", b"y", 5, 2))
                for i in range(8)]
    results = await asyncio.gather(*verifies, return_exceptions=True)
    assert sum(r == [None] for r in results) == 2
    assert all(isinstance(r, ContractError) and r.code == "conflict" for r in results if r != [None])
    assert sum(u.id_verified for u in (await a.load_state(10, 7)).users.values()) == 2


async def test_media_quota_holds_across_two_writers_on_one_database(open_pg):
    """Two stores (two nodes' writers) insert 8 uploads of one user at once; 3 fit the quota."""
    a, b = await open_pg(), await open_pg()
    quota = ch.MediaQuota(3000)
    inserts = [(a if i % 2 else b).apply(ch.InsertMedia(f"m{i}", f"{i:064x}", "u1", "application/pdf", "file",
                                                        1000, None, None, None, 1, quota)) for i in range(8)]
    results = await asyncio.gather(*inserts, return_exceptions=True)
    assert sum(r == [None] for r in results) == 3, results
    assert all(isinstance(r, ContractError) and r.code == "storage_quota_reached" for r in results if r != [None])
    assert await a.media_quota_use("u1") == (3000, False) and await a.media_quota_use("u2") == (0, False)

async def test_audit_chain_stays_whole_with_two_writers_appending(open_pg):
    a, b = await open_pg(), await open_pg()
    writes = [(a if i % 2 else b).apply(audit=ch.Audit(i, "system", None, f"act{i}")) for i in range(40)]
    await asyncio.gather(*writes)
    entries = await a.audit_entries()
    assert [e["id"] for e in entries] == list(range(1, 41))
    prev = GENESIS
    for e in entries:
        assert e["prev_hash"] == prev and entry_hash(prev, e) == e["hash"] and e["mac"]
        prev = e["hash"]


async def test_one_transfer_of_two_racing_writers_lands(open_pg):
    a, b = await open_pg(), await open_pg()
    for uid in ("o", "x", "y"):
        await a.apply(ch.InsertUser(uid, uid, uid, "h", uid, uid.encode() * 32, b"e", 100, 1))
    await a.apply(ch.CreateGroup("100000001", "g", "work", "open", "o", 1))
    for uid in ("x", "y"):
        await a.apply(ch.AddMember("100000001", uid, "member", 2, 0, "join", uid))
    results = await asyncio.gather(a.apply(ch.TransferOwner("100000001", "o", "x")),
                                   b.apply(ch.TransferOwner("100000001", "o", "y")), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["ContractError", "list"]
    members = (await a.load_state(10, 7)).groups["100000001"].members
    assert sorted(m.role for m in members.values()) == ["member", "member", "owner"]


class CuttableProxy:
    """A TCP relay to the machine's PostgreSQL that the test can cut (the database unreachable) and restore."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _link(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            sr, sw = await asyncio.open_connection(*self.target)
        except OSError:
            cw.close()
            return
        self.links |= {cw, sw}
        await pgtools.splice(cr, cw, sr, sw)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.links:
            w.transport.abort()
        self.links.clear()
        await self.server.wait_closed()


async def test_unreachable_database_fails_writes_then_recovers(pg_url):
    """No false ack: while the database is unreachable a message fails; once back, the writer reconnects."""
    from urllib.parse import urlsplit

    from server.storage.postgres import PostgresStore

    parts = urlsplit(pg_url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    store = PostgresStore(pg_url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}"))
    await store.open()
    try:
        await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
        await store.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
        await proxy.cut()
        # The writer sees its connection go before the write (a write in flight when the database
        # goes, with no way to ask it what became of the write, is another case: the store stops,
        # tests/server/test_store_commit_cut.py).
        await asyncio.sleep(0.2)
        lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        store.append_message(MessageRow("100000001", 1, 1, "u1", "owner", "lost", None, 0), lost.set_result)
        assert await asyncio.wait_for(lost, 30) is not None  # refused, never acknowledged
        await proxy.start()  # reachable again, on the same port
        kept: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        store.append_message(MessageRow("100000001", 2, 2, "u1", "owner", "kept", None, 0), kept.set_result)
        assert await asyncio.wait_for(kept, 30) is None
        assert [r.text for r in await store.history("100000001", 0, None, None, 10)] == ["kept"]
        assert (await store.load_state(10, 7)).groups["100000001"].last_seq == 2
    finally:
        await store.close()
        await proxy.cut()


def test_each_change_returns_the_same_kind_of_result_on_both_backends():
    """A change whose SQLite applier returns an id (a report, a sanction, a hold) does so on PostgreSQL too."""
    from server.storage import postgres as _pg  # noqa: F401  (imports every PostgreSQL applier's module)
    from server.storage import postgres_changes, sqlite_changes
    from server.storage import postgres_reads as _pr  # noqa: F401  (registers Purge, SaveVault, ResealBatch)
    from server.storage import sqlite as _sq  # noqa: F401
    from server.storage import sqlite_records as _sr  # noqa: F401

    differ = {kind.__name__ for kind, fn in sqlite_changes._APPLY.items()
              if inspect.signature(fn).return_annotation
              != inspect.signature(postgres_changes._APPLY[kind]).return_annotation}
    assert differ == set()


async def test_purges_that_name_people_check_kept_authors_as_one_hashed_set(open_pg, pg_url: str) -> None:
    """A held group with many messages past the cutoff: the network-log and identity purges look its
    senders up in one hashed set of the kept authors they are given, read once per purge, and do not
    read the messages at all (they did, in every batch)."""
    import asyncpg

    from server.storage.postgres_reads import PG_NETLOG_BATCH, PG_PURGES

    await open_pg()  # the schema
    db = await asyncpg.connect(pg_url)
    try:
        await db.execute("INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
                         " SELECT 'g', n, 1, 'u' || (n % 50), 'member', 'x' FROM generate_series(1, 200000) n")
        await db.execute("INSERT INTO netlog (ts, kind, user_id, ip, detail)"
                         " SELECT 1, 'connect', 'v' || (n % 5000), '192.0.2.1', '{}' FROM generate_series(1, 50000) n")
        await db.execute("ANALYZE")
        kept = [f"u{n}" for n in range(50)]
        sql, names = PG_PURGES["accounts_erased"]
        assert names == ("now", "cutoff", "limit", "kept")
        plans = {"accounts_erased": await db.fetch("EXPLAIN " + sql, 10**13, 10**12, 1000, kept),
                 "netlog": await db.fetch("EXPLAIN VERBOSE " + PG_NETLOG_BATCH, 10**13, 10**12, 1000, -1, -1, kept)}
        for table, rows in plans.items():
            plan = "\n".join(r[0] for r in rows)
            assert "hashed SubPlan" in plan and "NOT (SubPlan" not in plan, (table, plan)
            assert " on messages" not in plan, (table, plan)
    finally:
        await db.close()


async def test_store_connections_give_a_silent_client_up_within_half_a_minute(pg_url: str) -> None:
    """Every store connection asks the backend to drop it once the client is silent for the
    keepalives' span (25 s): when idle (keepalive probes), and also when a result it sent stays
    unacknowledged (``tcp_user_timeout``; Linux sends no keepalive probe then, and a partition in
    the middle of a batch kept the backend, and a fence's lock, for TCP's ~15 minutes of
    retransmissions). Asked over TCP, as a node connects: the backend reports what it applied."""
    import asyncpg

    from server.storage.postgres_cluster import server_settings

    conn = await asyncpg.connect(pg_url, server_settings=server_settings("qunguan test"))
    try:
        shown = {r[0]: int(r[1]) for r in await conn.fetch(  # (keepalives in s, the user timeout in ms)
            "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])",
            ["tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "tcp_user_timeout"])}
        assert await conn.fetchval("SELECT client_addr IS NOT NULL FROM pg_stat_activity"
                                   " WHERE pid = pg_backend_pid()")  # TCP, where the settings apply
    finally:
        await conn.close()
    span_s = shown["tcp_keepalives_idle"] + shown["tcp_keepalives_interval"] * shown["tcp_keepalives_count"]
    assert 0 < shown["tcp_user_timeout"] == span_s * 1000 <= 30_000, shown


async def test_a_writer_frozen_in_a_transaction_lets_its_locks_go_after_the_idle_bound(pg_url: str) -> None:
    """A chaos reviewer froze a cluster's home (SIGSTOP) inside a write transaction: its kernel kept the
    connection alive, so PostgreSQL kept the transaction, and the fence's lock on the lease row, for
    the whole freeze (11 minutes; no node could take the lease). A cluster node's store asks
    PostgreSQL to end a transaction idle for a lease; here 0.5 s, the writer left idle 3 s by a batch
    that sleeps in it, as a frozen process would: the lock it took goes within about the bound, the
    batch fails (nothing acknowledged), and the store writes on."""
    import asyncpg

    from server.storage.postgres import PostgresStore

    store = PostgresStore(pg_url, idle_in_transaction=0.5)
    await store.open()
    store.set_record_key(b"k" * 32)
    other = await asyncpg.connect(pg_url)
    try:
        async def freeze(db: asyncpg.Connection) -> None:
            await db.execute("SELECT pg_advisory_xact_lock(4242)")
            await asyncio.sleep(3)  # (no statement: the transaction is idle, as a frozen client leaves it)

        frozen = store.run_in_batch(freeze)
        start = asyncio.get_running_loop().time()
        await asyncio.sleep(0.1)
        while not await other.fetchval("SELECT pg_try_advisory_lock(4242)"):
            assert asyncio.get_running_loop().time() - start < 2.5, "the frozen writer's lock was kept"
            await asyncio.sleep(0.05)
        await other.execute("SELECT pg_advisory_unlock(4242)")
        with pytest.raises(Exception):  # noqa: B017,PT011 (the connection was ended: whatever asyncpg says)
            await asyncio.wait_for(frozen, 30)
        await asyncio.wait_for(store.apply(audit=ch.Audit(1, "system", None, "after")), 30)  # writes on
    finally:
        await other.close()
        await store.close()


@contextlib.asynccontextmanager
async def _with_a_table_held(pg_url: str, table: str) -> AsyncIterator[tuple[Store, Callable[[], Awaitable[None]]]]:
    """A store (``command_timeout`` 2 s, so its ``lock_timeout`` is 1 s) with user ``u1`` owning group
    ``100000001``, while another session holds ``table`` locked until ``release()`` is awaited."""
    import asyncpg

    from server.storage.postgres import PostgresStore

    store = PostgresStore(pg_url, command_timeout=2.0)
    await store.open()
    blocker = await asyncpg.connect(pg_url)
    try:
        await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
        await store.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
        tr = blocker.transaction()
        await tr.start()
        await blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield store, tr.rollback
    finally:
        await blocker.close()
        await store.close()


async def test_a_change_blocked_on_a_lock_fails_alone(pg_url):
    """A crash-consistency reviewer's case: a table held locked (by hand, from another session) made
    every write of the batch fail with it after ``command_timeout``, then every batch queued behind.
    The writer's ``lock_timeout`` fails the blocked changes alone; the others of their batch are
    stored, and messages, whose table is not locked, go on."""
    import asyncpg

    loop = asyncio.get_running_loop()
    async with _with_a_table_held(pg_url, "invite_links") as (store, release):
        started = loop.time()
        # Several blocked in one batch (the diff review's case: each waited its lock_timeout in turn,
        # and the batch ran past command_timeout): the first waits, the others share what is left.
        *blocked, renamed = await asyncio.gather(
            *(store.apply(ch.InsertInviteLink(str(i) * 64, "100000001", "u1", 2, None, None, "")) for i in range(5)),
            store.apply(ch.SetUserFields("u1", {"display_name": "Alicia"})),
            return_exceptions=True)
        waited = loop.time() - started
        assert all(isinstance(b, asyncpg.LockNotAvailableError) for b in blocked), blocked
        assert isinstance(renamed, list), renamed
        assert waited < 2.0, waited  # (not the batch's command_timeout)
        sent: asyncio.Future[BaseException | None] = loop.create_future()
        store.append_message(MessageRow("100000001", 1, 1, "u1", "owner", "meanwhile", None, 0), sent.set_result)
        assert await asyncio.wait_for(sent, 5) is None
        await release()
        assert (await store.load_state(10, 7)).users["u1"].display_name == "Alicia"


async def test_after_one_long_wait_the_next_batches_wait_for_a_held_table_only_briefly(pg_url):
    """A cluster reviewer's case: each batch carrying a change to a table held locked paid the whole
    lock_timeout again, and the messages and changes batched with it waited as long (every user's
    acks seconds late for as long as the lock lasted). After one change waited in vain, the batches
    of the next lock_timeout wait 0.1 s at most per change."""
    import asyncpg

    loop = asyncio.get_running_loop()
    async with _with_a_table_held(pg_url, "invite_links") as (store, release):
        started = loop.time()
        with pytest.raises(asyncpg.LockNotAvailableError):
            await store.apply(ch.InsertInviteLink("a" * 64, "100000001", "u1", 2, None, None, ""))
        assert loop.time() - started >= 0.9  # the first waits its lock_timeout (1 s here)
        for n in range(3):
            started = loop.time()
            blocked, renamed = await asyncio.gather(
                store.apply(ch.InsertInviteLink(str(n) * 64, "100000001", "u1", 2, None, None, "")),
                store.apply(ch.SetUserFields("u1", {"display_name": f"Alicia {n}"})), return_exceptions=True)
            assert isinstance(blocked, asyncpg.LockNotAvailableError), blocked
            assert isinstance(renamed, list), renamed
            assert loop.time() - started < 0.6, loop.time() - started
        await release()
        await store.apply(ch.InsertInviteLink("b" * 64, "100000001", "u1", 3, None, None, ""))  # stored again


async def test_messages_whose_table_is_locked_fail_at_once_and_alone(pg_url):
    """The batched insert blocked on a lock is not a bad row: its rows fail together after the
    writer's ``lock_timeout`` (one by one, each would wait as long again), in a batch of messages
    alone (one statement, the usual case) as in one with changes, whose changes are stored."""
    import asyncpg

    loop = asyncio.get_running_loop()
    async with _with_a_table_held(pg_url, "messages") as (store, release):
        for with_a_change in (False, True):
            started = loop.time()
            done: list[asyncio.Future[BaseException | None]] = [loop.create_future() for _ in range(12)]
            for seq, fut in enumerate(done, 1):
                store.append_message(MessageRow("100000001", seq, seq, "u1", "owner", f"m{seq}", None, 0),
                                     fut.set_result)
            if with_a_change:
                assert isinstance(await store.apply(ch.SetUserFields("u1", {"display_name": "Alicia"})), list)
            errors = await asyncio.gather(*done)
            assert all(isinstance(e, asyncpg.LockNotAvailableError) for e in errors), errors
            assert loop.time() - started < 2.0  # (one wait, not twelve: the batch's timeout)
        await release()
        assert (await store.load_state(10, 7)).users["u1"].display_name == "Alicia"


async def test_after_one_long_wait_batches_of_messages_alone_wait_for_their_held_table_briefly(pg_url):
    """The read-through's open end: a batch of messages alone is one statement, which waited the whole
    lock_timeout each time while ``messages`` was held (every ack seconds late, batch after batch).
    After one such wait in vain, the next batches wait 0.1 s, and are stored once the table is free."""
    import asyncpg

    loop = asyncio.get_running_loop()

    async def one_message(seq: int) -> BaseException | None:
        fut: asyncio.Future[BaseException | None] = loop.create_future()
        store.append_message(MessageRow("100000001", seq, seq, "u1", "owner", f"m{seq}", None, 0), fut.set_result)
        return await asyncio.wait_for(fut, 5)

    async with _with_a_table_held(pg_url, "messages") as (store, release):
        started = loop.time()
        assert isinstance(await one_message(1), asyncpg.LockNotAvailableError)
        assert loop.time() - started >= 0.9  # the first waits its lock_timeout (1 s here)
        for seq in (2, 3, 4):
            started = loop.time()
            assert isinstance(await one_message(seq), asyncpg.LockNotAvailableError)
            assert loop.time() - started < 0.6, loop.time() - started
        # on past the first window (1 s after the long wait): each short failure renews it (the diff
        # review: only a change's did, and every other batch paid the whole lock_timeout again)
        until, seq = loop.time() + 1.5, 5
        while loop.time() < until:
            started = loop.time()
            assert isinstance(await one_message(seq), asyncpg.LockNotAvailableError)
            assert loop.time() - started < 0.6, (seq, loop.time() - started)
            seq += 1
            await asyncio.sleep(0.2)
        await release()
        assert await one_message(seq) is None
        assert await store.message_info("100000001", seq) is not None
        assert await store.message_info("100000001", 2) is None


async def test_a_node_waits_for_another_nodes_migration_past_the_lock_timeout(pg_url):
    """The writer's lock_timeout is for batches: a node starting while another holds the migration
    lock waits for it, however long, and its writes get the lock_timeout back afterwards."""
    import asyncpg

    from server.storage.postgres import LOCK_MIGRATE, PostgresStore

    holder = await asyncpg.connect(pg_url)
    await holder.execute("SELECT pg_advisory_lock($1, 0)", LOCK_MIGRATE)
    store = PostgresStore(pg_url, command_timeout=2.0, lock_timeout=1.0)
    opening = asyncio.ensure_future(store.open())
    try:
        await asyncio.sleep(2.5)  # past the lock timeout (and the command timeout)
        assert not opening.done()
        await holder.execute("SELECT pg_advisory_unlock($1, 0)", LOCK_MIGRATE)
        await asyncio.wait_for(opening, 10)
        assert store._w is not None
        assert await store._w.fetchval("SHOW lock_timeout") == "1s"
    finally:
        await holder.close()
        if opening.done() and opening.exception() is None:
            await store.close()
