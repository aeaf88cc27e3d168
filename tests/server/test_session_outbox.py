"""A connection that stopped reading holds at most ``server.max_outbox_bytes`` plus one write: once
its unsent bytes are over the limit it is closed (1013) without the next write (the leak reviewer's
200 such connections held about 5 MB each against 1 MiB: the write went out first)."""

from __future__ import annotations

import asyncio
from typing import Any

from protocol.codec import Encoding
from server.session import CLOSE_TRY_AGAIN, Session


class _Transport:
    def __init__(self) -> None:
        self.buffered = 0
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.buffered += len(data)  # nobody reads: all of it stays buffered

    def get_write_buffer_size(self) -> int:
        return self.buffered


class _Ws:
    def __init__(self) -> None:
        from websockets.protocol import State

        self.transport = _Transport()
        self.protocol = type("P", (), {"state": State.OPEN, "extensions": []})()
        self.closed_with: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


async def test_a_reader_over_the_limit_is_closed_without_the_next_write() -> None:
    limit = 64 * 1024
    ws: Any = _Ws()
    sess = Session(ws, Encoding.MSGPACK, "127.0.0.1", limit)
    chunk = b"x" * 40_000
    for _ in range(10):  # one write per loop iteration, each of its events together
        for _ in range(3):
            sess.write(chunk)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert ws.closed_with is not None and ws.closed_with[0] == CLOSE_TRY_AGAIN
    # under the limit before each write it made, and nothing written once over it
    assert ws.transport.buffered <= limit + 3 * (len(chunk) + 10), ws.transport.buffered
    assert len(ws.transport.writes) == 1  # (the first, at an empty backlog; before, the next went out too)
