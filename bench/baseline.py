"""The baseline: the smallest websockets + uvloop broadcast server (a plain relay, not a ceiling:
it writes each message to each recipient with one ``send``, coalescing nothing).

Each connection's first frame names its room; every later frame is relayed to
every other connection of that room with ``websockets.asyncio.server.broadcast``.
No auth, no storage, no checks, no decoding. The only extra is a one-frame
``joined`` reply to the room frame, so the load generator knows the
connection is in its room before the measured phase starts.

    python -m bench.baseline [--host 127.0.0.1] [--port 0]

prints ``listening on ws://HOST:PORT/ws`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal

from websockets.asyncio.server import ServerConnection, broadcast, serve

JOINED = b"joined"


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


async def main(host: str, port: int) -> None:
    rooms: dict[bytes | str, set[ServerConnection]] = {}

    async def handler(ws: ServerConnection) -> None:
        name = await ws.recv()
        room = rooms.setdefault(name, set())
        room.add(ws)
        try:
            await ws.send(JOINED)
            async for frame in ws:
                broadcast([c for c in room if c is not ws], frame)
        finally:
            room.discard(ws)

    # Same transport settings as qunguan's defaults: no compression, 1 MiB frames, 30 s pings.
    async with serve(handler, host, port, compression=None, max_size=1 << 20,
                     ping_interval=30, ping_timeout=30) as server:
        real_port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://{host}:{real_port}/ws", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    raise_nofile()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(main(args.host, args.port))
    else:
        uvloop.run(main(args.host, args.port))


if __name__ == "__main__":
    cli()
