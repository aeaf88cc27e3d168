"""The background jobs count their interval from their last run on any node, not from a start.

A cluster's home that changes more often than ``retention.purge_interval_seconds`` (or a lone
node restarted that often) must still purge: the store remembers when each job last ran, and a
job that is due runs as soon as the node starts or becomes the home.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from server import record, retention
from server.intervals import job_ran
from server.media import cleanup
from server.operator import records as operator_records
from server.state import State
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


NO_MEDIA = Path("/nonexistent-media-folder")


def _ctx(store: Any, clock: list[int], checkpoint_file: Any = None, interval: float = 3600) -> Any:
    cfg = SimpleNamespace(retention=SimpleNamespace(purge_interval_seconds=interval, days=184),
                          media=SimpleNamespace(cleanup_interval_seconds=interval, path=NO_MEDIA),
                          audit=SimpleNamespace(checkpoint_interval_seconds=interval, checkpoint_file=checkpoint_file),
                          cluster=SimpleNamespace(enabled=False))
    return SimpleNamespace(store=store, now_ms=lambda: clock[0], cfg=cfg, state=State(),
                           media=SimpleNamespace(uploads={}),
                           monitor=SimpleNamespace(job=lambda name: contextlib.nullcontext()),
                           purge_refused=None, purges_by_hand=0, orphans_swept_at=None)


async def _first_run_recorded(ctx: Any, key: str) -> None:
    """Wait (a loaded machine may take a while) until a job started on a new database has recorded
    its start as its first run: cancelled before that, it would leave no record at all."""
    for _ in range(200):
        if await ctx.store.job_last_run(key) is not None:
            return
        await asyncio.sleep(0.05)


async def _recorded(ctx: Any, key: str, ts: int) -> None:
    """Wait until the store holds the run at ``ts``: the job records a run just after it ends, and a
    job cancelled in between (a node stopped mid-way) leaves it unrecorded, to run again."""
    for _ in range(200):
        if await ctx.store.job_last_run(key) == ts:
            return
        await asyncio.sleep(0.05)


async def _runs_within(ctx: Any, job: Any, runs: list[int], seconds: float, key: str, first: bool = False) -> int:
    """Start the job as a node that starts (or becomes the home) does; how often it ran in ``seconds``
    (after, with ``first``, it recorded its first start), each run waited for until it is recorded."""
    before = len(runs)
    task = asyncio.create_task(job(ctx))
    try:
        if first:
            await _first_run_recorded(ctx, key)
        for _ in range(int(seconds / 0.05)):
            await asyncio.sleep(0.05)
            if len(runs) > before:
                await _recorded(ctx, key, runs[-1])
                break
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return len(runs) - before


@pytest.mark.parametrize("name", ["retention", "media_cleanup", "record_checkpoint"])
async def test_a_job_that_is_due_runs_at_once_after_a_start(open_store, monkeypatch, tmp_path, name) -> None:
    runs: list[int] = []

    async def ran(ctx: Any, *args: Any, **kwargs: Any) -> dict[str, int]:
        runs.append(ctx.now_ms())
        return {}

    if name == "retention":
        monkeypatch.setattr(retention, "purge", ran)
        job, key = retention.run_forever, retention.JOB
    elif name == "media_cleanup":
        monkeypatch.setattr(cleanup, "tidy", ran)
        job, key = cleanup.run_forever, cleanup.JOB
    else:
        monkeypatch.setattr(record, "checkpoint", ran)
        job, key = record.run_checkpoints, record.JOB
    store = await open_store()
    clock = [1_700_000_000_000]
    ctx = _ctx(store, clock, tmp_path / "checkpoints.jsonl")

    # A new database: the first start is remembered, the first run comes a whole interval later.
    assert await _runs_within(ctx, job, runs, 0.3, key, first=True) == 0
    assert await store.job_last_run(key) == clock[0]
    # Restarts (or new homes) every half interval: the first one waits what is left...
    clock[0] += HOUR_MS // 2
    assert await _runs_within(ctx, job, runs, 0.3, key) == 0
    # ...and the next finds the job due: it runs at once, and the store remembers that run.
    clock[0] += HOUR_MS // 2 + 1000
    assert await _runs_within(ctx, job, runs, 10, key) == 1
    assert await store.job_last_run(key) == clock[0]
    # A start just after that run does not run it again (once per interval, service-wide).
    clock[0] += 1000
    assert await _runs_within(ctx, job, runs, 0.3, key) == 0


async def test_checkpoints_follow_the_service_interval_across_homes_with_their_own_files(open_store, tmp_path) -> None:
    """Two nodes, each with its own checkpoint file, take turns as the home every half interval:
    a checkpoint is written once per interval, into the file of the node that is home when it is
    due; a promotion alone writes none (it used to write one at every start, whatever the interval)."""
    store = await open_store()
    clock = [1_700_000_000_000]
    nodes = [_ctx(store, clock, tmp_path / f"n{i}.jsonl") for i in (1, 2)]
    lines = [0]

    def written() -> int:
        return sum(len(record.read_checkpoints(n.cfg.audit.checkpoint_file)) for n in nodes)

    async def home(ctx: Any, seconds: float) -> int:
        """``ctx`` runs the job as the home for ``seconds``; how many lines it wrote."""
        task = asyncio.create_task(record.run_checkpoints(ctx))
        try:
            await _first_run_recorded(ctx, record.JOB)
            for _ in range(int(seconds / 0.05)):
                await asyncio.sleep(0.05)
                if written() > lines[0]:
                    await _recorded(ctx, record.JOB, clock[0])
                    break
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        new, lines[0] = written() - lines[0], written()
        return new

    assert await home(nodes[0], 0.3) == 0  # a new database: the first comes an interval later
    clock[0] += HOUR_MS // 2
    assert await home(nodes[1], 0.3) == 0  # half an interval on: not due, nothing written
    clock[0] += HOUR_MS // 2 + 1000
    assert await home(nodes[0], 10) == 1  # due: the home of the moment writes it
    assert record.read_checkpoints(nodes[0].cfg.audit.checkpoint_file)[-1].ts == clock[0]
    clock[0] += HOUR_MS // 2
    assert await home(nodes[1], 0.3) == 0
    clock[0] += HOUR_MS // 2 + 1000
    assert await home(nodes[1], 10) == 1  # due again: now in the other node's file
    assert len(record.read_checkpoints(nodes[1].cfg.audit.checkpoint_file)) == 1


async def test_a_purge_by_hand_counts_as_the_services_last_purge(open_store, monkeypatch) -> None:
    """``qunguan admin purge`` records a run, and the scheduled purge, whose wait is under way,
    counts its interval from it instead of purging again right after it."""
    runs: list[int] = []

    async def purged(ctx: Any, as_of: Any = None, actor: str = "system") -> dict[str, int]:
        runs.append(ctx.now_ms())
        return {}

    monkeypatch.setattr(retention, "purge", purged)
    store = await open_store()
    clock = [1_700_000_000_000]
    ctx = _ctx(store, clock, interval=1.0)
    await job_ran(ctx, retention.JOB)
    task = asyncio.create_task(retention.run_forever(ctx))
    try:
        await asyncio.sleep(0.3)
        clock[0] += 300
        await operator_records.purge(ctx, {})  # by hand, while the job waits
        assert runs == [clock[0]]
        assert await store.job_last_run(retention.JOB) == clock[0]
        # The job would have purged again at 1 s; it waits a whole interval from the purge by hand.
        await asyncio.sleep(0.9)
        assert len(runs) == 1
        for _ in range(200):
            if len(runs) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(runs) == 2
        # As of an earlier time a purge by hand removes less than a scheduled one would: not a run.
        before = await store.job_last_run(retention.JOB)
        clock[0] += 5000
        await operator_records.purge(ctx, {"now": clock[0] - 1000})
        assert await store.job_last_run(retention.JOB) == before
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
