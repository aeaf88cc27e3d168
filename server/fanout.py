"""Fan-out: one event encoded and framed once per encoding, the same bytes queued on every session."""

from __future__ import annotations

from collections.abc import Iterable

from protocol.codec import Encodable, EncodedOnce
from protocol.events import MessageEvent
from server.metrics import METRICS
from server.session import Session


def publish(sessions: Iterable[Session], obj: Encodable) -> None:
    ev = EncodedOnce(obj)
    n = 0
    for s in sessions:
        s.push(ev)
        n += 1
    if n:
        METRICS.event(type(obj)).inc(n)
        if type(obj) is MessageEvent:
            METRICS.deliveries.inc(n)
