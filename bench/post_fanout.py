"""What one public-account post costs the event loop when N subscribers are online.

    python -m bench.post_fanout [--subscribers 100000] [--real 5000]

A post is published like a group message (``server.fanout.publish``): encoded once
per wire format, the same framed bytes queued on every online subscriber's
session, written once per session at the end of the loop iteration. Nothing is
written to the database per subscriber. This script times both steps on real
``Session`` objects:

- ``--subscribers`` sessions whose transport only counts bytes (the Python cost:
  queueing and the per-session flush), and
- ``--real`` sessions whose transport is one end of a real socket pair (adds the
  ``send`` system call each write costs), from which the cost per subscriber with
  real sockets is scaled to ``--subscribers``.

One process cannot hold 100,000 sockets here (the descriptor limit), hence the two
parts. This is a script, not a test: the figures go in docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from typing import Any

from protocol.codec import Encoding
from protocol.events import PostEvent
from server.fanout import publish
from server.session import Session, _flusher


class _CountingTransport:
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)

    def get_write_buffer_size(self) -> int:
        return 0


class _SocketTransport:
    """Writes to one end of a socket pair, as asyncio's transport would when the buffer is empty."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def write(self, data: bytes) -> None:
        self.sock.send(data)

    def get_write_buffer_size(self) -> int:
        return 0


class _Ws:
    def __init__(self, transport: Any) -> None:
        from websockets.protocol import State

        self.transport = transport
        self.protocol = type("P", (), {"state": State.OPEN, "extensions": []})()


def _session(transport: Any, enc: Encoding) -> Session:
    return Session(_Ws(transport), enc, "127.0.0.1", 1 << 20)  # type: ignore[arg-type]


def _time_post(sessions: list[Session]) -> tuple[float, float]:
    post = PostEvent(account_id="123456789", post_id="42", title="第一篇：公众号上线了", ts=1_700_000_000_000)
    t0 = time.perf_counter()
    publish(sessions, post)
    t1 = time.perf_counter()
    _flusher.flush()
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t1) * 1000


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--real", type=int, default=5_000, help="sessions on real socket pairs")
    args = ap.parse_args()
    encs = [Encoding.MSGPACK, Encoding.JSON]

    counted = [_session(_CountingTransport(), encs[i % 2]) for i in range(args.subscribers)]
    _time_post(counted)  # warm up
    queue_ms, flush_ms = min(_time_post(counted) for _ in range(3))
    print(f"{args.subscribers:,} subscribers, counting transport: queue {queue_ms:.1f} ms, "
          f"flush {flush_ms:.1f} ms, {(queue_ms + flush_ms) * 1000 / args.subscribers:.2f} µs each")

    pairs = [socket.socketpair() for _ in range(args.real)]
    try:
        for a, _ in pairs:
            a.setblocking(False)
        real = [_session(_SocketTransport(a), encs[i % 2]) for i, (a, _) in enumerate(pairs)]
        _time_post(real)
        for _, b in pairs:  # drain, so every timed write finds room
            b.setblocking(False)
            b.recv(65536)
        rq, rf = min(_time_post(real) for _ in range(3))
        per = (rq + rf) / args.real
        print(f"{args.real:,} subscribers on socket pairs: queue {rq:.1f} ms, flush {rf:.1f} ms, "
              f"{per * 1000:.2f} µs each -> {args.subscribers:,} subscribers ≈ {per * args.subscribers:.0f} ms")
    finally:
        for a, b in pairs:
            a.close()
            b.close()


if __name__ == "__main__":
    asyncio.run(main())
