"""``wait_interval`` follows the interval as it is now, not as it was when the wait began."""

from __future__ import annotations

import asyncio
import time

from server.intervals import wait_interval


async def test_a_shortened_interval_ends_the_wait_and_a_lengthened_one_extends_it() -> None:
    interval = [100.0]
    start = time.monotonic()
    waiting = asyncio.create_task(wait_interval(lambda: interval[0], tick=0.02))
    await asyncio.sleep(0.1)
    interval[0] = 0.05  # already passed: the wait ends at the next tick
    await asyncio.wait_for(waiting, 1)
    assert time.monotonic() - start < 0.5

    interval[0] = 0.1
    start = time.monotonic()
    waiting = asyncio.create_task(wait_interval(lambda: interval[0], tick=0.02))
    await asyncio.sleep(0.05)
    interval[0] = 0.3  # longer: counted from the wait's start
    await asyncio.wait_for(waiting, 2)
    assert time.monotonic() - start >= 0.3
