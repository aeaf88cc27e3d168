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
