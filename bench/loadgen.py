"""The load generator: cheap raw WebSocket clients on a bare asyncio Protocol.

Why raw: a full client library costs more CPU per received frame than the
baseline server spends per delivered frame, so the generator, not the server,
would set the ceiling. Here a client

* does the HTTP upgrade by hand and writes pre-encoded frames (the mask key is
  all zeros, so a masked frame is the payload itself; the header and the
  MessagePack body are built once, only the 19-digit timestamp at the end of
  the text changes per message);
* never decodes MessagePack on the hot path: it walks frame headers, recognises
  a message by a fixed byte prefix at the start of the payload, and reads the
  sender number and the ``time.time_ns()`` timestamp from the fixed-size tail of
  the text (the text is the last field of both the request the baseline relays
  and qunguan's ``message`` event);
* answers pings and close frames like a real client (the servers ping every
  30 s), and counts acks of ``send`` by a fixed byte prefix.

Flow control at saturation: every sender has a window of messages in flight
(sent but not yet delivered). Delivery is observed by a *probe* member of the
room (another connection in this process), so the same closed loop works for
the baseline, which never acknowledges anything, and for qunguan, where a
message also has to be acked (the window counts the later of ack and delivery).
Latency phases instead pace the senders at a fixed rate.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections import Counter
from collections.abc import Callable

import msgpack

# How long a paced phase waits, once over, for the deliveries still on their way (recorded too).
DRAIN_S = 2.0

time_ns = time.time_ns

# Payload prefixes (after the 1-byte fixmap header) that mark a chat message.
PREFIX_QUNGUAN = b"\xa2ev\xa7message"  # {"ev": "message", ...}
PREFIX_BASELINE = b"\xa2op\xa4send"  # the baseline relays our own send request as is
SEND_RID = 7
ACK_OK = b"\xa2re\x07\xa2ok\xc3"  # {"re": 7, "ok": true, ...}
ACK_ERR = b"\xa2re\x07\xa2ok\xc2"  # {"re": 7, "ok": false, ...}
TAIL = b"|@"  # text ends with TAIL + 5-digit sender number + 19-digit time.time_ns()
TAIL_LEN = 2 + 5 + 19
TEXT_PAD = "The quick brown fox jumps over the dog"  # text is 64 characters in all
ZERO_MASK = b"\0\0\0\0"


def client_frame(payload: bytes, opcode: int = 2) -> bytes:
    """A masked client frame with the all-zero mask key (so the payload is sent as is)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + ZERO_MASK + payload


def send_frame_prefix(group_id: str, sid: int) -> bytes:
    """A ``send`` request frame without its last 19 bytes (the timestamp digits)."""
    text = f"{TEXT_PAD}|@{sid:05d}" + "0" * 19
    payload = msgpack.packb({"op": "send", "rid": SEND_RID, "group_id": group_id, "text": text})
    return client_frame(payload)[:-19]


class HandshakeError(Exception):
    pass


class RawConn(asyncio.Protocol):
    """One client connection. Counters are read by :class:`Load`."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.prefix = load.prefix
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future = loop.create_future()
        self.lost: asyncio.Future = loop.create_future()
        self.waiter: asyncio.Future | None = None
        self._hs: bytearray | None = bytearray()
        self._rest = b""
        self.n = 0  # message frames from others
        self.own = 0  # own messages echoed back (qunguan sends the sender its own event)
        self.other = 0  # other frames (events, replies)
        self.sid_b: bytes | None = None  # own sender number when sending
        self.sender: Sender | None = None
        self.probe_of: dict[bytes, Sender] | None = None
        self.close_code: int | None = None
        self.close_sent = False

    # -- asyncio.Protocol --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        proto = f"Sec-WebSocket-Protocol: {self.load.subprotocol}\r\n" if self.load.subprotocol else ""
        transport.write(  # type: ignore[attr-defined]
            f"GET /ws HTTP/1.1\r\nHost: {self.load.host}:{self.load.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{proto}\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(HandshakeError(f"connection lost during handshake: {exc}"))
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._hs is not None:
            self._hs += data
            i = self._hs.find(b"\r\n\r\n")
            if i < 0:
                return
            head, data = bytes(self._hs[:i]), bytes(self._hs[i + 4 :])
            self._hs = None
            if not head.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(HandshakeError(head.split(b"\r\n", 1)[0].decode(errors="replace")))
                self.transport.close()  # type: ignore[union-attr]
                return
            self.ready.set_result(None)
            if not data:
                return
        if self._rest:
            data = self._rest + data
        n = len(data)
        p = 0
        cnt = 0
        prefix = self.prefix
        sid_b = self.sid_b
        probe_of = self.probe_of
        lats = self.load.lats
        if sid_b is None and probe_of is None and lats is None:
            # Fast path for a plain reader: count message frames, nothing else. Stops at
            # anything unusual (a control frame, a split frame) for the full loop below.
            while p + 4 <= n:
                b1 = data[p + 1]
                if b1 == 126:
                    s = p + 4
                    e = s + ((data[p + 2] << 8) | data[p + 3])
                elif b1 < 126:
                    s = p + 2
                    e = s + b1
                else:
                    break
                if e > n or data[p] != 0x82 or not data.startswith(prefix, s + 1):
                    break
                cnt += 1
                p = e
        now = time_ns()
        while p + 2 <= n:
            b1 = data[p + 1]  # server frames are never masked
            if b1 < 126:
                s = p + 2
                e = s + b1
            elif b1 == 126:
                if p + 4 > n:
                    break
                s = p + 4
                e = s + ((data[p + 2] << 8) | data[p + 3])
            else:
                if p + 10 > n:
                    break
                s = p + 10
                e = s + int.from_bytes(data[p + 2 : p + 10], "big")
            if e > n:
                break
            if e - s > 40 and data.startswith(prefix, s + 1):
                t = e - TAIL_LEN
                if not data.startswith(TAIL, t):  # the text is not the last field: search for it
                    t = data.rfind(TAIL, s, e - TAIL_LEN + 1)
                if t < 0:
                    self.other += 1
                elif sid_b is not None and data.startswith(sid_b, t + 2):
                    self.own += 1
                else:
                    cnt += 1
                    if lats is not None:
                        lats.append(now - int(data[t + 7 : t + 26]))
                    if probe_of is not None:
                        snd = probe_of.get(data[t + 2 : t + 7])
                        if snd is not None:
                            snd.on_delivered()
            else:
                self._other(data[p] & 0x0F, data, s, e)
            p = e
        self._rest = data[p:] if p < n else b""
        self.n += cnt

    # -- non-message frames -------------------------------------------------
    def _other(self, opcode: int, data: bytes, s: int, e: int) -> None:
        if opcode == 2 or opcode == 1:
            if data.startswith(ACK_OK, s + 1):
                if self.sender is not None:
                    self.sender.on_ack()
                return
            if data.startswith(ACK_ERR, s + 1):
                if self.sender is not None:
                    self.sender.on_error(data[s:e])
                return
            self.other += 1
            waiter = self.waiter
            if waiter is not None and not waiter.done() and (
                not self.load.acks or data.startswith(b"\xa2re", s + 1)  # qunguan: replies only, not events
            ):
                waiter.set_result(data[s:e])
        elif opcode == 9:  # ping: answer with a pong carrying the same payload
            self.write(client_frame(data[s:e], 0xA))
        elif opcode == 8:  # close: record the code, answer, the server then closes TCP
            self.close_code = int.from_bytes(data[s : s + 2], "big") if e - s >= 2 else 1005
            if not self.close_sent:
                self.close_sent = True
                self.write(client_frame(data[s : s + 2], 0x8))

    # -- helpers ----------------------------------------------------------------
    def write(self, frame: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(frame)

    async def request(self, frame: bytes, timeout: float = 30.0) -> bytes:
        """Write a frame and wait for the reply (the baseline's: its next frame)."""
        self.waiter = asyncio.get_running_loop().create_future()
        self.write(frame)
        return await asyncio.wait_for(self.waiter, timeout)

    def pause(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()

    def resume(self) -> None:
        assert self.transport is not None
        self.transport.resume_reading()

    def start_close(self) -> None:
        if not self.close_sent and self.transport is not None and not self.transport.is_closing():
            self.close_sent = True
            self.transport.write(client_frame((1000).to_bytes(2, "big"), 0x8))


class Sender:
    """A member that sends: its frame template, its window and its counters."""

    __slots__ = ("load", "conn", "sid", "prefix", "probe", "window", "sent", "delivered", "acked",
                 "errors", "needs_ack")

    def __init__(self, load: Load, conn: RawConn, sid: int, group_id: str, window: int) -> None:
        self.load = load
        self.conn = conn
        self.sid = sid
        self.prefix = send_frame_prefix(group_id, sid)
        self.probe: RawConn | None = None
        self.window = window
        self.sent = self.delivered = self.acked = self.errors = 0
        self.needs_ack = load.acks
        conn.sender = self
        conn.sid_b = b"%05d" % sid

    def in_flight(self) -> int:
        done = min(self.delivered, self.acked) if self.needs_ack else self.delivered
        return self.sent - done - self.errors

    def send(self, k: int) -> None:
        """Write ``k`` messages stamped now, in one write."""
        frame = self.prefix + b"%019d" % time_ns()
        self.conn.write(frame * k if k > 1 else frame)
        self.sent += k

    def send_stamped(self, stamps: list[int]) -> None:
        """Write one message per stamp (ns, the time it was due), in one write."""
        self.conn.write(b"".join([self.prefix + b"%019d" % st for st in stamps]))
        self.sent += len(stamps)

    def _refill(self) -> None:
        if self.load.saturating:
            inflight = self.in_flight()
            if inflight <= self.window >> 1:
                self.send(self.window - inflight)

    def on_delivered(self) -> None:
        self.delivered += 1
        self._refill()

    def on_ack(self) -> None:
        self.acked += 1
        self._refill()

    def on_error(self, payload: bytes) -> None:
        self.errors += 1
        try:
            code = msgpack.unpackb(payload).get("code", "?")
        except Exception:
            code = "?"
        self.load.errors[str(code)] += 1
        self._refill()


class Load:
    """The connections of one scenario against one server, and its phases."""

    def __init__(self, kind: str, host: str, port: int) -> None:
        assert kind in ("baseline", "qunguan")
        self.kind = kind
        self.host = host
        self.port = port
        self.prefix = PREFIX_BASELINE if kind == "baseline" else PREFIX_QUNGUAN
        self.subprotocol = "" if kind == "baseline" else "qunguan.v1+msgpack"
        self.acks = kind == "qunguan"
        self.conns: list[RawConn] = []
        self.senders: list[Sender] = []
        self.saturating = False
        self.lats: list[int] | None = None
        self.errors: Counter = Counter()

    # -- connections ---------------------------------------------------------
    async def open(self, hello: bytes | None = None,
                   check: Callable[[bytes], None] | None = None, port: int | None = None) -> RawConn:
        """Connect (to ``port``, default the load's), upgrade, send ``hello`` and check its reply."""
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: RawConn(self), self.host, port or self.port)
        self.conns.append(conn)
        await asyncio.wait_for(conn.ready, 30)
        if hello is not None:
            reply = await conn.request(hello)
            if check is not None:
                check(reply)
        return conn

    async def open_many(self, hellos: list[bytes], check: Callable[[bytes], None],
                        concurrency: int = 200, ports: list[int] | None = None) -> list[RawConn]:
        """Open one connection per hello, ``concurrency`` at a time (the i-th to ``ports[i]`` if given)."""
        sem = asyncio.Semaphore(concurrency)
        out: list[RawConn | None] = [None] * len(hellos)

        async def one(i: int) -> None:
            async with sem:
                out[i] = await self.open(hellos[i], check, ports[i] if ports else None)

        results = await asyncio.gather(*(one(i) for i in range(len(hellos))), return_exceptions=True)
        conns = [c for c in out if c is not None]
        for r in results:
            if isinstance(r, BaseException):
                await self.close_all()
                raise r
        return conns  # type: ignore[return-value]

    async def close_all(self, timeout: float = 5.0) -> None:
        for c in self.conns:
            if c.transport is not None and c.transport.is_reading() is False and not c.lost.done():
                try:
                    c.resume()
                except Exception:
                    pass
            c.start_close()
        pending = [c.lost for c in self.conns if not c.lost.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        for c in self.conns:
            if not c.lost.done() and c.transport is not None:
                c.transport.abort()
        self.conns.clear()
        self.senders.clear()

    # -- roles ----------------------------------------------------------------
    def add_room(self, group_id: str, members: list[RawConn], n_senders: int, window: int,
                 first_sid: int) -> int:
        """Make the first ``n_senders`` members senders; pick each sender's probe. Returns next sid."""
        readers = [c for c in members]
        senders = []
        for i in range(n_senders):
            senders.append(Sender(self, members[i], first_sid + i, group_id, window))
        non_senders = [c for c in readers if c.sender is None]
        for s in senders:
            if non_senders:
                probe = non_senders[0]
            else:  # everyone talks: probe is the next member
                probe = readers[(readers.index(s.conn) + 1) % len(readers)]
            s.probe = probe
            if probe.probe_of is None:
                probe.probe_of = {}
            probe.probe_of[b"%05d" % s.sid] = s
        self.senders.extend(senders)
        return first_sid + n_senders

    # -- counters --------------------------------------------------------------
    def deliveries(self) -> int:
        return sum(c.n for c in self.conns)

    def messages(self) -> int:
        return sum(s.delivered for s in self.senders)

    def in_flight(self) -> int:
        return sum(max(0, s.in_flight()) for s in self.senders)

    async def drain(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.in_flight() == 0:
                await asyncio.sleep(0.05)
                return True
            await asyncio.sleep(0.02)
        return False

    # -- phases ----------------------------------------------------------------
    def start_saturation(self) -> None:
        self.saturating = True
        for s in self.senders:
            s._refill()

    def stop_saturation(self) -> None:
        self.saturating = False

    async def paced(self, rate: float, duration: float, warmup: float, cap: int) -> dict:
        """Send ``rate`` messages/s spread over the senders; record latencies after ``warmup``.

        Open loop: each message is stamped with the time it was due on the schedule, not the time
        the generator got round to writing it, so a generator or server running late adds to the
        latencies instead of hiding in them; a sender with ``cap`` messages in flight skips its
        turn (counted in ``skipped``). When the phase ends the deliveries still on their way (the
        slowest) are waited for, up to :data:`DRAIN_S`, and recorded too; ``unfinished`` counts the
        messages still in flight after that."""
        senders = self.senders
        k = len(senders)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        sent = skipped = 0
        i = 0
        recording = False
        lats: list[int] = []
        m0 = m1 = 0
        t_rec = t0
        while True:
            await asyncio.sleep(0.001)
            el = loop.time() - t0
            if not recording and el >= warmup:
                recording = True
                self.lats = lats
                m0, t_rec = self.messages(), loop.time()
            if el >= warmup + duration:
                break
            due = int(rate * el) - sent
            if due <= 0:
                continue
            # Message n (1, 2, 3...) is due at n / rate: each is stamped with that time on the wall
            # clock, whenever it is written (a tick, the loop or a stall may be later).
            wall, n = time_ns(), sent
            sent += due
            base, extra = divmod(due, k)
            for j in range(k if base else extra):
                s = senders[(i + j) % k]
                want = base + (1 if j < extra else 0)
                room = cap - s.in_flight()
                if room <= 0:
                    skipped += want
                    n += want
                    continue
                if want > room:
                    skipped += want - room
                    n += want - room
                    want = room
                s.send_stamped([wall - int((el - (n + q) / rate) * 1e9) for q in range(1, want + 1)])
                n += want
            i = (i + extra) % k
        t1 = loop.time()
        m1 = self.messages()
        while loop.time() - t1 < DRAIN_S and self.in_flight() > 0:
            await asyncio.sleep(0.005)
        self.lats = None
        return {
            "target_msgs_per_s": rate,
            "achieved_msgs_per_s": (m1 - m0) / (t1 - t_rec) if t1 > t_rec else 0.0,
            "skipped": skipped,
            "unfinished": max(0, self.in_flight()),
            "latencies_ns": lats,
        }


def percentile(sorted_vals: list[int], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return float(sorted_vals[i])
