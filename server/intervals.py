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


async def _last_run(ctx: Context, name: str) -> tuple[int | None, float]:
    """When the store says the job ``name`` last ran, and how many seconds ago; a job it has no run
    of gets one now, 0 seconds ago (so its first run comes a whole interval after the service's
    first start); the store unreadable: (None, 0)."""
    try:
        last = await ctx.store.job_last_run(name)
        if last is None:
            last = ctx.now_ms()
            await job_ran(ctx, name, last)
            return last, 0.0
    except Exception as err:
        log.warning("when the %s job last ran is not known (%r): it waits a whole interval", name, err)
        return None, 0.0
    return last, _seconds_since(ctx, last)


def _seconds_since(ctx: Context, last: int) -> float:
    return max(0.0, (ctx.now_ms() - last) / 1000)  # (a clock behind the one that wrote it: 0)


async def job_ran(ctx: Context, name: str, at_ms: int | None = None) -> None:
    """Remember in the store that the job ``name`` ran now (or at ``at_ms``); errors are logged
    (the job then runs again when its interval from the run before is over)."""
    try:
        await ctx.store.apply(JobRan(name, ctx.now_ms() if at_ms is None else at_ms))
    except Exception as err:
        log.warning("could not record that the %s job ran: %r", name, err)


class Schedule:
    """When a background job is next due: ``seconds()`` after its last run on any node.

    A job's loop calls :meth:`wait` and then, after a run, :meth:`ran`. The first wait is only
    what is left of the interval since the last run the store remembers (on whichever node it
    ran), so that a node that starts, or becomes a cluster's home, does not put the job off: were
    every start to wait a whole interval, a job whose interval is longer than a node's run (a home
    that changes, a node restarted often) would never run. A job the store has no run of gets one
    at that point (its first run comes a whole interval after the service's first start); the
    store unreadable then: a whole interval.
    Every wait reads the store again at its end: a run recorded meanwhile by someone else (``qunguan
    admin purge``, which runs the retention purge by hand; an old home's last run) starts the wait
    again from that run, so the job does not run again right after it. The store unreadable at
    that point: the job runs (it fails alone if the store is down, and waits a whole interval).
    A run recorded between that read and the job's own run is not seen: the job then runs twice
    in a row, which each of them bears (the purge takes a lock and finds nothing left to do)."""

    def __init__(self, ctx: Context, name: str, seconds: Callable[[], float]) -> None:
        self.ctx = ctx
        self.name = name
        self.seconds = seconds
        self._seen: int | None = None  # the latest run known (the store's, or this loop's own)
        self._started = False

    async def wait(self) -> None:
        if self._started:
            ago = 0.0  # a whole interval after this loop's own run (or failed attempt)
        else:
            self._started = True
            self._seen, ago = await _last_run(self.ctx, self.name)
        while True:
            await wait_interval(self.seconds, elapsed=ago)
            try:
                latest = await self.ctx.store.job_last_run(self.name)
            except Exception:
                return
            if latest is None or (self._seen is not None and latest <= self._seen):
                return
            self._seen = latest  # someone ran it meanwhile: due an interval after that run
            ago = _seconds_since(self.ctx, latest)

    async def ran(self, at: int | None = None) -> None:
        """Remember in the store (and here) that the job ran now (or at ``at``, when it started)."""
        now = self.ctx.now_ms() if at is None else at
        self._seen = now if self._seen is None else max(self._seen, now)
        await job_ran(self.ctx, self.name, now)
