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


async def _account_owner(app: App, tmp_path) -> tuple[Client, str]:  # type: ignore[no-untyped-def]
    """``user1``, ID-verified, and the public account it opened."""
    from tests.e2e.harness import new_id_number

    owner = await user(app, tmp_path, 1)
    await owner.request("verify_identity", legal_name="张三", id_number=new_id_number())
    aid = (await owner.request("create_account", name="茶话", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    return owner, aid


async def test_a_blacklisting_that_passed_over_an_account_whose_closing_is_refused_is_refused_too(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """close-account claims the closing in memory; a blacklisting of the owner meanwhile passed the
    account over (memory showed it closed). When the closing's write was then refused, its undo left
    the blacklisted person a live public account (P13). The store now refuses such a blacklisting
    (``AccountsClosed``), and the operator runs it again, which closes the account."""
    owner, aid = await _account_owner(app, tmp_path)
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


async def _owner_closing_held(app: App, tmp_path, monkeypatch: pytest.MonkeyPatch, stored: bool
                              ) -> tuple[Client, str, asyncio.Event, asyncio.Task]:
    """An account whose owner's ``close_account`` is claimed in memory and held at its write, which
    the store then stores (``stored``) or refuses once the returned event is set."""
    owner, aid = await _account_owner(app, tmp_path)
    gate = asyncio.Event()
    real = app.store.apply

    def apply(*changes: Any, audit: Any = None) -> Any:
        if audit is None or audit.action != "close_account" or audit.actor_id != owner.user_id:
            return real(*changes, audit=audit)

        async def held() -> Any:
            await gate.wait()
            if not stored:
                raise RuntimeError("the write failed")
            return await real(*changes, audit=audit)
        return asyncio.ensure_future(held())

    monkeypatch.setattr(app.store, "apply", apply)
    closing = asyncio.create_task(owner.call("close_account", account_id=aid))
    for _ in range(50):
        if app.state.accounts[aid].closed_at is not None:
            break
        await asyncio.sleep(0.02)
    assert app.state.accounts[aid].closed_at is not None  # claimed, its write held
    return owner, aid, gate, closing


async def test_a_platform_closing_waits_for_the_owners_closing_being_stored_and_closes_what_it_left_open(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """close-account, and every other measure on an account, used to answer "already closed" while
    the owner's own closing was still being stored; when the store then refused that closing, the
    account stayed open with no measure on it. The command now waits for it."""
    owner, aid, gate, closing = await _owner_closing_held(app, tmp_path, monkeypatch, stored=False)
    assert app.operator is not None
    CURRENT.set(Operator("op", "admin", 0, False))
    command = asyncio.create_task(app.operator.run(json.dumps({"cmd": "close-account", "args": {
        "account_id": aid, "reason": "违法信息"}}).encode()))
    await asyncio.sleep(0.2)
    assert not command.done(), "answered while the owner's closing was still being stored"
    gate.set()
    assert (await asyncio.wait_for(closing, 5))["code"] == "internal"
    done = await asyncio.wait_for(command, 5)
    assert done["ok"], done
    assert app.state.accounts[aid].closed_at is not None
    [row] = [r for r in await app.store.sanctions("account", aid) if r["kind"] == "close_account"]
    assert row["reason"] == "违法信息"
    await owner.close()


async def test_a_measure_on_an_account_whose_owner_is_closing_it_is_refused_once_the_closing_is_stored(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, aid, gate, closing = await _owner_closing_held(app, tmp_path, monkeypatch, stored=True)
    assert app.operator is not None
    CURRENT.set(Operator("op", "admin", 0, False))
    command = asyncio.create_task(app.operator.run(json.dumps({"cmd": "suspend-account", "args": {
        "account_id": aid, "seconds": 600, "reason": "刷屏"}}).encode()))
    await asyncio.sleep(0.2)
    assert not command.done()
    gate.set()
    assert (await asyncio.wait_for(closing, 5)).get("ok", True) is not False
    done = await asyncio.wait_for(command, 5)
    assert done["ok"] is False and "already closed" in done["error"], done
    assert not [r for r in await app.store.sanctions("account", aid) if r["kind"] == "suspend_account"]
    await owner.close()
