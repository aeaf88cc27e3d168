"""The group-commit writer: writes queued while closing are committed, and close returns.

Every test runs against both backends (``[sqlite]`` and ``[postgresql]``, a fresh
database on the machine's PostgreSQL; skipped with the reason when unreachable).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from server.storage import changes as ch
from server.storage.base import MessageRow, NetlogRow
from server.storage.sqlite import SqliteStore
from tests import pgtools

Rows = Callable[..., list[tuple[Any, ...]]]


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request, tmp_path) -> Iterator[Callable[[], tuple[Any, Rows]]]:
    """A not-yet-opened store of the parametrised backend, and ``rows(sql, *params)`` reading its database."""
    dbs: list[str] = []

    def make() -> tuple[Any, Rows]:
        if request.param == "sqlite":
            path = tmp_path / "q.db"

            def rows(sql: str, *params: Any) -> list[tuple[Any, ...]]:
                return [tuple(r) for r in sqlite3.connect(path).execute(sql, params).fetchall()]

            return SqliteStore(path), rows
        reason = pgtools.unavailable()
        if reason is not None:
            pytest.skip(reason)
        from server.storage.postgres import PostgresStore

        name, url = pgtools.create_migrated_db()
        dbs.append(name)
        return PostgresStore(url), lambda sql, *params: pgtools.query(url, sql, *params)

    yield make
    for name in dbs:
        pgtools.release_db(name)


async def test_close_commits_what_was_queued_during_a_batch(make_store):
    store, rows = make_store()
    await store.open()

    async def slow(db):
        await db.execute("INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at)"
                         " VALUES ('100000001', 'a', 'work', 'open', 'u1', 1)")
        await asyncio.sleep(0.05)  # keeps the batch open while close() begins

    async def late(db):
        await db.execute("INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at)"
                         " VALUES ('100000002', 'b', 'work', 'open', 'u1', 1)")

    first = store.run_in_batch(slow)
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)
    second = store.run_in_batch(late)  # queued after close() began, before the writer ends
    await asyncio.wait_for(closing, 5)
    await first
    await second
    assert rows("SELECT group_id FROM groups ORDER BY 1") == [("100000001",), ("100000002",)]


async def test_messages_commit_in_order_with_callbacks_after_commit(make_store):
    store, rows = make_store()
    await store.open()
    done = []
    for seq in range(1, 6):
        store.append_message(MessageRow("100000001", seq, seq, "u1", "owner", f"m{seq}", None, 0),
                             lambda exc, seq=seq: done.append((seq, exc)))
    await store.close()
    assert done == [(s, None) for s in range(1, 6)]
    assert [r[0] for r in rows("SELECT seq FROM messages ORDER BY seq")] == [1, 2, 3, 4, 5]


async def test_one_poison_write_among_200_costs_only_itself(make_store):
    """A row that cannot be stored (a lone surrogate) fails alone; the rest of its batch commits."""
    store, rows = make_store()
    await store.open()
    await store.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
    done: dict[int, BaseException | None] = {}
    logged: list[BaseException | None] = []
    for seq in range(1, 201):
        text = "\ud800 poison" if seq == 77 else f"m{seq}"
        store.append_message(MessageRow("100000001", seq, seq, "u1", "owner", text, None, 0),
                             lambda exc, seq=seq: done.__setitem__(seq, exc))
    store.log_network(NetlogRow(1, "connect", None, "127.0.0.1", "{}"), logged.append)
    store.log_network(NetlogRow(1, "connect", None, "127.0.0.1", '{"x": "\udfff"}'), logged.append)
    user = store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    bad_change = store.apply(ch.SetGroupFields("100000001", {"name": "\udc00"}))
    await user
    try:
        await bad_change
    except UnicodeEncodeError:
        pass
    else:
        raise AssertionError("the poison change was stored")
    await store.close()
    assert isinstance(done.pop(77), UnicodeEncodeError)
    assert set(done.values()) == {None} and len(done) == 199
    assert logged[0] is None and isinstance(logged[1], UnicodeEncodeError)
    seqs = [r[0] for r in rows("SELECT seq FROM messages ORDER BY seq")]
    assert seqs == [s for s in range(1, 201) if s != 77]
    assert rows("SELECT last_seq, name FROM groups") == [(200, "g")]
    assert rows("SELECT username FROM users") == [("alice",)]
    assert rows("SELECT COUNT(*) FROM netlog") == [(1,)]


def test_a_process_that_never_closes_its_sqlite_store_still_exits(tmp_path):
    """A crash, or a failed test still holding the store, must not leave the process waiting forever
    at exit for the store's connection threads (server/storage/sqlite.py: _connect)."""
    import subprocess
    import sys

    from tests.e2e.harness import ROOT

    script = (
        "import asyncio\n"
        "from pathlib import Path\n"
        "from server.storage.sqlite import SqliteStore\n"
        "KEPT = []\n"
        "async def main():\n"
        f"    store = SqliteStore(Path({str(tmp_path / 'q.db')!r}))\n"
        "    await store.open()\n"
        "    KEPT.append(store)  # still referenced when the interpreter exits\n"
        "asyncio.run(main())\n"
        "print('done', flush=True)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr


async def test_a_pin_names_a_message_the_store_holds_and_keeps_to_the_cap(make_store):
    """A pin is refused by the store when its message is gone (purged while the pin was being decided:
    a pin naming nothing would hold a place for good) and past the cap of the pins it holds; pinning
    a message already pinned changes nothing, also at the cap."""
    from protocol.errors import ContractError

    store, rows = make_store()
    await store.open()
    await store.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
    stored = asyncio.get_running_loop().create_future()
    for seq in (1, 2):
        store.append_message(MessageRow("100000001", seq, seq, "u1", "owner", f"m{seq}", None, 0),
                             lambda exc, seq=seq: seq == 2 and stored.set_result(exc))
    assert await stored is None
    await store.apply(ch.SetPin("100000001", 1, True, 5, "u1", 1))
    await store.apply(ch.SetPin("100000001", 1, True, 6, "u1", 1))
    for seq, code in ((2, "conflict"), (3, "not_found")):
        with pytest.raises(ContractError) as refused:
            await store.apply(ch.SetPin("100000001", seq, True, 7, "u1", 1 if seq == 2 else 5))
        assert refused.value.code == code
    await store.close()
    assert rows("SELECT seq, pinned_at FROM group_pins") == [(1, 5)]


async def test_an_account_keeps_its_newest_tokens_up_to_the_cap(make_store, monkeypatch):
    """Successful logins are limited by nothing else, and each stored a token for its whole life: the
    store keeps an account's newest ``TOKENS_KEPT_PER_USER`` (the new one always), dropping the
    oldest with each login; another account's tokens are untouched."""
    monkeypatch.setattr(ch, "TOKENS_KEPT_PER_USER", 3)
    store, rows = make_store()
    await store.open()
    day = 86_400_000
    await store.apply(ch.InsertToken(b"other", "u2", 1, 30 * day))
    for i in range(1, 6):
        await store.apply(ch.InsertToken(bytes([i]) * 32, "u1", i, 30 * day))
    # Five at the same moment, the new one still kept whatever its hash.
    for i in range(6, 11):
        await store.apply(ch.InsertToken(bytes([16 - i]) * 32, "u1", 100, 30 * day))
    await store.close()
    kept = rows("SELECT token_hash, created_at FROM tokens WHERE user_id = 'u1' ORDER BY created_at")
    assert len(kept) == 3 and all(r[1] == 100 for r in kept) and bytes(bytes([6]) * 32) in [bytes(r[0]) for r in kept]
    assert [bytes(r[0]) for r in rows("SELECT token_hash FROM tokens WHERE user_id = 'u2'")] == [b"other"]


async def test_a_report_names_content_the_store_holds(make_store):
    """A report on a message, post or comment the retention purge removed while the report was being
    decided is refused by the store (``not_found``): the reporter was told a complaint was filed on
    evidence that was already gone. A report on content still held is filed."""
    from protocol.errors import ContractError

    store, rows = make_store()
    await store.open()
    await store.apply(ch.CreateGroup("100000001", "g", "work", "open", "u1", 1))
    stored = asyncio.get_running_loop().create_future()
    store.append_message(MessageRow("100000001", 1, 1, "u1", "owner", "m1", None, 0), stored.set_result)
    assert await stored is None
    [(filed, duplicate)] = await store.apply(ch.InsertReport("u2", "message", "100000001", 1, "u1", "spam", "", 5))
    assert not duplicate
    for change, says in (
            (ch.InsertReport("u2", "message", "100000001", 2, "u1", "spam", "", 6), "no message 2"),
            (ch.InsertReport("u2", "post", None, None, None, "spam", "", 6, "1234567890", 7), "no post 7"),
            (ch.InsertReport("u2", "comment", None, None, None, "spam", "", 6, "1234567890", 7, 9), "no comment 9")):
        with pytest.raises(ContractError) as refused:
            await store.apply(change)
        assert refused.value.code == "not_found" and says in str(refused.value), refused.value
    assert [r[0] for r in rows("SELECT report_id FROM reports")] == [filed]
    await store.close()


async def test_a_token_ended_keeps_why_unless_it_was_never_handed_out(make_store):
    """Every deletion of a token goes one way (``_end_tokens``): with a cause, what ``auth`` says of it
    is kept; without one (a login that lost its race with a new password), nothing is."""
    store, rows = make_store()
    await store.open()
    day = 86_400_000
    await store.apply(ch.InsertToken(b"a" * 32, "u1", 1, 30 * day), ch.InsertToken(b"b" * 32, "u1", 2, 30 * day))
    await store.apply(ch.RevokeToken(b"a" * 32), ch.RevokeToken(b"b" * 32, None))
    assert await store.login_end_cause(b"a" * 32, 3) == "logged_out"
    assert await store.login_end_cause(b"b" * 32, 3) is None
    await store.close()
    assert rows("SELECT COUNT(*) FROM tokens") == [(0,)]
    assert rows("SELECT COUNT(*) FROM ended_logins") == [(1,)]
