"""``my_groups`` against changes that come while its unread count is out (a store read): the answer
is the state after that read, so a client that applies it after the events sent meanwhile is not
taken back to before them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from client_demo.client import Client
from server.app import App


async def _user(app: App, tmp_path: Any, n: int) -> Client:
    c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    phone = f"139{n:08d}"
    await c.request("request_code", phone=phone)
    code = json.loads((tmp_path / "sms.jsonl").read_text().splitlines()[-1])["code"]
    await c.request("register", username=f"user{n}", password="password123", phone=phone, code=code)
    await c.login(f"user{n}", "password123")
    return c


async def test_a_mute_and_a_removal_during_the_unread_count_are_in_the_answer(app: App, tmp_path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    owner, member = await _user(app, tmp_path, 1), await _user(app, tmp_path, 2)
    kept = (await owner.request("create_group", name="kept", category="friends", join_policy="open"))["group_id"]
    left = (await owner.request("create_group", name="left", category="friends", join_policy="open"))["group_id"]
    for gid in (kept, left):
        await member.request("join_group", group_id=gid)
    await owner.request("send", group_id=kept, text="unread")  # (so the count is asked of the store)

    counting, gate = asyncio.Event(), asyncio.Event()
    real = app.store.unread_counts

    async def counted_then_late(*args: Any) -> Any:
        found = await real(*args)
        counting.set()
        await gate.wait()  # the answer reaches the handler after what the test does meanwhile
        return found

    monkeypatch.setattr(app.store, "unread_counts", counted_then_late)
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
