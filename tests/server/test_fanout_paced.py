"""Many events in a row (an operator's mass removal: thousands of message_deleted to a group's members)
are published paced: at most BULK_SLICE deliveries per loop iteration, the chat served between, and
while a recipient has over half its outbox unsent the rest waits for it to drain, for a while."""

from __future__ import annotations

import asyncio

from protocol.codec import Encoding
from protocol.events import MessageDeleted
from server import fanout
from server.session import Session

OUTBOX = 1 << 20


class _Transport:
    def __init__(self) -> None:
        self.frames = 0
        self.unsent = 0  # what the test says the kernel has not taken yet

    def write(self, data: bytes) -> None:
        self.frames += 1

    def writelines(self, items: list[bytes]) -> None:
        self.frames += len(items)

    def get_write_buffer_size(self) -> int:
        return self.unsent


class _Ws:
    def __init__(self) -> None:
        from websockets.protocol import State

        self.transport = _Transport()
        self.protocol = type("P", (), {"state": State.OPEN, "extensions": []})()


def _sessions(n: int) -> list[Session]:
    return [Session(_Ws(), Encoding.MSGPACK, "127.0.0.1", OUTBOX) for _ in range(n)]  # type: ignore[arg-type]


def _events(sessions: list[Session], n: int):
    return ((sessions, MessageDeleted(group_id="100000001", seq=seq, deleted_by="platform")) for seq in range(1, n + 1))


def _frames(sessions: list[Session]) -> int:
    return sum(s.ws.transport.frames for s in sessions)  # type: ignore[attr-defined]


async def test_a_long_run_of_events_leaves_the_loop_between_slices() -> None:
    sessions = _sessions(50)
    seen: list[int] = []  # frames written by each loop iteration's end, as another task sees them
    done = False

    async def ticker() -> None:
        while not done:
            seen.append(_frames(sessions))
            await asyncio.sleep(0)

    tick = asyncio.create_task(ticker())
    await fanout.publish_paced(_events(sessions, 1000))  # 50,000 deliveries
    done = True
    await tick
    await asyncio.sleep(0)  # (the last slice's flush)
    assert _frames(sessions) == 50 * 1000
    steps = [b - a for a, b in zip(seen, seen[1:], strict=False)]
    assert len(seen) >= 50_000 // fanout.BULK_SLICE  # it let the ticker run between slices
    assert max(steps) <= fanout.BULK_SLICE + 50  # never much more than a slice per iteration


async def test_it_waits_for_a_lagging_reader_and_then_goes_on() -> None:
    sessions = _sessions(10)
    slow = sessions[3].ws.transport  # type: ignore[attr-defined]
    slow.unsent = OUTBOX // 2 + 1
    publishing = asyncio.create_task(fanout.publish_paced(_events(sessions, 1000)))
    await asyncio.sleep(0.2)
    assert not publishing.done()  # held at the first slice: the reader has over half its outbox unsent
    held_at = _frames(sessions)
    assert held_at <= fanout.BULK_SLICE + 10
    slow.unsent = 0  # it caught up
    await asyncio.wait_for(publishing, 5)
    await asyncio.sleep(0)
    assert _frames(sessions) == 10 * 1000


async def test_a_reader_that_never_catches_up_holds_it_only_for_a_while(monkeypatch) -> None:
    # The patience is for the whole run, not for each slice: 10 slices wait 0.2 s in all, not 2 s.
    monkeypatch.setattr(fanout, "PACED_PATIENCE_S", 0.2)
    sessions = _sessions(10)
    sessions[0].ws.transport.unsent = OUTBOX // 2 + 1  # type: ignore[attr-defined]  # (lagging, not yet over)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(fanout.publish_paced(_events(sessions, 2000)), 5)  # 10 slices
    assert 0.2 <= asyncio.get_running_loop().time() - started < 0.6
    await asyncio.sleep(0)
    assert _frames(sessions) == 10 * 2000 and not sessions[0].closing
