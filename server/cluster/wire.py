"""What the nodes of a cluster say to each other over NATS: subjects and message layouts.

Every message is a MessagePack stream: a header, then items (each a short array whose first
element says what it is). Items are batched per destination and per event-loop iteration
(:class:`Outbox`), so a burst costs one NATS message per destination, not one per frame; a batch
is cut into several messages before it passes the broker's payload limit.

Gateway -> home, on ``<name>.home.in``; header ``[node_id, instance]``, then ``[STAMP, epoch,
started]`` (``epoch`` of the home the gateway last heard: a REQ stamped older than the home's own
epoch is not run; a message stamped newer is not run at all. ``started``: when this run of the
node started, in microseconds on the database's clock; of two running instances with one node
id, every home stops the one with the later ``(started, instance)``, whichever it heard first.
An item, not in the header, so that a node of the previous version, during a rolling restart,
still reads the header and skips the item; it reads no ``started``, and sends none):
  ``[REQ, conn, frame, n, rid]``  a client's frame, as received (bytes: MessagePack, str: JSON),
                                with its forward number on that connection (1, 2, 3...), never
                                reused, and its request id (read by a home of the previous
                                version only; a node of the previous version sends neither)
  ``[OPEN, conn, ip, enc, again, port]``  a new connection (the home counts connections per
                                IP), or (again) one re-registered with a home, admitted by a home
                                before (counted by the LIVE that follows; one that opened while
                                there was none is sent as new, after that LIVE); either corrects
                                the address of a connection whose frames came first (its OPEN was
                                lost), as REATTACH does
  ``[GONE, conn]``              the connection closed
  ``[REATTACH, conn, ip, enc, user_id, token_hash, port]``  a new home: this one was logged in
  ``[ALIVE]``                   the gateway still exists (sent every second)
  ``[LIVE, [conn, ...], [age, ...]]``  every connection it has (after re-registering them): the
                                home lets go of any other (its GONE was lost); with how many
                                seconds ago each opened, so the home counts each it has not
                                counted yet in the connections per IP, as of then (a node of the
                                previous version sends no ages, and reads none)
  ``[SEEN, epoch, {group_id: seq}, [[conn, since], ...]]``  first, when it re-registers with a newer
                                home than ``epoch`` (the one it heard last): the last ``message``
                                seq it relayed in each group within twice the catch-up window,
                                and, per logged-in connection, the home clock (ms) when it logged
                                in. The new home sends each connection, as it re-attaches it, the
                                previous home's last messages it was owed and never got (see
                                :class:`server.cluster.home.Tail`); a home of the previous version
                                ignores the item
Home -> gateway, on ``<name>.node.<node_id>``; header ``[epoch, instance]`` (the gateway's), then
``[NUMBER, stream, n]``: the home numbers what it publishes to one gateway instance 1, 2, 3...
within a stream (one per link it keeps to that instance), so a gateway sees what NATS lost on the
way (a cut, a slow consumer) and has its clients resume (see :class:`server.cluster.gateway.Numbering`):
  ``[EVENT, payload, [conn, ...], group_id, seq]``   the same encoded message for every listed
                                      connection; the group id and seq only for a ``message``
                                      event (the gateway remembers each group's last: see SEEN);
                                      any other shared event, and a catch-up ``message``, names
                                      its event instead: ``[EVENT, payload, [conn, ...], name]``
                                      (the gateway counts what it writes in qunguan_events_total;
                                      a gateway of the previous version reads neither). A payload
                                      for one connection only (not an event) names nothing
  ``[REPLY, payload, conn, rid, n]``  the answer to request ``rid``, forwarded as number ``n``
                                      (settles it at the gateway; no ``n``: the oldest with ``rid``)
  ``[ATTACHED, conn, user_id, token_hash, at, n]`` / ``[DETACHED, conn, n]``  the connection
                                      logged in / out; ``at``: the home's clock (ms) then (see
                                      SEEN); ``n``: the forward number of the request of it the
                                      home was handling then, if any (it handles them in order,
                                      so every earlier one is done: see Gateway.sign_in_changed;
                                      a home of the previous version sends none)
  ``[CLOSE, conn, code, reason]``     close it
  ``[STOP, reason]``                  (not numbered) this gateway instance shares its node id with
                                      another running node: it stops (a node of the previous
                                      version ignores it; the home ignores that instance anyway)
Either way, an item too large for one message (a ``history`` page of long messages) travels as
``[CHUNK, offset, piece, total]`` items, one per message, in order: the packed item cut in pieces,
put together again by the receiver (:class:`Assembler`, one per sender).
Heartbeat, home -> all, on ``<name>.home.hb``: ``[node_id, epoch]``, then ``links``: it grows each
time the home reconnects to NATS (what gateways sent it meanwhile is lost: they re-register); then
``{instance: [stream, n]}``: the last number published to each gateway instance (a gateway that
heard less lost the rest, even when nothing came after); then ``WRITES_COUNTED``: this home counts
its write transactions in the database (``qunguan_fence_write``), so a node may load the state ahead
of its takeover (server/cluster/ahead.py); then ``{section: digest}`` of the settings the home
enforces (server/cluster/settings.py), which a gateway compares with its own. Separate objects,
which a node of the previous version does not read (and a home of the previous version does not
send: its writes are not counted, its settings not compared).
Node ids, request-reply on ``<name>.id.<node_id>``: every node answers with its ``node/instance``;
a node that starts asks first, and refuses to start when another answers (see node.start).
Operator commands, gateway -> home, request-reply on ``<name>.home.admin``; a group's public
page (``GET /groups/ID`` on a gateway), request-reply on ``<name>.home.info`` (empty: none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import msgpack

from protocol.codec import Encoding

REQ, OPEN, GONE, REATTACH, ALIVE, LIVE, SEEN = 0, 1, 2, 3, 4, 5, 6
EVENT, REPLY, ATTACHED, DETACHED, CLOSE, STOP = 0, 1, 2, 3, 4, 5

STAMP = 8  # gateway -> home, first item of each message: the epoch of the home it knows
NUMBER = 10  # home -> gateway, first item of each message: its stream and number
CHUNK = 9  # either direction: a piece of an item too large for one message
ENC_MSGPACK, ENC_JSON = 0, 1

HOME_LEASE = "home"
# The last heartbeat of a home that gave its lease back (a clean stop, a hand-over): its first
# element is [node id, epoch, RELEASED]. A gateway contests the lease at once instead of after a
# lease period of silence; one of the previous version reads it as a plain heartbeat.
RELEASED = "released"
WRITES_COUNTED = 1  # the heartbeat's fourth object: see the module's doc

# A new home resends each gateway connection the previous home's last `message` events it never
# got (see SEEN): the messages of the last catch_up_seconds before the takeover, at most this many
# per group (beyond that, the client's seq skip and `history` cover the rest, as before).
CATCH_UP_PER_GROUP = 200


def catch_up_seconds(lease_seconds: float) -> float:
    """How far back a new home looks for the previous home's last messages: well past a lease
    period (the previous home died at least that long before the takeover), and how long it keeps
    them for the gateways to re-register. A gateway reports the groups it relayed a message of
    within twice that (see SEEN)."""
    return max(30.0, 10 * lease_seconds)


def encoding_code(encoding: Encoding) -> int:
    return ENC_JSON if encoding is Encoding.JSON else ENC_MSGPACK


def encoding_of(code: int) -> Encoding:
    return Encoding.JSON if code == ENC_JSON else Encoding.MSGPACK


class Subjects:
    """The NATS subjects of one service (``cluster.name``): several services can share a NATS."""

    def __init__(self, name: str) -> None:
        self.home_in = f"{name}.home.in"
        self.heartbeat = f"{name}.home.hb"
        self.admin = f"{name}.home.admin"
        self.info = f"{name}.home.info"
        self.media = f"{name}.home.media"  # a stored file's bytes, for a gateway without them (Node.media_bytes)
        self._id = f"{name}.id."
        self._node = f"{name}.node."

    def node(self, node_id: str) -> str:
        return self._node + node_id

    def node_id(self, node_id: str) -> str:
        """Where the running node with that id answers (and a starting one asks)."""
        return self._id + node_id


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def unpack_stream(data: bytes) -> Iterator[Any]:
    """The header, then each item, of one message."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=len(data) + 1)
    unpacker.feed(data)
    yield from unpacker


class Outbox:
    """Items for one destination, published at the end of the loop iteration that queued them.

    ``publish`` gets complete messages (header + items), each at most ``max_bytes``; an item
    too large for one message goes in pieces (``CHUNK``, see :class:`Assembler`). ``prepare``
    runs at flush time on each item (the home turns a shared event into its payload there, once
    per event and encoding). ``stamp`` gives an item that starts every message, after the header:
    it is called once per message, in the order they are published.
    """

    def __init__(self, header: Callable[[], Any], publish: Callable[[bytes], None], max_bytes: int,
                 prepare: Callable[[list[Any]], list[Any]] | None = None,
                 stamp: Callable[[], list[Any]] | None = None) -> None:
        self._header = header
        self._stamp = stamp
        self._prepare = prepare
        self._publish = publish
        self.max_bytes = max_bytes
        self.items: list[list[Any]] = []
        self.batches = 0  # how many times the queued items were taken to be published
        self._scheduled = False

    def add(self, item: list[Any]) -> None:
        self.items.append(item)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        self.batches += 1
        items, self.items = self.items, []
        if not items:
            return
        header = pack(self._header())
        stamp = self._stamp
        head_size = len(header) + (STAMP_ROOM if stamp is not None else 0)

        def emit(parts: list[bytes]) -> None:
            self._publish(b"".join([header, pack(stamp()), *parts] if stamp is not None else [header, *parts]))

        parts: list[bytes] = []
        size = head_size
        prepare = self._prepare
        room = self.max_bytes - head_size - CHUNK_OVERHEAD  # for a piece of an item too large
        for item in items:
            packed = pack(prepare(item) if prepare is not None else item)
            if size + len(packed) > self.max_bytes and parts:
                emit(parts)
                parts, size = [], head_size
            if head_size + len(packed) > self.max_bytes and room > 0:
                total = len(packed)
                for offset in range(0, total, room):
                    emit([pack([CHUNK, offset, packed[offset:offset + room], total])])
                continue
            parts.append(packed)
            size += len(packed)
        if parts:
            emit(parts)


STAMP_ROOM = 32  # what a stamp item takes, at most (an array of three 64-bit integers)
CHUNK_OVERHEAD = 32  # what a CHUNK item adds to its piece, at most (array, kind, two integers, bin header)


class Assembler:
    """Puts a sender's chunked items together again (each sender's messages arrive in order).

    A piece that does not follow on (one was lost on the way) drops the item it belongs to."""

    __slots__ = ("_buf", "_total")

    def __init__(self) -> None:
        self._buf: bytearray | None = None
        self._total = 0

    def items(self, stream: Iterator[Any]) -> Iterator[Any]:
        for item in stream:
            if item[0] != CHUNK:
                yield item
                continue
            _, offset, piece, total = item
            if offset == 0:
                self._buf, self._total = bytearray(), total
            buf = self._buf
            if buf is None or len(buf) != offset or total != self._total:
                self._buf = None  # a piece is missing: this item cannot be made whole
                continue
            buf += piece
            if len(buf) >= total:
                self._buf = None
                yield next(unpack_stream(bytes(buf)))
