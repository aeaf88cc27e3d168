"""Retention runs from the latest moment a text was published, not only from when it was sent (G13, P16).

An edit shows a new text from its ``edited_at``; a release from the platform's hold (a message, a
post, a comment) or an account's approval of a comment shows it from then. Each is kept a full
``retention.days`` after that moment; what nobody edited or released still goes a period after it
was sent. An in-process server on both backends whose clock is injected (as in test_retention.py):
the texts go through the real paths (``send``, ``edit_message``, ``publish``, ``comment``,
``moderate_comment``, the operator's ``decide``), then the purge runs at chosen moments.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import pytest

from client_demo.client import Client
from governance.retention import DAY_MS
from server import retention
from server.app import App
from server.config import parse_config
from server.operator.platform import decide
from tests import pgtools
from tests.e2e.harness import new_id_number
from tests.e2e.test_retention import MINUTE, ms

DAYS = 184
PERIOD = DAYS * DAY_MS
SENT = ms("2026-07-01 09:00", "Asia/Shanghai")  # 1 July to 1 January: the longest six months, 184 days
EDITED = SENT + DAY_MS  # inside the default two-day edit window
RELEASED = SENT + 30 * DAY_MS
_phones = itertools.count(13700000001)


@pytest.fixture
async def server(tmp_path: Path, backend: str):
    """(app, clock): a server in this process on ``backend`` with a review word list; ``clock[0]`` is its time."""
    (tmp_path / "review.txt").write_text("集会\n", encoding="utf-8")
    raw: dict = {
        "server": {"port": 0},
        "retention": {"days": DAYS},
        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        "rate_limits": {"code_requests_per_phone_per_hour": 0, "code_requests_per_ip_per_hour": 0,
                        "connections_per_ip_per_minute": 0, "messages_per_second": 0},
        "content": {"lists": [{"category": "rumour", "path": "review.txt", "action": "review"}]},
    }
    db = None
    if backend == "postgresql":
        db, url = await asyncio.to_thread(pgtools.create_migrated_db)
        raw["storage"] = {"url": url}
    clock = [SENT]
    app = App(parse_config(raw, tmp_path), clock=lambda: clock[0])
    await app.start()
    try:
        yield app, clock
    finally:
        await app.stop()
        if db is not None:
            pgtools.release_db(db)


async def user(app: App, tmp_path: Path, name: str) -> Client:
    c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    phone = str(next(_phones))
    await c.request("request_code", phone=phone)
    sent = [json.loads(line) for line in (tmp_path / "sms.jsonl").read_text(encoding="utf-8").splitlines()]
    code = [s["code"] for s in sent if s["phone"] == phone][-1]
    await c.request("register", username=name, password="password123", phone=phone, code=code)
    await c.login(name, "password123")
    return c


async def review_item(app: App, **names) -> int:
    [item] = [i for i in await app.store.review_items(open_only=True)
              if all(str(i[k]) == str(v) for k, v in names.items())]
    return int(item["item_id"])


async def test_a_text_is_kept_a_full_period_after_it_was_last_published(server, tmp_path):
    app, clock = server
    owner = await user(app, tmp_path, "owner1")
    await owner.request("verify_identity", legal_name="张三", id_number=new_id_number())
    reader = await user(app, tmp_path, "reader1")
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    aid = (await owner.request("create_account", name="茶馆日报", category="culture", intro="",
                               subject_type="individual"))["account_id"]

    # Sent on 1 July: a message as sent, one edited the next day, one held for review and released
    # 30 days later; a post as published, a held post, comments as written, a held comment, and a
    # comment on a post in review mode that the account approves 30 days later.
    plain = (await owner.send(gid, "plain"))["seq"]
    edited = (await owner.send(gid, "before the edit"))["seq"]
    held = (await owner.send(gid, "明天集会"))["seq"]
    plain_post = (await owner.request("publish", account_id=aid, title="plain", body="b"))["post_id"]
    held_post = (await owner.request("publish", account_id=aid, title="held", body="明天集会"))["post_id"]
    review_post = (await owner.request("publish", account_id=aid, title="r", body="b", comments="review"))["post_id"]
    other_post = (await owner.request("publish", account_id=aid, title="other", body="b"))["post_id"]
    plain_comment = (await reader.request("comment", post_id=plain_post, text="好文章"))["comment_id"]
    held_comment = (await reader.request("comment", post_id=other_post, text="明天集会吗"))["comment_id"]
    approved = (await reader.request("comment", post_id=review_post, text="等审核"))["comment_id"]
    items = {"message": await review_item(app, kind="message", group_id=gid, seq=held),
             "post": await review_item(app, kind="post", post_id=held_post),
             "comment": await review_item(app, kind="comment", comment_id=held_comment)}

    clock[0] = EDITED
    await owner.request("edit_message", group_id=gid, seq=edited, text="after the edit")
    clock[0] = RELEASED
    for item in items.values():
        assert "release" in (await decide(app, {"item_id": item, "decision": "release", "note": "ok"})).lines[0]
    await owner.request("moderate_comment", post_id=review_post, comment_id=approved, action="approve")
    await owner.close()
    await reader.close()

    async def kept() -> dict[str, bool]:
        return {
            "plain": await app.store.message_info(gid, plain) is not None,
            "edited": await app.store.message_info(gid, edited) is not None,
            "held": await app.store.message_info(gid, held) is not None,
            "plain_post": await app.store.post(int(plain_post)) is not None,
            "held_post": await app.store.post(int(held_post)) is not None,
            "plain_comment": await app.store.comment(int(plain_comment)) is not None,
            "held_comment": await app.store.comment(int(held_comment)) is not None,
            "approved": await app.store.comment(int(approved)) is not None,
        }

    everything = dict.fromkeys(await kept(), True)
    # What was published only when sent goes a period after it was sent, as before.
    clock[0] = SENT + PERIOD - MINUTE
    await retention.purge(app)
    assert await kept() == everything
    clock[0] = SENT + PERIOD + MINUTE
    await retention.purge(app)
    assert await kept() == {**everything, "plain": False, "plain_post": False, "plain_comment": False}
    # The edited text: a full period after the edit.
    clock[0] = EDITED + PERIOD - MINUTE
    await retention.purge(app)
    assert (await kept())["edited"]
    clock[0] = EDITED + PERIOD + MINUTE
    await retention.purge(app)
    assert not (await kept())["edited"]
    # What was released, and the approved comment: a full period after that.
    clock[0] = RELEASED + PERIOD - MINUTE
    await retention.purge(app)
    assert await kept() == {**dict.fromkeys(everything, False), "held": True, "held_post": True,
                            "held_comment": True, "approved": True}
    clock[0] = RELEASED + PERIOD + MINUTE
    await retention.purge(app)
    assert await kept() == dict.fromkeys(everything, False)
    # The posts those comments kept go with them (a post goes once none of its comments is left).
    assert await app.store.post(int(other_post)) is None and await app.store.post(int(review_post)) is None


async def test_the_purge_still_goes_by_the_index_on_ts_and_reads_only_recent_releases(tmp_path):
    """The purge of what people wrote still walks its table by ``ts`` (the other moments only filter
    the rows it picks), and reads the releases of the last period by their index (schema 32), not
    the whole review queue in each batch (SQLite's plan; PostgreSQL runs the same statements). The
    messages batch looks up each message's review items and pin by its key (schema 41)."""
    import sqlite3

    from server.storage.sqlite import SqliteStore
    from server.storage.sqlite_records import MESSAGES_BATCH, PURGES

    store = SqliteStore(tmp_path / "q.db")
    await store.open()
    await store.close()
    db = sqlite3.connect(tmp_path / "q.db")
    params = {"now": SENT, "cutoff": SENT - PERIOD, "limit": 1000}
    try:
        for table in ("comments", "posts"):
            plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + PURGES[table], params)]
            assert any(f"USING INDEX {table}_ts (ts<?)" in step for step in plan), (table, plan)
            assert any("review_queue USING INDEX review_queue_released (kind=? AND decided_at>?)" in step
                       for step in plan), (table, plan)
            assert not any(step.startswith("SCAN review_queue") for step in plan), (table, plan)
        plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + MESSAGES_BATCH,
                                         {**params, "ts": 0, "gid": "", "seq": 0})]
        assert any("SEARCH messages USING INDEX messages_ts" in step for step in plan), plan
        assert any("review_queue_message (group_id=? AND seq=?)" in step for step in plan), plan
        assert any("SEARCH p USING PRIMARY KEY (group_id=? AND seq=?)" in step for step in plan), plan
        # (the open appeals, whose sanctions hold: a partial index holding those alone)
        scans = {"SCAN c", "SCAN appeals USING INDEX appeals_one_open"}
        assert not any(step.startswith("SCAN") and step not in scans for step in plan), plan
    finally:
        db.close()
