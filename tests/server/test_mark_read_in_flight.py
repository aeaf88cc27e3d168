"""``mark_read`` past the last message takes the last one delivered: a message whose seq is taken
but whose write is still in the store's queue is not read yet (the marker was set past it, and once
stored it never counted as unread on the reader's other devices)."""

from __future__ import annotations

import asyncio
from typing import Any

from server.app import App
from tests.server.lookups import user


async def test_mark_read_stops_at_the_last_message_stored(app: App, tmp_path: Any) -> None:
    owner, reader = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    await reader.request("join_group", group_id=gid)
    first = (await owner.request("send", group_id=gid, text="one"))["seq"]
    gate = asyncio.Event()

    async def held(_db: Any) -> None:
        await gate.wait()

    blocker = app.store.run_in_batch(held)
    await asyncio.sleep(0.05)
    sending = asyncio.ensure_future(owner.request("send", group_id=gid, text="two"))
    g = app.state.groups[gid]
    while g.last_seq == first:  # its seq taken, its write queued behind the held batch
        await asyncio.sleep(0.01)
    marking = asyncio.ensure_future(reader.request("mark_read", group_id=gid, seq=10**12))
    member = g.members[reader.user_id]
    while member.read_seq < first:  # claimed (its write queued too)
        await asyncio.sleep(0.01)
    gate.set()
    await blocker
    assert (await asyncio.wait_for(marking, 5))["read_seq"] == first
    second = (await sending)["seq"]
    [mine] = [x for x in (await reader.request("my_groups"))["groups"] if x["group_id"] == gid]
    assert (mine["read_seq"], mine["unread"]) == (first, 1) and second == first + 1
    await owner.close()
    await reader.close()
