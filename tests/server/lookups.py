"""A token lookup held between the database's answer and the caller's: the window in which a
logout, a goodbye or a close can overtake it (the auth and re-registration race tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.app import App


def hold_token_lookups(app: App, monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """``(answered, gate)``: ``answered`` is set once the database has answered a lookup; the
    answer reaches its caller only once the test sets ``gate``."""
    answered, gate = asyncio.Event(), asyncio.Event()
    real = app.store.token_owner

    async def answered_then_late(*args: Any) -> Any:
        found = await real(*args)  # the database answers now...
        answered.set()
        await gate.wait()  # ...and the answer reaches the caller after what the test does meanwhile
        return found

    monkeypatch.setattr(app.store, "token_owner", answered_then_late)
    return answered, gate
