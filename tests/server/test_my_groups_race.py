"""``my_groups`` against changes that come while its unread count is out (a store read): the answer
is the state after that read, so a client that applies it after the events sent meanwhile is not
taken back to before them."""

from __future__ import annotations

import asyncio

import pytest

from server.app import App
from tests.server.lookups import hold_answers, user


async def test_a_mute_and_a_removal_during_the_unread_count_are_in_the_answer(app: App, tmp_path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    owner, member = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    kept = (await owner.request("create_group", name="kept", category="friends", join_policy="open"))["group_id"]
    left = (await owner.request("create_group", name="left", category="friends", join_policy="open"))["group_id"]
    for gid in (kept, left):
        await member.request("join_group", group_id=gid)
    await owner.request("send", group_id=kept, text="unread")  # (so the count is asked of the store)

    counting, gate = hold_answers(app, monkeypatch, "unread_counts")
    listing = asyncio.create_task(member.call("my_groups"))
    await asyncio.wait_for(counting.wait(), 5)
    await owner.request("mute", group_id=kept, user_id=member.user_id, seconds=600)
    await owner.request("kick", group_id=left, user_id=member.user_id)
    gate.set()
    reply = await asyncio.wait_for(listing, 5)
    assert reply["ok"], reply
    assert [g["group_id"] for g in reply["groups"]] == [kept]  # not the group it was removed from
    [entry] = reply["groups"]
    assert entry["muted_until"] > 0 and entry["unread"] == 1, entry
    for c in (owner, member):
        await c.close()


async def test_a_read_marker_during_the_unread_count_is_in_the_answer(app: App, tmp_path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Read on another device while the count is out: the first device gets the `read_marker`, then
    an answer counted again from the new read point (it gave the old one: read messages unread)."""
    from client_demo.client import Client

    owner, member = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    other = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await other.login("user2", "password123")  # the member's second device
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    await member.request("join_group", group_id=gid)
    for i in range(3):
        seq = (await owner.request("send", group_id=gid, text=f"m{i}"))["seq"]
    counting, gate = hold_answers(app, monkeypatch, "unread_counts")
    listing = asyncio.create_task(member.call("my_groups"))
    try:
        await asyncio.wait_for(counting.wait(), 5)
        assert (await other.request("mark_read", group_id=gid, seq=seq))["read_seq"] == seq
        assert (await member.next_event("read_marker"))["seq"] == seq  # before the answer
    finally:
        gate.set()
    [entry] = (await asyncio.wait_for(listing, 5))["groups"]
    assert entry["read_seq"] == seq and entry["unread"] == 0 and entry["last_seq"] == seq, entry
    for c in (owner, member, other):
        await c.close()
