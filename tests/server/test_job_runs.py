"""The background jobs count their interval from their last run on any node, not from a start.

A cluster's home that changes more often than ``retention.purge_interval_seconds`` (or a lone
node restarted that often) must still purge: the store remembers when each job last ran, and a
job that is due runs as soon as the node starts or becomes the home.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace
from typing import Any

import pytest

from server import retention
from server.media import cleanup
from server.storage.changes import JobRan

HOUR_MS = 3_600_000


async def test_the_store_keeps_the_latest_run_of_each_job(open_store) -> None:
    store = await open_store()
    assert await store.job_last_run("retention") is None
    await store.apply(JobRan("retention", 2000))
    await store.apply(JobRan("retention", 1000))  # (a node whose clock is behind) keeps the later one
    await store.apply(JobRan("media_cleanup", 5))
    assert await store.job_last_run("retention") == 2000
    assert await store.job_last_run("media_cleanup") == 5


def _ctx(store: Any, clock: list[int]) -> Any:
    cfg = SimpleNamespace(retention=SimpleNamespace(purge_interval_seconds=3600),
                          media=SimpleNamespace(cleanup_interval_seconds=3600))
    return SimpleNamespace(store=store, now_ms=lambda: clock[0], cfg=cfg,
                           monitor=SimpleNamespace(job=lambda name: contextlib.nullcontext()))


async def _runs_within(ctx: Any, job: Any, runs: list[int], seconds: float) -> int:
    """Start the job as a node that starts (or becomes the home) does; how often it ran in ``seconds``."""
    before = len(runs)
    task = asyncio.create_task(job(ctx))
    try:
        for _ in range(int(seconds / 0.05)):
            await asyncio.sleep(0.05)
            if len(runs) > before:
                break
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return len(runs) - before


@pytest.mark.parametrize("name", ["retention", "media_cleanup"])
async def test_a_job_that_is_due_runs_at_once_after_a_start(open_store, monkeypatch, name) -> None:
    runs: list[int] = []

    async def ran(ctx: Any, *args: Any, **kwargs: Any) -> dict[str, int]:
        runs.append(ctx.now_ms())
        return {}

    if name == "retention":
        monkeypatch.setattr(retention, "purge", ran)
        job, key = retention.run_forever, retention.JOB
    else:
        monkeypatch.setattr(cleanup, "tidy", ran)
        job, key = cleanup.run_forever, cleanup.JOB
    store = await open_store()
    clock = [1_700_000_000_000]
    ctx = _ctx(store, clock)

    # A new database: the first start is remembered, the first run comes a whole interval later.
    assert await _runs_within(ctx, job, runs, 0.3) == 0
    assert await store.job_last_run(key) == clock[0]
    # Restarts (or new homes) every half interval: the first one waits what is left...
    clock[0] += HOUR_MS // 2
    assert await _runs_within(ctx, job, runs, 0.3) == 0
    # ...and the next finds the job due: it runs at once, and the store remembers that run.
    clock[0] += HOUR_MS // 2 + 1000
    assert await _runs_within(ctx, job, runs, 3) == 1
    assert await store.job_last_run(key) == clock[0]
    # A start just after that run does not run it again (once per interval, service-wide).
    clock[0] += 1000
    assert await _runs_within(ctx, job, runs, 0.3) == 0
