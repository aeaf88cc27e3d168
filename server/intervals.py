"""Waiting out a background job's interval, as the configuration says it is now."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

TICK_SECONDS = 1.0


async def wait_interval(seconds: Callable[[], float], tick: float = TICK_SECONDS) -> None:
    """Sleep until ``seconds()`` have passed since the call, reading ``seconds()`` again every
    ``tick``: a reload (SIGHUP) that shortens a job's interval applies to the wait under way
    within a tick, and one that lengthens it makes the wait under way longer too."""
    start = time.monotonic()
    while True:
        left = start + seconds() - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, tick))
