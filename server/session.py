"""One WebSocket connection: its encoding, its user, and non-blocking, coalesced writes.

Writes never await. Outgoing frames are serialised once (per event, per
encoding) and queued on the session; once per event-loop iteration every
session with queued frames gets them in a single ``transport.write``, so a
batch of K messages to a group costs each member one write, not K. The
transport's buffer is the connection's outbox: when a client stops reading and
it passes ``max_outbox_bytes`` the connection is closed with 1013 instead of
slowing anyone else down.

Frames go straight to the transport only while no extension is negotiated
(compression is off by default); with permessage-deflate they go through
websockets, which must compress them per connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar, Protocol

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.protocol import State as WsState

from protocol.codec import Encodable, EncodedOnce, Encoding, encode, ws_frame
from protocol.errors import ContractError
from server.metrics import METRICS

if TYPE_CHECKING:
    from server.state import User

log = logging.getLogger("qunguan.session")

CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013


class _Flusher:
    """Collects the sessions written to in this loop iteration; writes each once at its end."""

    def __init__(self) -> None:
        self.dirty: list[Session] = []
        self.scheduled = False

    def mark(self, sess: Session) -> None:
        self.dirty.append(sess)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        dirty, self.dirty = self.dirty, []
        self.scheduled = False
        for sess in dirty:
            sess.flush()


_flusher = _Flusher()


class Relay(Protocol):
    """Where a session held by another node gets its events (a cluster's home: the gateway's
    link, server/cluster/remote.py): one item listing every connection of that node."""

    def events(self, ev: EncodedOnce, encoding: Encoding, conns: list[int]) -> None: ...


def queue_framed(sessions: list[Session], framed: bytes) -> int:
    """:meth:`Session.push` of one event to many sessions that take its ``framed`` bytes as they
    are (:meth:`Session.takes_framed`), without two calls per session: the hot loop of a large
    group's fan-out. Returns how many it was queued to; a closing one drops it, counted."""
    mark = _flusher.mark
    n = 0
    for sess in sessions:
        if sess.closing:
            continue
        pending = sess._pending
        if not pending:
            mark(sess)
        pending.append(framed)
        n += 1
    if n < len(sessions):
        METRICS.outbox_drops.inc(len(sessions) - n)
    return n


def push_all(sessions: Iterable[Session], ev: EncodedOnce) -> int:
    """:meth:`Session.push` of ``ev`` to each of ``sessions`` (a gateway's connections that the home
    names, a post's audience, a user's devices); returns how many it was queued to. (Sorting them
    first, as a group's plan does once, costs about what it saves for a single event.)"""
    n = 0
    for sess in sessions:
        n += sess.push(ev)
    return n


class Session:
    # Whether this node holds the connection's socket, and so counts it in qunguan_connections. A cluster's
    # home also serves the connections its gateways hold (server/cluster/remote.py): those are theirs to count.
    HELD_HERE: ClassVar[bool] = True

    __slots__ = ("ws", "encoding", "user", "last_user_id", "token_hash", "ip", "closing", "_timer", "_max_outbox",
                 "_pending", "_raw", "signed_out_since", "__weakref__")

    def __init__(self, ws: ServerConnection, encoding: Encoding, ip: str, max_outbox: int) -> None:
        self.ws = ws
        self.encoding = encoding
        self.user: User | None = None
        # Who was last logged in on this connection, kept after a logout or a cancellation: the
        # network log's connect and disconnect rows name them (server/netlog.py: closed).
        self.last_user_id: str | None = None
        self.token_hash: bytes | None = None  # of the token this connection authenticated with
        self.ip = ip
        self.closing = False
        self._timer: asyncio.TimerHandle | None = None
        # When this connection last began to be without a login (opened, or logged out): the time it
        # may stay so is bounded however often it asks (server/app.py: arm_auth_timer). Monotonic.
        self.signed_out_since: float | None = None
        self._max_outbox = max_outbox
        self._pending: list[bytes | str] = []
        self._raw = not ws.protocol.extensions

    @property
    def me(self) -> User:
        """The authenticated user (the dispatcher lets only ``request_code``, ``register``,
        ``login`` and ``auth`` through without one)."""
        user = self.user
        if user is None:
            raise ContractError("unauthenticated", "log in or authenticate first")
        return user

    def send(self, obj: Encodable, encoding: Encoding | None = None) -> None:
        self.write(encode(obj, encoding or self.encoding))

    def write(self, payload: bytes | str) -> None:
        """Queue one message (an encoded frame payload)."""
        self._queue(ws_frame(payload) if self._raw else payload)

    def relay(self) -> tuple[Relay, int] | None:
        """None: this node writes the events itself (:meth:`push`). A connection held by another
        node and open: the link to that node and the connection's number there."""
        return None

    def takes_framed(self) -> Encoding | None:
        """The encoding whose framed bytes this connection takes as they are (no compression), so
        that a fan-out queues them on it without a call (:func:`queue_framed`); None: :meth:`push`
        (always for a kind of session with a push of its own)."""
        return self.encoding if self._raw and type(self).push is Session.push else None

    def push(self, ev: EncodedOnce) -> int:
        """Queue an event shared with other sessions: the framed bytes are the same object for all.
        Returns how many of this node's connections it was queued to (1, or 0 when this one is
        closing): what the caller counts in ``qunguan_events_total`` (see server/fanout.py)."""
        return self._queue(ev.framed(self.encoding) if self._raw else ev.get(self.encoding))

    def _queue(self, item: bytes | str) -> int:
        if self.closing:
            METRICS.outbox_drops.inc()
            return 0
        if not self._pending:
            _flusher.mark(self)
        self._pending.append(item)
        return 1

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        ws = self.ws
        if not pending or self.closing or ws.protocol.state is not WsState.OPEN:
            return
        transport = ws.transport
        # What earlier writes left unsent, not counting this one: a reader that lags. Measured after
        # the write, one large reply (a history page of long texts can pass the limit by itself)
        # closed a client that reads as fast as the network lets it, again at each reconnect.
        # Over the limit already: closed without this write (written first, each such write added a
        # loop iteration's events to a reader that had stopped: a reviewer's 200 such connections
        # held about 5 MB each against a 1 MiB limit).
        backlog = transport.get_write_buffer_size()
        if backlog > self._max_outbox:
            log.info("closing a connection that stopped reading (outbox over %d bytes)", self._max_outbox,
                     extra={"ip": self.ip})
            METRICS.outbox_closes.inc()
            self.close(CLOSE_TRY_AGAIN, "outbox overflow: reconnect and resume with history", flush=False)
            return
        if self._raw:
            # writelines, not one joined copy: uvloop keeps the frames themselves until they are sent,
            # and a group's events are one bytes object shared by all its connections. Joined, each
            # connection held a copy of a whole burst (an abuse reviewer's 5.9 MB burst to 475
            # connections that did not read took the server to 2.8 GB; kept shared, about nothing).
            transport.writelines(pending)  # type: ignore[arg-type]
        else:
            for payload in pending:
                broadcast((ws,), payload)

    def lagging(self) -> bool:
        """Whether more than half the outbox is still unsent: a paced publisher waits for it to drain
        (:func:`server.fanout.publish_paced`)."""
        ws = self.ws
        transport = ws.transport if ws is not None else None
        return (not self.closing and transport is not None
                and transport.get_write_buffer_size() > self._max_outbox // 2)

    def close(self, code: int, reason: str, flush: bool = True) -> None:
        if self.closing:
            return
        if flush:
            self.flush()  # what was queued goes out before the close frame
        self.closing = True
        self._pending = []
        self.cancel_timer()
        asyncio.get_running_loop().create_task(self.ws.close(code, reason))

    def arm_timer(self, seconds: float, on_expiry: Callable[[], None]) -> None:
        self.cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(seconds, on_expiry)

    def signed_in(self, max_frame: int) -> None:
        """Logged in (here, or as a cluster's home says): no deadline, and the time without a login
        counted afresh from a logout (see ``server/app.py: arm_auth_timer``); frames up to ``max_frame``."""
        self.cancel_timer()
        self.signed_out_since = None
        self.limit_frames(max_frame)

    def limit_frames(self, max_bytes: int) -> None:
        """Take frames up to ``max_bytes`` from now on (a larger one closes the connection with 1009). The
        socket's reader looks at the limit at each frame it starts; one already being read is not cut."""
        if self.ws is None:  # (a cluster home's stand-in for a gateway's connection: the gateway limits)
            return
        proto = self.ws.protocol
        # (websockets 15 and later call it max_message_size, 14 max_size)
        setattr(proto, "max_message_size" if hasattr(proto, "max_message_size") else "max_size", max_bytes)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def remote_port(self) -> int | None:
        """The client's TCP port (for the network log), if known: behind a trusted proxy the one
        its PROXY header gave, none from ``X-Forwarded-For`` (server/proxy.py: ClientConnection)."""
        if hasattr(self.ws, "client_port"):
            port: int | None = self.ws.client_port
            return port
        addr = self.ws.remote_address
        return int(addr[1]) if addr and len(addr) > 1 else None

    def identity_changed(self) -> None:
        """The user bound to this connection changed (login, logout). A hook: a connection held by
        another node of a cluster tells that node (server/cluster/remote.py)."""
