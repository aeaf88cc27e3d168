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
    """What ``_answer`` writes, and how many times the loop ran something else while it did."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.turns_seen = 0

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None


async def _answered(reply: dict[str, Any]) -> tuple[bytes, int]:
    writer, ticks = _Writer(), [0]
    done = False

    async def ticking() -> None:
        while not done:
            ticks[0] += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(ticking())
    await asyncio.sleep(0)
    start = ticks[0]
    await channel._answer(writer, reply)  # type: ignore[arg-type]
    done = True
    await ticker
    return bytes(writer.data), ticks[0] - start


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
    ticks = [0]
    done = False

    async def ticking() -> None:
        while not done:
            ticks[0] += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(ticking())

    def line(n: int) -> str | None:
        made_in.append(ticks[0])
        return None if n % 3 == 0 else str(n)

    rows = list(range(2 * channel.LINES_PER_TURN + 5))
    lines = await lines_in_turns(rows, line)
    done = True
    await ticker
    assert lines == [str(n) for n in rows if n % 3]
    assert len(set(made_in)) == 3  # three turns: two full, one of 5
