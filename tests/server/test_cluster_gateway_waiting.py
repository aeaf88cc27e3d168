"""A gateway's bookkeeping of the requests it forwarded: how many of a connection's wait (at most
MAX_WAITING, then its next frame is not read until one is answered), until when each may wait
(``cluster.request_timeout_seconds``, on top of an outside provider's wait ahead of it), and which
answer of the home is whose. A mistake here is felt by a client as a connection that is never read
again, a request answered twice or never, or a code sent twice because its request was answered
`internal` while the SMS was still on its way.

A gateway built in this process with a home that is the test itself: it heartbeats by hand and
answers with ``wire.REPLY`` items when it chooses, as in test_cluster_gateway_answers.py."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from nats.aio.msg import Msg

from protocol.messages import RequestCode
from server.cluster import wire
from server.cluster.gateway import HOME_CHANGED, MAX_WAITING, NO_ANSWER, Conn, Gateway
from tests.server.test_cluster_gateway_answers import FakeSession, gateway_app


class Sess(FakeSession):
    """What the gateway writes a connection: its own answers (``sent``) and the home's (``written``)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[Any] = []
        self.closed_with: tuple[int, str] | None = None

    def write(self, payload: bytes | str) -> None:
        self.written.append(json.loads(payload))

    def push(self, ev: Any) -> int:
        return 1

    def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


class Sent:
    """What a gateway published to the home."""

    def __init__(self) -> None:
        self.gw: Gateway | None = None
        self.published: list[bytes] = []

    def now(self, kind: int = wire.REQ) -> list[list[Any]]:
        """The items of ``kind`` published so far (since ``forget``)."""
        assert self.gw is not None
        self.gw._out.flush()
        return [it for m in self.published for it in list(wire.unpack_stream(m))[1:] if it[0] == kind]

    def forget(self) -> None:
        assert self.gw is not None
        self.gw._out.flush()
        self.published.clear()


def gateway(tmp_path: Path) -> tuple[Gateway, Sent]:
    """A gateway following the home of epoch 1, and what it sends that home."""
    app = gateway_app(tmp_path)
    sent = Sent()
    gw = sent.gw = Gateway(app, "n2", "i2", app.cluster.subjects,  # type: ignore[union-attr]
                           lambda _s, data: sent.published.append(data), 1 << 20)
    gw.on_heartbeat("n1", 1)
    return gw, sent


def conn_of(gw: Gateway, sess: Sess) -> Conn:
    return gw.by_session[sess]  # type: ignore[index]


async def reply(gw: Gateway, conn: Conn, rid: int, number: int, body: dict[str, Any]) -> None:
    """The home (epoch 1) answers request ``rid``, forwarded as ``number``."""
    payload = json.dumps({"re": rid, **body})
    data = wire.pack([1, "i2"]) + wire.pack([wire.REPLY, payload, conn.number, rid, number])
    await gw.on_message(Msg(None, subject="t.node.i2", data=data))  # type: ignore[arg-type]


def past_deadline(gw: Gateway) -> None:
    """Run the gateway's check as if ``request_timeout_seconds`` had passed for every request (and
    no longer than that for a provider's wait): the deadlines, not the clock, are moved back. (Its
    last check is made recent first: one long after the one before is taken for a stall of its own
    loop and judges nothing.)"""
    for conn in gw.conns.values():
        for rid, waiting in conn.pending.items():
            conn.pending[rid] = [(deadline - gw.timeout - 1.0, *w) for deadline, *w in waiting]  # type: ignore[misc]
    gw._checked_at = time.monotonic()
    gw.check()


async def test_requests_failed_by_a_home_change_leave_the_connection_room_for_as_many_again(tmp_path: Path) -> None:
    """Each request the gateway answers `internal` because the home changed no longer waits: a
    connection with many in flight at each of a few failovers must not end up counted as full,
    never read again (MAX_WAITING held for good while nothing is pending)."""
    gw, _ = gateway(tmp_path)
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    conn = conn_of(gw, sess)
    rid = 0
    for epoch in (2, 3):
        for _ in range(MAX_WAITING - 1):
            rid += 1
            # (each returns at once: below MAX_WAITING a forward does not wait)
            await asyncio.wait_for(gw.forward(sess, json.dumps({"op": "me", "rid": rid})), 5)  # type: ignore[arg-type]
        gw.on_heartbeat("n1", epoch)  # a new home: every waiting request is answered `internal`
        assert conn.pending == {} and conn.waiting == 0 and conn.room.is_set(), conn.waiting
    assert len(sess.sent) == 2 * (MAX_WAITING - 1)
    assert {a["code"] for a in sess.sent} == {"internal"} and {a["reason"] for a in sess.sent} == {HOME_CHANGED}


async def test_a_connection_with_max_waiting_requests_is_read_again_once_one_is_answered(tmp_path: Path) -> None:
    """The MAX_WAITING-th forward holds the connection's reading until the home answers one of its
    requests; answered `internal` on a deadline frees room the same way, and room is kept exact:
    one answer lets one more frame in, not a flood."""
    gw, sent = gateway(tmp_path)
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    conn = conn_of(gw, sess)
    for rid in range(1, MAX_WAITING):
        await asyncio.wait_for(gw.forward(sess, json.dumps({"op": "me", "rid": rid})), 5)  # type: ignore[arg-type]
    held = asyncio.create_task(gw.forward(sess, json.dumps({"op": "me", "rid": MAX_WAITING})))  # type: ignore[arg-type]
    for _ in range(20):
        await asyncio.sleep(0)
    assert not held.done(), "the connection was read on with MAX_WAITING requests waiting"
    assert conn.waiting == MAX_WAITING and len(sent.now()) == MAX_WAITING  # (this one went all the same)

    await reply(gw, conn, 1, 1, {"ok": True})  # the home answers the first
    await asyncio.wait_for(held, 5)
    assert sess.written == [{"re": 1, "ok": True}] and conn.waiting == MAX_WAITING - 1

    held = asyncio.create_task(gw.forward(sess, json.dumps({"op": "me", "rid": 1000})))  # type: ignore[arg-type]
    for _ in range(20):
        await asyncio.sleep(0)
    assert not held.done(), "one answer let more than one frame in"
    past_deadline(gw)  # all answered `internal` here: the connection is read again
    await asyncio.wait_for(held, 5)
    assert conn.waiting == 0 and conn.pending == {} and conn.room.is_set()
    assert len(sess.sent) == MAX_WAITING and {a["reason"] for a in sess.sent} == {NO_ANSWER}
    assert [a["re"] for a in sess.sent] == [*range(2, MAX_WAITING + 1), 1000]  # (in the order they were sent)


async def test_a_request_behind_a_code_being_sent_is_not_answered_internal_before_it_is_sent(tmp_path: Path) -> None:
    """A ``request_code`` may wait on the SMS provider at the home for as long as the home gives it;
    answered `internal` (retry) meanwhile, the code is sent all the same, and the retry sends
    another. Its deadline, and that of each request after it (the home takes a connection's frames in
    order), run from the end of that wait; another connection's do not."""
    gw, _ = gateway(tmp_path)
    gw.provider_waits[RequestCode] = 600.0  # (far longer than the request timeout)
    sess, other = Sess(), Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    gw.opened(other)  # type: ignore[arg-type]
    await gw.forward(sess, json.dumps({"op": "request_code", "rid": 1, "phone": "13900000001"}))  # type: ignore[arg-type]
    await gw.forward(sess, json.dumps({"op": "me", "rid": 2}))  # type: ignore[arg-type]
    await gw.forward(other, json.dumps({"op": "me", "rid": 3}))  # type: ignore[arg-type]
    past_deadline(gw)
    assert sess.sent == [], "answered `internal` while the code may still be on its way"
    assert [(a["re"], a["code"]) for a in other.sent] == [(3, "internal")]


async def test_a_second_code_request_waits_behind_the_first(tmp_path: Path) -> None:
    """Two ``request_code`` in a row: the home takes the second only once the first is done, so the
    second's wait (and its deadline) counts from the end of the first's, not from when it went."""
    gw, _ = gateway(tmp_path)
    gw.provider_waits[RequestCode] = 600.0
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    conn = conn_of(gw, sess)
    before = time.monotonic()
    for rid in (1, 2):
        await gw.forward(sess, json.dumps({"op": "request_code", "rid": rid, "phone": "13900000001"}))  # type: ignore[arg-type]
    first, second = conn.providers[1], conn.providers[2]
    assert second >= first + 600.0 and first >= before + 600.0, (before, first, second)
    [(deadline, *_)] = conn.pending[2]
    assert deadline >= second + gw.timeout


async def from_home(gw: Gateway, epoch: int, instance: str, *items: list[Any]) -> None:
    """A message of the home at ``epoch`` to the run ``instance`` of this node (not numbered: as a
    home of the previous version sends)."""
    data = wire.pack([epoch, instance]) + b"".join(wire.pack(it) for it in items)
    await gw.on_message(Msg(None, subject="t.node.i2", data=data))  # type: ignore[arg-type]


async def test_what_a_replaced_home_or_for_an_earlier_run_of_the_node_says_is_ignored(tmp_path: Path) -> None:
    """A home that has been replaced (a lower epoch than the one this gateway follows) may still
    publish what it was doing, and a message may be for an earlier run of this node (its connection
    numbers name other connections now): neither closes, signs in, nor answers a connection here."""
    gw, _ = gateway(tmp_path)
    gw.on_heartbeat("n3", 2)  # a new home
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    conn = conn_of(gw, sess)
    await gw.forward(sess, json.dumps({"op": "me", "rid": 1}))  # type: ignore[arg-type]
    late = [[wire.ATTACHED, conn.number, "u1", b"h" * 32, 0],
            [wire.REPLY, json.dumps({"re": 1, "user_id": "u1"}), conn.number, 1, conn.forwarded],
            [wire.CLOSE, conn.number, 4000, "closed by an old home"]]
    await from_home(gw, 1, "i2", *late)
    await from_home(gw, 2, "an-earlier-run", *late)
    assert sess.closed_with is None and conn.user_id is None and sess.written == []
    assert conn.waiting == 1  # (still waiting on the home it went to)
    await from_home(gw, 2, "i2", late[1])  # the home of epoch 2, to this run: its answer is written
    assert sess.written == [{"re": 1, "user_id": "u1"}] and conn.waiting == 0


async def test_a_sign_in_in_doubt_at_a_home_that_went_does_not_close_the_connection_at_the_next(tmp_path: Path) -> None:
    """A ``logout`` answered `internal` (no answer in time) is in doubt while its home may still
    carry it out: a change of the connection's sign-in then closes it (SIGN_IN_UNSURE). Once another
    home has taken over, the old one's outcome is moot: the new home re-attaching the connection
    (an ATTACHED that names no request of it) must not close it."""
    gw, _ = gateway(tmp_path)
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    conn = conn_of(gw, sess)
    await from_home(gw, 1, "i2", [wire.ATTACHED, conn.number, "u1", b"h" * 32, 0])
    await gw.forward(sess, json.dumps({"op": "logout", "rid": 5}))  # type: ignore[arg-type]
    past_deadline(gw)
    assert [(a["re"], a["code"]) for a in sess.sent] == [(5, "internal")]
    assert conn.sign_in_lost  # (in doubt)
    gw.on_heartbeat("n3", 2)  # a new home takes over; the connection is registered with it again
    await from_home(gw, 2, "i2", [wire.ATTACHED, conn.number, "u1", b"h" * 32, 0])  # (its token is good)
    assert sess.closed_with is None and conn.user_id == "u1"


async def test_a_reconnection_to_nats_while_no_home_is_heard_leaves_the_new_connections_new(tmp_path: Path) -> None:
    """Back on NATS while no home is heard (the home died, the next not yet there): nothing is
    waiting and there is nobody to register the connections with. A connection opened meanwhile
    must still be told to the next home as new (judged against the connections per address), not
    as one a home has counted already."""
    gw, sent = gateway(tmp_path)
    gw.home_went("n1", 1, released=False)
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]  # (its OPEN reaches no home)
    number = conn_of(gw, sess).number
    sent.forget()
    gw.reconnected()
    assert sent.now(wire.OPEN) == [] and sent.now(wire.LIVE) == []  # (nobody to tell)
    gw.on_heartbeat("n3", 2)
    [opened] = [it for it in sent.now(wire.OPEN) if it[1] == number]
    assert opened[4] is False, f"told the new home it had counted this connection already: {opened}"


async def test_word_that_an_earlier_run_of_the_home_went_leaves_the_home_of_now_alone(tmp_path: Path) -> None:
    """The node that is the home now (epoch 3) was the home before too (epoch 1): word that the
    home of epoch 1 went, arriving late, is not about the home of now. Taken for it, every request
    waiting there would be answered `internal` and the next ones refused until its next heartbeat."""
    gw, _ = gateway(tmp_path)
    gw.on_heartbeat("n3", 2)
    gw.on_heartbeat("n1", 3)
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    await gw.forward(sess, json.dumps({"op": "me", "rid": 1}))  # type: ignore[arg-type]
    assert not gw.home_went("n1", 1, released=True)
    assert gw.home_alive and sess.sent == [] and conn_of(gw, sess).waiting == 1
    assert gw.home_went("n1", 3, released=False)  # (the home of now going is)
    assert not gw.home_alive and [a["re"] for a in sess.sent] == [1]


async def test_a_home_cut_off_from_nats_has_the_requests_it_lost_answered_and_the_connections_registered_again(
        tmp_path: Path) -> None:
    """The home's heartbeat counts its reconnections to NATS: a new count says it was cut off, and
    what this gateway sent it meanwhile is lost (requests, opens, goodbyes). The requests waiting
    are answered `internal` at once (not after their timeout) and every connection is registered
    again."""
    from server.cluster.gateway import LINK_LOST

    gw, sent = gateway(tmp_path)
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    await gw.forward(sess, json.dumps({"op": "me", "rid": 1}))  # type: ignore[arg-type]
    gw.on_heartbeat("n1", 1, 0)  # (the same count: nothing lost)
    assert sess.sent == []
    sent.forget()
    gw.on_heartbeat("n1", 1, 1)
    assert [(a["re"], a["reason"]) for a in sess.sent] == [(1, LINK_LOST)] and conn_of(gw, sess).waiting == 0
    assert [it[1] for it in sent.now(wire.LIVE)] == [[conn_of(gw, sess).number]]


async def test_a_connections_login_time_is_kept_across_homes_for_the_next_ones_catch_up(tmp_path: Path) -> None:
    """When a connection logged in (the home's clock, wire.ATTACHED) bounds what a later home
    catches it up on (wire.SEEN). A new home re-attaching it names the time of the re-attach: taken
    for the login's, a second takeover would leave out what came between the login and the first."""
    gw, sent = gateway(tmp_path)
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    conn = conn_of(gw, sess)
    await from_home(gw, 1, "i2", [wire.ATTACHED, conn.number, "u1", b"h" * 32, 1000])  # the login
    gw.on_heartbeat("n3", 2)  # a new home re-attaches it
    await from_home(gw, 2, "i2", [wire.ATTACHED, conn.number, "u1", b"h" * 32, 9000])
    assert conn.since == 1000
    sent.forget()
    gw.on_heartbeat("n1", 3)  # and the next
    [seen] = sent.now(wire.SEEN)
    assert seen[3] == [[conn.number, 1000]], seen
    await from_home(gw, 3, "i2", [wire.ATTACHED, conn.number, "u2", b"g" * 32, 20000])  # another user's login
    assert conn.since == 20000


async def test_a_sign_in_change_naming_no_request_closes_a_connection_in_doubt(
        tmp_path: Path) -> None:
    """A home of the previous version names no request with an ATTACHED: while a sign-in request of
    the connection is in doubt (answered `internal`, the home's outcome unknown), the change may be
    that request's, and the connection is closed (SIGN_IN_UNSURE) rather than left signed in with a
    token its client never got."""
    from server.cluster.gateway import SIGN_IN_UNSURE
    from server.session import CLOSE_TRY_AGAIN

    gw, _ = gateway(tmp_path)
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    await gw.forward(sess, json.dumps({"op": "auth", "rid": 5, "token": "t" * 43}))  # type: ignore[arg-type]
    past_deadline(gw)
    assert [(a["re"], a["code"]) for a in sess.sent] == [(5, "internal")]
    await from_home(gw, 1, "i2", [wire.ATTACHED, conn_of(gw, sess).number, "u1", b"h" * 32])
    assert sess.closed_with == (CLOSE_TRY_AGAIN, SIGN_IN_UNSURE)


async def test_a_code_request_failed_by_a_home_change_holds_back_no_later_deadline(tmp_path: Path) -> None:
    """A ``request_code`` answered `internal` because its home went will never be answered: the
    next home never had it. Its provider's wait no longer counts, so a request sent to the new home
    is answered `internal` after its own timeout, not after the old code's wait on top."""
    gw, _ = gateway(tmp_path)
    gw.provider_waits[RequestCode] = 600.0
    sess = Sess()
    gw.opened(sess)  # type: ignore[arg-type]
    await gw.forward(sess, json.dumps({"op": "request_code", "rid": 1, "phone": "13900000001"}))  # type: ignore[arg-type]
    gw.on_heartbeat("n3", 2)
    assert [(a["re"], a["reason"]) for a in sess.sent] == [(1, HOME_CHANGED)]
    await gw.forward(sess, json.dumps({"op": "me", "rid": 2}))  # type: ignore[arg-type]
    past_deadline(gw)
    assert [(a["re"], a["reason"]) for a in sess.sent[1:]] == [(2, NO_ANSWER)]
