"""The last day's client_msg_ids in two tiers (server/sent_ids.py), and send's retries through both."""

from __future__ import annotations

import json

import pytest

from client_demo.client import Client
from governance.retention import DAY_MS
from server.app import App
from server.config import parse_config
from server.sent_ids import BUCKET_MS, RECENT_MS, SentIds
from server.state import SentMessage

T0 = 1_800_000_000_000  # a time on an hour boundary's far side: buckets are hours of epoch ms
KEY = ("100000001", "u1", "c-1")


def committed(seq: int, ts: int) -> SentMessage:
    return SentMessage(seq, ts, True)


def test_a_committed_send_moves_to_the_digests_once_past_the_recent_window() -> None:
    ids = SentIds()
    ids.remember(KEY, committed(5, T0))
    ids.age(T0 + RECENT_MS - 1)
    assert KEY in ids.recent and ids.older_seq(KEY) is None
    ids.age(T0 + RECENT_MS)
    assert KEY not in ids.recent
    assert ids.older_seq(KEY) == 5
    assert len(ids) == 1


def test_an_uncommitted_send_stays_recent_and_holds_back_the_later_ones() -> None:
    ids = SentIds()
    pending = SentMessage(1, T0, False)
    ids.remember(KEY, pending)
    later = ("100000001", "u1", "c-2")
    ids.remember(later, committed(2, T0 + 1))
    ids.age(T0 + 10 * RECENT_MS)
    assert set(ids.recent) == {KEY, later}  # the queue waits for the commit in flight
    pending.committed = True
    ids.age(T0 + 10 * RECENT_MS)
    assert not ids.recent
    assert (ids.older_seq(KEY), ids.older_seq(later)) == (1, 2)


def test_a_failed_send_is_forgotten_and_a_new_one_under_its_key_kept() -> None:
    ids = SentIds()
    failed = SentMessage(1, T0, False)
    ids.remember(KEY, failed)
    ids.forget(KEY, failed)
    assert KEY not in ids.recent
    ids.remember(KEY, committed(2, T0 + 5))
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
        ids.remember(("g", "u", str(i)), committed(i + 1, T0 + i))
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


# -- send's retries through the real server, in process --------------------------------------------
def config(tmp_path):
    return parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "require_id_to_create": False,
                     "argon2_time_cost": 1, "argon2_memory_kib": 1024},
    }, tmp_path)


async def owner_with_group(app: App, tmp_path) -> tuple[Client, str]:
    c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await c.request("request_code", phone="13912345678")
    code = json.loads((tmp_path / "sms.jsonl").read_text().splitlines()[-1])["code"]
    await c.request("register", username="owner1", password="password123", phone="13912345678", code=code)
    await c.login("owner1", "password123")
    gid = (await c.request("create_group", name="a", category="friends", join_policy="open"))["group_id"]
    return c, gid


async def test_a_retry_past_the_recent_window_is_answered_from_the_stored_message(tmp_path) -> None:
    app = App(config(tmp_path))
    await app.start()
    try:
        c, gid = await owner_with_group(app, tmp_path)
        first = await c.request("send", group_id=gid, text="hello", client_msg_id="m-1")
        app.state.sent_ids.age(app.now_ms() + RECENT_MS)
        assert not app.state.sent_ids.recent  # only the digest is left
        again = await c.request("send", group_id=gid, text="hello", client_msg_id="m-1")
        assert (again["seq"], again["ts"]) == (first["seq"], first["ts"])
        history = (await c.request("history", group_id=gid))["messages"]
        assert [m["text"] for m in history] == ["hello"]
        await c.close()
    finally:
        await app.stop()


async def test_a_colliding_digest_never_answers_a_new_message_with_anothers_seq(tmp_path) -> None:
    app = App(config(tmp_path))
    await app.start()
    try:
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
    finally:
        await app.stop()
