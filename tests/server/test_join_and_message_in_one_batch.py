"""A join and a message after its join point settled in one batch of the store: the message's event
went out to the group's connections at once, and the joiner's were added a step later, when the
join's own code ran. The first messages of a membership reached the joiner only through history."""

from __future__ import annotations

import asyncio
from typing import Any

from server.app import App
from tests.server.lookups import user


async def test_a_message_stored_in_the_joins_batch_reaches_the_new_member(app: App, tmp_path: Any) -> None:
    owner, joiner = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    gate = asyncio.Event()

    async def held(_db: Any) -> None:  # the writer's batch waits here: what comes next is one batch
        await gate.wait()

    blocker = app.store.run_in_batch(held)
    await asyncio.sleep(0.05)
    g = app.state.groups[gid]
    joining = asyncio.ensure_future(joiner.request("join_group", group_id=gid))
    while joiner.user_id not in g.members:  # claimed, its write queued behind the held batch
        await asyncio.sleep(0.01)
    joined_at = g.members[joiner.user_id].joined_seq
    sending = asyncio.ensure_future(owner.request("send", group_id=gid, text="welcome"))
    while g.last_seq == joined_at:
        await asyncio.sleep(0.01)
    gate.set()
    await blocker
    await joining
    seq = (await sending)["seq"]
    assert seq == joined_at + 1
    got = await joiner.next_event("message", timeout=2)  # (timed out before the fix)
    assert (got["group_id"], got["seq"], got["text"]) == (gid, seq, "welcome")
    later = (await owner.request("send", group_id=gid, text="and again"))["seq"]
    assert (await joiner.next_event("message", timeout=2))["seq"] == later  # once each, in order
    assert g.joining is None
    await owner.close()
    await joiner.close()
