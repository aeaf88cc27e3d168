"""A node's client connections while another node is the home: forward, deliver, and never lie.

Each local connection gets a number. Its frames are decoded once here (a malformed frame is
answered here, as on one node) and forwarded as received; the home's answers and events come
back on this node's subject and are written to the connections they list. Every forwarded request
with an id is *pending* until its answer arrives. When the home goes silent, changes, or a
request waits longer than ``cluster.request_timeout_seconds``, the pending requests are answered
``internal`` ("retry"): a client is never told that something happened when it may not have.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from protocol.codec import EncodedOnce, Encoding
from protocol.errors import ContractError, FrameError
from protocol.events import Notice
from protocol.messages import (
    Auth,
    DeleteAccount,
    Login,
    Logout,
    Ping,
    RequestCode,
    ResetPassword,
    VerifyIdentity,
    decode_request,
)
from protocol.requests import error_reply, ok_reply
from server.cluster import wire
from server.metrics import MESSAGE_EVENT, METRICS, event_name
from server.providers import id_check_wait_seconds
from server.session import CLOSE_TRY_AGAIN, Session, push_all

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from server.app import App

log = logging.getLogger("qunguan.cluster")

PublishFn = Callable[[str, bytes], None]

NO_HOME = "no node serves the service right now (the home node is changing): retry in a few seconds"
HOME_CHANGED = "the node that served this request went away before answering: retry"
SIGN_IN_UNSURE = "a sign-in this connection was told to retry went through after all: reconnect and sign in again"
NO_ANSWER = "no answer in time from the node that serves the service: retry"
STARTING = "this node is starting and not yet part of the service: retry in a moment"
LINK_LOST = "the link to the node that serves the service was interrupted before it answered: retry"

# A connection's requests forwarded and not answered yet, at most: with this many waiting, the
# gateway reads no further frame of that connection until one is answered (or answered
# `internal`), as one node reads a connection's next frame only once it has handled the last. A
# client flooding frames thus holds no more than this many in the home's queue and here.
MAX_WAITING = 64


@dataclass(slots=True, eq=False)
class Conn:
    sess: Session
    number: int
    user_id: str | None = None
    token_hash: bytes | None = None
    # rid -> (deadline, encoding, forward number) of each forwarded request with that id not
    # answered yet, oldest first (a client may reuse an id). A request answered `internal` here
    # leaves it: the home's answer, if it comes after all, is not written (a request is answered
    # once), nor taken for the answer to a later request with the same id (the home names the
    # forward number of the request it answers).
    pending: dict[int, list[tuple[float, Encoding, int]]] = field(default_factory=dict)
    forwarded: int = 0  # the forward number of its last request (wire.REQ)
    # Whether a home has counted it in the connections per address: not when it opened while no
    # home was heard (its OPEN went to none); the next home is then told it is new (wire.OPEN).
    counted: bool = True
    opened: float = field(default_factory=time.monotonic)  # when it opened (re-registering says how long ago)
    waiting: int = 0  # how many requests ``pending`` holds
    # When it logged in, on the home's clock (ms; wire.ATTACHED): kept while the same user stays
    # logged in, across homes; a new home catches it up on messages from then on (wire.SEEN).
    since: int | None = None
    room: asyncio.Event = field(default_factory=asyncio.Event)  # set while waiting < MAX_WAITING
    # Its sign-in requests (login, auth, logout, delete_account) not answered yet: forward number ->
    # the user it was signed in as when the request went. One answered `internal` here, the home's outcome unknown,
    # moves to ``sign_in_lost`` until the home's own (late, unwritten) answer comes: a change of its
    # sign-in meanwhile (wire.ATTACHED / DETACHED) is that request's, which the client was told to
    # retry, and the connection is closed (see Gateway.sign_in_changed).
    sign_ins: dict[int, str | None] = field(default_factory=dict)
    sign_in_lost: set[int] = field(default_factory=set)
    # Its requests that wait on an outside provider at the home (request_code, verify_identity) and
    # are not answered yet: forward number -> until when (monotonic) the home may still be waiting
    # on it. The home takes a connection's frames in order, so a request forwarded meanwhile starts
    # only after, and its deadline counts from then (see Gateway.forward); one answered stops counting.
    providers: dict[int, float] = field(default_factory=dict)

    def provider_until(self, now: float) -> float:
        return max(now, *self.providers.values()) if self.providers else now

    def __post_init__(self) -> None:
        self.room.set()

    def answered(self, n: int = 1) -> None:
        """``n`` of its waiting requests were answered (by the home or here)."""
        self.waiting -= n
        if self.waiting < MAX_WAITING:
            self.room.set()


EVENTS_LOST = "events for this connection were lost between the nodes: reconnect and resume with history"

# Told to every logged-in connection that stays connected through a takeover from a home that was
# lost rather than handed over (see Gateway.on_heartbeat and resync_notice).
RESYNC = ("the node that served the service was lost, not handed over: changes of its last moments (members, "
          "roles, group settings, edits, recalls, reactions, read markers) may not have reached this "
          "connection; read again what you show (my_groups, members, history)")


def resync_notice() -> EncodedOnce:
    """``notice {kind: "resync"}``: the previous home may have committed changes in its last
    moments whose events never left it (killed between a commit and its publication, or cut off
    from NATS while it still wrote). Its last ``message`` events are caught up (see home.Tail):
    a message has its own seq, so the gateway can say which it relayed and the new home which
    are owed. No other event has a position of its own, and some leave no trace in the database
    (a reaction taken back, a mute lifted, a read marker), so neither the gateway nor the new
    home can tell which a connection missed: the client is told to read its state again."""
    return EncodedOnce(Notice(kind="resync", text=RESYNC))


WHOLE, GAP, STALE = "whole", "gap", "stale"  # what Numbering.heard makes of a message


class Numbering:
    """What this gateway heard of the home's numbered messages (see ``wire.NUMBER``), and whether
    it missed any.

    A gap in the numbers, a stream that starts after its first message or that replaces another of
    the same home (the home had let go of this gateway's connections), a new home while a
    heartbeat of the old one names messages that never came, or a heartbeat saying more was sent
    than has arrived ``grace`` seconds later: NATS lost something on the way (a cut, a slow
    consumer). An event can be a message, an edit, a reaction, a membership change; which
    connections it was for is not known here, so :meth:`Gateway.events_lost` has them all
    resume, as a connection whose queue overflowed does (1013, then ``history``). A loss, once
    reported, is settled: the numbering goes on from what the home said it sent.
    """

    __slots__ = ("stream", "received", "owed", "owed_since", "grace")

    def __init__(self, grace: float) -> None:
        self.stream: tuple[int, int] | None = None  # (home epoch, stream) heard last
        self.received = 0  # the last number heard on it
        self.owed: tuple[tuple[int, int], int] | None = None  # what a heartbeat said was sent
        self.owed_since = 0.0
        self.grace = grace

    def heard(self, epoch: int, stream: int, n: int) -> str:
        """A message numbered ``n``: WHOLE, GAP (something before it was lost) or STALE (from a
        link the home has since replaced: its items are for connections the home let go of)."""
        key = (epoch, stream)
        verdict = WHOLE
        if self.stream is not None and key < self.stream:
            return STALE
        if key != self.stream:
            # A new home starts a new stream; the same home starting another had dropped the old one.
            fresh_home = self.stream is None or self.stream[0] != epoch
            owed_before = self.owed is not None and not self._paid(*self.owed)
            if n != 1 or not fresh_home or owed_before:
                verdict = GAP
            self.stream, self.received, self.owed = key, 0, None
        elif n != self.received + 1 and n > self.received:
            verdict = GAP
        self.received = max(self.received, n)
        if self.owed is not None and self._paid(*self.owed):
            self.owed = None
        return verdict

    def told(self, epoch: int, stream: int, sent: int, now: float) -> None:
        """A heartbeat of the home at ``epoch``: it has published ``sent`` messages to this gateway."""
        key = (epoch, stream)
        if self._paid(key, sent):
            return
        if sent == 0 and (self.stream is None or self.stream[0] != epoch):
            return  # a link that has carried nothing yet: this gateway's first, or a new home's
        # (The same home naming a new stream, even with nothing on it yet, let go of this
        # gateway's connections: owed, so that they resume instead of missing events silently.)
        if self.owed is None:
            self.owed_since = now
        if self.owed is None or self.owed < (key, sent):
            self.owed = (key, sent)

    def overdue(self, now: float) -> bool:
        """Whether what a heartbeat said was sent is still missing after the grace period. If so,
        the loss is settled here: what follows is numbered on from what the home said it sent."""
        if self.owed is None or now - self.owed_since < self.grace:
            return False
        (key, sent), self.owed = self.owed, None
        if self.stream is None or key >= self.stream:
            self.stream, self.received = key, max(sent, self.received if key == self.stream else 0)
        return True

    def _paid(self, key: tuple[int, int], sent: int) -> bool:
        return self.stream is not None and (key < self.stream or (key == self.stream and self.received >= sent))


class Gateway:
    def __init__(self, app: App, node_id: str, instance: str, subjects: wire.Subjects,
                 publish: PublishFn, max_bytes: int, started: int = 0,
                 room: Callable[[], Awaitable[None]] | None = None) -> None:
        self.app = app
        self._room = room  # waits while too much waits to be published (the node's publish_room)
        self.node_id = node_id
        self.instance = instance
        self.started = started  # this run's start on the database's clock (µs): see wire.STAMP
        self.subjects = subjects
        self.conns: dict[int, Conn] = {}
        self.by_session: dict[Session, Conn] = {}
        self._numbers = itertools.count(1)
        self.max_bytes = max_bytes
        self.home_epoch = 0  # of the last home heard from
        self._assembler = wire.Assembler()  # of the home's chunked items
        self._assembler_epoch = 0
        # The stamp names the home this gateway knows: a newer home ignores its frames until it
        # has heard that home and re-registered its connections (see home.on_message). It also
        # says when this run started: of two running nodes with one node id, every home stops
        # the one that started later (see Home._twin_talks).
        self._out = wire.Outbox(lambda: [node_id, instance], lambda data: publish(subjects.home_in, data), max_bytes,
                                stamp=lambda: [wire.STAMP, self.home_epoch, self.started])
        self.home_node: str | None = None
        self.home_alive = False
        # The home heard last gave its lease back (wire.RELEASED): what it committed went out
        # before its last heartbeat, so the next home owes no resync (see resync_notice).
        self.home_released = False
        self.home_links = 0  # the home's count of its NATS reconnections, from its heartbeat
        self.messages_lost = False  # NATS dropped some of the home's messages here (a slow consumer)
        self.last_heartbeat = 0.0
        self.timeout = app.cfg.cluster.request_timeout_seconds
        # A request that calls an outside provider (the SMS of request_code, the check of
        # verify_identity) is given, on top, as long as the home gives the provider: answered
        # ``internal`` ("retry") before the home was done, the code was sent all the same, or the
        # identity verified, and the retry sent another SMS or was refused.
        # So is every later request of the same connection, which the home takes only after it (a
        # connection's frames are handled in order): see Conn.provider_until.
        self.provider_waits = {RequestCode: app.sms_wait, VerifyIdentity: id_check_wait_seconds(app.cfg.identity)}
        self.lease_seconds = app.cfg.cluster.lease_seconds
        self.numbering = Numbering(grace=self.lease_seconds)
        # Each group's last `message` seq relayed here, and when (monotonic): told to a new home
        # (wire.SEEN), which sends the connections the previous home's last messages they missed.
        # Entries older than twice the catch-up window are dropped (the new home looks back no
        # further: a group without an entry had nothing relayed within it).
        self.relayed: dict[str, tuple[int, float]] = {}
        self.catch_up_seconds = wire.catch_up_seconds(self.lease_seconds)
        self._pruned = time.monotonic()
        self._checked_at = time.monotonic()  # the last check (see check: a check long after it follows a stall)
        # Called when the home refuses this instance: another running node has its node id.
        self.on_stop: Callable[[str], None] = lambda why: None

    # -- connections ---------------------------------------------------------------------------
    def opened(self, sess: Session) -> None:
        conn = Conn(sess, next(self._numbers), counted=self.home_alive)
        self.conns[conn.number] = conn
        self.by_session[sess] = conn
        self._out.add([wire.OPEN, conn.number, sess.ip, wire.encoding_code(sess.encoding), False, sess.remote_port()])

    def closed(self, sess: Session) -> None:
        conn = self.by_session.pop(sess, None)
        if conn is not None:
            del self.conns[conn.number]
            if conn.user_id is not None:
                self.app.logged_out_here(sess)  # (App._connection then counts the pre_auth connection closed)
            conn.room.set()  # (nothing waits on it any more: its socket is closed)
            self._out.add([wire.GONE, conn.number])

    async def forward(self, sess: Session, data: bytes | str) -> None:
        """Send a frame on to the home; returns once the connection may send another (see MAX_WAITING)."""
        conn = self.by_session.get(sess)
        enc = Encoding.JSON if isinstance(data, str) else Encoding.MSGPACK
        if conn is None or not self.home_alive:  # (no entry: this node is becoming the home)
            if conn is not None and conn.user_id is None and not self.app.arm_auth_timer(sess):
                return  # (a frame before login restarts it, answered or not; closed when too long without one)
            answer_here(self.app, sess, data, NO_HOME)
            return
        try:
            req = decode_request(data, self.app.cfg.server.max_frame_bytes)
        except FrameError as err:
            METRICS.op("(undecodable)", err.code).inc()
            sess.send(error_reply(err.rid, err), enc)
            return
        now = time.monotonic()
        if isinstance(req, Ping):  # (answered here: idle clients' probes never reach the home)
            if not self._before_login(conn, sess, now):
                return
            METRICS.op("ping", "ok").inc()
            sess.send(ok_reply(req.rid, {}), enc)
            return
        conn.forwarded += 1
        wait = self.provider_waits.get(type(req), 0.0)
        if wait and req.rid is not None:  # (no id: no answer to wait for)
            conn.providers[conn.forwarded] = conn.provider_until(now) + wait
        if not self._before_login(conn, sess, now):
            return
        rid = req.rid
        if rid is not None:
            deadline = conn.provider_until(now) + self.timeout
            conn.pending.setdefault(rid, []).append((deadline, enc, conn.forwarded))
            # (a cancellation signs it out, and so does a password reset on a connection logged in to it)
            if isinstance(req, (Login, Auth, Logout, DeleteAccount, ResetPassword)):
                conn.sign_ins[conn.forwarded] = conn.user_id
            conn.waiting += 1
        self._out.add([wire.REQ, conn.number, data, conn.forwarded, rid])
        if conn.waiting >= MAX_WAITING:
            conn.room.clear()
            await conn.room.wait()
        if self._room is not None:  # (the connection's next frame is read once the broker took these)
            await self._room()

    def _before_login(self, conn: Conn, sess: Session, now: float) -> bool:
        """As on one node, each frame before login restarts the sign-in timer; with a code being sent
        meanwhile, it runs from the end of that wait (the home takes the frame only after). False:
        closed, too long without a login, and the frame goes nowhere."""
        return conn.user_id is not None or self.app.arm_auth_timer(sess, extra=conn.provider_until(now) - now)

    # -- what the home sends ---------------------------------------------------------------------
    async def on_message(self, msg: Msg) -> None:
        items = wire.unpack_stream(msg.data)
        epoch, instance = next(items)
        if instance != self.instance or epoch < self.home_epoch:
            return  # for an earlier run of this node, or from a home that has been replaced
        first = next(items, None)
        verdict = WHOLE
        if first is not None and first[0] == wire.NUMBER:
            verdict = self.numbering.heard(epoch, first[1], first[2])
            if verdict is STALE:
                return
        elif first is not None:  # a home of the previous version (a rolling restart): not numbered
            items = itertools.chain([first], items)
        if epoch != self._assembler_epoch:  # (pieces of another home's item are no use)
            self._assembler, self._assembler_epoch = wire.Assembler(), epoch
        conns = self.conns
        now = time.monotonic()
        for item in self._assembler.items(items):
            kind = item[0]
            if kind == wire.EVENT:
                n = push_all([conn.sess for number in item[2] if (conn := conns.get(number)) is not None],
                             EncodedOnce.from_payload(item[1]))
                if len(item) > 3:  # a shared event, named (the others are one connection's answers)
                    # This node writes it to its own connections: it counts it, the home does not.
                    METRICS.queued(MESSAGE_EVENT if len(item) > 4 else item[3], n)
                if len(item) > 4:  # a `message` event to all the group's connections here: its seq
                    gid, seq = item[3], item[4]
                    was = self.relayed.get(gid)  # (never lowered: a late catch-up never says less)
                    self.relayed[gid] = (seq if was is None or seq > was[0] else was[0], now)
            elif kind == wire.REPLY:
                conn = conns.get(item[2])
                if conn is not None:
                    number = item[4] if len(item) > 4 else None
                    if _settle(conn, item[3], number):
                        conn.sess.write(item[1])
                    if number is not None and (conn.sign_ins or conn.sign_in_lost or conn.providers):
                        conn.sign_ins.pop(number, None)
                        conn.sign_in_lost.discard(number)
                        conn.providers.pop(number, None)
            elif kind == wire.ATTACHED:
                conn = conns.get(item[1])
                if conn is not None:
                    self.sign_in_changed(conn, item[5] if len(item) > 5 else None)
                    if conn.user_id is None:
                        self.app.logged_in_here(conn.sess)  # (the socket is here: this node counts it, not the home)
                    if conn.user_id != item[2] or len(item) <= 4:
                        # When it logged in, for a later home's catch-up (see wire.SEEN); a new home
                        # re-attaching it says nothing new. A home of the previous version says
                        # nothing (and tags no message with its seq): not known, so none is owed.
                        conn.since = item[4] if len(item) > 4 else None
                    conn.user_id, conn.token_hash = item[2], item[3]
                    conn.sess.last_user_id = item[2]
                    # (and a logout later counts its time without a login afresh; larger frames from now)
                    conn.sess.signed_in(self.app.cfg.server.max_frame_bytes)
            elif kind == wire.DETACHED:
                conn = conns.get(item[1])
                if conn is not None:
                    self.sign_in_changed(conn, item[2] if len(item) > 2 else None)
                    if conn.user_id is not None:
                        self.app.logged_out_here(conn.sess)
                    conn.user_id = conn.token_hash = None
                    conn.since = None
                    self.app.arm_auth_timer(conn.sess)
            elif kind == wire.CLOSE:
                conn = conns.get(item[1])
                if conn is not None:
                    conn.sess.close(item[2], item[3])
            elif kind == wire.STOP:
                self.on_stop(item[1])
        if verdict is GAP:  # (after this message's own items: a close the home repeated keeps its reason)
            self.events_lost()

    def on_heartbeat(self, node_id: str, epoch: int, links: int = 0,
                     sent: dict[str, list[int]] | None = None) -> None:
        if epoch < self.home_epoch:
            return
        mine = (sent or {}).get(self.instance)
        if mine is not None:
            self.numbering.told(epoch, mine[0], mine[1], time.monotonic())
        if epoch == self.home_epoch and self.home_alive and links != self.home_links:
            self.home_links = links
            self.reconnected()  # the home was cut off from NATS: what this gateway sent it meanwhile is lost
        self.home_links = links
        if epoch > self.home_epoch or not self.home_alive:
            previous = self.home_epoch
            relayed = self.relayed_groups()  # (pruned as of the previous home's last heartbeat, see prune)
            if epoch > previous:
                self._out.flush()  # what was queued for the previous home goes out stamped so
                self.fail_pending(HOME_CHANGED)
                for conn in self.conns.values():  # (nothing more comes from the previous home)
                    conn.sign_in_lost.clear()
                log.info("home node is %s (epoch %d)", node_id, epoch)
            self.home_epoch, self.home_node, self.home_alive = epoch, node_id, True
            if 0 < previous < epoch:
                self._out.add([wire.SEEN, previous, relayed,
                               [[c.number, c.since] for c in self.conns.values() if c.since is not None]])
            self._reattach_all()
            if previous < epoch:
                if previous_lost(previous, epoch, self.home_released):
                    self.resync()
                self.home_released = False
        self.last_heartbeat = time.monotonic()

    def home_went(self, node_id: str | None, epoch: int, *, released: bool,
                  sent: dict[str, list[int]] | None = None) -> bool:
        """The home this gateway follows went: it gave its lease back (``released``: its last
        heartbeat, wire.RELEASED, so what it committed went out), or its process ended (see
        ClusterNode._watch_home). Heard no more, so its requests waiting fail at once and the lease
        is contested now. True when it was that home. ``sent``: the RELEASED heartbeat's counts of
        the messages the home sent, checked as every heartbeat's are (the events of the requests it
        finished while closing went after its last regular heartbeat: one lost there is caught)."""
        if not (self.home_alive and epoch == self.home_epoch and node_id == self.home_node):
            return False
        mine = (sent or {}).get(self.instance)
        if mine is not None:
            self.numbering.told(epoch, mine[0], mine[1], time.monotonic())
        if released:
            log.info("the home node %s gave the lease back", node_id)
        else:
            log.warning("the home node %s is gone (its database session and its NATS subscriptions ended)", node_id)
        self.home_alive = False
        self.home_released = released
        self.fail_pending(HOME_CHANGED)
        return True

    def _reattach_all(self) -> None:
        """Tell a (new or returning) home about every connection: which are logged in (it checks
        each token) and the address of the others (for its network log). Then the list of them all
        with how long ago each opened (``LIVE``): the home lets go of any other, and counts in the
        connections per address, as of its opening, each that it has not counted yet (a new home
        does not know what the previous one counted, nor whether an OPEN sent just before that
        one died was ever read). Last, the connections that opened while no home was heard, as
        new: judged against the limit once the others are counted."""
        now = time.monotonic()
        new: list[Conn] = []
        for conn in self.conns.values():
            sess = conn.sess
            enc = wire.encoding_code(sess.encoding)
            if conn.user_id is not None and conn.token_hash is not None:
                self._out.add([wire.REATTACH, conn.number, sess.ip, enc, conn.user_id, conn.token_hash,
                               sess.remote_port()])
            elif conn.counted:
                self._out.add([wire.OPEN, conn.number, sess.ip, enc, True, sess.remote_port()])
            else:
                new.append(conn)
        self._out.add([wire.LIVE, list(self.conns), [round(now - c.opened, 3) for c in self.conns.values()]])
        for conn in new:
            sess = conn.sess
            self._out.add([wire.OPEN, conn.number, sess.ip, wire.encoding_code(sess.encoding), False,
                           sess.remote_port()])
            conn.counted = True

    def relayed_groups(self) -> dict[str, int]:
        """Each group's last `message` seq relayed here within twice the catch-up window."""
        self.prune(time.monotonic())
        return {gid: seq for gid, (seq, _) in self.relayed.items()}

    def prune(self, now: float) -> None:
        # While no home is heard, the window counts from the last heartbeat of the one that went:
        # the next home looks back from when it took over, however long that took (a slow state
        # load, this node cut off from NATS), and a group it finds messages of must be in SEEN, or
        # those messages would be sent again.
        if not self.home_alive and self.last_heartbeat:
            now = min(now, self.last_heartbeat)
        horizon = now - 2 * self.catch_up_seconds
        for gid in [gid for gid, (_, at) in self.relayed.items() if at < horizon]:
            del self.relayed[gid]
        self._pruned = now

    def reconnected(self) -> None:
        """Back on NATS after a cut (this node's or the home's): what one sent the other meanwhile
        was lost (answers, events, closes; frames, opens, goodbyes). The requests waiting are
        answered `internal`; every connection is registered again, so the home repeats a close
        that was lost (see RemoteSession.close_again) and lets go of a connection whose GONE was."""
        if self.home_alive:
            self.fail_pending(LINK_LOST)
            self._reattach_all()

    def resync(self) -> None:
        """A new home after one that was lost: every logged-in connection reads its state again
        (see resync_notice). One not logged in had no events to miss."""
        conns = [c for c in self.conns.values() if c.user_id is not None]
        if conns:
            log.info("the home node before epoch %d was lost, not handed over: %d connections read their "
                     "state again", self.home_epoch, len(conns))
            METRICS.queued(event_name(Notice), push_all([conn.sess for conn in conns], resync_notice()))

    def events_lost(self) -> None:
        """Some of the home's messages never arrived: every connection here resumes (see Numbering)."""
        log.warning("messages from the home node were lost on the way (epoch %d); %d connections resume",
                    self.home_epoch, len(self.conns))
        for conn in list(self.conns.values()):
            conn.sess.close(CLOSE_TRY_AGAIN, EVENTS_LOST)

    def alive(self) -> None:
        self._out.add([wire.ALIVE])

    def check(self) -> None:
        """Called a few times a second: a silent home, and requests waiting too long. After this
        node's own loop stood still (a check much later than the one before), nothing is judged
        this time: the heartbeats and answers that came meanwhile wait unread in its buffers, and
        the silence is its own (an abuse reviewer saw a 1.4 s stall read as a dead home, every
        waiting request answered internal while the home was alive)."""
        now = time.monotonic()
        stalled = now - self._checked_at > max(1.0, self.lease_seconds / 3)
        self._checked_at = now
        if stalled:
            return
        if now - self._pruned > self.catch_up_seconds:
            self.prune(now)
        if self.numbering.overdue(now):
            self.events_lost()
        if self.messages_lost:
            self.messages_lost = False
            self.reconnected()
        if self.home_alive and now - self.last_heartbeat > self.lease_seconds:
            log.warning("no heartbeat from the home node %s for %.1f s", self.home_node, now - self.last_heartbeat)
            self.home_alive = False
            self.fail_pending(HOME_CHANGED)
            return
        for conn in self.conns.values():
            if conn.pending:
                expired: list[tuple[int, int, Encoding]] = []
                for rid in list(conn.pending):
                    waiting = conn.pending[rid]
                    # (every entry: deadlines of one id need not grow, one behind a provider's wait)
                    expired += [(number, rid, enc) for deadline, enc, number in waiting if deadline < now]
                    waiting[:] = [w for w in waiting if w[0] >= now]
                    if not waiting:
                        del conn.pending[rid]
                for number, rid, enc in sorted(expired, key=lambda e: e[0]):  # in the order they were sent
                    conn.answered()
                    _answer_internal(conn.sess, rid, NO_ANSWER, enc)
                    self._answered_here(conn, number)

    def fail_pending(self, why: str) -> None:
        for conn in self.conns.values():
            pending, conn.pending = conn.pending, {}
            conn.answered(conn.waiting)
            failed = sorted(((number, rid, enc) for rid, waiting in pending.items() for _, enc, number in waiting),
                            key=lambda e: e[0])
            for number, rid, enc in failed:  # in the order they were sent
                _answer_internal(conn.sess, rid, why, enc)
                self._sign_in_unknown(conn, number)
            conn.providers.clear()
            # (sign_in_lost stays: the same home may still carry a request out, after a cut from NATS
            # or a silence, and sign the connection in; it is forgotten when another home takes over)

    def _answered_here(self, conn: Conn, number: int) -> None:
        """Request ``number`` of ``conn`` was answered `internal` here, on its deadline."""
        conn.providers.pop(number, None)
        self._sign_in_unknown(conn, number)

    def _sign_in_unknown(self, conn: Conn, number: int) -> None:
        """Request ``number`` of ``conn`` was answered `internal` here. For a sign-in request, whose
        outcome at the home is unknown: a change of the connection's sign-in since it went is taken
        as that request's (closed now), and one still to come will be (see sign_in_changed)."""
        if number not in conn.sign_ins:
            return
        before = conn.sign_ins.pop(number)
        if conn.user_id != before:
            self._close_unsure(conn)
        else:
            conn.sign_in_lost.add(number)

    def sign_in_changed(self, conn: Conn, during: int | None) -> None:
        """The home signed ``conn`` in or out, while handling its request ``during`` (None: not one
        of its requests, or a home of the previous version). When a sign-in request of it was
        answered `internal` here and the home has not answered it yet, the change may be that
        request's: the client was told to retry, and would go on unaware that the connection is
        signed in (or out), with a token it never got. It is closed instead (1013, try again): the
        client connects and signs in again, and nothing it was told is untrue.

        The home handles a connection's requests one at a time, in order: while it handles
        ``during``, every request sent before it is done, and a sign-in change of one of those came
        before this one. Those are no longer in doubt (a request that never reached the home, lost
        on the way, is one of them: the client's retry signing in does not close the connection),
        and the change is that of a request in doubt only if it is ``during`` itself."""
        if not conn.sign_in_lost:
            return
        if during is None:
            self._close_unsure(conn)
            return
        conn.sign_in_lost = {n for n in conn.sign_in_lost if n >= during}
        if during in conn.sign_in_lost:
            self._close_unsure(conn)

    def _close_unsure(self, conn: Conn) -> None:
        conn.sign_in_lost.clear()
        log.info("closing a connection whose sign-in changed after its request was answered `internal`")
        conn.sess.close(CLOSE_TRY_AGAIN, SIGN_IN_UNSURE)

    def take_logged_in(self) -> list[Conn]:
        """This node becomes the home: its connections stop being forwarded (see node.promote)."""
        self.fail_pending(HOME_CHANGED)
        logged_in = [c for c in self.conns.values() if c.user_id is not None]
        for conn in logged_in:
            self.app.logged_out_here(conn.sess)  # as the home, this node counts them again once App.attach has them
        for conn in self.conns.values():
            conn.room.set()  # (their frames go to this node's own handlers from now on)
        self.conns.clear()
        self.by_session.clear()
        return logged_in



def previous_lost(previous: int, epoch: int, released: bool) -> bool:
    """Whether a node that followed the home of epoch ``previous`` (0: none yet) and now hears the
    home of ``epoch`` may have missed events of a home's last moments: the previous home did not
    give its lease back (``released``), or a home came in between that this node never heard."""
    return 0 < previous < epoch and (not released or epoch > previous + 1)


def answer_here(app: App, sess: Session, data: bytes | str, why: str) -> None:
    """Answer a frame that goes to no home (none is heard, or this node is still starting): a
    malformed one ``bad_request`` and the like, a ``ping`` ``ok`` (the node the client is connected to
    answers it, whatever the home is doing: the connection is alive), any other ``internal`` with ``why``."""
    enc = Encoding.JSON if isinstance(data, str) else Encoding.MSGPACK
    try:
        req = decode_request(data, app.cfg.server.max_frame_bytes)
    except FrameError as err:
        METRICS.op("(undecodable)", err.code).inc()
        sess.send(error_reply(err.rid, err), enc)
        return
    if isinstance(req, Ping):
        METRICS.op("ping", "ok").inc()
        sess.send(ok_reply(req.rid, {}), enc)
        return
    _answer_internal(sess, req.rid, why, enc)


def _answer_internal(sess: Session, rid: int | None, why: str, enc: Encoding) -> None:
    """Answer a request ``internal`` here, for the home that did not (it is changing, silent, or cut off):
    counted as ``qunguan_ops_total{op="(forwarded)", outcome="internal"}``, whichever the reason."""
    METRICS.op("(forwarded)", "internal").inc()
    sess.send(error_reply(rid, ContractError("internal", why)), enc)


def _settle(conn: Conn, rid: int | None, number: int | None = None) -> bool:
    """Whether the home's answer to ``rid`` is to be written: its request (forward ``number``) is
    still waiting here, not answered `internal` already; an answer to no request id (an
    undecodable frame's) always is. A home of the previous version names no forward number: the
    oldest request with that id is taken for it."""
    if rid is None:
        return True
    waiting = conn.pending.get(rid)
    if not waiting:
        return False
    if number is None:
        waiting.pop(0)
    else:
        at = next((i for i, w in enumerate(waiting) if w[2] == number), None)
        if at is None:  # answered `internal` here already: a later request with the same id waits on
            return False
        del waiting[at]
    if not waiting:
        del conn.pending[rid]
    conn.answered()
    return True
