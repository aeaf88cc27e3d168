"""A broadcast to very many sessions (a post to its online subscribers) is sliced across loop
iterations so it cannot stall every group's messages, and two broadcasts keep their order."""

from __future__ import annotations

import asyncio
from typing import Any

from protocol.codec import Encoding, decode
from protocol.events import PostEvent
from server import fanout
from server.session import Session, _flusher


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def writelines(self, items: list[bytes]) -> None:  # (what a session's flush calls)
        self.writes.append(b"".join(items))

    def get_write_buffer_size(self) -> int:
        return 0


class _Ws:
    def __init__(self) -> None:
        from websockets.protocol import State

        self.transport = _Transport()
        self.protocol = type("P", (), {"state": State.OPEN, "extensions": []})()


def _sessions(n: int) -> list[Session]:
    return [Session(_Ws(), Encoding.MSGPACK, "127.0.0.1", 1 << 20) for _ in range(n)]  # type: ignore[arg-type]


def _post_ids(sess: Session) -> list[str]:
    out: list[Any] = []
    for chunk in sess.ws.transport.writes:  # type: ignore[attr-defined]
        while chunk:  # unframe: one byte opcode, lengths up to 64 KiB here
            n = chunk[1] & 0x7F
            start = 2
            if n == 126:
                n, start = int.from_bytes(chunk[2:4], "big"), 4
            out.append(decode(chunk[start:start + n])["post_id"])
            chunk = chunk[start + n:]
    return out


async def test_a_huge_audience_is_served_in_slices_and_in_order():
    n = fanout.BULK_SLICE * 3 + 5
    sessions = _sessions(n)
    first = PostEvent(account_id="123456789", post_id="1", title="one", ts=1)
    second = PostEvent(account_id="123456789", post_id="2", title="two", ts=2)
    fanout.publish_many(sessions, first)
    fanout.publish_many(sessions, second)
    assert sum(1 for s in sessions if s._pending) == 0  # nothing queued synchronously
    await asyncio.sleep(0)  # one loop iteration: one slice
    queued = sum(1 for s in sessions if s._pending)
    assert 0 < queued <= fanout.BULK_SLICE
    for _ in range(20):
        await asyncio.sleep(0)
    _flusher.flush()
    assert all(_post_ids(s) == ["1", "2"] for s in sessions)


async def test_a_small_audience_is_served_at_once():
    sessions = _sessions(10)
    fanout.publish_many(sessions, PostEvent(account_id="123456789", post_id="7", title="t", ts=1))
    assert all(s._pending for s in sessions)
    _flusher.flush()
    assert all(_post_ids(s) == ["7"] for s in sessions)
