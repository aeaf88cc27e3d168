"""Ended groups leave memory (State.retire): a dissolved group keeps nothing there, a closed one a
small ClosedGroup, once no end of theirs is in flight. They stayed whole in memory for good before,
about 1.5 KiB each and their former members' rows, and a start loaded them all again: under
create-and-dissolve churn (a leak review saw 1,080 a minute) memory grew without bound. What reads
an ended group (a report on a dissolved group's message, an appeal, an operator's command) reads it
from the store."""

from __future__ import annotations

import asyncio
import json

import pytest

from client_demo.client import Client
from server.app import App
from server.operator.channel import CURRENT, Operator
from tests.server.lookups import hold_answers, user
from tests.server.test_group_end_races import close_group, decide_when_told


async def _group(owner, *others) -> str:
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    for c in others:
        await c.request("join_group", group_id=gid)
    return gid


async def _run(app: App, cmd: str, **args: object) -> dict:
    CURRENT.set(Operator("op", "admin", 0, False))
    return await app.operator.run(json.dumps({"cmd": cmd, "args": args}).encode())


async def test_dissolved_and_closed_groups_leave_memory_and_a_start_loads_neither(app: App, tmp_path) -> None:
    owner, member = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    live, dissolved, closed = [await _group(owner, member) for _ in range(3)]
    link = (await owner.request("create_invite_link", group_id=dissolved))["code"]
    await member.request("send", group_id=dissolved, text="said before the end", client_msg_id="m1")
    await owner.request("dissolve_group", group_id=dissolved)
    assert (await close_group(app, closed))["ok"]
    state = app.state
    assert set(state.groups) == {live} and set(state.closed) == {closed}
    assert state.closed[closed].members == {owner.user_id, member.user_id}
    assert not any(ln.group_id == dissolved for ln in state.invite_links.values())
    # Ops name a dissolved group as an unknown one, a closed one with its reason for its members only.
    assert (await member.call("send", group_id=dissolved, text="x"))["code"] == "not_found"
    refused = await member.call("send", group_id=closed, text="x")
    assert refused["code"] == "group_closed" and "赌博" in refused["reason"]
    stranger = await user(app, tmp_path, 3)
    assert (await stranger.call("join_group", invite_code=link))["code"] == "not_found"
    await stranger.close()
    # What reads an ended group reads the store: a member reports the dissolved group's message.
    report = await member.request("report", target_type="message", group_id=dissolved, seq=1, reason="诈骗")
    assert report["report_id"]
    assert (await _run(app, "hold", group_id=dissolved, reason="case 3"))["ok"]
    # A start loads the live groups and the closings, nothing else of the ended groups.
    loaded = await app.store.load_state(app.now_ms(), app.cfg.groups.activity_window_days)
    assert set(loaded.groups) == {live} and set(loaded.closed) == {closed}
    assert loaded.closed[closed] == state.closed[closed]
    await owner.close()
    await member.close()


async def test_a_dissolved_group_stays_in_memory_while_a_closing_of_it_is_in_flight(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A closing claimed while the dissolution's write was in flight: the dissolution stored does not
    take the group out of memory under the closing (which would then leave a closed group nowhere);
    the closing refused does, and the group is dissolved alone."""
    owner, member = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    gid = await _group(owner, member)
    gates = decide_when_told(app, monkeypatch, {"dissolve_group": True, "close_group": False})
    dissolving = asyncio.create_task(owner.call("dissolve_group", group_id=gid))
    g = app.state.groups[gid]
    while g.dissolved_at is None:  # claimed, its write held
        await asyncio.sleep(0.01)
    closing = close_group(app, gid)  # takes the dissolved group from memory; its write waits behind
    while g.closed_at is None:
        await asyncio.sleep(0.01)
    gates["dissolve_group"].set()
    assert (await asyncio.wait_for(dissolving, 5))["ok"]
    assert app.state.groups.get(gid) is g and g.ends_in_flight == 1  # (the closing's write still out)
    gates["close_group"].set()
    assert not (await asyncio.wait_for(closing, 5))["ok"]
    assert gid not in app.state.groups and gid not in app.state.closed and g.ends_in_flight == 0
    assert (await member.call("send", group_id=gid, text="x"))["code"] == "not_found"
    await owner.close()
    await member.close()


async def test_two_closings_of_a_dissolved_group_at_once_close_it_once(app: App, tmp_path) -> None:
    """A group its owner dissolved is no longer in memory; ``close-group`` reads it from the store and
    takes it in before its await, so a second closing meanwhile finds the first's claim: one closing,
    one penalty."""
    owner, member = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    gid = await _group(owner, member)
    link = (await owner.request("create_invite_link", group_id=gid))["code"]
    await owner.request("dissolve_group", group_id=gid)
    assert gid not in app.state.groups
    score = app.state.users[owner.user_id].credit_score
    first, second = close_group(app, gid), close_group(app, gid)
    outcomes = await asyncio.gather(first, second)
    assert sorted(o["ok"] for o in outcomes) == [False, True], outcomes
    assert "already closed" in next(o for o in outcomes if not o["ok"])["error"]
    rows = await app.store.sanctions("group", gid)
    assert [r["kind"] for r in rows] == ["close_group"]
    assert app.state.users[owner.user_id].credit_score == score - app.cfg.credit.penalty_sanction
    assert gid not in app.state.groups and app.state.closed[gid].dissolved
    assert (await member.call("send", group_id=gid, text="x"))["code"] == "not_found"  # (dissolved first)
    # Its invite link, as unknown as the group, says nothing of it (it named the group's id).
    stranger = await user(app, tmp_path, 3)
    refused = await stranger.call("join_group", invite_code=link)
    assert refused["code"] == "not_found" and gid not in refused["reason"]
    loaded = await app.store.load_state(app.now_ms(), app.cfg.groups.activity_window_days)  # (nor after a start)
    assert loaded.closed[gid].dissolved and not any(ln.group_id == gid for ln in loaded.invite_links.values())
    await stranger.close()
    await owner.close()
    await member.close()


def _close(app: App, gid: str, reason: str) -> asyncio.Task:
    CURRENT.set(Operator("op", "admin", 0, False))
    return asyncio.create_task(app.operator.run(
        json.dumps({"cmd": "close-group", "args": {"group_id": gid, "reason": reason}}).encode()))


async def test_a_closing_refused_meanwhile_does_not_let_a_third_close_a_dissolved_group_again(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(A review) A closing waits with the copy it took in; a second, refused (no reason), took the copy
    out of memory under it, and a third read the store, took in another and closed the group: then the
    first closed its own copy too, two sanctions and the penalty twice."""
    owner, member = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    gid = await _group(owner, member)
    await owner.request("dissolve_group", group_id=gid)
    score = app.state.users[owner.user_id].credit_score
    answered, gate = hold_answers(app, monkeypatch, "sealed_legal_names", once=True)
    first = _close(app, gid, "赌博")  # takes the store's copy in, then waits (its read held)
    await asyncio.wait_for(answered.wait(), 5)
    assert not (await _close(app, gid, "   "))["ok"]  # refused: no reason
    assert (await asyncio.wait_for(_close(app, gid, "赌博"), 5))["ok"]
    gate.set()
    late = await asyncio.wait_for(first, 5)
    assert not late["ok"] and "already closed" in late["error"]
    assert [r["kind"] for r in await app.store.sanctions("group", gid)] == ["close_group"]
    assert app.state.users[owner.user_id].credit_score == score - app.cfg.credit.penalty_sanction
    await owner.close()
    await member.close()


async def test_a_dissolution_cancelled_at_its_write_leaves_the_group_in_memory_whatever_the_write_does(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(A review) The handler cancelled at the write's await (a home closing): the group left memory
    with its write still out; refused, the undo put it back in its members' lists with no group
    behind it, and their next login failed (``internal``, a KeyError)."""
    from protocol.codec import Encoding
    from protocol.messages import DissolveGroup
    from server.handlers.management import dissolve_group

    owner, member = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    gid = await _group(owner, member)
    gates = decide_when_told(app, monkeypatch, {"dissolve_group": False})
    sess = next(s for s in app.sessions if s.user is not None and s.user.user_id == owner.user_id)
    task = asyncio.create_task(dissolve_group(app, sess, DissolveGroup(rid=1, group_id=gid), Encoding.JSON))
    g = app.state.groups[gid]
    while g.dissolved_at is None:
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert app.state.groups.get(gid) is g
    gates["dissolve_group"].set()
    for _ in range(100):
        if g.alive:
            break
        await asyncio.sleep(0.01)
    assert g.alive and app.state.groups.get(gid) is g and gid in app.state.users[member.user_id].groups
    again = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await again.login("user2", "password123")  # (a new login of the member: its groups are all there)
    assert [x["group_id"] for x in (await again.request("my_groups"))["groups"]] == [gid]
    await again.close()
    await owner.close()
    await member.close()
