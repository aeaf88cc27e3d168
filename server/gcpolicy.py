"""The cyclic garbage collector's policy: young objects on a short clock, everything older frozen.

CPython's collector walks every object of the generations it collects. Under a
connection flood (``python -m bench --flood``: 10,000 connections that never
authenticate, each closed at ``server.auth_timeout_seconds`` and opened again,
beside 10,000 idle authenticated ones) the server holds about 1.6 million
tracked objects, and with the previous policy many were young or
middle-aged: a generation-1 pass took 0.75-1.5 s. Two things made that so:

* a closed websockets connection was cyclic garbage (:func:`drop_cycles`), so
  only a collection could free it, and the generations filled with dead
  connections; and
* CPython starts a collection when *allocations minus deallocations* pass the
  gen-0 threshold. Under steady churn the two balance, so collections are
  rare while the gen-0 list keeps every object made since the last one: when
  a pass finally runs it walks all of them, and its survivors then wait in
  generation 1 for an even longer pass.

The policy (:class:`GcPolicy`, started by ``server.app.tune_gc``):

1. every ``tick`` seconds (0.25) the loop collects generations 0 and 1, which
   hold only what was made since the previous tick, and then freezes the
   survivors (``gc.freeze``). A young object is walked about once; nothing
   frozen is walked again. The automatic gen-0 collections stay as they were
   (threshold 50,000), between ticks. Each tick also walks whatever is in
   flight at that instant: a busy server always holds a few thousand messages
   awaiting their commit (their rows, futures, commit callbacks). With a
   closure of twelve objects as each one's callback and a tick of 0.1 s, that
   walk (30,000-60,000 objects, 6-10 ms each time) cost the 200-groups
   benchmark scenario (d) 15 % of its throughput. The callback is one object
   now (``server.handlers.messages.Stored``), and the tick is a compromise:
   each tick's pause grows with the survivors of a flood's reopened
   connections since the last one (about 25,000 objects a second in its
   waves), the clock's total cost with its frequency;
2. frozen objects still die by reference counting. Only cyclic garbage among
   them is never freed, so a *reclaim* (``gc.unfreeze``, a full collection,
   ``gc.freeze``) runs when the resident memory has grown to ``growth`` times
   (2) what it was after the previous reclaim, at most once per
   ``min_interval`` seconds (600). It pauses the loop for a full pass over
   every object (1.4-2.4 s with the flood's 1.6 million objects, measured
   under load), which is why it is tied to growth and not to time: a server
   whose memory is steady never pays it.

Measured with the flood (docs/benchmark.md, "Connection floods"): no loop
stall over 50 ms left, the frozen population steady over 3 minutes of churn,
and the clock's cost 29-38 ms of CPU a second (3-4 % of a core) when it ticked every 0.1 s.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("qunguan.gc")

GEN0_THRESHOLD = 50_000  # every message allocates a few short-lived dicts: see server.app.tune_gc
TICK = 0.25  # seconds between young collections (see the module's docstring)
RECLAIM_GROWTH = 2.0  # reclaim once the resident memory has grown to this many times its size after the last one
RECLAIM_MIN_INTERVAL = 600.0  # seconds between two reclaims at least
CHECK_EVERY = 4  # ticks between two looks at the resident memory

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """This process's resident memory (``/proc/self/statm``; 0 where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class GcPolicy:
    """See the module's docstring. ``start`` in the running loop; ``stop`` cancels the clock."""

    def __init__(self, tick: float = TICK, growth: float = RECLAIM_GROWTH,
                 min_interval: float = RECLAIM_MIN_INTERVAL, rss: Callable[[], int] = rss_bytes,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tick = tick
        self.growth = growth
        self.min_interval = min_interval
        self.rss = rss
        self.clock = clock
        self.ticks = 0
        self.reclaims = 0
        self.reclaimed = 0  # objects the reclaims found unreachable, in all
        self.last_reclaim_ms = 0.0
        self._base_rss = 0
        self._last_reclaim = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Collect and freeze what start-up made, then run the clock."""
        self.freeze_all()
        gc.set_threshold(GEN0_THRESHOLD, 20, 20)
        self._base_rss = self.rss()
        self._last_reclaim = self.clock()
        self.loop = asyncio.get_running_loop()
        self._handle = self.loop.call_later(self.tick, self._on_tick)

    @staticmethod
    def freeze_all() -> None:
        """A full collection, then everything left is frozen (after a load that lives for the whole run)."""
        gc.collect()
        gc.freeze()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _on_tick(self) -> None:
        try:
            self.young()
            if self.ticks % CHECK_EVERY == 0:
                self.maybe_reclaim()
        finally:
            self._handle = asyncio.get_running_loop().call_later(self.tick, self._on_tick)

    def young(self) -> int:
        """Collect what was made since the last tick; freeze what survives. Returns the objects freed.
        Nothing while the collector is disabled (``App.load_home`` does, during a load)."""
        if not gc.isenabled():
            return 0
        self.ticks += 1
        found = gc.collect(1)
        gc.freeze()
        return found

    def maybe_reclaim(self) -> bool:
        now = self.clock()
        if now - self._last_reclaim < self.min_interval:
            return False
        if self.rss() < self.growth * self._base_rss:
            return False
        self.reclaim()
        return True

    def reclaim(self) -> int:
        """Free the cyclic garbage among frozen objects: one full collection. Returns the objects freed."""
        t0 = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self.last_reclaim_ms = (time.perf_counter() - t0) * 1000
        self.reclaims += 1
        self.reclaimed += found
        self._base_rss = self.rss()
        self._last_reclaim = self.clock()
        log.info("gc reclaim: %d unreachable objects freed in %.0f ms; resident memory %.0f MiB",
                 found, self.last_reclaim_ms, self._base_rss / 2**20)
        return found


_running: GcPolicy | None = None


def install() -> GcPolicy:
    """Start the policy on the running loop; when it already runs there, collect and freeze again
    (a cluster node that becomes the home node has just loaded the whole state)."""
    global _running
    loop = asyncio.get_running_loop()
    if _running is not None and _running.loop is loop and _running._handle is not None:
        _running.freeze_all()
        return _running
    if _running is not None:
        _running.stop()
    _running = GcPolicy()
    _running.start()
    return _running


def running() -> GcPolicy | None:
    return _running


def drop_cycles(conn: Any) -> None:
    """Break the reference cycles a closed websockets connection leaves (call from ``connection_lost``).

    Measured on websockets 17 (``tests/server/test_gcpolicy.py``): every closed
    connection stayed behind as ~55 objects of cyclic garbage, because
    ``serve(select_subprotocol=...)`` puts a closure on its protocol that
    refers back to the connection; without that one, its protocol still
    stayed (~13 objects), held by its own parser, a suspended generator whose
    frame refers to the protocol, and, after a close without a close frame,
    by the parser's ``EOFError``, whose traceback holds that frame. Without
    the cycles, the connection, its protocol, transport and buffers are freed
    by reference counting the moment the last reference goes, frozen or not.
    """
    protocol = getattr(conn, "protocol", None)
    if protocol is None:
        return
    protocol.__dict__.pop("select_subprotocol", None)  # only the handshake uses it
    protocol.__dict__.pop("reject", None)  # (server/proxy.py's nosniff wrapper: it holds the protocol)
    parser = getattr(protocol, "parser", None)
    if parser is not None:
        try:
            parser.close()  # after connection_lost nothing feeds it again
        except Exception:  # a generator that will not close: leave it to the collector
            log.debug("could not close a closed connection's parser", exc_info=True)
    for exc in (getattr(protocol, "parser_exc", None), getattr(protocol, "handshake_exc", None),
                getattr(conn, "connection_exc", None)):
        if exc is not None:
            exc.__traceback__ = None


def give_back_memory() -> bool:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``), after work that made
    and dropped much at once (an export of a large group): the allocator keeps them otherwise, in
    the arenas of the worker threads that made the rows too, and the process's memory only grows
    from one export to the next (a leak review: 121 MB to 375 MB over seven exports, never coming
    down). Blocking: run it on a worker thread. False where there is no glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False
