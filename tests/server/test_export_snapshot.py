"""A supervision export reads every file from one snapshot of the store (Store.export_snapshot):
what commits while it reads (a retention purge, a send, an edit) shows in none of its files."""

from __future__ import annotations

import asyncio
from typing import Any

from server.storage import changes as ch
from server.storage.base import MessageRow, NetlogRow
from tests.server.test_search_store import append as append_rows

G = "100000001"
END = 10**15


async def append(store: Any, *rows: MessageRow) -> None:
    await append_rows(store, list(rows))


async def test_an_export_reads_one_snapshot_whatever_commits_meanwhile(open_store) -> None:
    store = await open_store()
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup(G, "one", "tech", "open", "u1", 1))
    await append(store, *(MessageRow(G, seq, seq * 100, "u1", "owner", f"text {seq}", None, 0) for seq in (1, 2, 3)))

    async with store.export_snapshot() as reads:
        before = await reads.export_group(G, 0, END, {"u1"})
        assert [m["seq"] for m in before["messages"]] == [1, 2, 3]
        # Meanwhile: the purge takes the oldest message, a send and an edit commit.
        removed = await store.apply(ch.PurgeMessages(10_000, 150, 100))
        assert removed == [(1, None)]
        await append(store, MessageRow(G, 4, 400, "u1", "owner", "text 4", None, 0))
        await store.apply(ch.EditMessage(G, 2, "u1", "edited", 500))
        assert await reads.export_group(G, 0, END, {"u1"}) == before  # the same moment, still
        assert [m["seq"] for m in (await reads.export_user("u1", 0, END))["messages"]] == [1, 2, 3]
        assert await reads.message_versions([(G, 2)]) == {}

    async with store.export_snapshot() as reads:  # a new export sees what committed
        after = await reads.export_group(G, 0, END, {"u1"})
        assert [(m["seq"], m["text"]) for m in after["messages"]] == [(2, "edited"), (3, "text 3"), (4, "text 4")]
        assert [v["text"] for v in (await reads.message_versions([(G, 2)]))[(G, 2)]] == ["text 2"]
    # The store's own reads go on outside any snapshot.
    assert [m["seq"] for m in (await store.export_group(G, 0, END, {"u1"}))["messages"]] == [2, 3, 4]


async def test_an_open_sqlite_snapshot_holds_no_commit_and_the_wal_is_started_over_after_it(tmp_path, monkeypatch):
    """A TRUNCATE checkpoint runs on the writer's own sequence: had it waited for the export's
    snapshot (the busy timeout is 5 s), every commit would stall while an export reads. It gives
    up at once instead, and the WAL is started over once the snapshot is closed."""
    import time

    from server.storage import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "WAL_TRUNCATE_BYTES", 0)  # truncation due after every checkpoint
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 0.05)
    store = sqlite_store.SqliteStore(tmp_path / "q.db")
    await store.open()
    try:
        store.set_record_key(b"k" * 32)
        await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
        await store.apply(ch.CreateGroup(G, "one", "tech", "open", "u1", 1))
        # The checkpoint due after those writes, and its truncation, done before the snapshot opens: one
        # still finishing as it opened was counted below on a loaded machine, though it held nothing up.
        deadline = time.monotonic() + 10
        while (store._ckpt_at != store.batches or store._truncate_due) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        async with store.export_snapshot() as reads:
            await reads.export_group(G, 0, END, {"u1"})
            truncations = store.wal_truncations
            started = time.monotonic()
            for seq in range(1, 11):
                await append(store, MessageRow(G, seq, seq, "u1", "owner", f"m{seq}", None, 0))
                await asyncio.sleep(0.06)  # (a checkpoint between two commits)
            # Ten commits, none held by a truncation: held, each would wait out the 5 s busy timeout
            # (50 s); a loaded CI machine took 7 s for them as they are.
            assert time.monotonic() - started < 30.0
            assert store.wal_truncations == truncations
        for _ in range(100):  # once the snapshot is closed, the WAL is started over again
            await append(store, MessageRow(G, 100 + _, 100, "u1", "owner", "after", None, 0))
            if store.wal_truncations > truncations:
                break
            await asyncio.sleep(0.05)
        assert store.wal_truncations > truncations
    finally:
        await store.close()


async def test_a_group_and_an_account_of_the_same_number_export_only_their_own_record(open_store) -> None:
    """Group and account ids are drawn from their own spaces, so one number can be both. The group
    export took every entry whose target was that number (an account's hold and measures), the
    account export every entry aimed at it (the group's hold): an export handed to an authority
    carried another's enforcement history. A group's entries carry its group_id; an account's
    have none."""
    store = await open_store()
    same = "1234567890"
    await store.apply(ch.AddRecord(ch.Audit(10, "operator", "op", "legal_hold", None, same, "account held",
                                            {"target_type": "account"})))
    await store.apply(ch.AddRecord(ch.Audit(11, "operator", "op", "suspend_account", None, same, "account measure",
                                            {"target_type": "account"})))
    await store.apply(ch.AddRecord(ch.Audit(12, "user", "u1", "publish_post", None, same, "")))
    await store.apply(ch.AddRecord(ch.Audit(13, "operator", "op", "legal_hold", same, same, "group held",
                                            {"target_type": "group"})))
    await store.apply(ch.AddRecord(ch.Audit(14, "operator", "op", "warn_group", same, None, "group warned")))
    await store.apply(ch.AddRecord(ch.Audit(15, "user", "u2", "remove_comment", None, "u2", "comment gone",
                                            {"account_id": same})))
    group = await store.export_group(same, 0, END, set())
    account = await store.export_account(same, 0, END)
    assert [e["ts"] for e in group["audit"]] == [13, 14]
    assert [e["ts"] for e in account["audit"]] == [10, 11, 12, 15]


async def test_a_groups_network_log_is_read_by_pages_from_the_snapshot(open_store) -> None:
    """A group export's netlog.jsonl is read by one cursor a page at a time (export._stream_netlog): the
    rows of the people named, by id, in the range, whatever the page size, and none written after the
    snapshot was taken (a large group's six months are millions of rows, never held at once)."""
    store = await open_store()
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup(G, "one", "tech", "open", "u1", 1))

    async def log(ts: int, uid: str | None) -> None:
        done: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        store.log_network(NetlogRow(ts, "login", uid, "203.0.113.5", "{}"), done.set_result)
        assert await done is None

    for ts in range(10, 80, 10):  # u1 at 10..70, u2 at 15..75, nobody's rows between
        await log(ts, "u1")
        await log(ts + 5, "u2")
        await log(ts + 6, None)
    async with store.export_snapshot() as reads:
        whole = (await reads.export_group(G, 20, 70, {"u1"}))
        assert whole["people"] == ["u1"] and whole["netlog"]
        await log(50, "u1")  # committed after the snapshot: in no page
        for per_page in (1, 2, 5, 100):
            pages = [page async for page in reads.group_export_netlog(["u1", "u2"], 20, 70, per_page)]
            rows = [r for page in pages for r in page]
            assert all(0 < len(page) <= per_page for page in pages)
            assert [(r["ts"], r["user_id"]) for r in rows] == [
                (ts, uid) for base in range(20, 70, 10) for ts, uid in ((base, "u1"), (base + 5, "u2"))]
            assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
        only_u1 = [r async for page in reads.group_export_netlog(["u1"], 20, 70, 3) for r in page]
        assert only_u1 == whole["netlog"]  # (the rows the whole read gives, the same dicts)
        paged = await reads.export_group(G, 20, 70, {"u1"}, senders=set())
        assert paged["netlog"] == [] and paged["messages"] == [] and paged["people"] == ["u1"]
