"""Review of the server against the wire contract (rv-proto3): cheap end-to-end checks of
v1/v2 behaviour found to hold (no deviation was found in this pass). SQLite only."""

from __future__ import annotations

import asyncio
import json

import msgpack
import pytest
from websockets.asyncio.client import connect

from tests.e2e.harness import close_all, open_group


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_bad_frames_are_answered_in_the_encoding_they_came_in(server):
    async with connect(server.url, subprotocols=["qunguan.v1+msgpack"]) as ws:  # type: ignore[list-item]
        for frame, re in (("{bad json", None), ('{"op":"ping","rid":1.5}', None), ('{"rid":9}', 9),
                          ('{"op":"nope","rid":5}', 5), ('{"op":"ping","rid":4,"x":"\\ud800"}', 4)):
            await ws.send(frame)
            reply = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(reply, str), frame
            reply = json.loads(reply)
            assert reply["re"] == re and reply["ok"] is False, (frame, reply)
    async with connect(server.url, subprotocols=["qunguan.v1+json"]) as ws:  # type: ignore[list-item]
        await ws.send(msgpack.packb({"op": "ping", "rid": 2**64 - 1}))
        reply = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(reply, bytes) and msgpack.unpackb(reply)["re"] is None


async def test_every_op_naming_a_closed_group_is_group_closed(server):
    owner, member, outsider = await server.user(), await server.user(), await server.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    seq = (await owner.send(gid, "before close"))["seq"]
    assert (await server.admin("close-group", gid, "--reason", "bad"))[0] == 0
    ev = await member.next_event("group_closed")
    assert ev["group_id"] == gid and ev["reason"] == "bad"
    ops = [("group_info", {}), ("members", {}), ("history", {}), ("mark_read", {"seq": seq}),
           ("search", {"query": "before"}), ("group_log", {}), ("react", {"seq": seq, "emoji": "x", "on": True}),
           ("pin_message", {"seq": seq, "on": True}), ("edit_message", {"seq": seq, "text": "y"}),
           ("send", {"text": "hi"}), ("leave_group", {}), ("bans", {}), ("create_invite_link", {})]
    for op, kw in ops:
        r = await owner.call(op, group_id=gid, **kw)
        assert r.get("code") == "group_closed", (op, r)
    assert (await outsider.call("join_group", group_id=gid))["code"] == "group_closed"
    r = await outsider.call("report", target_type="group", group_id=gid, reason="x")
    assert r["code"] == "group_closed"
    await close_all(owner, member, outsider)
