"""The event-loop lag monitor: when one loop iteration stalls, say how long and what was going on.

A tick is scheduled every ``TICK`` seconds; the lateness of each tick is the
loop's lag. When it exceeds ``threshold_ms`` the monitor logs one line with the
verdict: the garbage-collector passes that ran meanwhile (generation and
pause, from ``gc.callbacks``), what the store had in flight (a commit: since
when and how big; a WAL checkpoint), and which background jobs were running
(:func:`LoopMonitor.job`), and where the loop's thread was meanwhile (Linux:
``/proc/thread-self/schedstat`` and ``/proc/stat``): running (Python, or the
kernel on its behalf), waiting for a CPU (other processes), or neither (asleep
on a lock such as the GIL, or stopped by the hypervisor: its steal time is
given too). The same figures are kept (``stalls``, ``max_lag_ms``, ``lag_samples``) and
exported: every tick's lag to ``qunguan_loop_lag_seconds``, each stall to ``qunguan_loop_stalls_total``.

All of it is cheap enough for production: one timer callback every ``tick_s`` (10 ms by
default, ``server.loop_monitor_tick_ms``; with one ``pread`` of the thread's schedstat, and
/proc/stat once a second) and a GC callback that only reads a clock. The tick is a plain timer
callback, not a task sleeping in a loop: a wake-up of the loop is most of its cost (on a VM,
measured 2026-12-08 with ``perf stat``: a task's tick cost 0.21 ms of CPU, about 2 % of a core
for an idle server; the callback about a quarter less). A coarser tick costs less and misses more:
a stall is seen only when it holds up a tick, and its lag is counted from the tick's due time, so
a stall up to one tick longer than the threshold may go unlogged.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from server.metrics import METRICS

log = logging.getLogger("qunguan.loop")

TICK = 0.01  # seconds between ticks, by default
KEEP_GC = 64  # recent GC passes remembered
STEAL_EVERY_S = 1.0  # seconds between readings of the machine's steal time
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _open_schedstat() -> int | None:
    """A descriptor for the calling thread's ``schedstat`` (None off Linux). Opened once: the
    path's lookup through /proc cost more than the read, 100 times a second."""
    try:
        return os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return None


def _thread_times(fd: int | None) -> tuple[int, int] | None:
    """(ns the thread of ``fd`` ran, ns it waited runnable for a CPU), or None off Linux."""
    if fd is None:
        return None
    try:
        ran, waited, _ = os.pread(fd, 128, 0).split()  # (regenerated on every read from offset 0)
    except (OSError, ValueError):
        return None
    return int(ran), int(waited)


def _steal() -> float | None:
    """Seconds the hypervisor has run something else while this machine's CPUs had work (None: unknown).

    /proc/stat is costly to generate on a large machine, so it is read once a second
    and at a stall, not every tick."""
    try:
        with open("/proc/stat", "rb") as f:
            return int(f.readline().split()[8]) / _CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


class LoopMonitor:
    def __init__(self, threshold_ms: float = 50.0, in_flight: Callable[[], str] | None = None,
                 tick_s: float = TICK) -> None:
        self.threshold_ms = threshold_ms
        self.tick_s = tick_s
        self.in_flight = in_flight  # what the store is doing right now, in words
        self.stalls = 0
        self.max_lag_ms = 0.0
        self.lag_samples: deque[float] = deque(maxlen=6000)  # the last 6,000 ticks' lags, ms (a minute at 10 ms)
        self.last_verdict = ""
        self._gc: deque[tuple[float, int, float]] = deque(maxlen=KEEP_GC)  # (ended at, generation, pause s)
        self._gc_start = 0.0
        self._jobs: dict[str, float] = {}
        # The ticking state (start() sets it; the loop's thread alone touches it)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._fd: int | None = None  # /proc/thread-self/schedstat of the loop's thread
        self._expected = 0.0  # when the next tick is due (loop time)
        self._times: tuple[int, int] | None = None  # the loop thread's times at the last tick
        self._steal: float | None = None
        self._steal_at = 0.0
        self._ticks = 0  # since the steal time was last read

    # -- what ran ------------------------------------------------------------------
    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_start = now
        else:
            self._gc.append((now, int(info.get("generation", -1)), now - self._gc_start))

    def _gc_passes(self) -> list[tuple[float, int, float]]:
        """The passes kept, copied. A collection may run on any thread (a worker thread's allocations
        start one, and the loop waits for it all the same), and its callback then appends while the
        loop reads: iterating the deque raised ``deque mutated during iteration`` and ended the
        monitor (seen during an export, whose worker threads allocate much). Copied again then."""
        for _ in range(5):
            try:
                return list(self._gc)
            except RuntimeError:
                continue
        return []

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
        """Start ticking on the running loop (to be called on the loop's thread: the schedstat read
        each tick is that thread's)."""
        gc.callbacks.append(self._on_gc)
        loop = self._loop = asyncio.get_running_loop()
        self._fd = _open_schedstat()
        self._times = _thread_times(self._fd)
        self._steal, self._steal_at, self._ticks = _steal(), loop.time(), 0
        self._expected = loop.time() + self.tick_s
        self._handle = loop.call_at(self._expected, self._tick)

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        expected, self._expected = self._expected, now + self.tick_s
        # The next tick first: whatever fails below, the monitor goes on.
        self._handle = loop.call_at(self._expected, self._tick)
        before, self._times = self._times, _thread_times(self._fd)
        lag_ms = max(0.0, (now - expected) * 1000)
        self.lag_samples.append(lag_ms)
        METRICS.loop_lag.observe(lag_ms / 1000)
        if lag_ms > self.max_lag_ms:
            self.max_lag_ms = lag_ms
        self._ticks += 1
        if lag_ms > self.threshold_ms:
            self.stalls += 1
            METRICS.loop_stalls.inc()
            window_s = (now - expected) + self.tick_s
            self.last_verdict = self.verdict(lag_ms, window_s)
            if before is not None and self._times is not None:
                self.last_verdict += "; " + _thread_words(before, self._times, window_s)
            steal_now = _steal()
            if self._steal is not None and steal_now is not None:
                stolen_ms = (steal_now - self._steal) * 1000
                self.last_verdict += f"; machine steal {stolen_ms:.0f} ms in the last {now - self._steal_at:.1f} s"
            self._steal, self._steal_at, self._ticks = steal_now, now, 0
            log.warning("event loop stalled %.0f ms: %s", lag_ms, self.last_verdict)
        elif self._ticks * self.tick_s >= STEAL_EVERY_S:
            self._steal, self._steal_at, self._ticks = _steal(), now, 0

    def verdict(self, lag_ms: float, window_s: float) -> str:
        """What was going on during the last ``window_s`` seconds, in one line."""
        since = time.perf_counter() - window_s
        parts = []
        passes = [(g, p) for end, g, p in self._gc_passes() if end >= since]
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


def _thread_words(before: tuple[int, int], after: tuple[int, int], window_s: float) -> str:
    """Where the loop's thread spent ``window_s``, from two :func:`_thread_times` readings."""
    ran = (after[0] - before[0]) / 1e6
    waited = (after[1] - before[1]) / 1e6
    elsewhere = max(0.0, window_s * 1000 - ran - waited)
    return (f"loop thread ran {ran:.0f} ms, waited for a CPU {waited:.0f} ms, "
            f"off CPU {elsewhere:.0f} ms (a lock such as the GIL, I/O, or the hypervisor)")
