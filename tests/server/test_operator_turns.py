"""Long operator listings are made and written in turns (server/operator/channel.LINES_PER_TURN): a
review of stalls at scale measured 50,000 reports listed in one step holding every connection 520 ms,
and a 23 MB answer encoded in one step 80-140 ms. Whatever the turns, the answer is the same JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from server.operator import channel
from server.operator.common import lines_in_turns


class _Writer:
    """What ``_answer`` writes."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None


class _Ticker:
    """Counts the turns the loop gives other work while it runs (``async with``)."""

    def __init__(self) -> None:
        self.ticks = 0
        self._done = False
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while not self._done:
            self.ticks += 1
            await asyncio.sleep(0)

    async def __aenter__(self) -> _Ticker:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._done = True
        assert self._task is not None
        await self._task


async def _answered(reply: dict[str, Any]) -> tuple[bytes, int]:
    writer = _Writer()
    async with _Ticker() as ticker:
        start = ticker.ticks
        await channel._answer(writer, reply)  # type: ignore[arg-type]
        turns = ticker.ticks - start
    return bytes(writer.data), turns


@pytest.mark.parametrize("reply", [
    {"ok": True, "lines": [f"line {i} 第{i}行 \"quoted\"" for i in range(2_500)]},
    {"lines": [json.dumps({"n": i}) for i in range(1_001)]},  # (no other key)
    {"ok": True, "lines": ["short"] * 10},
    {"ok": False, "error": "nothing"},
])
async def test_the_answer_is_one_json_line_whatever_its_turns(reply: dict[str, Any]) -> None:
    data, _ = await _answered(reply)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == reply


async def test_a_long_listing_is_written_in_turns() -> None:
    _, turns = await _answered({"ok": True, "lines": ["x" * 50] * (3 * channel.LINES_PER_TURN)})
    assert turns >= 3  # the loop ran other work between the slices


async def test_lines_are_made_in_turns_in_order_leaving_out_none() -> None:
    made_in: list[int] = []
    rows = list(range(2 * channel.LINES_PER_TURN + 5))
    async with _Ticker() as ticker:

        def line(n: int) -> str | None:
            made_in.append(ticker.ticks)
            return None if n % 3 == 0 else str(n)

        lines = await lines_in_turns(rows, line)
    assert lines == [str(n) for n in rows if n % 3]
    assert len(set(made_in)) == 3  # three turns: two full, one of 5
