"""A token lookup held between the database's answer and the caller's: the window in which a
logout, a goodbye or a close can overtake it (the auth and re-registration race tests)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from client_demo.client import Client
from server.app import App


def hold_token_lookups(app: App, monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """``(answered, gate)``: ``answered`` is set once the database has answered a lookup; the
    answer reaches its caller only once the test sets ``gate``."""
    return hold_answers(app, monkeypatch, "token_owner")


def hold_answers(app: App, monkeypatch: pytest.MonkeyPatch, method: str,
                 once: bool = False) -> tuple[asyncio.Event, asyncio.Event]:
    """As :func:`hold_token_lookups`, for any read of the store (``method``): the handler's ``await``
    on it lasts until the test sets ``gate``, after the changes the test makes meanwhile. ``once``:
    only the first read is held (the ones the test's own changes make go through)."""
    answered, gate = asyncio.Event(), asyncio.Event()
    real = getattr(app.store, method)

    async def answered_then_late(*args: Any, **kwargs: Any) -> Any:
        found = await real(*args, **kwargs)  # the database answers now...
        if once and answered.is_set():
            return found
        answered.set()
        await gate.wait()  # ...and the answer reaches the caller after what the test does meanwhile
        return found

    monkeypatch.setattr(app.store, method, answered_then_late)
    return answered, gate


async def user(app: App, tmp_path: Path, n: int) -> Client:
    """A registered user ``user<n>``, logged in on a JSON connection of its own."""
    c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    phone = f"139{n:08d}"
    await c.request("request_code", phone=phone)
    code = json.loads((tmp_path / "sms.jsonl").read_text().splitlines()[-1])["code"]
    await c.request("register", username=f"user{n}", password="password123", phone=phone, code=code)
    await c.login(f"user{n}", "password123")
    return c
