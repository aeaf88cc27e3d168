"""The handshake gate: WebSocket opening handshakes paced per client address and in all.

Under a connection flood the costly part of a connection is its opening
handshake and, for one that never logs in, its close at
``server.auth_timeout_seconds``: a flood that reopens each closed connection
at once keeps the event loop busy with handshakes, and the chat of everyone
already connected waits behind them. The gate answers a handshake over
``server.handshakes_per_ip_per_second`` (or ``server.handshakes_per_second``
in all) later instead of refusing it: the connection waits, its request read
but unanswered, for its address's turn (governance/pacing.py). A waiting
connection costs a socket and a few objects, no CPU; one still waiting at
its handshake timeout is dropped, so it costs no more than one that never sent a
request.

That timeout is drawn per connection (:func:`give_up_at`), between half and all of
``server.handshake_timeout_seconds``. A flood opens its connections in a burst;
with one timeout for all, the ones still waiting were dropped in one burst a
minute later and, reopened at once, again a minute after that, and each such
wave of drops and reopens held up the chat (`bench --flood`: the p99 of the
tenths with a wave 20-30 ms, of the others 4-6 ms). Drawn, each cycle spreads
them further, until the drops come as steadily as the flood reopens them.
"""

from __future__ import annotations

import asyncio
import math
import time

from governance.pacing import Pacer
from governance.ratelimit import DEFAULT_IPV6_PREFIX, network_key
from server.metrics import METRICS

PATIENCE_SPREAD = 0.5  # a handshake's timeout is drawn from [1 - this, 1] x handshake_timeout_seconds
DROP_GRID = 0.05  # seconds: the timeouts that fall due within one such slot are given up together


def give_up_at(now: float, timeout: float, draw: float) -> float:
    """The loop time at which one connection's opening handshake, its wait for a turn included, is
    given up: ``now`` plus ``timeout`` (``server.handshake_timeout_seconds``) shortened by up to
    ``PATIENCE_SPREAD`` of it, ``draw`` in [0, 1) saying how much, then rounded down to a multiple
    of ``DROP_GRID``. Never later than ``now + timeout``, which websockets' own ``open_timeout``
    enforces too.

    The rounding makes the drops due within the same 50 ms happen in one loop iteration: one
    wake-up of the loop, and of a peer holding many of them, for all of them. One at a time, each
    drop and reopen cost the server about half as much CPU again (see docs/benchmark.md)."""
    return math.floor((now + timeout * (1.0 - PATIENCE_SPREAD * draw)) / DROP_GRID) * DROP_GRID


class HandshakeGate:
    """Paces handshakes per client network (an IPv6 address by its ``ipv6_prefix``, as every
    per-address limit: governance/ratelimit.py, network_key) and in all. Each future :meth:`admit`
    hands out is done at the handshake's turn: True, go ahead; False, the server is stopping
    (:meth:`stop`), answer 503 at once."""

    def __init__(self, per_ip: float, total: float, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> None:
        self.pacer: Pacer[asyncio.Future[bool]] = Pacer(per_ip, total)
        self.ipv6_prefix = ipv6_prefix
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False

    def set_rates(self, per_ip: float, total: float) -> None:
        self.pacer.set_rates(per_ip, total)
        self.close()
        self._release()  # a higher rate lets waiters through now

    def admit(self, ip: str) -> asyncio.Future[bool] | None:
        """None: the handshake goes ahead now. Else a future done at its turn (cancel it to give up)."""
        pacer = self.pacer
        fut: asyncio.Future[bool]
        if self._stopped:
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(False)
            return fut
        if pacer.disabled:
            return None
        fut = asyncio.get_running_loop().create_future()
        if pacer.offer(network_key(ip, self.ipv6_prefix), fut, time.monotonic()):
            return None
        METRICS.handshakes_paced.inc()
        METRICS.handshakes_waiting.set(pacer.waiting)
        if self._timer is None:
            self._release()
        return fut

    def _release(self) -> None:
        self._timer = None
        admitted, again = self.pacer.release(time.monotonic(), _still_waiting)
        for fut in admitted:
            fut.set_result(True)
        METRICS.handshakes_waiting.set(self.pacer.waiting)
        if again is not None:
            self._timer = asyncio.get_running_loop().call_later(again, self._release)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def stop(self) -> None:
        """The server stops: every waiting handshake, and every one from now on, is told to answer
        503 at once. Left waiting, each held the stop until its handshake timed out (up to
        ``server.handshake_timeout_seconds``): websockets closes only the connections that are open."""
        self._stopped = True
        self.close()
        for fut in self.pacer.drain():
            if not fut.done():
                fut.set_result(False)
        METRICS.handshakes_waiting.set(0)


def _still_waiting(fut: asyncio.Future[bool]) -> bool:
    return not fut.done()
