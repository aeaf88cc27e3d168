"""A repeat ``join_group`` (another device of the same user) that arrives while the first request's
``PutJoinRequest`` is still being written waits for that write (server/handlers/groups.py:
request_to_join) and answers from what the store decided: never ``pending`` for a request the
store then refused and memory undid."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from client_demo.client import Client
from server.app import App
from tests.server.test_cluster_catch_up import _user


async def _approval_group_and_second_device(app: App, tmp_path: Any) -> tuple[Any, Any, Client, str]:
    owner, x = await _user(app, tmp_path, 1), await _user(app, tmp_path, 2)
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="approval"))["group_id"]
    other_device = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await other_device.auth(x.token or "")
    return owner, x, other_device, gid


async def _while_the_request_is_written(app: App, x: Any, gid: str,
                                        then: Callable[[], Awaitable[dict[str, Any]]],
                                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """x asks to join; while that write waits in the store's queue, ``then()`` (another device's
    join, or a manager's decision) is sent: (x's answer, its answer), once it has waited for the write."""
    gate = asyncio.Event()

    async def held(_db: Any) -> None:  # the writer's batch waits here: the request's write comes after it
        await gate.wait()

    blocker = app.store.run_in_batch(held)
    await asyncio.sleep(0.05)
    g = app.state.groups[gid]
    asked = asyncio.ensure_future(x.call("join_group", group_id=gid))
    for _ in range(100):
        if x.user_id in g.join_requests:
            break
        await asyncio.sleep(0.01)
    assert x.user_id in g.join_requests  # claimed in memory, its write waiting
    second = asyncio.ensure_future(then())
    await asyncio.sleep(0.2)
    answered_early = second.done()
    gate.set()
    await blocker
    r1, r2 = await asked, await second
    assert not answered_early, r2  # it waited for the write in flight
    return r1, r2


async def test_a_repeat_join_request_is_not_told_pending_for_a_request_the_store_refused(
        app: App, tmp_path: Any) -> None:
    owner, x, other_device, gid = await _approval_group_and_second_device(app, tmp_path)
    _refuse_join_requests(tmp_path)
    r1, r2 = await _while_the_request_is_written(
        app, x, gid, lambda: other_device.call("join_group", group_id=gid))
    assert not r1["ok"], r1
    assert not r2["ok"] and r2.get("status") != "pending", r2  # its own write was refused as well
    assert x.user_id not in app.state.groups[gid].join_requests
    assert (await owner.request("join_requests", group_id=gid))["requests"] == []
    for c in (owner, x, other_device):
        await c.close()


async def test_a_repeat_join_request_whose_first_write_is_stored_is_pending_once(app: App, tmp_path: Any) -> None:
    """The ordinary case: both devices hear ``pending``, and the managers hear of the request once."""
    owner, x, other_device, gid = await _approval_group_and_second_device(app, tmp_path)
    owner.drain_events()
    r1, r2 = await _while_the_request_is_written(
        app, x, gid, lambda: other_device.call("join_group", group_id=gid))
    assert (r1["status"], r2["status"]) == ("pending", "pending"), (r1, r2)
    await asyncio.sleep(0.1)
    assert [e["ev"] for e in owner.drain_events() if e.get("ev") == "join_request"] == ["join_request"]
    assert [r["user_id"] for r in (await owner.request("join_requests", group_id=gid))["requests"]] == [
        x.user_id]
    for c in (owner, x, other_device):
        await c.close()


def _refuse_join_requests(tmp_path: Any) -> None:
    """The store refuses every join request from now on (a failing write)."""
    db = sqlite3.connect(tmp_path / "qunguan.db")
    db.execute("CREATE TRIGGER no_requests BEFORE INSERT ON join_requests BEGIN SELECT RAISE(ABORT, 'refused'); END")
    db.commit()
    db.close()


async def test_an_approval_waits_for_a_request_the_store_then_refuses(app: App, tmp_path: Any) -> None:
    """Approved while its write was in flight, a request the store refused admitted its user."""
    owner, x, other_device, gid = await _approval_group_and_second_device(app, tmp_path)
    _refuse_join_requests(tmp_path)
    r_ask, r_approve = await _while_the_request_is_written(
        app, x, gid, lambda: owner.call("approve_join", group_id=gid, user_id=x.user_id))
    assert not r_ask["ok"], r_ask
    assert not r_approve["ok"] and r_approve["code"] == "not_found", r_approve
    assert x.user_id not in app.state.groups[gid].members
    db = sqlite3.connect(tmp_path / "qunguan.db")
    stored = db.execute("SELECT count(*) FROM members WHERE group_id = ? AND user_id = ?",
                        (gid, x.user_id)).fetchone()
    db.close()
    assert stored == (0,)
    for c in (owner, x, other_device):
        await c.close()


async def test_a_rejection_waits_for_a_request_the_store_then_refuses(app: App, tmp_path: Any) -> None:
    """Rejected while its write was in flight, a request the store refused was rejected (and
    recorded as rejected) all the same: now there is nothing to reject."""
    owner, x, other_device, gid = await _approval_group_and_second_device(app, tmp_path)
    _refuse_join_requests(tmp_path)
    x.drain_events()
    r_ask, r_reject = await _while_the_request_is_written(
        app, x, gid, lambda: owner.call("reject_join", group_id=gid, user_id=x.user_id))
    assert not r_ask["ok"], r_ask
    assert not r_reject["ok"] and r_reject["code"] == "not_found", r_reject
    await asyncio.sleep(0.1)
    assert [e for e in x.drain_events() if e.get("ev") == "join_result"] == []
    for c in (owner, x, other_device):
        await c.close()


async def test_an_approval_of_a_request_in_flight_admits_once_it_is_stored(app: App, tmp_path: Any) -> None:
    owner, x, other_device, gid = await _approval_group_and_second_device(app, tmp_path)
    r_ask, r_approve = await _while_the_request_is_written(
        app, x, gid, lambda: owner.call("approve_join", group_id=gid, user_id=x.user_id))
    assert r_ask["status"] == "pending" and r_approve["ok"], (r_ask, r_approve)
    assert x.user_id in app.state.groups[gid].members
    assert x.user_id not in app.state.groups[gid].join_requests
    for c in (owner, x, other_device):
        await c.close()
