"""A repeat ``join_group`` (another device of the same user) that arrives while the first request's
``PutJoinRequest`` is still being written waits for that write (server/handlers/groups.py:
request_to_join) and answers from what the store decided: never ``pending`` for a request the
store then refused and memory undid."""

from __future__ import annotations

import asyncio
import sqlite3
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


async def _second_join_while_the_first_is_written(app: App, x: Any, other_device: Client,
                                                  gid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """x asks to join on one device; while that write waits in the store's queue, on the other."""
    gate = asyncio.Event()

    async def held(_db: Any) -> None:  # the writer's batch waits here: the request's write comes after it
        await gate.wait()

    blocker = app.store.run_in_batch(held)
    await asyncio.sleep(0.05)
    g = app.state.groups[gid]
    first = asyncio.ensure_future(x.call("join_group", group_id=gid))
    for _ in range(100):
        if x.user_id in g.join_requests:
            break
        await asyncio.sleep(0.01)
    assert x.user_id in g.join_requests  # claimed in memory, its write waiting
    second = asyncio.ensure_future(other_device.call("join_group", group_id=gid))
    await asyncio.sleep(0.2)
    answered_early = second.done()
    gate.set()
    await blocker
    r1, r2 = await first, await second
    assert not answered_early, r2  # it waited for the write in flight
    return r1, r2


async def test_a_repeat_join_request_is_not_told_pending_for_a_request_the_store_refused(
        app: App, tmp_path: Any) -> None:
    owner, x, other_device, gid = await _approval_group_and_second_device(app, tmp_path)
    db = sqlite3.connect(tmp_path / "qunguan.db")  # the store refuses every join request (a failing write)
    db.execute("CREATE TRIGGER no_requests BEFORE INSERT ON join_requests BEGIN SELECT RAISE(ABORT, 'refused'); END")
    db.commit()
    db.close()
    r1, r2 = await _second_join_while_the_first_is_written(app, x, other_device, gid)
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
    r1, r2 = await _second_join_while_the_first_is_written(app, x, other_device, gid)
    assert (r1["status"], r2["status"]) == ("pending", "pending"), (r1, r2)
    await asyncio.sleep(0.1)
    assert [e["ev"] for e in owner.drain_events() if e.get("ev") == "join_request"] == ["join_request"]
    assert [r["user_id"] for r in (await owner.request("join_requests", group_id=gid))["requests"]] == [
        x.user_id]
    for c in (owner, x, other_device):
        await c.close()
