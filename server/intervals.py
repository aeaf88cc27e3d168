"""Waiting out a background job's interval, as the configuration says it is now."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from server.storage.changes import JobRan

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.jobs")

TICK_SECONDS = 1.0


async def wait_interval(seconds: Callable[[], float], tick: float = TICK_SECONDS, elapsed: float = 0.0) -> None:
    """Sleep until ``seconds()`` have passed since the call (less ``elapsed``, what had passed
    already), reading ``seconds()`` again every ``tick``: a reload (SIGHUP) that shortens a job's
    interval applies to the wait under way within a tick, and one that lengthens it makes the wait
    under way longer too."""
    start = time.monotonic() - elapsed
    while True:
        left = start + seconds() - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, tick))


async def since_last_run(ctx: Context, name: str) -> float:
    """Seconds since the background job ``name`` last ran, as the store remembers it (see
    :func:`job_ran`), so that a node that starts, or becomes a cluster's home, waits only for what
    is left of the job's interval: were every start to wait a whole interval, a job whose interval
    is longer than a node's run (a home that changes, a node restarted often) would never run.

    A job the store has no run of gets one now (its first run then comes a whole interval after
    the service's first start, as before); the store unreadable: 0 (a whole interval)."""
    try:
        last = await ctx.store.job_last_run(name)
        if last is None:
            await job_ran(ctx, name)
            return 0.0
    except Exception as err:
        log.warning("when the %s job last ran is not known (%r): it waits a whole interval", name, err)
        return 0.0
    return max(0.0, (ctx.now_ms() - last) / 1000)  # (a clock behind the one that wrote it: 0)


async def job_ran(ctx: Context, name: str) -> None:
    """Remember in the store that the job ``name`` ran now (errors are logged: it runs again)."""
    try:
        await ctx.store.apply(JobRan(name, ctx.now_ms()))
    except Exception as err:
        log.warning("could not record that the %s job ran: %r", name, err)
