"""The event-loop lag monitor: when one loop iteration stalls, say how long and what was going on.

A tick is scheduled every ``TICK`` seconds; the lateness of each tick is the
loop's lag. When it exceeds ``threshold_ms`` the monitor logs one line with the
verdict: the garbage-collector passes that ran meanwhile (generation and
pause, from ``gc.callbacks``), what the store had in flight (a commit: since
when and how big; a WAL checkpoint), and which background jobs were running
(:func:`LoopMonitor.job`). The same figures are kept as counters
(``stalls``, ``max_lag_ms``, ``lag_samples``) for metrics.

All of it is cheap enough for production: one timer callback every 10 ms and a
GC callback that only reads a clock.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("qunguan.loop")

TICK = 0.01  # seconds between ticks
KEEP_GC = 64  # recent GC passes remembered


class LoopMonitor:
    def __init__(self, threshold_ms: float = 50.0, in_flight: Callable[[], str] | None = None) -> None:
        self.threshold_ms = threshold_ms
        self.in_flight = in_flight  # what the store is doing right now, in words
        self.stalls = 0
        self.max_lag_ms = 0.0
        self.lag_samples: deque[float] = deque(maxlen=6000)  # the last minute of tick lags, ms
        self.last_verdict = ""
        self._gc: deque[tuple[float, int, float]] = deque(maxlen=KEEP_GC)  # (ended at, generation, pause s)
        self._gc_start = 0.0
        self._jobs: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    # -- what ran ------------------------------------------------------------------
    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_start = now
        else:
            self._gc.append((now, int(info.get("generation", -1)), now - self._gc_start))

    @contextmanager
    def job(self, name: str) -> Iterator[None]:
        """Mark a background job as running (a stall while it runs names it)."""
        self._jobs[name] = time.perf_counter()
        try:
            yield
        finally:
            self._jobs.pop(name, None)

    # -- the tick ------------------------------------------------------------------
    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-monitor")

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        expected = loop.time() + TICK
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            now = loop.time()
            lag_ms = max(0.0, (now - expected) * 1000)
            self.lag_samples.append(lag_ms)
            if lag_ms > self.max_lag_ms:
                self.max_lag_ms = lag_ms
            if lag_ms > self.threshold_ms:
                self.stalls += 1
                self.last_verdict = self.verdict(lag_ms, window_s=(now - expected) + TICK)
                log.warning("event loop stalled %.0f ms: %s", lag_ms, self.last_verdict)
            expected = now + TICK

    def verdict(self, lag_ms: float, window_s: float) -> str:
        """What was going on during the last ``window_s`` seconds, in one line."""
        since = time.perf_counter() - window_s
        parts = []
        passes = [(g, p) for end, g, p in self._gc if end >= since]
        if passes:
            total = sum(p for _, p in passes) * 1000
            gens = ",".join(str(g) for g, _ in passes)
            parts.append(f"gc {len(passes)} pass(es) gen {gens} paused {total:.0f} ms")
        else:
            parts.append("no gc")
        if self.in_flight is not None:
            try:
                parts.append(f"store: {self.in_flight()}")
            except Exception:  # a monitor never fails the server
                parts.append("store: ?")
        if self._jobs:
            parts.append("jobs: " + ", ".join(sorted(self._jobs)))
        return "; ".join(parts)

    def p99_ms(self) -> float:
        data = sorted(self.lag_samples)
        return data[int(len(data) * 0.99)] if data else 0.0
