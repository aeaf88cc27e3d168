"""PostgreSQL: a batch whose connection is lost at its COMMIT, or whose answer does not come.

The database may have committed it while its answer never came back. The writer asks the
database what became of the transaction (``txid_status``) on a new connection: a committed
batch is confirmed to its callers (their in-memory undo would otherwise take out what the
database holds), one cut off before its COMMIT fails as before. When the database cannot be
asked either, the store fails for good (the server exits with status 75 and loads its memory
from the database at its restart) instead of guessing. A batch waits at most
``storage.command_timeout_seconds`` for its answer. A relay between the store and the machine's
PostgreSQL cuts the connection at the chosen moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from protocol.errors import ContractError
from server.storage import changes as ch
from server.storage.base import MessageRow, NetlogRow
from tests import pgtools

pytestmark = pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))


class CutAt:
    """A TCP relay to PostgreSQL that, once armed with a marker, forwards the client's chunk
    holding it (``after=True``: the database gets it; ``False``: it is dropped) and then cuts
    the connection without relaying another byte of the answer."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.marker: bytes | None = None
        self.after = True
        self.refuse = False  # True: once fired, refuse new connections too (the database unreachable)
        self.silent = False  # True: a partition: nothing is relayed either way, new connections hang
        self.fired = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        """Listen (again, on the same port once it has one)."""
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _link(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        if self.silent:  # taken, and never answered
            while await cr.read(65536):
                pass
            cw.transport.abort()
            return
        sr, sw = await asyncio.open_connection(*self.target)
        cut = asyncio.Event()

        async def upstream() -> None:
            while data := await cr.read(65536):
                if self.silent:
                    continue
                if self.marker is not None and self.marker in data:
                    self.marker = None
                    cut.set()  # not a byte of the answer goes back from now on
                    self.fired.set()
                    if self.refuse and self.server is not None:
                        self.server.close()
                    if self.after:
                        sw.write(data)
                        await sw.drain()
                        await asyncio.sleep(0.2)  # the database commits meanwhile
                    return
                sw.write(data)
                await sw.drain()

        async def downstream() -> None:
            while data := await sr.read(65536):
                if cut.is_set():
                    return
                if self.silent:
                    continue
                cw.write(data)
                await cw.drain()

        try:
            await asyncio.wait([asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())],
                               return_when=asyncio.FIRST_COMPLETED)
        except OSError:
            pass
        finally:
            cw.transport.abort()
            sw.transport.abort()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def stores() -> AsyncIterator[tuple[object, object, CutAt]]:
    """(a store through the relay, a store direct to the same database, the relay)."""
    from server.storage.postgres import PostgresStore

    name, url = await asyncio.to_thread(pgtools.create_db)
    parts = urlsplit(url)
    relay = CutAt(parts.hostname or "127.0.0.1", parts.port or 5432)
    await relay.start()
    # (lock_timeout well past SHORT: a test that holds a lock measures command_timeout, and with the
    # default 2 s the two fired together; on a loaded machine the lock's refusal came first)
    cut = PostgresStore(url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{relay.port}"), lock_timeout=10.0)
    direct = PostgresStore(url)
    await cut.open()
    await direct.open()
    try:
        await cut.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
        await cut.apply(ch.InsertUser("u2", "bob", "bob", "h", "Bob", b"q" * 32, b"e", 100, 1))
        await cut.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
        yield cut, direct, relay
    finally:
        await cut.close()
        await direct.close()
        await relay.close()
        await asyncio.to_thread(pgtools.drop_db, name)


def _join() -> ch.AddMember:
    return ch.AddMember("100000001", "u2", "member", 1, 0, "join", None, ch.UserCaps())


async def _members(store) -> list[str]:
    return sorted((await store.load_state(10, 7)).groups["100000001"].members)


async def test_a_batch_cut_off_after_its_commit_is_confirmed(stores) -> None:
    cut, direct, relay = stores
    relay.marker, relay.after = b"COMMIT", True
    await asyncio.wait_for(cut.apply(_join()), 30)  # confirmed, not refused
    assert relay.fired.is_set()
    assert await _members(direct) == ["u1", "u2"]
    # and the writer goes on, on a new connection
    await cut.apply(ch.SetGroupFields("100000001", {"announcement": "hi"}))
    assert (await direct.load_state(10, 7)).groups["100000001"].announcement == "hi"


async def test_a_batch_cut_off_before_its_commit_fails(stores) -> None:
    cut, direct, relay = stores
    relay.marker, relay.after = b"COMMIT", False  # the database never gets the COMMIT
    with pytest.raises(Exception) as err:  # the writer's error, which the handlers answer `internal`
        await asyncio.wait_for(cut.apply(_join()), 30)
    assert not isinstance(err.value, ContractError)
    assert relay.fired.is_set()
    assert await _members(direct) == ["u1"]
    await asyncio.wait_for(cut.apply(_join()), 30)  # the same change, again: now it lands
    assert await _members(direct) == ["u1", "u2"]


async def _append(store, seq: int, text: str) -> BaseException | None:
    done: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    store.append_message(MessageRow("100000001", seq, 1000 + seq, "u1", "owner", text, None, 0), done.set_result)
    return await asyncio.wait_for(done, 30)


async def _texts(store) -> list[str]:
    return [r.text for r in await store.history("100000001", 0, None, None, 10)]


async def test_a_message_batch_cut_off_after_its_statement_is_confirmed(stores) -> None:
    """The hot path's batch is one auto-committed statement with no transaction id to ask about:
    once the cut-off backend has gone, one of its rows tells whether it committed."""
    cut, direct, relay = stores
    relay.marker, relay.after = b"cut-here-7f3a", True
    assert await _append(cut, 1, "cut-here-7f3a") is None  # acknowledged: it is stored
    assert relay.fired.is_set()
    assert await _texts(direct) == ["cut-here-7f3a"]
    assert await _append(cut, 2, "next") is None
    assert await _texts(direct) == ["cut-here-7f3a", "next"]


async def test_a_message_batch_cut_off_before_its_statement_fails(stores) -> None:
    cut, direct, relay = stores
    relay.marker, relay.after = b"cut-here-7f3a", False  # the database never gets the statement
    assert await _append(cut, 1, "cut-here-7f3a") is not None  # refused, never acknowledged
    assert relay.fired.is_set()
    assert await _texts(direct) == []
    assert await _append(cut, 1, "again") is None
    assert await _texts(direct) == ["again"]


async def _log(store, detail: str) -> BaseException | None:
    done: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    store.log_network(NetlogRow(5000, "connect", None, "127.0.0.9", detail), done.set_result)
    return await asyncio.wait_for(done, 30)


async def _logged(store) -> list[str]:
    rows = await asyncio.to_thread(pgtools.query, store.url, "SELECT detail FROM netlog WHERE ip = '127.0.0.9'")
    return [r[0] for r in rows]


@pytest.mark.parametrize("after", [True, False])
async def test_a_network_log_batch_cut_off_is_told_what_the_database_holds(stores, after: bool) -> None:
    """A batch of network-log rows only is one statement too: one of its rows tells its fate."""
    cut, direct, relay = stores
    relay.marker, relay.after = b"cut-here-9c1d", after
    outcome = await _log(cut, '{"marker":"cut-here-9c1d"}')
    assert relay.fired.is_set()
    assert (outcome is None) is after  # stored and confirmed, or never stored and refused
    assert await _logged(direct) == (['{"marker":"cut-here-9c1d"}'] if after else [])


# -- the outcome cannot be learned: the store stops -------------------------------------------
SHORT = 2.0  # seconds: storage.command_timeout_seconds for these tests


@pytest.mark.parametrize("kind", ["change", "message"])
async def test_a_batch_whose_fate_cannot_be_learned_stops_the_store(stores, kind: str, caplog) -> None:
    """Cut off once its COMMIT (or its one statement) reached the database, with the database
    unreachable afterwards: the batch may be stored or not, and nobody can say. Taking it as not
    stored would let a handler undo in memory what the database holds (here it does hold it), so
    the store fails for good with status 75 (the server exits and loads its memory from the
    database at its restart); every later write is refused."""
    from server.storage.base import StoreFailed
    from server.storage.queue import EXIT_OUTCOME_UNKNOWN

    cut, direct, relay = stores
    cut.command_timeout = SHORT
    relay.refuse, relay.after = True, True
    relay.marker = b"COMMIT" if kind == "change" else b"cut-here-5e2b"
    with caplog.at_level("ERROR", logger="qunguan.store"):
        if kind == "change":
            with pytest.raises(StoreFailed):
                await asyncio.wait_for(cut.apply(_join()), 30)
        else:
            assert isinstance(await _append(cut, 1, "cut-here-5e2b"), StoreFailed)
    assert relay.fired.is_set()
    assert cut.fatal.is_set() and cut.fatal_status == EXIT_OUTCOME_UNKNOWN
    assert "could not be learned" in (cut.fatal_why or "")
    assert any(r.levelname == "CRITICAL" and "exits (status 75)" in r.getMessage() for r in caplog.records)
    # It was stored: a guess of "not stored" would have been wrong.
    if kind == "change":
        assert await _members(direct) == ["u1", "u2"]
    else:
        assert await _texts(direct) == ["cut-here-5e2b"]
    with pytest.raises(StoreFailed):  # nothing more is written
        await asyncio.wait_for(cut.apply(ch.SetGroupFields("100000001", {"announcement": "hi"})), 5)


async def test_a_batch_cut_off_before_its_commit_fails_alone_while_the_database_is_gone(stores) -> None:
    """Cut off before its COMMIT, the batch is not stored whatever the database says (it never was
    told to commit), so the database being unreachable afterwards stops nothing: the batch fails,
    and the writer carries on once the database is back."""
    cut, direct, relay = stores
    cut.command_timeout = SHORT
    relay.refuse, relay.after, relay.marker = True, False, b"SAVEPOINT"
    with pytest.raises(Exception) as err:
        await asyncio.wait_for(cut.apply(_join()), 30)
    assert not isinstance(err.value, ContractError)
    assert relay.fired.is_set() and not cut.fatal.is_set()
    assert await _members(direct) == ["u1"]
    await relay.start()  # reachable again, on the same port
    await asyncio.wait_for(cut.apply(_join()), 30)
    assert await _members(direct) == ["u1", "u2"]


async def test_a_batch_that_gets_no_answer_fails_after_the_command_timeout(stores) -> None:
    """A database that does not answer (here: the batch waits for a lock the test holds) holds the
    writer for ``command_timeout`` at most, not for ever. Its backend is ended, and once it has
    gone the batch is known not stored: it fails alone and the writer carries on."""
    import asyncpg

    cut, direct, relay = stores
    cut.command_timeout = SHORT
    blocker = await asyncpg.connect(direct.url)
    try:
        tr = blocker.transaction()
        await tr.start()
        await blocker.execute("LOCK TABLE groups IN EXCLUSIVE MODE")  # the batch's last_seq update waits
        started = asyncio.get_running_loop().time()
        refused = await asyncio.wait_for(_append(cut, 1, "waits"), 4 * SHORT + 5)
        waited = asyncio.get_running_loop().time() - started
        assert isinstance(refused, TimeoutError), refused
        assert SHORT <= waited < 4 * SHORT + 5
        assert not cut.fatal.is_set()
        await tr.rollback()
    finally:
        await blocker.close()
    assert await _texts(direct) == []
    assert await _append(cut, 1, "again") is None
    assert await _texts(direct) == ["again"]


@pytest.mark.parametrize("first", ["message", "change"])
async def test_a_database_gone_silent_while_the_writer_is_idle(stores, first: str) -> None:
    """Nothing tells an idle writer that the database went silent (a partition, a link that drops
    packets without a reset): its connection looks open, and the next batch waits
    ``command_timeout``. A batch with changes times out before its COMMIT was sent: it is not
    stored, fails alone, and the store goes on. A batch of messages (or log rows) only is one
    statement that may have reached the database: its fate is asked, cannot be learned, and the
    store fails for good (the server exits with 75), as docs/operations.md says."""
    from server.storage.base import StoreFailed
    from server.storage.queue import EXIT_OUTCOME_UNKNOWN

    cut, direct, relay = stores
    cut.command_timeout = SHORT
    relay.silent = True
    try:
        if first == "message":
            assert isinstance(await _append(cut, 1, "into the silence"), StoreFailed)
            assert cut.fatal.is_set() and cut.fatal_status == EXIT_OUTCOME_UNKNOWN
        else:
            started = asyncio.get_running_loop().time()
            with pytest.raises(Exception) as err:
                await asyncio.wait_for(cut.apply(_join()), 4 * SHORT + 5)
            waited = asyncio.get_running_loop().time() - started
            # The command timeout's own refusal, not wait_for's: a hang would be cut off at the bound.
            assert SHORT <= waited < 4 * SHORT + 5, waited
            assert not isinstance(err.value, (ContractError, StoreFailed))
            assert not cut.fatal.is_set()
            assert await _members(direct) == ["u1"]
    finally:
        relay.silent = False  # the partition heals: the read pool's connections close cleanly
    if first == "change":  # the store goes on: the same change, sent again, is stored
        await asyncio.wait_for(cut.apply(_join()), 30)
        assert await _members(direct) == ["u1", "u2"]


async def test_a_cut_off_batchs_backend_is_ended_only_if_it_is_still_that_backend(stores) -> None:
    """The writer ends the backend of a batch cut off before its answer, known by its pid and start.
    The pid was looked up with its start and then ended by pid alone, in a second round trip: had the
    backend gone meanwhile and its pid been taken by a new one, that one would have been ended. The
    end now names both in one statement: a backend with that pid and another start stays."""
    import asyncpg

    from server.storage.postgres import _BACKEND_START, _END_BACKEND

    cut, direct, relay = stores
    victim = await asyncpg.connect(direct.url)
    asker = await asyncpg.connect(direct.url)
    try:
        pid, started = victim.get_server_pid(), await victim.fetchval(_BACKEND_START)
        other_start = await asker.fetchval("SELECT $1::timestamptz - interval '1 second'", started)
        alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1"
        await asker.fetchval(_END_BACKEND, pid, other_start)  # the same pid, another backend's start
        await asyncio.sleep(0.3)
        assert await asker.fetchval(alive, pid) == 1 and await victim.fetchval("SELECT 1") == 1  # still there
        assert await asker.fetchval(_END_BACKEND, pid, started)
        for _ in range(100):
            if await asker.fetchval(alive, pid) == 0:
                break
            await asyncio.sleep(0.05)
        assert await asker.fetchval(alive, pid) == 0
    finally:
        victim.terminate()
        await asker.close()
