"""Pacing new connections: at most so many opening handshakes a second, per address and in all.

A handshake over the rate is not refused: it waits in its address's line, and
the lines are served in turn, one handshake each while tokens last. So one
address that opens connections as fast as it can gets at most its own rate
(and a fair share of the total when the total is short), and whoever is already
connected never waits behind a crowd of handshakes (server/admission.py holds
the waiting connections; a waiter that gave up is skipped without a token).

Pure: times are float seconds supplied by the caller; waiters are opaque.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

W = TypeVar("W")
_EPS = 1e-9  # absorbs float error, so that waiting exactly the time asked for is enough
_SWEEP_MIN = 1024  # addresses remembered before the first sweep of full buckets


class _Bucket:
    """``rate`` tokens a second up to ``rate`` (one second's worth); starts full. ``rate <= 0``: unlimited."""

    __slots__ = ("rate", "stamp", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = max(rate, 1.0)
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def ready(self, now: float) -> bool:
        if self.rate <= 0:
            return True
        self.refill(now)
        return self.tokens >= 1.0 - _EPS

    def spend(self) -> None:
        if self.rate > 0:
            self.tokens -= 1.0

    def wait(self) -> float:
        """Seconds until the next token (after :meth:`refill`)."""
        return 0.0 if self.rate <= 0 or self.tokens >= 1.0 - _EPS else (1.0 - self.tokens) / self.rate


class Pacer(Generic[W]):
    """``per_key`` handshakes a second per key and ``total`` in all (each bursting to one second's
    worth); 0 turns either off. Keys whose bucket is full again and whose line is empty are
    forgotten (swept whenever the table has doubled since the last sweep), so memory follows the
    addresses seen lately: about the last second's, at most twice what the last sweep kept."""

    def __init__(self, per_key: float, total: float) -> None:
        self.per_key = float(per_key)
        self.total = float(total)
        self._all = _Bucket(self.total, 0.0)
        self._keys: dict[Hashable, _Bucket] = {}
        self._lines: OrderedDict[Hashable, deque[W]] = OrderedDict()  # keys with waiters, in turn order
        self.waiting = 0  # waiters queued (including ones that gave up and are not yet skipped)
        self._sweep_at = _SWEEP_MIN

    @property
    def disabled(self) -> bool:
        return self.per_key <= 0 and self.total <= 0

    def set_rates(self, per_key: float, total: float) -> None:
        """New rates (a config reload); buckets refill at the new rates from now on."""
        self.per_key, self.total = float(per_key), float(total)
        self._all.rate = self.total
        for bucket in self._keys.values():
            bucket.rate = self.per_key

    def _bucket(self, key: Hashable, now: float) -> _Bucket:
        bucket = self._keys.get(key)
        if bucket is None:
            # Swept before the new bucket is in: a new bucket is full and has no line yet, so a sweep
            # after would forget it, and the line the caller gives it next would have no bucket (a
            # reviewer's flood from a thousand addresses made every later release raise KeyError).
            if len(self._keys) + 1 >= self._sweep_at:  # amortised: the next sweep after the table doubles
                self._forget(now)
                self._sweep_at = max(_SWEEP_MIN, 2 * (len(self._keys) + 1))
            bucket = self._keys[key] = _Bucket(self.per_key, now)
        return bucket

    def offer(self, key: Hashable, waiter: W, now: float) -> bool:
        """True: go ahead now (a token of each kind is spent). False: ``waiter`` waits in line."""
        if self.disabled:
            return True
        bucket = self._bucket(key, now)
        if key not in self._lines and bucket.ready(now) and self._all.ready(now):
            bucket.spend()
            self._all.spend()
            return True
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = deque()
        line.append(waiter)
        self.waiting += 1
        return False

    def release(self, now: float, waiting: Callable[[W], bool]) -> tuple[list[W], float | None]:
        """The waiters whose turn it is now, and in how many seconds to call again (None: nobody waits).

        ``waiting(w)`` says whether ``w`` still wants its turn; one that does not is dropped
        without spending a token.
        """
        admitted: list[W] = []
        while self._lines:
            progressed = False
            for key in list(self._lines):
                if not self._all.ready(now):
                    break
                line = self._lines[key]
                while line and not waiting(line[0]):
                    line.popleft()
                    self.waiting -= 1
                bucket = self._bucket(key, now)
                if line and bucket.ready(now):
                    admitted.append(line.popleft())
                    self.waiting -= 1
                    bucket.spend()
                    self._all.spend()
                    progressed = True
                if line:
                    self._lines.move_to_end(key)  # served (or not ready): the next key's turn
                else:
                    del self._lines[key]
            if not progressed or not self._all.ready(now):
                break
        if not self._lines:
            return admitted, None
        for key in self._lines:
            self._keys[key].refill(now)
        soonest = min(self._keys[k].wait() for k in self._lines)
        return admitted, max(soonest, self._all.wait(), 0.001)

    def drain(self) -> list[W]:
        """Every waiter still in a line, in turn order within each line; the lines are emptied (the
        server stops: each is answered at once instead of waiting for a turn that will not come)."""
        out = [w for line in self._lines.values() for w in line]
        self._lines.clear()
        self.waiting = 0
        return out

    def _forget(self, now: float) -> None:
        """Drop the buckets of keys with no line that are full again (they would start full anyway)."""
        for key in [k for k, b in self._keys.items() if k not in self._lines]:
            bucket = self._keys[key]
            bucket.refill(now)
            if bucket.rate <= 0 or bucket.tokens >= max(bucket.rate, 1.0):
                del self._keys[key]
