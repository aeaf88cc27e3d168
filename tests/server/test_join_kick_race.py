"""A member kicked while their own join was being stored is not put back among the group's live
connections when that join's write completes (server/handlers/groups.py: admit): they get none of
the group's messages, and the group is not told of a join after the removal."""

from __future__ import annotations

import asyncio
from typing import Any

from client_demo.client import Client
from server.app import App
from tests.server.test_cluster_catch_up import _user


async def test_a_member_kicked_while_their_join_is_stored_gets_no_group_messages(app: App, tmp_path: Any) -> None:
    owner, x = await _user(app, tmp_path, 1), await _user(app, tmp_path, 2)
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    gate = asyncio.Event()

    async def held(db: Any) -> None:  # the writer's batch waits here: the join's write comes after it
        await gate.wait()

    blocker = app.store.run_in_batch(held)
    await asyncio.sleep(0.05)
    joining = asyncio.ensure_future(x.request("join_group", group_id=gid))
    g = app.state.groups[gid]
    for _ in range(100):
        if x.user_id in g.members:
            break
        await asyncio.sleep(0.01)
    assert x.user_id in g.members  # claimed in memory, its write waiting
    kicking = asyncio.ensure_future(owner.request("kick", group_id=gid, user_id=x.user_id))
    for _ in range(100):
        if x.user_id not in g.members:
            break
        await asyncio.sleep(0.01)
    gate.set()
    await blocker
    assert (await joining)["status"] == "joined"
    await kicking
    await asyncio.sleep(0.1)
    assert not (g.online & set(app.state.users[x.user_id or ""].sessions))
    x.drain_events()
    await owner.send(gid, "after the kick")
    await asyncio.sleep(0.2)
    assert [e for e in x.drain_events() if e.get("ev") == "message"] == []
    for c in (owner, x):
        await c.close()


async def test_a_refused_transfer_with_a_second_one_built_on_it_leaves_one_owner(app: App, tmp_path: Any) -> None:
    """A hands the group to B, and B (its owner in memory) at once to C; the store refuses A's, so
    B's is refused too (B never owned it there). Memory ends where the store is: A the one owner.
    Putting the old values back by hand left two owners, and the group's owner_id on B."""
    import sqlite3

    from protocol.enums import Role

    a, b, c = await _user(app, tmp_path, 3), await _user(app, tmp_path, 4), await _user(app, tmp_path, 5)
    gid = (await a.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    for m in (b, c):
        await m.request("join_group", group_id=gid)
    db = sqlite3.connect(tmp_path / "qunguan.db")  # the store refuses B as the owner (a failing write)
    db.execute(f"CREATE TRIGGER no_b BEFORE UPDATE OF owner_id ON groups WHEN NEW.owner_id = '{b.user_id}'"
               " BEGIN SELECT RAISE(ABORT, 'refused'); END")
    db.commit()
    db.close()
    gate = asyncio.Event()

    async def held(_db: Any) -> None:
        await gate.wait()

    blocker = app.store.run_in_batch(held)
    await asyncio.sleep(0.05)
    g = app.state.groups[gid]
    first = asyncio.ensure_future(a.call("transfer_owner", group_id=gid, user_id=b.user_id))
    for _ in range(100):
        if g.owner_id == b.user_id:
            break
        await asyncio.sleep(0.01)
    second = asyncio.ensure_future(b.call("transfer_owner", group_id=gid, user_id=c.user_id))
    for _ in range(100):
        if g.owner_id == c.user_id:
            break
        await asyncio.sleep(0.01)
    assert g.owner_id == c.user_id
    gate.set()
    await blocker
    assert not (await first)["ok"] and not (await second)["ok"]
    owners = [uid for uid, m in g.members.items() if m.role == Role.OWNER]
    assert (g.owner_id, owners) == (a.user_id, [a.user_id])
    for x in (a, b, c):
        await x.close()


async def test_the_store_never_removes_or_demotes_a_groups_owner(open_store) -> None:  # type: ignore[no-untyped-def]
    """Whatever memory claimed, the stored owner's row is neither removed nor given another role."""
    import pytest

    from protocol.errors import ContractError
    from server.storage import changes as ch

    store = await open_store()
    await store.apply(ch.InsertUser("u1", "u1", "u1", "h", "U1", b"\x01" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup("100000001", "g", "friends", "open", "u1", 1))
    for change in (ch.RemoveMember("100000001", "u1", 2, "leave", "u1"),
                   ch.SetMemberRole("100000001", "u1", "member")):
        with pytest.raises(ContractError) as err:
            await store.apply(change)
        assert err.value.code == "conflict"


async def test_a_delete_message_that_waited_while_the_group_was_dissolved_is_refused(
        app: App, tmp_path: Any, monkeypatch: Any) -> None:
    """``delete_message`` reads the message from the store; a group dissolved meanwhile is final for
    it as for every op (``not_found``), and nothing is written for it."""
    owner = await _user(app, tmp_path, 6)
    other = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await other.auth(owner.token or "")
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    seq = (await owner.send(gid, "to delete"))["seq"]
    gate, reading = asyncio.Event(), asyncio.Event()
    real = app.store.message_info

    async def slow(group_id: str, s: int) -> Any:
        reading.set()
        await gate.wait()
        return await real(group_id, s)

    monkeypatch.setattr(app.store, "message_info", slow)
    deleting = asyncio.ensure_future(owner.call("delete_message", group_id=gid, seq=seq))
    await asyncio.wait_for(reading.wait(), 5)
    assert (await other.call("dissolve_group", group_id=gid))["ok"]
    gate.set()
    assert (await deleting)["code"] == "not_found"
    for c in (owner, other):
        await c.close()
