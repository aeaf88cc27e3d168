"""Reads of a public account's posts and comments against a change of who may see what, made while
the store read: the reader was told first (``editor_changed {on: false}``, ``account_closed``), and
the answer that followed gave them what a manager sees (other people's held comments) or an account
that is closed. Such an answer is now read again as a reader's, or refused as the account is."""

from __future__ import annotations

import asyncio

import pytest

from server.app import App
from tests.e2e.harness import new_id_number
from tests.server.lookups import hold_answers, user


async def _account(app: App, tmp_path) -> tuple:  # type: ignore[no-untyped-def]
    owner, editor, writer = [await user(app, tmp_path, n) for n in (1, 2, 3)]
    for c in (owner, editor):
        await c.request("verify_identity", legal_name="张三", id_number=new_id_number())
    aid = (await owner.request("create_account", name="茶话", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    pid = (await owner.request("publish", account_id=aid, title="先审后发", body="b", comments="review"))["post_id"]
    return owner, editor, writer, aid, pid


async def test_an_editor_taken_off_during_the_read_of_comments_gets_a_readers_answer(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, editor, writer, aid, pid = await _account(app, tmp_path)
    held = await writer.request("comment", post_id=pid, text="还没审")
    assert held["held"] is True
    listed = (await editor.request("comments", post_id=pid))["comments"]
    assert [c["comment_id"] for c in listed] == [held["comment_id"]]  # as an editor; a reader would not
    await asyncio.sleep(0.2)
    editor.drain_events()  # (the editor_changed that made them one)
    reading, gate = hold_answers(app, monkeypatch, "post_comments")
    listing = asyncio.create_task(editor.call("comments", post_id=pid))
    try:
        await asyncio.wait_for(reading.wait(), 5)
        await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=False)
        assert (await editor.next_event("editor_changed"))["on"] is False
    finally:
        gate.set()
    reply = await asyncio.wait_for(listing, 5)
    assert reply["ok"] and reply["comments"] == [], reply
    for c in (owner, editor, writer):
        await c.close()


async def _app_holding_posts(tmp_path) -> App:  # type: ignore[no-untyped-def]
    """A started server whose word list holds a post titled with 待审 for the platform's review."""
    from server.config import parse_config

    (tmp_path / "review.txt").write_text("待审\n", encoding="utf-8")
    app = App(parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "require_id_to_create": False,
                     "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        "content": {"lists": [{"category": "rumour", "path": "review.txt", "action": "review"}]},
    }, tmp_path))
    await app.start()
    return app


async def _held_post(app: App, tmp_path) -> tuple:  # type: ignore[no-untyped-def]
    """``_account``'s people and account, and a post of it the platform holds for review (its reply)."""
    owner, editor, writer, aid, _ = await _account(app, tmp_path)
    held = await owner.request("publish", account_id=aid, title="待审的文章", body="b", comments="open")
    assert held.get("held") is True, held
    return owner, editor, writer, aid, held


async def test_posts_of_an_account_closed_during_the_read_are_refused(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, editor, writer, aid, _ = await _account(app, tmp_path)
    reading, gate = hold_answers(app, monkeypatch, "account_posts")
    listing = asyncio.create_task(writer.call("posts", account_id=aid))
    try:
        await asyncio.wait_for(reading.wait(), 5)
        await owner.request("close_account", account_id=aid)
    finally:
        gate.set()
    reply = await asyncio.wait_for(listing, 5)
    assert reply["ok"] is False and reply["code"] == "forbidden", reply
    for c in (owner, editor, writer):
        await c.close()


async def test_an_approval_read_before_a_hide_does_not_show_the_comment_past_a_restriction(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race review's find: an editor's approve read the comment visible (nothing to check), the owner
    hid it meanwhile, and the approve made it visible again with the platform's comment restriction in
    force. An approval is refused while comments are closed, whatever the status it read."""
    from tests.server.test_freeze_lift_race import admin

    owner, editor, writer, aid, _ = await _account(app, tmp_path)
    pid = (await owner.request("publish", account_id=aid, title="开放评论", body="b", comments="open"))["post_id"]
    cid = (await writer.request("comment", post_id=pid, text="说两句"))["comment_id"]
    assert (await admin(app, "restrict-account", account_id=aid, comments="off", reason="整顿"))["ok"]
    reading, gate = hold_answers(app, monkeypatch, "comment", once=True)
    approving = asyncio.create_task(editor.call("moderate_comment", post_id=pid, comment_id=cid, action="approve"))
    try:
        await asyncio.wait_for(reading.wait(), 5)
        await owner.request("moderate_comment", post_id=pid, comment_id=cid, action="hide")
    finally:
        gate.set()
    reply = await asyncio.wait_for(approving, 5)
    assert reply["ok"] is False and reply["code"] == "forbidden", reply
    stored = await app.store.comment(int(cid))
    assert stored is not None and stored.status == "hidden"
    for c in (owner, editor, writer):
        await c.close()


async def test_an_editor_taken_off_while_a_reply_is_read_cannot_comment_on_a_held_post(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race review's find: ``comment`` decided that the caller manages the account (who alone sees a
    held post) before reading the comment it replies to, and an editor taken off meanwhile commented
    on the held post all the same."""
    app = await _app_holding_posts(tmp_path)
    try:
        owner, editor, writer, aid, held = await _held_post(app, tmp_path)
        hpid = held["post_id"]
        parent = (await editor.request("comment", post_id=hpid, text="先说"))["comment_id"]
        reading, gate = hold_answers(app, monkeypatch, "comment", once=True)
        commenting = asyncio.create_task(editor.call("comment", post_id=hpid, text="再说", reply_to=parent))
        try:
            await asyncio.wait_for(reading.wait(), 5)
            await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=False)
        finally:
            gate.set()
        reply = await asyncio.wait_for(commenting, 5)
        assert reply["ok"] is False and reply["code"] == "not_found", reply
        for c in (owner, editor, writer):
            await c.close()
    finally:
        await app.stop()


async def test_a_hide_read_while_its_post_was_held_tells_the_subscribers_once_the_post_is_released(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race review's find: ``moderate_comment`` told who saw the comment by the post it read before
    its write. The platform released the held post meanwhile, its subscribers could list the comment,
    and the hide told them nothing (a held post's comments are its managers' alone). The post's state
    is now read in the write's own transaction."""
    from tests.server.test_freeze_lift_race import admin

    app = await _app_holding_posts(tmp_path)
    try:
        owner, editor, writer, aid, held = await _held_post(app, tmp_path)
        pid = held["post_id"]
        cid = (await editor.request("comment", post_id=pid, text="先说"))["comment_id"]
        await writer.request("subscribe", account_id=aid)
        (item,) = await app.store._fetchone("SELECT item_id FROM review_queue WHERE kind = 'post'", ())
        reading, gate = hold_answers(app, monkeypatch, "post", once=True)
        hiding = asyncio.create_task(owner.call("moderate_comment", post_id=pid, comment_id=cid, action="hide"))
        try:
            await asyncio.wait_for(reading.wait(), 5)
            decided = await admin(app, "decide", item_id=item, decision="release", note="无害")
            assert decided["ok"], decided
            await writer.next_event("post")  # the post is public now, and its comment listed to readers
            assert [c["comment_id"] for c in (await writer.request("comments", post_id=pid))["comments"]] == [cid]
        finally:
            gate.set()
        assert (await asyncio.wait_for(hiding, 5))["ok"]
        gone = await writer.next_event("comment_deleted")
        assert (gone["post_id"], gone["comment_id"]) == (pid, cid)
        for c in (owner, editor, writer):
            await c.close()
    finally:
        await app.stop()
