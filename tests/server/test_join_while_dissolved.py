"""A join (or an approval) whose write is stored while the owner dissolves the group on another
device: the joiner was never among the group's connections, so no ``group_dissolved`` reached them,
and they used to be told they were in (``joined``, or ``join_result approved``) a group that is gone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from client_demo.client import Client
from server.app import App
from server.storage import changes as ch
from tests.server.lookups import user


def hold_add_member(app: App, monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """``(stored, gate)``: an ``AddMember`` is stored, and its answer reaches the handler once the
    test sets ``gate``."""
    stored, gate = asyncio.Event(), asyncio.Event()
    real = app.store.apply

    def apply(*changes: Any, **kw: Any) -> Any:
        fut = real(*changes, **kw)
        if not any(isinstance(c, ch.AddMember) for c in changes):
            return fut
        out = asyncio.get_running_loop().create_future()

        async def later() -> None:
            try:
                r = await fut
            except BaseException as e:  # noqa: BLE001
                out.set_exception(e)
                return
            stored.set()
            await gate.wait()
            out.set_result(r)

        asyncio.get_running_loop().create_task(later())
        return out

    monkeypatch.setattr(app.store, "apply", apply)
    return stored, gate


@pytest.mark.parametrize("path", ["join", "approve"])
async def test_a_group_dissolved_while_a_join_is_stored_is_not_said_joined(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    owner, joiner = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    policy = "open" if path == "join" else "approval"
    gid = (await owner.request("create_group", name="g", category="friends", join_policy=policy))["group_id"]
    if path == "approve":
        assert (await joiner.request("join_group", group_id=gid))["status"] == "pending"
    await asyncio.sleep(0.2)
    joiner.drain_events()
    stored, gate = hold_add_member(app, monkeypatch)
    if path == "join":
        pending = asyncio.create_task(joiner.call("join_group", group_id=gid))
    else:
        pending = asyncio.create_task(owner.call("approve_join", group_id=gid, user_id=joiner.user_id))
    owner2 = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await owner2.login("user1", "password123")  # the owner's second device
    try:
        await asyncio.wait_for(stored.wait(), 5)
        await owner2.request("dissolve_group", group_id=gid)
    finally:
        gate.set()
    reply = await asyncio.wait_for(pending, 5)
    assert reply["ok"] is False and reply["code"] == "not_found", reply
    await asyncio.sleep(0.3)
    assert "join_result" not in [e.get("ev") for e in joiner.drain_events()]
    assert gid not in [g["group_id"] for g in (await joiner.request("my_groups"))["groups"]]
    for c in (owner, owner2, joiner):
        await c.close()
