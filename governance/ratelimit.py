"""Rate limits: a token bucket per user for sends, sliding windows per key for the rest.

Both answer with the seconds until the attempt would be allowed, ``0.0`` meaning
allowed now. Times are float seconds supplied by the caller.

A limit per client address counts the address's network (:func:`network_key`), not
the address: an IPv6 client holds a whole prefix (a /64 at the least, a home line
often a /56), and a limit per address would give it 2^64 fresh limits.
"""

from __future__ import annotations

import heapq
import ipaddress
import math
from collections import OrderedDict, deque
from collections.abc import Hashable

# Absorbs float error so that waiting exactly the returned delay is enough.
_EPS = 1e-9
# A table over its max_keys is cut down to this share of it in one sweep (see WindowCounter).
_EVICT_TO = 0.9
DEFAULT_IPV6_PREFIX = 64


def is_loopback(address: str) -> bool:
    """Whether ``address`` is the machine's own (127.0.0.0/8, ::1, an IPv4-mapped 127 address)."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    return (mapped or addr).is_loopback


def network_key(address: str, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """What a per-address limit counts ``address`` under: an IPv4 address as it is (its /32), an
    IPv6 address by its network of ``ipv6_prefix`` bits (``"2001:db8:1:2::/64"``), an IPv4-mapped
    IPv6 address (a dual-stack listener's view of an IPv4 client) as that IPv4 address. A string
    that is no address (``"?"``, the peer unknown) is its own key."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(addr, ipaddress.IPv4Address):
        return str(addr)
    mapped = addr.ipv4_mapped
    if mapped is not None:
        return str(mapped)
    host_bits = 128 - max(0, min(128, ipv6_prefix))
    network = int(addr) >> host_bits << host_bits  # (the zone of a link-local address is dropped too)
    return f"{ipaddress.IPv6Address(network)}/{128 - host_bits}"


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; starts full.

    ``rate <= 0`` or ``burst <= 0`` disables it (everything allowed).
    """

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = self.burst
        self.stamp: float | None = None

    def take(self, now: float, cost: float = 1.0) -> float:
        rate = self.rate
        if rate <= 0.0 or self.burst <= 0.0:
            return 0.0
        if self.stamp is None:
            self.stamp = now
        elif now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * rate)
            self.stamp = now
        if self.tokens + _EPS >= cost:
            self.tokens = max(0.0, self.tokens - cost)
            return 0.0
        if cost > self.burst:
            return math.inf  # can never be afforded
        return (cost - self.tokens) / rate


class WindowCounter:
    """At most ``limit`` hits per key within any ``window`` seconds (a sliding log).

    ``limit <= 0`` or ``window <= 0`` disables it. Keys are kept in order of their
    latest hit, so fully expired keys are pruned from the front as time passes.

    Memory is bounded by ``max_keys``. A table over it first drops every hit that has left
    the window; if it is still over, it is cut to 90 % of ``max_keys`` by evicting the keys
    with the **fewest** hits in the window (among equals, the least recently hit), never the
    key just hit. An evicted key's count is forgotten, so the order matters: evicting the
    least recently hit key, as this did before, let anyone who can make fresh keys (another
    phone number, another user name) push out the key of the phone or account they target
    and start its limit afresh. Now pushing out a key with ``n`` hits takes filling 90 % of
    the table with keys of at least ``n`` hits each, and a key at its limit, the one that
    refuses, goes only after some ``0.9 * max_keys * limit`` hits, which is the work the
    limit guards against many times over. Refusing every new key while the table is full
    (failing closed) was the other choice; it makes the bound a lock anyone who fills the
    table can put on everybody: on ``login``, counted before its outcome, it would refuse
    the right password of every account not already in the table.

    ``limit`` may be changed at any time (a config reload): hits already counted
    keep counting against the new limit, whether it is higher or lower.
    """

    __slots__ = ("_logs", "limit", "max_keys", "window")

    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = int(limit)
        self.window = float(window)
        self.max_keys = max(1, int(max_keys))
        # An OrderedDict, not a dict: keys leave from the front (expired, or evicted), and a dict
        # keeps a hole for each until it is resized, which its iteration from the front (prune,
        # at every hit) walks past: with many keys, every hit paid for all the holes.
        self._logs: OrderedDict[Hashable, deque[float]] = OrderedDict()

    @property
    def disabled(self) -> bool:
        return self.limit <= 0 or self.window <= 0.0

    def __len__(self) -> int:
        return len(self._logs)

    def _current(self, key: Hashable, now: float) -> deque[float] | None:
        log = self._logs.get(key)
        if log is None:
            return None
        horizon = now - self.window
        while log and log[0] <= horizon:
            log.popleft()
        return log

    def _delay(self, log: deque[float] | None, now: float) -> float:
        if log is None or len(log) < self.limit:
            return 0.0
        # Allowed again once all but limit - 1 of the hits have left the window (after a
        # reload lowered the limit, a log can hold more hits than the limit).
        return max(0.0, log[len(log) - self.limit] + self.window - now)

    def peek(self, key: Hashable, now: float) -> float:
        if self.disabled:
            return 0.0
        return self._delay(self._current(key, now), now)

    def take_back(self, key: Hashable, at: float) -> None:
        """Forget one hit of ``key`` made at ``at`` (an attempt counted before its outcome was known,
        which then did not count); nothing when there is none."""
        log = self._logs.get(key)
        if log is None:
            return
        for i in range(len(log) - 1, -1, -1):
            if log[i] == at:
                del log[i]
                break
        if not log:
            del self._logs[key]

    def forget(self, key: Hashable) -> None:
        """Forget every hit of ``key`` (what they limited is over: an account's wrong passwords once
        its owner has set a new one by a code sent to its phone)."""
        self._logs.pop(key, None)

    def hit(self, key: Hashable, now: float) -> float:
        if self.disabled:
            return 0.0
        self.prune(now)
        log = self._current(key, now)
        delay = self._delay(log, now)
        if delay > 0.0:
            return delay
        if log is None:
            log = self._logs[key] = deque()  # never longer than the limit: a hit is appended only below it
        else:
            self._logs.move_to_end(key)  # most recently hit
        log.append(now)
        if len(self._logs) > self.max_keys:
            self._make_room(now, key)
        return 0.0

    def record(self, key: Hashable, at: float, now: float) -> None:
        """Count a hit that happened at ``at`` (at most ``now``), whatever the limit: something
        admitted elsewhere that this counter learns of late (a connection a cluster's previous
        home admitted, re-registered with the next one). It is refused nothing, but later hits
        count it as of ``at``; one that has already left the window changes nothing."""
        if self.disabled or at <= now - self.window:
            return
        self.prune(now)
        log = self._current(key, now)
        if log is None:
            log = self._logs[key] = deque()
        else:
            self._logs.move_to_end(key)  # as hit does
        i = len(log)
        while i and log[i - 1] > at:  # keep the log in time order (the window drops from its front)
            i -= 1
        log.insert(i, min(at, now))
        if len(self._logs) > self.max_keys:
            self._make_room(now, key)

    def _make_room(self, now: float, keep: Hashable) -> None:
        """The table is over ``max_keys``: drop the hits that have left the window (and the keys
        left with none), then, while still over, the lightest keys but ``keep`` (see the class).
        One sweep frees a tenth of the table, so its cost is shared by the keys that fill it again."""
        horizon = now - self.window
        logs = self._logs
        for key in [k for k, log in logs.items() if not log or log[-1] <= horizon]:
            del logs[key]
        for log in logs.values():
            while log and log[0] <= horizon:
                log.popleft()
        if len(logs) <= self.max_keys:
            return
        excess = len(logs) - max(1, int(self.max_keys * _EVICT_TO))
        candidates = ((len(log), age, key) for age, (key, log) in enumerate(logs.items()) if key != keep)
        for _, _, key in heapq.nsmallest(excess, candidates):  # (ages are unique: keys are never compared)
            del logs[key]

    def reset(self, key: Hashable) -> None:
        self._logs.pop(key, None)

    def prune(self, now: float) -> None:
        """Drop keys whose every hit has left the window (oldest first, stops at the first live key)."""
        horizon = now - self.window
        logs = self._logs
        while logs:
            key = next(iter(logs))
            log = logs[key]
            if log and log[-1] > horizon:
                break
            del logs[key]


class AddressWindow(WindowCounter):
    """A :class:`WindowCounter` whose keys are client addresses, each counted under its network
    (:func:`network_key` with ``ipv6_prefix``). Every method takes the address itself, so no caller
    can count an address where another counts its network; the network log keeps the full address.
    Keys that are not strings are counted as they are."""

    __slots__ = ("ipv6_prefix", "spare_loopback")

    def __init__(self, limit: int, window: float, ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
                 max_keys: int = 100_000, spare_loopback: bool = False) -> None:
        super().__init__(limit, window, max_keys)
        self.ipv6_prefix = ipv6_prefix
        # The machine's own addresses are not limited (nor counted): see RateLimitsConfig.spare_loopback.
        self.spare_loopback = spare_loopback

    def key(self, address: Hashable) -> Hashable:
        return network_key(address, self.ipv6_prefix) if isinstance(address, str) else address

    def _spared(self, address: Hashable) -> bool:
        return self.spare_loopback and isinstance(address, str) and is_loopback(address)

    def peek(self, key: Hashable, now: float) -> float:
        return 0.0 if self._spared(key) else super().peek(self.key(key), now)

    def hit(self, key: Hashable, now: float) -> float:
        return 0.0 if self._spared(key) else super().hit(self.key(key), now)

    def take_back(self, key: Hashable, at: float) -> None:
        if not self._spared(key):
            super().take_back(self.key(key), at)

    def forget(self, key: Hashable) -> None:
        super().forget(self.key(key))

    def record(self, key: Hashable, at: float, now: float) -> None:
        if not self._spared(key):
            super().record(self.key(key), at, now)

    def reset(self, key: Hashable) -> None:
        super().reset(self.key(key))


class AddressCount:
    """How many of something an address holds at once (connections not logged in), each address
    counted under its network (:func:`network_key`, as :class:`AddressWindow` does), and whether one
    more fits ``limit`` (0: no limit). :meth:`take` decides and counts in one step, so nothing can
    come between the check and the count. Only held addresses are kept: memory follows what is open."""

    __slots__ = ("limit", "ipv6_prefix", "spare_loopback", "_held")

    def __init__(self, limit: int, ipv6_prefix: int = DEFAULT_IPV6_PREFIX, spare_loopback: bool = False) -> None:
        self.limit = limit
        self.ipv6_prefix = ipv6_prefix
        self.spare_loopback = spare_loopback  # the machine's own addresses: counted, never refused
        self._held: dict[str, int] = {}

    def take(self, address: str) -> bool:
        """Count one more for ``address`` if it fits the limit; False (nothing counted) if not."""
        key = network_key(address, self.ipv6_prefix)
        held = self._held.get(key, 0)
        if self.limit and held >= self.limit and not (self.spare_loopback and is_loopback(address)):
            return False
        self._held[key] = held + 1
        return True

    def add(self, address: str) -> None:
        """Count one more for ``address`` whatever the limit (one that was counted before comes back)."""
        key = network_key(address, self.ipv6_prefix)
        self._held[key] = self._held.get(key, 0) + 1

    def drop(self, address: str) -> None:
        """Count one fewer for ``address`` (never below none)."""
        key = network_key(address, self.ipv6_prefix)
        held = self._held.get(key, 0)
        if held <= 1:
            self._held.pop(key, None)
        else:
            self._held[key] = held - 1

    def held(self, address: str) -> int:
        return self._held.get(network_key(address, self.ipv6_prefix), 0)
