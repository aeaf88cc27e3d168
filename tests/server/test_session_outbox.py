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
        self.items: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writelines([data])

    def writelines(self, items: list[bytes]) -> None:
        self.writes.append(b"")  # (one write call)
        self.items.extend(items)
        self.buffered += sum(len(x) for x in items)  # nobody reads: all of it stays buffered

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
    chunk = b"x" * 20_000
    for _ in range(10):  # one write per loop iteration, each of its events together (60 KB)
        for _ in range(3):
            sess.write(chunk)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert ws.closed_with is not None and ws.closed_with[0] == CLOSE_TRY_AGAIN
    # under the limit before each write it made, and nothing written once over it
    assert ws.transport.buffered <= limit + 3 * (len(chunk) + 10), ws.transport.buffered
    assert len(ws.transport.writes) == 2  # (the third, over the limit, is not made; before, it went out too)


async def test_a_burst_is_handed_to_the_transport_as_the_shared_frames_not_a_copy() -> None:
    """An abuse reviewer's burst: each connection's pending events were joined into one copy at the
    write, so a 5.9 MB burst to 475 connections that did not read held 2.8 GB. The frames are handed
    over as they are (writelines), and uvloop keeps them, shared by every connection of the group."""
    from protocol.codec import EncodedOnce
    from server.session import queue_framed

    framed = EncodedOnce.from_payload(b"z" * 20_000).framed(Encoding.MSGPACK)
    sessions: list[Any] = [Session(_Ws(), Encoding.MSGPACK, "127.0.0.1", 1 << 20) for _ in range(3)]  # type: ignore[arg-type]
    for _ in range(10):  # ten events in one loop iteration
        queue_framed(sessions, framed)
    await asyncio.sleep(0)
    for sess in sessions:
        items = sess.ws.transport.items
        assert len(items) == 10 and all(x is framed for x in items)  # the one object, not a copy
