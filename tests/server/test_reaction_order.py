"""A message's reactions come back from ``history`` in one order on both backends: by code point, as
SQLite's grouping gives them (PostgreSQL's hashed grouping gave them in no stated order, so a client
showed the same reactions in a different order on each backend)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from server.storage import changes as ch
from server.storage.base import MessageRow
from tests.server.test_store_public_accounts import _people

EMOJI = ["😀", "👍", "❤", "🎉", "🙏", "✅"]  # added in this order, none of it code point order


async def test_reactions_come_back_in_code_point_order(open_store: Any) -> None:
    store = await open_store()
    await _people(store, 2)
    await store.apply(ch.CreateGroup("100000001", "g", "work", "open", "u0", 1))
    done: list[BaseException | None] = []
    store.append_message(MessageRow("100000001", 1, 1, "u0", "owner", "hi", None, 0), done.append)
    while not done:  # (stored: its commit callback ran)
        await asyncio.sleep(0.01)
    assert done == [None]
    for i, emoji in enumerate(EMOJI):
        assert await store.apply(ch.SetReaction("100000001", 1, "u1", emoji, True, 10 + i, 10)) == [True]
    [row] = await store.history("100000001", 0, None, None, 10)
    assert list(json.loads(row.reactions)) == sorted(EMOJI)
