"""The home node's view of connections held by gateway nodes.

A :class:`RemoteSession` stands for one client connection on another node. Handlers use it like
a local :class:`server.session.Session` (it is one, without a socket): what they send, push or
close goes into the :class:`NodeLink` of that node, which publishes it once per loop iteration.
A shared event pushed to many connections of one node becomes one item listing all of them, so
a group's message crosses to each node once, whatever the number of members there.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

from protocol.codec import Encodable, EncodedOnce, Encoding, encode
from protocol.events import MessageEvent
from server.cluster import wire
from server.metrics import METRICS, event_name
from server.session import Session

# Each link's stream of numbered messages (see wire.NUMBER): a link made again for the same
# gateway instance (the home had let go of it) starts a new stream, which the gateway notices.
_STREAMS = itertools.count(1)

# The mark of a catch-up item in the outbox (see NodeLink.catch_up), dropped when it is packed.
CATCH_UP = 1


class HomeUnreachable(Exception):
    """No home node answered a gateway's request (none holds the lease, or it is cut off)."""


class Frame:
    """A client's frame forwarded by a gateway, with the gateway's forward number (None from a
    gateway of the previous version)."""

    __slots__ = ("data", "number")

    def __init__(self, data: bytes | str, number: int | None) -> None:
        self.data = data
        self.number = number


class Answering(int):
    """A forwarded request's id as the home's handlers see it (``App.on_frame``): equal to the
    client's ``rid``, and carrying the gateway's forward number of that request (``number``).

    Whatever answers the request, in the handler or later (a ``send`` acknowledged from its
    commit callback, a retry answered when the first copy's commit settles), answers with this
    value, so the answer names its own request (``wire.REPLY``), never one found by the id: a
    client may reuse an id once the gateway has answered a request ``internal``, and deferred
    answers of one id need not come back in the order their requests came. Nothing is kept per
    request here, so nothing has to be bounded or guessed; the gateway writes an answer only
    while its request waits there (``gateway._settle``), and forward numbers are never reused.
    """

    number: int

    def __new__(cls, rid: int, number: int) -> Answering:
        value = super().__new__(cls, rid)
        value.number = number
        return value


class Seen:
    """What a gateway re-registering with a new home said it had relayed from the previous one
    (``wire.SEEN``): each group's last ``message`` seq, and when each logged-in connection logged
    in (the home's clock, ms). Each connection's entry is used once, as it is re-attached."""

    __slots__ = ("relayed", "since")

    def __init__(self, relayed: dict[str, int], since: dict[int, int]) -> None:
        self.relayed = relayed
        self.since = since


class NodeLink:
    """Everything the home writes to one gateway instance's connections."""

    def __init__(self, node_id: str, instance: str, epoch: Callable[[], int],
                 publish: Callable[[bytes], None], max_bytes: int,
                 clock: Callable[[], int] = lambda: 0) -> None:
        self.node_id = node_id
        self.clock = clock  # the home's clock in ms (ATTACHED says when a connection logged in)
        self.seen: Seen | None = None  # set when the gateway re-registers after a takeover
        self.instance = instance
        self.sessions: dict[int, RemoteSession] = {}
        self.last_heard = 0.0  # monotonic time of the gateway's last message
        self.assembler = wire.Assembler()  # of the gateway's chunked items (a frame too large for one message)
        self.stream = next(_STREAMS)
        self.sent = 0  # the number of the last message published to the gateway
        self.dropped = False  # the home let go of this link: nothing more goes out on it
        self._publish = publish
        self._out = wire.Outbox(lambda: [epoch(), instance], self._publish_unless_dropped, max_bytes,
                                self._prepare, self._number)
        self._last_ev: EncodedOnce | None = None
        self._last_enc: Encoding | None = None
        self._last_conns: list[int] = []
        # The catch-up events queued in the current batch (see catch_up): (id of the event,
        # encoding) -> (its position among them, its list of connections); valid while the
        # outbox has not flushed.
        self._catching: dict[tuple[int, Encoding], tuple[int, list[int]]] = {}
        self._catching_batch = -1
        self._catching_next = 0
        # Connections closed here whose GONE has not come back yet (see events).
        self.closed: set[int] = set()

    def event(self, ev: EncodedOnce, encoding: Encoding, conn: int) -> None:
        if ev is self._last_ev and encoding is self._last_enc and self._out.items:
            self._last_conns.append(conn)
            return
        self._last_ev, self._last_enc, self._last_conns = ev, encoding, [conn]
        self._out.add([wire.EVENT, ev, self._last_conns, encoding])

    def events(self, ev: EncodedOnce, encoding: Encoding, conns: list[int]) -> None:
        """``ev`` to every connection in ``conns`` (a group's connections on this node, see
        server/fanout.py: Online): one item, the list copied, as a later :meth:`event` of the same
        event may add to it. A connection closed here (:meth:`RemoteSession.close`) is left out,
        as its own ``push`` would drop it: the plan may predate the close, and the gateway may never
        have heard of it (the message with the CLOSE lost on the way)."""
        closed = self.closed
        if closed and not closed.isdisjoint(conns):
            kept = [conn for conn in conns if conn not in closed]
            if len(kept) < len(conns):
                METRICS.outbox_drops.inc(len(conns) - len(kept))
                if not kept:
                    return
        else:
            kept = list(conns)
        self._last_ev, self._last_enc, self._last_conns = ev, encoding, kept
        self._out.add([wire.EVENT, ev, kept, encoding])

    def catch_up(self, ev: EncodedOnce, encoding: Encoding, conn: int, after: int) -> int:
        """A message the previous home owed this connection (see Home.catch_up); returns the
        position of the item that carries it in this batch. Connections re-attached in the same
        batch share one item per message, but only where that keeps each connection's messages of
        a group in seq order: ``after`` is the position of the item that carries the connection's
        previous message of the same group (-1 for its first), and an item at or before it is not
        shared (a connection owed only a later message may have put that one first). A connection
        is caught up as it is attached, before any new message of the group reaches it."""
        if self._catching_batch != self._out.batches:
            self._catching.clear()
            self._catching_batch = self._out.batches
            self._catching_next = 0
        key = (id(ev), encoding)
        shared = self._catching.get(key)
        if shared is not None and shared[0] > after:
            shared[1].append(conn)
            return shared[0]
        self._last_ev = None
        position = self._catching_next
        self._catching_next += 1
        conns = [conn]
        self._catching[key] = (position, conns)  # (later connections share this newer item)
        self._out.add([wire.EVENT, ev, conns, encoding, CATCH_UP])
        return position

    def payload(self, payload: bytes | str, conn: int) -> None:
        self._last_ev = None
        self._out.add([wire.EVENT, payload, [conn]])

    def reply(self, payload: bytes | str, conn: int, rid: int | None, number: int | None = None) -> None:
        self._last_ev = None
        self._out.add([wire.REPLY, payload, conn, rid] if number is None else [wire.REPLY, payload, conn, rid, number])

    def control(self, item: list[Any]) -> None:
        self._last_ev = None
        self._out.add(item)

    def drop(self) -> None:
        """A handler still running for one of its sessions may push, reply or detach after the home
        let go of the link; the gateway, which has registered its connections again on a new link
        by then, must not get that (a DETACHED would log out a connection logged in anew)."""
        self.dropped = True

    def _publish_unless_dropped(self, data: bytes) -> None:
        if not self.dropped:
            self._publish(data)

    def _number(self) -> list[int]:
        self.sent += 1
        return [wire.NUMBER, self.stream, self.sent]

    @staticmethod
    def _prepare(item: list[Any]) -> list[Any]:
        if item[0] == wire.EVENT and len(item) >= 4:
            ev, conns, encoding = item[1], item[2], item[3]
            obj = ev.obj
            # A message event is tagged with its group and seq: the gateway keeps each group's last
            # seq relayed (see wire.SEEN). Not a catch-up: it went to some connections only. Any
            # other shared event (and a catch-up) is tagged with its name: the gateway counts what it
            # writes in qunguan_events_total (a gateway of the previous version reads no 4th element).
            if type(obj) is MessageEvent and len(item) == 4:
                return [wire.EVENT, ev.get(encoding), conns, obj.group_id, obj.seq]
            return [wire.EVENT, ev.get(encoding), conns, event_name(type(obj))]
        return item


class RemoteSession(Session):
    """A connection held by a gateway node, as the home's handlers see it."""

    HELD_HERE = False  # the gateway holding the socket counts it (server/cluster/gateway.py)
    __slots__ = ("link", "conn", "port", "inbox", "busy", "handling", "closed_with")

    def __init__(self, link: NodeLink, conn: int, ip: str, encoding: Encoding, port: int | None = None) -> None:
        # No Session.__init__: there is no socket here. The slots it would set are set directly.
        self.ws = None  # type: ignore[assignment]  # netlog and the access log read no socket of ours
        self.encoding = encoding
        self.user = None
        self.last_user_id = None
        self.token_hash = None
        self.ip = ip
        self.closing = False
        self._timer = None
        self.signed_out_since = None  # (the gateway's own session keeps the time: see arm_timer)
        self._max_outbox = 0
        self._pending = []
        self._raw = False
        self.link = link
        self.conn = conn
        self.port = port
        self.inbox: deque[Any] = deque()  # frames (and re-attachments) waiting to be handled, in order
        self.busy = False
        self.handling: int | None = None  # the forward number of the request being handled, if any
        self.closed_with: tuple[int, str] | None = None  # the close sent to the gateway, to repeat

    def send(self, obj: Encodable, encoding: Encoding | None = None) -> None:
        if self.closing:
            return
        if type(obj) is dict and "re" in obj:  # an answer: it settles the request at the gateway
            rid = obj["re"]
            if type(rid) is Answering:  # (the client's id goes back to it, the forward number to the gateway)
                obj = {**obj, "re": int(rid)}
                self.link.reply(encode(obj, encoding or self.encoding), self.conn, int(rid), rid.number)
                return
            # A gateway of the previous version named no forward number: it settles the oldest
            # request with this id. (An answer to no id, an undecodable frame's, is always written.)
            self.link.reply(encode(obj, encoding or self.encoding), self.conn, rid)
            return
        self.link.payload(encode(obj, encoding or self.encoding), self.conn)

    def write(self, payload: bytes | str) -> None:
        if not self.closing:
            self.link.payload(payload, self.conn)

    def relay(self) -> tuple[NodeLink, int] | None:
        """A closing connection is left to :meth:`push`, which drops what comes after the close."""
        return None if self.closing else (self.link, self.conn)

    def push(self, ev: EncodedOnce) -> int:
        """0: the gateway that writes it to its connection counts it (the EVENT item names the event)."""
        if self.closing:
            METRICS.outbox_drops.inc()
            return 0
        self.link.event(ev, self.encoding, self.conn)
        return 0

    def flush(self) -> None:
        """Nothing to do: the node link publishes at the end of the loop iteration."""

    def lagging(self) -> bool:
        """Never here: the gateway holding the socket keeps its outbox (and closes a reader that lags)."""
        return False

    def close(self, code: int, reason: str, flush: bool = True) -> None:
        if self.closing:
            return
        self.closing = True
        self.closed_with = (code, reason)
        self.link.closed.add(self.conn)
        self.link.control([wire.CLOSE, self.conn, code, reason])

    def close_again(self) -> None:
        """The gateway still has this connection after it was told to close it (the message was
        lost: NATS delivers at most once, and not to a node cut off from it): tell it again."""
        if self.closed_with is not None:
            self.link.control([wire.CLOSE, self.conn, *self.closed_with])

    def arm_timer(self, seconds: float, on_expiry: Callable[[], None]) -> None:
        """The authentication timer runs at the gateway (it re-arms on DETACHED)."""

    def cancel_timer(self) -> None:
        """See :meth:`arm_timer`."""

    def remote_port(self) -> int | None:
        return self.port

    def identity_changed(self) -> None:
        user = self.user
        item = ([wire.DETACHED, self.conn] if user is None
                else [wire.ATTACHED, self.conn, user.user_id, self.token_hash, self.link.clock()])
        if self.handling is not None:  # (the gateway settles the sign-in requests sent before it)
            item.append(self.handling)
        self.link.control(item)
