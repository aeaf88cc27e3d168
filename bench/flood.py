"""The flood helper of ``python -m bench --flood``: holds many connections in a process of its own.

    python -m bench.flood --host H --port P --kind qunguan --unauth 10000 --tokens FILE

* ``--unauth N``: N connections that send their upgrade request and then never
  authenticate (never name a room, on the baseline). Each counts as open from
  its TCP connection on, answered or not: qunguan paces handshakes per address
  (``server.handshakes_per_ip_per_second``), so most of them wait for an answer.
  When the server closes one (qunguan does at ``server.auth_timeout_seconds``
  after the upgrade, or at its handshake timeout while it waits), it is opened
  again at once, so N stay open for the whole run;
* ``--tokens FILE``: one line per idle connection: a token to ``auth`` with
  (qunguan) or a room to name (the baseline); held open without a word.

Each process may hold only ``RLIMIT_NOFILE`` descriptors (20,000 on the
benchmark machine), so the flood runs here and the driver keeps its own for the
measured group. The unauthenticated connections come from one address,
127.0.0.2 (one attacker), and the idle ones from 200 others, 127.0.1.1 to
127.0.1.200 (users; loopback answers on all of 127/8), so the sets do not share
one address's ephemeral ports. A status line (JSON) goes to stdout
every second; ``ready`` once every connection was opened once. The helper ends
when its stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import msgpack

from bench.baseline import raise_nofile
from bench.loadgen import Load, RawConn, client_frame

UNAUTH_ADDR = "127.0.0.2"
IDLE_ADDRS = [f"127.0.1.{i}" for i in range(1, 201)]


class Flood:
    def __init__(self, load: Load) -> None:
        self.load = load
        self.unauth_open = 0
        self.unauth_upgraded = 0  # of those, answered with 101 so far (in all, reopened ones too)
        self.idle_open = 0
        self.reopened = 0
        self.failed = 0
        self.idle_closed = 0
        self.last_error = ""
        self.stopping = False

    async def open(self, local: str, hello: bytes | None, answered: bool = True) -> RawConn:
        """A connection that has sent its upgrade request; with ``answered``, upgraded too."""
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: RawConn(self.load), self.load.host, self.load.port,
                                               local_addr=(local, 0))
        if not answered:
            conn.ready.add_done_callback(self._answered)
            return conn
        await asyncio.wait_for(conn.ready, 60)
        if hello is not None:
            reply = await conn.request(hello)
            if self.load.kind == "qunguan":
                r = msgpack.unpackb(reply)
                if not r.get("ok"):
                    raise RuntimeError(f"auth failed: {r.get('code')}")
            elif reply != b"joined":
                raise RuntimeError("room not joined")
        return conn

    async def unauth(self, sem: asyncio.Semaphore, first: asyncio.Event) -> None:
        """One never-authenticating connection, reopened whenever the server closes it."""
        opened_once = False
        while not self.stopping:
            try:
                async with sem:
                    conn = await self.open(UNAUTH_ADDR, None, answered=False)
            except Exception as exc:
                self.failed += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.5)
                continue
            self.unauth_open += 1
            if not opened_once:
                opened_once = True
                first.set()
            else:
                self.reopened += 1
            try:
                await conn.lost
            finally:
                self.unauth_open -= 1

    def _answered(self, ready: asyncio.Future[None]) -> None:
        if not ready.cancelled() and ready.exception() is None:  # (an exception: closed unanswered)
            self.unauth_upgraded += 1

    async def idle(self, sem: asyncio.Semaphore, hello: bytes, addr: str) -> RawConn | None:
        for _ in range(3):
            try:
                async with sem:
                    conn = await self.open(addr, hello)
            except Exception as exc:
                self.failed += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.5)
                continue
            self.idle_open += 1
            conn.lost.add_done_callback(lambda _f: self._idle_lost())
            return conn
        return None

    def _idle_lost(self) -> None:
        self.idle_open -= 1
        self.idle_closed += 1

    def status(self, ready: bool) -> str:
        return json.dumps({"ready": ready, "unauth_open": self.unauth_open,
                           "unauth_upgraded": self.unauth_upgraded, "idle_open": self.idle_open,
                           "reopened": self.reopened, "failed": self.failed, "idle_closed": self.idle_closed,
                           "last_error": self.last_error})


async def main(args: argparse.Namespace) -> None:
    load = Load(args.kind, args.host, args.port)
    flood = Flood(load)
    lines = [ln for ln in Path(args.tokens).read_text(encoding="utf-8").splitlines() if ln]
    if args.kind == "qunguan":
        hellos = [client_frame(msgpack.packb({"op": "auth", "rid": 1, "token": t})) for t in lines]
    else:
        hellos = [client_frame(t.encode()) for t in lines]
    sem = asyncio.Semaphore(args.concurrency)
    firsts = [asyncio.Event() for _ in range(args.unauth)]
    unauth_tasks = [asyncio.create_task(flood.unauth(sem, ev)) for ev in firsts]
    ready = False

    async def report() -> None:
        while True:
            print(flood.status(ready), flush=True)
            await asyncio.sleep(1.0)

    reporter = asyncio.create_task(report())
    idle_conns = await asyncio.gather(*(flood.idle(sem, h, IDLE_ADDRS[i % len(IDLE_ADDRS)])
                                        for i, h in enumerate(hellos)))
    await asyncio.gather(*(ev.wait() for ev in firsts))
    ready = True
    print(flood.status(ready), flush=True)

    # Until stdin closes.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    flood.stopping = True
    reporter.cancel()
    for t in unauth_tasks:
        t.cancel()
    for c in [*idle_conns, *load.conns]:
        if c is not None and c.transport is not None:
            c.transport.abort()


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--kind", choices=("baseline", "qunguan"), required=True)
    p.add_argument("--unauth", type=int, default=0)
    p.add_argument("--tokens", required=True)
    p.add_argument("--concurrency", type=int, default=200)
    args = p.parse_args()
    raise_nofile()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(main(args))
    else:
        uvloop.run(main(args))


if __name__ == "__main__":
    cli()
