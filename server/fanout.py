"""Fan-out: one event encoded and framed once per encoding, the same bytes queued on every session.

A group's live sessions are an :class:`Online` set, which keeps its fan-out plan until it
changes: the sessions this node writes to, sorted by the framed bytes they take, and for each
other node (a cluster's home serving the connections its gateways hold) the list of that node's
connections. A message then costs a tight loop per encoding here, and the home one item per
gateway instead of a call per member there.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Any, Self

from protocol.codec import Encodable, EncodedOnce, Encoding
from server.metrics import METRICS, event_name
from server.session import Relay, Session, push_all, queue_framed


class Plan:
    """Who gets a group's events, worked out once per change of its live sessions: ``framed``, per
    encoding, the sessions that take the framed bytes as they are (:func:`queue_framed`: no call
    per session); ``local``, the others whose :meth:`Session.push` writes (or drops) it; ``remote``,
    per other node and encoding, that node's link and its connections' numbers."""

    __slots__ = ("framed", "local", "remote")

    def __init__(self, sessions: Iterable[Session]) -> None:
        self.local: list[Session] = []
        framed: dict[Encoding, list[Session]] = {}
        by_link: dict[tuple[Relay, Encoding], list[int]] = {}
        for s in sessions:
            relay = s.relay()
            if relay is not None:
                by_link.setdefault((relay[0], s.encoding), []).append(relay[1])
            elif (encoding := s.takes_framed()) is not None:
                framed.setdefault(encoding, []).append(s)
            else:
                self.local.append(s)
        self.framed = list(framed.items())
        self.remote = [(link, encoding, conns) for (link, encoding), conns in by_link.items()]


class Online(set[Session]):
    """A group's live sessions, with its :class:`Plan` kept until the set changes.

    Every way of changing a set drops the plan. A session held by another node that closes
    while the set does not change stays in the plan until the node says it is gone; its link
    leaves it out of every event meanwhile (``NodeLink.events``), as a closing session's own
    ``push`` would."""

    __slots__ = ("_plan",)

    def __init__(self, sessions: Iterable[Session] = ()) -> None:
        super().__init__(sessions)
        self._plan: Plan | None = None

    def plan(self) -> Plan:
        plan = self._plan
        if plan is None:
            plan = self._plan = Plan(self)
        return plan

    # (add, discard, update and difference_update keep the plan when they change nothing: an
    # offline member's join updates the set with no session, a detach may find none.)
    def add(self, s: Session) -> None:
        if s not in self:
            self._plan = None
            super().add(s)

    def discard(self, s: object) -> None:
        if s in self:
            self._plan = None
            super().discard(s)

    def remove(self, s: Session) -> None:
        self._plan = None
        super().remove(s)

    def pop(self) -> Session:
        self._plan = None
        return super().pop()

    def clear(self) -> None:
        self._plan = None
        super().clear()

    def update(self, *others: Iterable[Session]) -> None:
        size = len(self)
        super().update(*others)
        if len(self) != size:
            self._plan = None

    def difference_update(self, *others: Iterable[Any]) -> None:
        size = len(self)
        super().difference_update(*others)
        if len(self) != size:
            self._plan = None

    def intersection_update(self, *others: Iterable[Any]) -> None:
        self._plan = None
        super().intersection_update(*others)

    def symmetric_difference_update(self, other: Iterable[Session]) -> None:
        self._plan = None
        super().symmetric_difference_update(other)

    def __ior__(self, other: AbstractSet[Session]) -> Self:  # type: ignore[override,misc]
        self._plan = None
        return super().__ior__(other)

    def __isub__(self, other: AbstractSet[object]) -> Self:
        self._plan = None
        return super().__isub__(other)

    def __iand__(self, other: AbstractSet[object]) -> Self:
        self._plan = None
        return super().__iand__(other)

    def __ixor__(self, other: AbstractSet[Session]) -> Self:  # type: ignore[override,misc]
        self._plan = None
        return super().__ixor__(other)


def publish_elsewhere(sess: Session, sessions: Iterable[Session], obj: Encodable) -> None:
    """To ``sessions`` but ``sess``: a person's other connections (a second device) learn what one
    of them did, which that one has from its reply."""
    others = [s for s in sessions if s is not sess]
    if others:
        publish(others, obj)


def publish(sessions: Iterable[Session], obj: Encodable) -> None:
    """Each node counts the events it queues to the connections it holds: ``push`` says how many
    (a cluster's home gives a gateway's connections to the gateway, which counts them as it writes
    them: server/cluster/gateway.py), so no recipient costs more than the push itself. A group's
    :class:`Online` set goes by its :class:`Plan`, with the same recipients and counts."""
    ev = EncodedOnce(obj)
    if type(sessions) is Online:
        plan = sessions.plan()
        n = push_all(plan.local, ev)
        for encoding, framed in plan.framed:
            n += queue_framed(framed, ev.framed(encoding))
        for link, encoding, conns in plan.remote:
            link.events(ev, encoding, conns)
    else:
        n = push_all(sessions, ev)
    METRICS.queued(event_name(type(obj)), n)


# -- broadcasts to very many sessions ------------------------------------------------------
# A public-account post goes to every online subscriber: 100,000 of them cost about a third
# of a second of writes (bench/post_fanout.py), which in one loop iteration would stall every
# group's messages behind it. Such a broadcast is queued in slices instead, at most
# BULK_SLICE sessions per loop iteration, each slice written at the end of its iteration.
# One FIFO for all of them keeps two posts in the order they were published, for everyone.
BULK_SLICE = 2000


class _Bulk:
    def __init__(self) -> None:
        self.jobs: deque[tuple[list[Session], EncodedOnce, type]] = deque()
        self.done = 0  # sessions of jobs[0] already served
        self.scheduled = False

    def add(self, sessions: list[Session], ev: EncodedOnce, kind: type) -> None:
        self.jobs.append((sessions, ev, kind))
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.run)

    def run(self) -> None:
        budget = BULK_SLICE
        while self.jobs and budget:
            sessions, ev, kind = self.jobs[0]
            end = min(len(sessions), self.done + budget)
            METRICS.queued(event_name(kind), push_all(sessions[self.done:end], ev))
            budget -= end - self.done
            if end == len(sessions):
                self.jobs.popleft()
                self.done = 0
            else:
                self.done = end
        if self.jobs:
            asyncio.get_running_loop().call_soon(self.run)
        else:
            self.scheduled = False


_bulk = _Bulk()


# -- many events in a row -------------------------------------------------------------------
# An operator's mass removal tells a group's members of thousands of deletions, one event each. Written
# in one go (a reviewer's 20,610 to 300 members), they held the loop for a second, every group's chat
# behind them, and came near to closing each reader (1013) at about 1.2 MB. A paced publisher writes at
# most BULK_SLICE deliveries per loop iteration and, while a recipient has over half its outbox unsent,
# waits for it: PACED_PATIENCE_S in all, for the whole run (a reader that stops reading would otherwise
# hold every slice in turn); past it, one that still lags is left to its outbox's limit.
PACED_WAIT_S = 0.02
PACED_PATIENCE_S = 10.0


async def publish_paced(events: Iterable[tuple[Iterable[Session], Encodable]]) -> None:
    """:func:`publish` each (audience, event) in turn, paced (see above); each audience is read when
    its turn comes (a member who left meanwhile is not told)."""
    loop = asyncio.get_running_loop()
    budget = BULK_SLICE
    written: set[Session] = set()
    deadline: float | None = None  # (the patience: set at the first wait, for the whole run)
    for sessions, obj in events:
        audience = list(sessions)
        publish(audience, obj)
        written.update(audience)
        budget -= max(len(audience), 1)
        if budget > 0:
            continue
        await asyncio.sleep(0)  # (this iteration's flush writes them)
        while any(s.lagging() for s in written):
            if deadline is None:
                deadline = loop.time() + PACED_PATIENCE_S
            if loop.time() >= deadline:
                break
            await asyncio.sleep(PACED_WAIT_S)
        budget, written = BULK_SLICE, set()


def publish_many(sessions: Iterable[Session], obj: Encodable) -> None:
    """Like :func:`publish`, for audiences that may be huge (a post's online subscribers):
    the sessions as of now get the event, at most BULK_SLICE per loop iteration. Also for any
    event that must not overtake such a broadcast still under way (a comment on the post): while
    one is, the event queues behind it whatever its audience."""
    audience = list(sessions)
    if len(audience) <= BULK_SLICE and not _bulk.jobs:
        publish(audience, obj)
        return
    _bulk.add(audience, EncodedOnce(obj), type(obj))
