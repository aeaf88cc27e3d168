"""Fan-out: one event encoded and framed once per encoding, the same bytes queued on every session."""

from __future__ import annotations

from collections.abc import Iterable

from protocol.codec import Encodable, EncodedOnce
from server.session import Session


def publish(sessions: Iterable[Session], obj: Encodable) -> None:
    ev = EncodedOnce(obj)
    for s in sessions:
        s.push(ev)
