"""The last day's client_msg_ids in two tiers (server/sent_ids.py), and send's retries through both."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from client_demo.client import Client
from governance.retention import DAY_MS
from server.app import App
from server.handlers import messages
from server.sent_ids import BUCKET_MS, RECENT_MS, STUCK_MS, SentIds
from server.state import SentMessage, State
from server.storage import loading
from tests.server.test_group_ids import registered

T0 = 1_800_000_000_000  # a time on an hour boundary's far side: buckets are hours of epoch ms
KEY = ("100000001", "u1", "c-1")


def committed(seq: int, ts: int) -> SentMessage:
    return SentMessage(seq, ts, True)


def test_a_committed_send_moves_to_the_digests_once_past_the_recent_window() -> None:
    ids = SentIds()
    ids.remember(KEY, committed(5, T0), T0)
    ids.age(T0 + RECENT_MS - 1)
    assert KEY in ids.recent and ids.older_seq(KEY) is None
    ids.age(T0 + RECENT_MS)
    assert KEY not in ids.recent
    assert ids.older_seq(KEY) == 5
    assert len(ids) == 1


def test_an_uncommitted_send_stays_recent_and_holds_back_the_later_ones() -> None:
    ids = SentIds()
    pending = SentMessage(1, T0, False)
    ids.remember(KEY, pending, T0)
    later = ("100000001", "u1", "c-2")
    ids.remember(later, committed(2, T0 + 1), T0 + 1)
    ids.age(T0 + 2 * RECENT_MS)
    assert set(ids.recent) == {KEY, later}  # the queue waits for the commit in flight
    pending.committed = True
    ids.age(T0 + 2 * RECENT_MS)
    assert not ids.recent
    assert (ids.older_seq(KEY), ids.older_seq(later)) == (1, 2)


def test_a_failed_send_is_forgotten_and_a_new_one_under_its_key_kept() -> None:
    ids = SentIds()
    failed = SentMessage(1, T0, False)
    ids.remember(KEY, failed, T0)
    ids.forget(KEY, failed)
    assert KEY not in ids.recent
    ids.remember(KEY, committed(2, T0 + 5), T0 + 5)
    ids.forget(KEY, failed)  # a late failure of the first copy does not drop the second
    ids.age(T0 + 5 + RECENT_MS)
    assert ids.older_seq(KEY) == 2


@pytest.mark.parametrize(("age_ms", "kept"), [
    (DAY_MS - BUCKET_MS, True),  # its hour is not wholly over a day old
    (DAY_MS + BUCKET_MS, False),
])
def test_buckets_retire_once_wholly_over_a_day_old_and_are_freed_in_slices(age_ms: int, kept: bool) -> None:
    ids = SentIds()
    start = (T0 // BUCKET_MS) * BUCKET_MS
    for i in range(250):
        ids.add_older(("100000001", "u1", f"c{i}"), i + 1, start + i)
    ids.age(start + age_ms)
    rounds = 0
    while ids.free_some(limit=100):
        rounds += 1
    assert rounds == (0 if kept else 2)  # 250 entries, 100 a slice
    assert (ids.older_seq(("100000001", "u1", "c7")) == 8) is kept
    assert len(ids) == (250 if kept else 0)


def test_age_moves_at_most_a_slice_and_says_when_more_remain() -> None:
    ids = SentIds()
    for i in range(5):
        ids.remember(("g", "u", str(i)), committed(i + 1, T0 + i), T0 + i)
    assert ids.age(T0 + RECENT_MS + 10, limit=3) is True
    assert len(ids.recent) == 2
    assert ids.age(T0 + RECENT_MS + 10, limit=3) is False
    assert not ids.recent


def test_the_newest_copy_wins_whatever_the_order_they_are_loaded_in() -> None:
    ids = SentIds()
    ids.add_older(KEY, 9, T0 + 3 * BUCKET_MS)
    ids.add_older(KEY, 4, T0)  # loaded after it, from an older hour
    assert ids.older_seq(KEY) == 9
    ids.age(T0 + DAY_MS + 2 * BUCKET_MS)  # the older copy's hour retires ...
    while ids.free_some():
        pass
    assert ids.older_seq(KEY) == 9  # ... and leaves the newer copy's digest alone


def test_adding_rows_at_once_is_adding_them_one_by_one() -> None:
    """The loader's add_older_rows keeps the same tables and hours as add_older row by row: rows
    over several hours in ts order, a key seen twice (its later copy wins)."""
    rows = [("100000001", f"u{k % 5}", f"c-{k % 25}", 100 + k, T0 + k * 400_000) for k in range(60)]
    one, many = SentIds(), SentIds()
    for gid, uid, cmid, seq, ts in rows:
        one.add_older((gid, uid, cmid), seq, ts)
    many.add_older_rows(iter(rows))
    assert one._older == many._older
    assert {h: list(a) for h, a in one._hours.items()} == {h: list(a) for h, a in many._hours.items()}
    assert len(one._hours) > 2 and len(many) == 25


# -- send's retries through the real server, in process --------------------------------------------
async def owner_with_group(app: App, tmp_path) -> tuple[Client, str]:
    c = await registered(app, tmp_path)  # owner1, logged in
    gid = (await c.request("create_group", name="a", category="friends", join_policy="open"))["group_id"]
    return c, gid


async def test_a_retry_past_the_recent_window_is_answered_from_the_stored_message(app: App, tmp_path) -> None:
    c, gid = await owner_with_group(app, tmp_path)
    first = await c.request("send", group_id=gid, text="hello", client_msg_id="m-1")
    app.state.sent_ids.age(app.now_ms() + RECENT_MS)
    assert not app.state.sent_ids.recent  # only the digest is left
    again = await c.request("send", group_id=gid, text="hello", client_msg_id="m-1")
    assert (again["seq"], again["ts"]) == (first["seq"], first["ts"])
    history = (await c.request("history", group_id=gid))["messages"]
    assert [m["text"] for m in history] == ["hello"]
    await c.close()


async def test_a_colliding_digest_never_answers_a_new_message_with_anothers_seq(app: App, tmp_path) -> None:
    app.state.sent_ids.digest = lambda key: 42  # every key collides
    c, gid = await owner_with_group(app, tmp_path)
    first = await c.request("send", group_id=gid, text="one", client_msg_id="a")
    app.state.sent_ids.age(app.now_ms() + RECENT_MS)
    second = await c.request("send", group_id=gid, text="two", client_msg_id="b")
    assert second["seq"] == first["seq"] + 1  # the read found another message's id: a new one
    app.state.sent_ids.age(app.now_ms() + RECENT_MS)
    # The newest digest now leads to "b"; a retry of "a" reads "b"'s row, finds it is not
    # its copy, and is stored again: the one wrong answer a collision can give is a duplicate
    # of a retry, never another message's seq.
    retried = await c.request("send", group_id=gid, text="one", client_msg_id="a")
    assert retried["seq"] == second["seq"] + 1
    assert (await c.request("send", group_id=gid, text="one", client_msg_id="a"))["seq"] == retried["seq"]
    await c.close()


async def test_retries_waiting_for_one_commit_are_capped(app: App, tmp_path) -> None:
    """A retry of a send whose commit is still out waits for it and is answered with it: each waiting
    retry is held in memory until the commit settles, and a retry skips the rate bucket and the write
    queue's bound. Past :data:`messages.MAX_RETRIES_WAITING` of them, one more is ``rate_limited`` at
    once (the ones waiting are all answered with the one message's seq, stored once): without the cap
    one client repeating an id through a slow commit could make the server hold any number of them."""
    c, gid = await owner_with_group(app, tmp_path)
    gate = asyncio.Event()

    async def held(_db: Any) -> None:  # the writer's batch waits here: the send's write comes after it
        await gate.wait()

    blocker = app.store.run_in_batch(held)
    try:
        await asyncio.sleep(0.05)
        g = app.state.groups[gid]
        before = g.last_seq
        first = asyncio.ensure_future(c.call("send", group_id=gid, text="slow", client_msg_id="R"))
        while g.last_seq == before:  # its seq taken, its write queued behind the held batch
            await asyncio.sleep(0.01)
        seen = app.state.sent_ids.recent[(gid, c.user_id, "R")]
        retries = [asyncio.ensure_future(c.call("send", group_id=gid, text="slow", client_msg_id="R"))
                   for _ in range(messages.MAX_RETRIES_WAITING)]
        while len(seen.waiters) < messages.MAX_RETRIES_WAITING:
            await asyncio.sleep(0.01)
        one_more = asyncio.ensure_future(c.call("send", group_id=gid, text="slow", client_msg_id="R"))
        await asyncio.wait([one_more], timeout=2)
        assert one_more.done(), "the retry past the cap was left waiting too"
        refused = one_more.result()
        assert refused["ok"] is False and refused["code"] == "rate_limited" and refused["retry_after_ms"] > 0
        assert len(seen.waiters) == messages.MAX_RETRIES_WAITING and not any(r.done() for r in retries)
    finally:
        gate.set()  # (also when an assertion failed: the app's teardown waits for the writer)
        await blocker
    answers = await asyncio.wait_for(asyncio.gather(first, *retries), 5)
    assert {(a["ok"], a["seq"]) for a in answers} == {(True, before + 1)}, answers
    assert [m["text"] for m in (await c.request("history", group_id=gid))["messages"]] == ["slow"]
    await c.close()


def test_an_entry_uncommitted_far_too_long_no_longer_holds_up_the_others(caplog) -> None:
    ids = SentIds()
    ids.remember(KEY, SentMessage(1, T0, False), T0)
    later = ("100000001", "u1", "c-2")
    ids.remember(later, committed(2, T0 + 1), T0 + 1)
    ids.age(T0 + STUCK_MS + 1)
    assert later not in ids.recent and ids.older_seq(later) == 2
    assert "uncommitted" in caplog.text


async def test_the_last_days_ids_load_in_slices_that_never_split_a_millisecond() -> None:
    """load_sent_ids against an in-memory table ordered by ts, with slices of 3 rows."""
    table = [("g", "u", f"c{i}", i + 1, ts) for i, ts in enumerate([5, 6, 6, 6, 6, 7, 9, 9, 10])]
    reads = []

    async def fetch(sql: str, bound: int) -> list:
        reads.append(bound)
        if sql == loading.IDS_AT:
            return [r for r in table if r[4] == bound]
        assert sql == loading.RECENT_IDS
        return [r for r in table if r[4] >= bound][:loading.ID_CHUNK]

    state = State()
    old_chunk = loading.ID_CHUNK
    loading.ID_CHUNK = 3
    try:
        await loading.load_sent_ids(fetch, state, 5)
    finally:
        loading.ID_CHUNK = old_chunk
    assert [state.sent_ids.older_seq(("g", "u", f"c{i}")) for i in range(len(table))] == list(range(1, 10))
    assert len(state.sent_ids) == len(table)
    # 5,6,6: keep 5 | from 6: 6,6,6 is one ms, read it whole | from 7: 7,9,9: keep 7
    # | from 9: 9,9,10: keep the 9s | from 10: the last slice
    assert reads == [5, 6, 6, 7, 9, 10]


# -- races around send's awaits, found in review ------------------------------------------------------
async def second_login(app: App) -> Client:
    c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await c.login("owner1", "password123")
    return c


async def test_a_copy_accepted_and_aged_while_a_reply_read_waits_is_found(app: App, tmp_path, monkeypatch) -> None:
    c, gid = await owner_with_group(app, tmp_path)
    base = await c.request("send", group_id=gid, text="base")
    gate = asyncio.Event()
    real = messages.reply_visible

    async def slow(*args: object) -> bool:
        await gate.wait()
        return await real(*args)

    monkeypatch.setattr(messages, "reply_visible", slow)
    waiting = asyncio.create_task(
        c.request("send", group_id=gid, text="r", client_msg_id="K", reply_to=base["seq"]))
    await asyncio.sleep(0.2)
    monkeypatch.setattr(messages, "reply_visible", real)
    other = await second_login(app)
    first = await other.request("send", group_id=gid, text="r", client_msg_id="K")
    app.state.sent_ids.age(app.now_ms() + RECENT_MS)  # the read above took longer than RECENT_MS
    assert not app.state.sent_ids.recent
    gate.set()
    assert (await waiting)["seq"] == first["seq"]
    assert [m["text"] for m in (await c.request("history", group_id=gid))["messages"]] == ["base", "r"]
    await c.close()
    await other.close()


async def test_a_commit_callback_that_raises_late_leaves_the_id_known_and_aging_going(app: App, tmp_path,
                                                                                      monkeypatch) -> None:
    c, gid = await owner_with_group(app, tmp_path)
    real, calls = messages.count_activity, []

    def flaky(*args: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        real(*args)

    monkeypatch.setattr(messages, "count_activity", flaky)
    first = await c.request("send", group_id=gid, text="a", client_msg_id="A")
    for i in range(3):
        await c.request("send", group_id=gid, text=f"m{i}", client_msg_id=f"M{i}")
    app.state.sent_ids.age(app.now_ms() + RECENT_MS)
    assert not app.state.sent_ids.recent
    again = await asyncio.wait_for(c.request("send", group_id=gid, text="a", client_msg_id="A"), 5)
    assert again["seq"] == first["seq"]
    await c.close()


async def test_an_id_used_again_over_a_day_later_is_a_new_message(app: App, tmp_path) -> None:
    """A client_msg_id protects a send's retries for a day (DEDUP_WINDOW_MS), no longer: the same id
    sent again a day or more after its first use is a new message, stored under a new seq and
    delivered. The older tier keeps digests an hour at a time and drops an hour only once all of it
    is over a day old, so a digest can still name the first message after its day has passed: the
    retry's store read (``older_copy``) must check the stored message's age itself, or a client that
    reuses ids (a counter restarting each day) would have its new message acked with the old seq
    and silently dropped. The clock is set to exactly a day after the first send's ``ts``, within
    the same hour: the digest is certainly still held."""
    c, gid = await owner_with_group(app, tmp_path)
    first = await c.request("send", group_id=gid, text="hello", client_msg_id="m-1")
    app.state.sent_ids.age(app.now_ms() + RECENT_MS)
    key = (gid, c.user_id, "m-1")
    assert not app.state.sent_ids.recent and app.state.sent_ids.older_seq(key) == first["seq"]
    real_clock = app.now_ms
    app.now_ms = lambda: first["ts"] + DAY_MS  # (frozen: the hour of the first send's digest is kept)
    try:
        again = await asyncio.wait_for(c.request("send", group_id=gid, text="hello again", client_msg_id="m-1"), 5)
        assert app.state.sent_ids.older_seq(key) is not None  # the digest was there to be read
    finally:
        app.now_ms = real_clock
    assert again["seq"] > first["seq"], (first, again)
    history = (await c.request("history", group_id=gid))["messages"]
    assert [(m["seq"], m["text"]) for m in history][-2:] == [(first["seq"], "hello"), (again["seq"], "hello again")]
    await c.close()


async def test_the_server_ages_ids_by_itself_and_a_confirmed_retry_reads_once(app: App, tmp_path, monkeypatch) -> None:
    c, gid = await owner_with_group(app, tmp_path)
    first = await c.request("send", group_id=gid, text="hello", client_msg_id="m-1")
    real_clock = app.now_ms
    app.now_ms = lambda: real_clock() + RECENT_MS + 1000  # the job runs once a second
    for _ in range(50):
        if not app.state.sent_ids.recent:
            break
        await asyncio.sleep(0.1)
    assert not app.state.sent_ids.recent and app.state.sent_ids.older_seq((gid, c.user_id, "m-1")) == first["seq"]
    app.now_ms = real_clock
    reads, real_read = [], app.store.sent_copy

    async def counted(*args: Any) -> Any:
        reads.append(args)
        return await real_read(*args)

    monkeypatch.setattr(app.store, "sent_copy", counted)
    for _ in range(3):
        assert (await c.request("send", group_id=gid, text="hello", client_msg_id="m-1"))["seq"] == first["seq"]
    assert len(reads) == 1  # the confirmed copy is back in the recent tier
    await c.close()


async def test_a_retry_that_cannot_read_the_store_is_told_to_send_it_again(app: App, tmp_path, monkeypatch,
                                                                           caplog) -> None:
    """A send whose commit failed keeps its seq as a lead: the retry reads the store to see whether
    the row was stored after all. While the store cannot be read either (an outage), that read's
    error went up as "internal server error" with an ERROR and a traceback per retry. Now the retry
    is answered as the first attempt was, and one warning is logged, not one per retry. So is a
    reply whose message cannot be read."""
    import sqlite3

    c, gid = await owner_with_group(app, tmp_path)
    base = await c.request("send", group_id=gid, text="base")
    real_append, real_read, real_info = app.store.append_message, app.store.sent_copy, app.store.message_info

    def failing_append(row: Any, done: Any) -> None:
        done(OSError("disk unreachable"))

    async def locked(*args: Any) -> Any:
        err = sqlite3.OperationalError("database is locked")
        err.sqlite_errorcode = sqlite3.SQLITE_BUSY  # (as SQLite's own: a lock held past the busy timeout)
        raise err

    monkeypatch.setattr(app.store, "append_message", failing_append)
    monkeypatch.setattr(app.store, "sent_copy", locked)
    monkeypatch.setattr(app.store, "message_info", locked)
    messages._UNREADABLE.clear()
    caplog.clear()
    answers = [await c.call("send", group_id=gid, text="hi", client_msg_id="m-1") for _ in range(4)]
    answers.append(await c.call("send", group_id=gid, text="re", reply_to=base["seq"]))
    assert [(r["code"], r["reason"]) for r in answers] == [("internal", messages.NOT_STORED)] * 5, answers
    assert [r.levelname for r in caplog.records if r.levelno >= 30 and r.name == "qunguan.messages"] == ["WARNING"]
    assert not [r for r in caplog.records if r.levelno >= 40 or r.exc_info], caplog.text

    monkeypatch.setattr(app.store, "append_message", real_append)
    monkeypatch.setattr(app.store, "sent_copy", real_read)
    monkeypatch.setattr(app.store, "message_info", real_info)
    first = await c.request("send", group_id=gid, text="hi", client_msg_id="m-1")
    assert (await c.request("send", group_id=gid, text="hi", client_msg_id="m-1"))["seq"] == first["seq"]
    assert [m["text"] for m in (await c.request("history", group_id=gid))["messages"]] == ["base", "hi"]
    await c.close()
