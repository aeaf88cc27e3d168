"""Fan-out: one event encoded and framed once per encoding, the same bytes queued on every session."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from protocol.codec import Encodable, EncodedOnce
from server.metrics import METRICS, event_name
from server.session import Session


def publish(sessions: Iterable[Session], obj: Encodable) -> None:
    """Each node counts the events it queues to the connections it holds: ``push`` says how many
    (a cluster's home gives a gateway's connections to the gateway, which counts them as it writes
    them: server/cluster/gateway.py), so no recipient costs more than the push itself."""
    ev = EncodedOnce(obj)
    n = 0
    for s in sessions:
        n += s.push(ev)
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
            n = 0
            for s in sessions[self.done:end]:
                n += s.push(ev)
            METRICS.queued(event_name(kind), n)
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


def publish_many(sessions: Iterable[Session], obj: Encodable) -> None:
    """Like :func:`publish`, for audiences that may be huge (a post's online subscribers):
    the sessions as of now get the event, at most BULK_SLICE per loop iteration."""
    audience = list(sessions)
    if len(audience) <= BULK_SLICE and not _bulk.jobs:
        publish(audience, obj)
        return
    _bulk.add(audience, EncodedOnce(obj), type(obj))
