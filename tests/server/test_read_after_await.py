"""Reads of a group (``history``, ``search``) against a removal that comes while the store reads: the
member removed meanwhile has been told so (``member_removed``) and gets ``not_member``, not the page
with fresh media URLs after that event, as ``media_url`` already did."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from server.app import App
from tests.server.lookups import hold_answers, user


@pytest.mark.parametrize(("op", "method", "args"), [
    ("history", "history", {}),
    ("search", "search_messages", {"query": "hello"}),
])
async def test_a_member_removed_during_the_read_gets_no_page(app: App, tmp_path, monkeypatch: pytest.MonkeyPatch,
                                                              op: str, method: str, args: dict) -> None:
    owner, member = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    await member.request("join_group", group_id=gid)
    await owner.request("send", group_id=gid, text="hello there")
    reading, gate = hold_answers(app, monkeypatch, method)
    page = asyncio.create_task(member.call(op, group_id=gid, **args))
    try:
        await asyncio.wait_for(reading.wait(), 5)
        await owner.request("kick", group_id=gid, user_id=member.user_id)
        await member.next_event("member_removed")
    finally:
        gate.set()
    reply = await asyncio.wait_for(page, 5)
    assert reply["ok"] is False and reply["code"] == "not_member", reply
    for c in (owner, member):
        await c.close()


async def test_an_appeal_whose_account_is_cancelled_during_the_read_is_not_stored(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from server.operator.channel import CURRENT, Operator

    owner = await user(app, tmp_path, 1)
    assert app.operator is not None
    CURRENT.set(Operator("op", "admin", 0, False))
    done = await app.operator.run(json.dumps({"cmd": "suspend-admin", "args": {
        "username": "user1", "seconds": 600, "reason": "x"}}).encode())
    assert done["ok"], done
    notice = await owner.next_event("notice")
    while notice.get("kind") != "sanction":
        notice = await owner.next_event("notice")
    sid = notice["sanction_id"]
    reading, gate = hold_answers(app, monkeypatch, "sanction")
    appealing = asyncio.create_task(owner.call("appeal", sanction_id=sid, text="请复核"))
    await _cancelled_meanwhile(app, reading.wait(), gate.set, appealing)
    assert await app.store.appeals(open_only=False) == []
    await owner.close()


async def _cancelled_meanwhile(app: App, held: Awaitable[object], release: Callable[[], None],
                               pending: asyncio.Task[dict]) -> None:
    """user1 cancels their account on another connection once ``held`` (the request ``pending`` is
    inside its await), then ``release``; that request is refused, or its connection closed first."""
    from client_demo.client import Client

    other = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    try:
        await asyncio.wait_for(held, 6)
        await other.login("user1", "password123")
        assert (await other.call("delete_account", password="password123"))["ok"]
    finally:
        release()
    try:
        reply = await asyncio.wait_for(pending, 5)
        assert reply["ok"] is False, reply
    except ConnectionError:
        pass  # (the cancellation closed that connection first)
    await asyncio.sleep(0.2)
    await other.close()


async def test_an_upload_whose_account_is_cancelled_while_it_is_checked_stores_nothing(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``upload_end`` checks the bytes on a thread (their digest, their magic numbers): an account
    cancelled meanwhile no longer gets a media row of its own."""
    import threading

    from server.handlers import media
    from tests.e2e.test_media import pdf, sha

    owner = await user(app, tmp_path, 1)
    owner_id = (await owner.request("me"))["user_id"]
    doc = pdf(4000)
    begin = await owner.request("upload_begin", mime="application/pdf", size=len(doc))
    await owner.request("upload_chunk", upload_id=begin["upload_id"], offset=0, data=doc)
    checking, gate = threading.Event(), threading.Event()
    real = media.inspect

    def inspect_then_late(*args: object) -> object:
        found = real(*args)  # type: ignore[arg-type]
        checking.set()
        gate.wait(5)
        return found

    monkeypatch.setattr(media, "inspect", inspect_then_late)
    ending = asyncio.create_task(owner.call("upload_end", upload_id=begin["upload_id"], sha256=sha(doc)))
    await _cancelled_meanwhile(app, asyncio.to_thread(checking.wait, 5), gate.set, ending)
    assert len(app.state.media) == 0
    assert await app.store.media_quota_use(owner_id) == (0, False)  # no row in the database either
    await owner.close()


async def test_a_manager_removed_during_the_read_of_the_group_log_gets_no_page(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race review's find: group_log checked the caller manages the group before its read only, and
    an admin kicked meanwhile, told so by member_removed, then got the group's management log."""
    owner, admin = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    await admin.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    assert (await admin.request("group_log", group_id=gid))["entries"]
    reading, gate = hold_answers(app, monkeypatch, "group_log")
    page = asyncio.create_task(admin.call("group_log", group_id=gid))
    try:
        await asyncio.wait_for(reading.wait(), 5)
        await owner.request("kick", group_id=gid, user_id=admin.user_id)
        await admin.next_event("member_removed")
    finally:
        gate.set()
    reply = await asyncio.wait_for(page, 5)
    assert reply["ok"] is False and reply["code"] in ("not_member", "forbidden"), reply
    for c in (owner, admin):
        await c.close()
