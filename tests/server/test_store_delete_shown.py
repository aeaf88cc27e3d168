"""DeleteMessages answers which of the messages it hid members had been shown, as the store has them
in its own transaction (both backends): remove-term told members of the hits its scan had read as
delivered, so a held message an operator released between the scan and the deletion stayed on
their screens, deleted in the store."""

from __future__ import annotations

import asyncio

from server.storage import changes as ch
from server.storage.base import MessageRow


async def _append(store: object, row: MessageRow) -> None:
    fut: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    store.append_message(row, fut.set_result)  # type: ignore[attr-defined]
    assert await fut is None


async def test_delete_messages_answers_the_ones_members_had_been_shown(open_store) -> None:
    store = await open_store()
    await store.apply(ch.InsertUser("u1", "u1", "u1", "h", "U1", b"\x01" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup("100000001", "g", "friends", "open", "u1", 1))
    for seq, held in ((1, 0), (2, 1), (3, 2), (4, 1)):  # shown, held, rejected, held
        await _append(store, MessageRow("100000001", seq, seq, "u1", "owner", f"m{seq}", None, held))
    await store.apply(ch.SetMessageHeld("100000001", 4, 0))  # released after a scan read it held
    items = tuple(("100000001", seq) for seq in (1, 2, 3, 4))
    [shown] = await store.apply(ch.DeleteMessages(items, 10, "operator"))
    assert sorted(shown) == [("100000001", 1), ("100000001", 4)]
    [again] = await store.apply(ch.DeleteMessages(items, 11, "operator"))
    assert again == []  # (hidden already: nothing newly hidden to tell of)
