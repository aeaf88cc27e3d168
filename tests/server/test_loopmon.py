"""The loop monitor names a stall and what ran during it."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time

from server.loopmon import LoopMonitor


async def test_a_stall_is_logged_with_the_gc_pass_and_the_store_and_jobs_in_flight(caplog):
    mon = LoopMonitor(threshold_ms=50, in_flight=lambda: "commit of 3 ops, 200 messages, 0 log rows running 80 ms")
    mon.start()
    try:
        await asyncio.sleep(0.05)
        assert mon.stalls == 0
        with caplog.at_level(logging.WARNING, logger="qunguan.loop"), mon.job("retention purge"):
            gc.collect(1)
            time.sleep(0.12)  # blocks the loop: the next tick is ~120 ms late
            await asyncio.sleep(0.05)
        assert mon.stalls == 1 and mon.max_lag_ms >= 100
        line = caplog.records[-1].getMessage()
        assert line.startswith("event loop stalled")
        assert "gc 1 pass(es) gen 1" in line and "commit of 3 ops" in line and "jobs: retention purge" in line
        await asyncio.sleep(0.05)
        assert mon.stalls == 1  # ticks are back on time
        assert mon.p99_ms() >= 100 > sorted(mon.lag_samples)[len(mon.lag_samples) // 2]
    finally:
        await mon.stop()
    assert mon._on_gc not in gc.callbacks


async def test_no_gc_and_an_idle_store_say_so():
    mon = LoopMonitor(threshold_ms=10, in_flight=lambda: "idle")
    assert mon.verdict(20, window_s=0.02) == "no gc; store: idle"


async def test_a_stall_says_whether_the_loop_thread_ran_waited_or_slept(caplog):
    """Linux: from /proc/thread-self/schedstat. A sleep is off CPU, a busy loop ran."""
    mon = LoopMonitor(threshold_ms=50)
    mon.start()
    try:
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, logger="qunguan.loop"):
            time.sleep(0.15)  # off CPU
            await asyncio.sleep(0.03)
            end = time.perf_counter() + 0.15
            while time.perf_counter() < end:  # on CPU
                pass
            await asyncio.sleep(0.03)
        slept, busy = [r.getMessage() for r in caplog.records[-2:]]
    finally:
        await mon.stop()
    numbers = re.compile(r"loop thread ran (\d+) ms, waited for a CPU (\d+) ms, off CPU (\d+) ms")
    ran, waited, off = map(int, numbers.search(slept).groups())
    assert off >= 100 and ran < 50
    ran, waited, off = map(int, numbers.search(busy).groups())
    assert ran + waited >= 100 and off < 50
    assert "machine steal" in busy


def test_a_collection_on_another_thread_while_a_verdict_reads_the_passes_fails_nothing():
    """A collection may run on a worker thread (an export's allocations start them) while the loop
    reads the passes kept: iterating them raised ``deque mutated during iteration`` and ended the
    monitor."""
    import sys
    import threading

    mon = LoopMonitor(threshold_ms=10, in_flight=lambda: "idle")
    for _ in range(500):
        mon._on_gc("stop", {"generation": 0})
    stop = threading.Event()

    def collecting() -> None:
        while not stop.is_set():
            mon._on_gc("stop", {"generation": 2})

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns as often as they can
    worker = threading.Thread(target=collecting)
    worker.start()
    try:
        for _ in range(3000):
            assert mon.verdict(20, window_s=60).startswith("gc ")
    finally:
        stop.set()
        worker.join()
        sys.setswitchinterval(interval)


async def test_a_coarser_tick_wakes_the_loop_less_and_still_logs_a_long_stall(caplog):
    """``server.loop_monitor_tick_ms``: ten ticks a second at 100 ms, not a hundred; a stall longer
    than the threshold plus a tick is logged all the same."""
    mon = LoopMonitor(threshold_ms=50, tick_s=0.1)
    mon.start()
    try:
        await asyncio.sleep(0.55)
        assert 3 <= len(mon.lag_samples) <= 6, len(mon.lag_samples)
        with caplog.at_level(logging.WARNING, logger="qunguan.loop"):
            time.sleep(0.25)  # holds up the next tick by at least 150 ms
            await asyncio.sleep(0.15)
        assert mon.stalls == 1 and mon.max_lag_ms >= 140
        assert caplog.records[-1].getMessage().startswith("event loop stalled")
    finally:
        await mon.stop()
    ticks = len(mon.lag_samples)
    await asyncio.sleep(0.25)
    assert len(mon.lag_samples) == ticks  # stopped: no tick after stop()


def test_the_configured_tick_reaches_the_servers_monitor(tmp_path):
    from server.app import App
    from server.config import load_config

    path = tmp_path / "q.toml"
    path.write_text(f'[server]\nloop_monitor_tick_ms = 250\n[storage]\nurl = "sqlite:///{tmp_path}/q.db"\n')
    assert App(load_config(path)).monitor.tick_s == 0.25
