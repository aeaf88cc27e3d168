"""A group's live sessions keep their fan-out plan until they change: on a cluster's home, one
item per gateway and encoding instead of a call per member there, and the same recipients as
pushing to each session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from protocol.codec import EncodedOnce, Encoding
from server import fanout
from server.cluster import wire
from server.cluster.remote import NodeLink, RemoteSession
from server.fanout import Online
from server.metrics import METRICS
from server.session import Session, push_all
from tests.server.test_fanout_bulk import _sessions


async def _items(published: list[bytes]) -> list[list[Any]]:
    await asyncio.sleep(0)  # the link publishes at the end of the loop iteration
    await asyncio.sleep(0)
    return [it for m in published for it in list(wire.unpack_stream(m))[2:]]  # (header, number)


def _events(items: list[list[Any]]) -> list[tuple[bytes | str, list[int]]]:
    return [(it[1], it[2]) for it in items if it[0] == wire.EVENT]


def _queued(sess: Session) -> int:
    return len(sess._pending)


@pytest.mark.asyncio
async def test_a_message_costs_one_item_per_gateway_and_encoding_and_reaches_every_session():
    sent2: list[bytes] = []
    sent3: list[bytes] = []
    n2 = NodeLink("n2", "i2", lambda: 1, sent2.append, 1 << 20)
    n3 = NodeLink("n3", "i3", lambda: 1, sent3.append, 1 << 20)
    local = _sessions(3)
    on2 = [RemoteSession(n2, c, "", Encoding.MSGPACK if c % 3 else Encoding.JSON) for c in range(1, 31)]
    on3 = [RemoteSession(n3, c, "", Encoding.MSGPACK) for c in range(100, 120)]
    online = Online([*local, *on2, *on3])
    fanout.publish(online, {"ev": "message", "seq": 1})
    assert [_queued(s) for s in local] == [1, 1, 1]
    events2 = _events(await _items(sent2))
    assert len(events2) == 2  # one per encoding
    by_encoding = {isinstance(payload, str): sorted(conns) for payload, conns in events2}
    assert by_encoding == {True: [c for c in range(1, 31) if c % 3 == 0],
                           False: [c for c in range(1, 31) if c % 3]}
    assert [sorted(conns) for _, conns in _events(await _items(sent3))] == [list(range(100, 120))]


@pytest.mark.asyncio
async def test_the_plan_gives_the_same_recipients_as_a_push_to_each_session():
    def run(as_plan: bool) -> tuple[list[int], list[bytes]]:
        sent: list[bytes] = []
        link = NodeLink("n2", "i2", lambda: 1, sent.append, 1 << 20)
        local = _sessions(4)
        remote = [RemoteSession(link, c, "", Encoding.MSGPACK) for c in range(1, 11)]
        remote[3].close(1008, "bye")  # closing: dropped either way
        sessions = [*local, *remote]
        fanout.publish(Online(sessions) if as_plan else list(sessions), {"ev": "message", "seq": 7})
        return [_queued(s) for s in local], sent

    local_a, sent_a = run(True)
    local_b, sent_b = run(False)
    assert local_a == local_b == [1, 1, 1, 1]
    events_a = _events(await _items(sent_a))
    events_b = _events(await _items(sent_b))
    assert [(p, sorted(c)) for p, c in events_a] == [(p, sorted(c)) for p, c in events_b]
    assert sorted(events_a[0][1]) == [1, 2, 3, 5, 6, 7, 8, 9, 10]


def _local(encoding: Encoding, compressed: bool = False) -> Session:
    sess = _sessions(1)[0]
    sess.encoding = encoding
    sess._raw = not compressed  # (a connection with permessage-deflate frames its own messages)
    return sess


@pytest.mark.asyncio
async def test_sessions_held_here_get_what_a_push_to_each_would_queue_and_the_same_count():
    """The plan queues the framed bytes on sessions that take them as they are without a call per
    session, and a closing one is dropped and counted as its push would; compressed connections
    still go through push."""
    def run(as_plan: bool) -> tuple[list[list[bytes | str]], int, int]:
        sessions = [_local(Encoding.MSGPACK), _local(Encoding.JSON), _local(Encoding.MSGPACK, compressed=True),
                    _local(Encoding.JSON, compressed=True), _local(Encoding.MSGPACK), _local(Encoding.JSON)]
        online = Online(sessions) if as_plan else list(sessions)
        fanout.publish(online, {"ev": "message", "seq": 1})
        if isinstance(online, Online):  # the plan is kept, and the plain connections take the fast path
            plan = online.plan()
            assert online.plan() is plan
            assert {enc: len(framed) for enc, framed in plan.framed} == {Encoding.MSGPACK: 2, Encoding.JSON: 2}
            assert plan.local == [sessions[2], sessions[3]] or plan.local == [sessions[3], sessions[2]]
        sessions[4].closing = True  # a plan made before the close still leaves it out
        sessions[5].closing = True
        drops = METRICS.outbox_drops._value.get()
        events = METRICS.event_named("dict")._value.get()
        fanout.publish(online, {"ev": "message", "seq": 2})
        result = ([list(sess._pending) for sess in sessions], int(METRICS.outbox_drops._value.get() - drops),
                  int(METRICS.event_named("dict")._value.get() - events))
        for sess in sessions:
            sess.closing = True  # (nothing for the end of the loop iteration to write: no socket here)
        return result

    by_plan, by_push = run(True), run(False)
    await asyncio.sleep(0)  # (the end of the loop iteration writes nothing, but it must run: see _flusher)
    assert by_plan == by_push
    queued, drops, counted = by_plan
    assert [len(q) for q in queued] == [2, 2, 2, 2, 1, 1] and drops == 2 and counted == 4
    assert isinstance(queued[0][0], bytes) and isinstance(queued[2][0], bytes) and isinstance(queued[3][0], str)


@pytest.mark.asyncio
async def test_push_all_queues_what_a_push_to_each_would_and_counts_the_same():
    """push_all: a gateway's connections named by the home, a post's audience, any plain set."""
    def run(together: bool) -> tuple[list[list[bytes | str]], list[list[Any]], int, int]:
        sent: list[bytes] = []
        link = NodeLink("n2", "i2", lambda: 1, sent.append, 1 << 20)
        sessions: list[Session] = [
            _local(Encoding.MSGPACK), _local(Encoding.JSON), _local(Encoding.MSGPACK, compressed=True),
            RemoteSession(link, 7, "", Encoding.JSON), _local(Encoding.JSON), _local(Encoding.MSGPACK)]
        sessions[4].closing = sessions[5].closing = True
        ev = EncodedOnce({"ev": "message", "seq": 1})
        drops = METRICS.outbox_drops._value.get()
        n = push_all(sessions, ev) if together else sum(sess.push(ev) for sess in sessions)
        queued = [list(sess._pending) for sess in sessions if not isinstance(sess, RemoteSession)]
        for sess in sessions:
            sess.closing = True  # (nothing for the end of the loop iteration to write: no socket here)
        return queued, [it[:3] for it in link._out.items], n, int(METRICS.outbox_drops._value.get() - drops)

    together, each = run(True), run(False)
    await asyncio.sleep(0)  # (the end of the loop iteration writes nothing, but it must run: see _flusher)
    assert together[0] == each[0] and together[2:] == each[2:] == (3, 2)
    assert [it[2] for it in together[1]] == [it[2] for it in each[1]] == [[7]]
    assert isinstance(together[0][0][0], bytes) and isinstance(together[0][2][0], bytes)


def test_a_change_that_changes_nothing_keeps_the_plan():
    """An offline member's join updates the group's set with no session; a detach may find none."""
    a, b = _sessions(2)
    online = Online([a])
    plan = online.plan()
    online.update(())
    online.update([a])
    online.add(a)
    online.discard(b)
    online.difference_update([b])
    assert online.plan() is plan
    online.add(b)
    assert online.plan() is not plan and {s for _, f in online.plan().framed for s in f} == {a, b}


MUTATIONS: list[tuple[str, Callable[[Online, Session, Session], Any]]] = [
    ("add", lambda o, a, b: o.add(b)),
    ("discard", lambda o, a, b: o.discard(a)),
    ("remove", lambda o, a, b: o.remove(a)),
    ("pop", lambda o, a, b: o.pop()),
    ("clear", lambda o, a, b: o.clear()),
    ("update", lambda o, a, b: o.update([b])),
    ("difference_update", lambda o, a, b: o.difference_update([a])),
    ("intersection_update", lambda o, a, b: o.intersection_update([b])),
    ("symmetric_difference_update", lambda o, a, b: o.symmetric_difference_update([a, b])),
    ("|=", lambda o, a, b: o.__ior__({b})),
    ("-=", lambda o, a, b: o.__isub__({a})),
    ("&=", lambda o, a, b: o.__iand__({b})),
    ("^=", lambda o, a, b: o.__ixor__({a, b})),
]


@pytest.mark.parametrize("name,change", MUTATIONS, ids=[m[0] for m in MUTATIONS])
@pytest.mark.asyncio
async def test_every_change_of_the_set_is_seen_by_the_next_event(name, change):
    sent: list[bytes] = []
    link = NodeLink("n2", "i2", lambda: 1, sent.append, 1 << 20)
    a, b = RemoteSession(link, 1, "", Encoding.MSGPACK), RemoteSession(link, 2, "", Encoding.MSGPACK)
    online = Online([a])
    fanout.publish(online, {"ev": "message", "seq": 1})  # (the plan is made)
    change(online, a, b)
    fanout.publish(online, {"ev": "message", "seq": 2})
    events = _events(await _items(sent))
    after = sorted(events[1][1]) if len(events) > 1 else []
    assert after == sorted(s.conn for s in online), name  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_a_connection_closed_after_the_plan_was_made_gets_no_later_event():
    """The set changes only when the gateway says the connection is gone; meanwhile the plan still
    names it, and the link leaves it out (as its own push would have): a gateway that never heard
    the close (the NATS message lost) must not write to a logged-out or blacklisted socket."""
    sent: list[bytes] = []
    link = NodeLink("n2", "i2", lambda: 1, sent.append, 1 << 20)
    a, b = RemoteSession(link, 1, "", Encoding.MSGPACK), RemoteSession(link, 2, "", Encoding.MSGPACK)
    online = Online([a, b])
    fanout.publish(online, {"ev": "message", "seq": 1})
    drops = METRICS.outbox_drops._value.get()
    a.close(1008, "bye")  # (the set does not change until the gateway's GONE)
    fanout.publish(online, {"ev": "message", "seq": 2})
    b.close(1008, "bye")
    fanout.publish(online, {"ev": "message", "seq": 3})  # nobody left: no item at all
    items = await _items(sent)
    # (a set's order follows the sessions' addresses: the connections are compared sorted)
    assert [[it[0], sorted(it[2])] if it[0] == wire.EVENT else it[:2] for it in items] == [
        [wire.EVENT, [1, 2]], [wire.CLOSE, 1], [wire.EVENT, [2]], [wire.CLOSE, 2]]
    assert METRICS.outbox_drops._value.get() == drops + 3
