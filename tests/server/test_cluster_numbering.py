"""A gateway sees what NATS lost of the home's messages to it (``wire.NUMBER``): by a gap in their
numbers, by a stream that starts late or replaces another, and by a heartbeat that says more was
sent than arrived. Then every connection of the gateway resumes (1013, then ``history``)."""

from __future__ import annotations

import asyncio

import pytest

from server.cluster import wire
from server.cluster.gateway import EVENTS_LOST, GAP, STALE, WHOLE, Conn, Gateway, Numbering
from server.cluster.remote import NodeLink
from server.session import CLOSE_TRY_AGAIN

# (epoch, stream, n) heard in turn -> what each is: WHOLE (nothing missing before it), GAP, STALE
W, G, S = WHOLE, GAP, STALE
HEARD = [
    ("in order", [(1, 1, 1), (1, 1, 2), (1, 1, 3)], [W, W, W]),
    ("a gap", [(1, 1, 1), (1, 1, 3)], [W, G]),
    ("a gap, then in order again", [(1, 1, 1), (1, 1, 4), (1, 1, 5)], [W, G, W]),
    ("the first messages lost", [(1, 1, 2)], [G]),
    ("an earlier number again", [(1, 1, 1), (1, 1, 2), (1, 1, 2)], [W, W, W]),
    # (an earlier number does not set the count back: the next one is not taken for a gap, which
    # would have every connection of the gateway resume for nothing)
    ("an earlier number again, then the next", [(1, 1, 1), (1, 1, 2), (1, 1, 3), (1, 1, 2), (1, 1, 4)],
     [W, W, W, W, W]),
    ("a new home starts at 1", [(1, 1, 1), (1, 1, 2), (2, 1, 1)], [W, W, W]),
    ("a new home's first lost", [(1, 1, 1), (2, 1, 2)], [W, G]),
    ("the same home, another stream: it had let go of this gateway", [(1, 1, 1), (1, 2, 1)], [W, G]),
    ("a late message of a replaced stream, then the new one goes on",
     [(1, 1, 1), (1, 2, 1), (1, 1, 2), (1, 2, 2)], [W, G, S, W]),
    ("a late message of the previous home", [(1, 1, 1), (2, 1, 1), (1, 1, 2), (2, 1, 2)], [W, W, S, W]),
]


@pytest.mark.parametrize(("heard", "verdicts"), [(h, v) for _, h, v in HEARD], ids=[name for name, _, _ in HEARD])
def test_a_gap_in_the_numbers_is_seen(heard: list[tuple[int, int, int]], verdicts: list[str]) -> None:
    numbering = Numbering(grace=1.0)
    assert [numbering.heard(*h) for h in heard] == verdicts


def test_a_loss_a_heartbeat_showed_is_reported_once_and_the_numbering_goes_on_from_it() -> None:
    numbering = Numbering(grace=1.0)
    numbering.heard(1, 1, 1)
    numbering.told(1, 1, 3, now=0.0)  # numbers 2 and 3 were lost
    assert numbering.overdue(1.5)
    numbering.told(1, 1, 3, now=2.0)  # the next heartbeat says the same
    assert not numbering.overdue(5.0)
    assert numbering.heard(1, 1, 4) == WHOLE  # (what came next: the reply to a client that resumed)


def test_a_new_home_while_the_old_ones_messages_are_missing_is_a_loss() -> None:
    """Cut off while the old home published, the gateway then hears a new home within the grace."""
    numbering = Numbering(grace=1.0)
    numbering.heard(1, 1, 1)
    numbering.told(1, 1, 2, now=0.0)
    assert numbering.heard(2, 1, 1) == GAP
    assert not numbering.overdue(5.0)  # (reported once)
    assert numbering.heard(2, 1, 2) == WHOLE


def test_a_later_heartbeat_naming_more_raises_what_is_owed() -> None:
    """Two heartbeats before the messages they name arrive, the second naming more (the home's last,
    RELEASED, after the events of the requests it finished while closing): the first's arriving
    does not settle the second's. Lost, they are a loss at the next home, which starts its stream
    at 1 as if nothing were missing."""
    numbering = Numbering(grace=1.0)
    numbering.heard(1, 1, 1)
    numbering.told(1, 1, 2, now=0.0)
    numbering.told(1, 1, 3, now=0.1)
    assert numbering.heard(1, 1, 2) == WHOLE  # (#3 never comes)
    assert numbering.heard(2, 1, 1) == GAP


# (what arrived, what a heartbeat says was sent at t=0, when checked) -> whether it is overdue then
TOLD = [
    ("all arrived", [(1, 1, 1), (1, 1, 2)], (1, 1, 2), 5.0, False),
    ("nothing sent", [], (1, 1, 0), 5.0, False),
    ("missing, within the grace", [(1, 1, 1)], (1, 1, 2), 0.5, False),
    ("missing past the grace", [(1, 1, 1)], (1, 1, 2), 1.5, True),
    ("a stream never heard", [], (1, 3, 1), 1.5, True),
    ("an older stream", [(1, 2, 1)], (1, 1, 9), 1.5, False),
    # The same home names a new stream with nothing on it yet: it let go of this gateway's
    # connections (and made its link anew), so idle clients here would miss every event silently.
    ("the same home's new stream, nothing sent on it yet", [(1, 1, 1)], (1, 2, 0), 1.5, True),
    ("a new home's first stream, nothing sent on it yet", [(1, 1, 1)], (2, 1, 0), 1.5, False),
]


@pytest.mark.parametrize(("heard", "told", "at", "overdue"), [row[1:] for row in TOLD], ids=[row[0] for row in TOLD])
def test_a_heartbeat_shows_what_never_arrived(heard: list[tuple[int, int, int]], told: tuple[int, int, int],
                                              at: float, overdue: bool) -> None:
    numbering = Numbering(grace=1.0)
    for h in heard:
        numbering.heard(*h)
    numbering.told(*told, now=0.0)
    assert numbering.overdue(at) is overdue


def test_what_arrives_late_within_the_grace_is_not_a_loss() -> None:
    """The heartbeat and the messages come on different subscriptions, so a heartbeat may be read
    before messages sent ahead of it."""
    numbering = Numbering(grace=1.0)
    numbering.heard(1, 1, 1)
    numbering.told(1, 1, 3, now=0.0)
    numbering.heard(1, 1, 2)
    numbering.heard(1, 1, 3)
    assert not numbering.overdue(2.0)


@pytest.mark.asyncio
async def test_the_home_numbers_each_message_to_a_gateway_and_tells_the_last_in_its_heartbeat() -> None:
    published: list[bytes] = []
    link = NodeLink("n2", "i2", lambda: 4, published.append, 600)
    for i in range(10):
        link.reply("x" * 200, 1, i)  # about three messages' worth at 600 bytes each
    await asyncio.sleep(0)
    numbers = [list(wire.unpack_stream(m))[1] for m in published]
    assert len(numbers) > 1
    assert numbers == [[wire.NUMBER, link.stream, n] for n in range(1, len(numbers) + 1)]
    assert link.sent == len(numbers)
    assert NodeLink("n2", "i2", lambda: 4, published.append, 600).stream != link.stream


class _Sess:
    """What the gateway uses of a session when it closes it."""

    def __init__(self) -> None:
        self.closed_with: tuple[int, str] | None = None

    def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


def _message(epoch: int, stream: int, n: int) -> object:
    class Msg:
        data = wire.pack([epoch, "i2"]) + wire.pack([wire.NUMBER, stream, n])
    return Msg()


@pytest.mark.asyncio
async def test_a_gateway_that_missed_a_message_has_every_connection_resume(app) -> None:  # type: ignore[no-untyped-def]
    gw = Gateway(app, "n2", "i2", wire.Subjects("t"), lambda _s, _d: None, 1 << 20)
    gw.on_heartbeat("n1", 1)
    sessions = [_Sess(), _Sess()]
    for number, sess in enumerate(sessions, 1):
        gw.conns[number] = Conn(sess, number)  # type: ignore[arg-type]
    await gw.on_message(_message(1, 7, 1))  # type: ignore[arg-type]
    await gw.on_message(_message(1, 7, 2))  # type: ignore[arg-type]
    assert [s.closed_with for s in sessions] == [None, None]
    await gw.on_message(_message(1, 7, 4))  # type: ignore[arg-type]
    assert [s.closed_with for s in sessions] == [(CLOSE_TRY_AGAIN, EVENTS_LOST)] * 2


@pytest.mark.asyncio
async def test_a_gateway_told_of_messages_that_never_came_has_every_connection_resume(app) -> None:  # type: ignore[no-untyped-def]
    gw = Gateway(app, "n2", "i2", wire.Subjects("t"), lambda _s, _d: None, 1 << 20)
    gw.numbering.grace = 0.05
    gw.on_heartbeat("n1", 1)
    sess = _Sess()
    gw.conns[1] = Conn(sess, 1)  # type: ignore[arg-type]
    await gw.on_message(_message(1, 7, 1))  # type: ignore[arg-type]
    gw.on_heartbeat("n1", 1, 0, {"i2": [7, 1], "other": [3, 50]})
    await asyncio.sleep(0.1)
    gw.check()
    assert sess.closed_with is None
    gw.on_heartbeat("n1", 1, 0, {"i2": [7, 2]})  # the gateway was cut off while the home sent #2
    gw.check()
    assert sess.closed_with is None  # (it may still be on its way)
    await asyncio.sleep(0.1)
    gw.check()
    assert sess.closed_with == (CLOSE_TRY_AGAIN, EVENTS_LOST)


@pytest.mark.asyncio
async def test_the_home_sends_nothing_more_on_a_link_it_let_go_of() -> None:
    """A handler still running for a session of that link may reply or detach after the drop: the
    gateway has registered its connections on a new link by then."""
    published: list[bytes] = []
    link = NodeLink("n2", "i2", lambda: 1, published.append, 1 << 20)
    link.drop()
    link.reply("late", 1, 5)
    link.control([wire.DETACHED, 1])
    await asyncio.sleep(0.01)
    assert published == []
