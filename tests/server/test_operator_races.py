"""Operator commands against client requests that land while the command's own write is out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from client_demo.client import Client
from server.app import App
from server.operator.channel import CURRENT, Operator
from tests.server.lookups import user


async def _platform_notice(c: Client) -> dict | None:
    try:
        while True:
            e = await c.next_event("notice", timeout=2)
            if e.get("kind") == "platform":
                return e
    except TimeoutError:
        return None


async def test_a_platform_notice_reaches_a_connection_made_while_its_record_is_written(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its recipients used to be read before the record's write: one who logged in meanwhile was
    connected when the notice went out and never got it (an emergency notice, Art. 5)."""
    one, two = await user(app, tmp_path, 1), await user(app, tmp_path, 2)
    await two.close()
    held, gate = asyncio.Event(), asyncio.Event()
    real = app.store.apply

    def apply(*changes: Any, audit: Any = None) -> Any:
        fut = real(*changes, audit=audit)
        if audit is None or audit.action != "platform_notice":
            return fut

        async def late() -> Any:
            r = await fut
            held.set()
            await gate.wait()
            return r
        return asyncio.ensure_future(late())

    monkeypatch.setattr(app.store, "apply", apply)
    assert app.operator is not None
    CURRENT.set(Operator("op", "admin", 0, False))
    task = asyncio.create_task(app.operator.run(json.dumps({"cmd": "notice", "args": {"text": "紧急"}}).encode()))
    await asyncio.wait_for(held.wait(), 5)
    late = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await late.login("user2", "password123")
    gate.set()
    done = await asyncio.wait_for(task, 5)
    assert done["ok"], done
    assert await _platform_notice(one) is not None
    assert await _platform_notice(late) is not None, "connected when the notice went out, and never got it"
    for c in (one, late):
        await c.close()


async def test_a_blacklisting_that_passed_over_an_account_whose_closing_is_refused_is_refused_too(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """close-account claims the closing in memory; a blacklisting of the owner meanwhile passed the
    account over (memory showed it closed). When the closing's write was then refused, its undo left
    the blacklisted person a live public account (P13). The store now refuses such a blacklisting
    (``AccountsClosed``), and the operator runs it again, which closes the account."""
    from tests.e2e.harness import new_id_number

    owner = await user(app, tmp_path, 1)
    await owner.request("verify_identity", legal_name="张三", id_number=new_id_number())
    aid = (await owner.request("create_account", name="茶话", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    gate = asyncio.Event()
    real = app.store.apply

    def apply(*changes: Any, audit: Any = None) -> Any:
        # The close-account command's write: its record entry rides on its sanction (AddSanction.record),
        # as that of a blacklisting's closings does, which comes with the blacklist's own sanction.
        kinds = {getattr(c, "kind", None) for c in changes}
        if "close_account" not in kinds or "blacklist" in kinds:
            return real(*changes, audit=audit)

        async def refused() -> Any:
            await gate.wait()
            raise RuntimeError("the write failed")
        return asyncio.ensure_future(refused())

    monkeypatch.setattr(app.store, "apply", apply)
    assert app.operator is not None
    CURRENT.set(Operator("op", "admin", 0, False))
    run = app.operator.run
    closing = asyncio.create_task(run(json.dumps({"cmd": "close-account", "args": {
        "account_id": aid, "reason": "x"}}).encode()))
    await asyncio.sleep(0.1)
    assert app.state.accounts[aid].closed_at is not None  # claimed
    blacklisting = json.dumps({"cmd": "blacklist", "args": {"username": "user1", "reason": "y"}}).encode()
    first = await run(blacklisting)
    assert first["ok"] is False and "run the command again" in first["error"], first
    gate.set()
    assert (await asyncio.wait_for(closing, 5))["ok"] is False
    assert app.state.accounts[aid].closed_at is None  # the closing was refused
    again = await run(blacklisting)
    assert again["ok"], again
    assert app.state.users[owner.user_id].blacklisted and app.state.accounts[aid].closed_at is not None
    await owner.close()
