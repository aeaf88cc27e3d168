"""The GC policy (server/gcpolicy.py): closed connections are freed without the collector; young
survivors are frozen on the clock; the reclaim frees cyclic garbage among frozen objects."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest
import uvloop
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from protocol.codec import SUBPROTOCOLS
from server import gcpolicy, proxy
from server.app import _select_subprotocol

UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


@pytest.fixture
def gc_state() -> Iterator[None]:
    """Leave the collector as the test found it (enabled, nothing frozen, the same thresholds)."""
    thresholds = gc.get_threshold()
    enabled = gc.isenabled()
    gc.collect()
    yield
    running = gcpolicy.running()
    if running is not None:
        running.stop()
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()
    gc.collect()


def _frame(opcode: int, payload: bytes = b"") -> bytes:
    return bytes((0x80 | opcode, 0x80 | len(payload))) + b"\0\0\0\0" + payload  # masked with a zero key


async def _client(port: int, how: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(UPGRADE)
    await reader.readuntil(b"\r\n\r\n")
    if how == "server closes":  # the auth timeout: the server sends a close frame, the client answers it
        data = await reader.readexactly(4)
        await reader.readexactly(data[1] - 2)
        writer.write(_frame(8, data[2:4]))
        await reader.read()
    elif how == "client closes":
        writer.write(_frame(8, b"\x03\xe8"))
        await reader.read()
    elif how == "client drops":  # no close frame: the parser ends on EOFError
        writer.write(_frame(2, b"hi"))
        await reader.readexactly(2 + 2)
    writer.close()


async def _closed_connections_left(how: str, n: int) -> tuple[int, int]:
    conns: list[weakref.ref[ServerConnection]] = []
    protocols: list[weakref.ref[ServerProtocol]] = []

    async def handler(ws: ServerConnection) -> None:
        conns.append(weakref.ref(ws))
        protocols.append(weakref.ref(ws.protocol))
        if how == "server closes":
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(ws.close(1008, "timeout")))
        try:
            async for _ in ws:
                await ws.send(b"ok")
        except ConnectionClosed:
            pass

    connection = proxy.connection_class((), False, handshake_timeout=60.0)
    server = await serve(handler, "127.0.0.1", 0, subprotocols=[Subprotocol(p) for p in SUBPROTOCOLS],
                         select_subprotocol=_select_subprotocol, create_connection=connection,
                         compression=None, close_timeout=2)
    try:
        port = server.sockets[0].getsockname()[1]
        await asyncio.gather(*(_client(port, how) for _ in range(n)))
        for _ in range(100):  # until every connection_lost has run
            if len(conns) == n and not server.connections:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        return sum(1 for r in conns if r() is not None), sum(1 for r in protocols if r() is not None)
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("how", ["server closes", "client closes", "client drops"])
def test_a_closed_connection_is_freed_by_reference_counting(gc_state: None, how: str) -> None:
    """With the collector off, nothing of a closed connection may stay: frozen, a cycle would never go."""
    gc.disable()
    left = uvloop.run(_closed_connections_left(how, 20))
    assert left == (0, 0)


def test_the_check_sees_a_cycle(gc_state: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without drop_cycles every closed connection stays until a collection (websockets 17)."""
    monkeypatch.setattr(gcpolicy, "drop_cycles", lambda conn: None)
    gc.disable()
    conns, protocols = uvloop.run(_closed_connections_left("server closes", 5))
    assert conns == 5 and protocols == 5
    gc.collect()


async def test_the_clock_freezes_young_survivors_and_collects_young_garbage(gc_state: None) -> None:
    policy = gcpolicy.GcPolicy(tick=0.02)
    policy.start()
    try:
        assert gc.get_threshold()[0] == gcpolicy.GEN0_THRESHOLD
        frozen = gc.get_freeze_count()
        kept = [[i] for i in range(20_000)]  # long-lived: survive and are frozen
        dead = weakref.ref(_cycle())  # young cyclic garbage: collected before the freeze
        for _ in range(250):  # two ticks at least, however busy the machine
            if policy.ticks >= 2:
                break
            await asyncio.sleep(0.02)
        assert policy.ticks >= 2
        assert dead() is None
        assert gc.get_freeze_count() >= frozen + 20_000
        assert len(gc.get_objects(1)) + len(gc.get_objects(2)) < 5_000  # nothing old is left to walk
        assert len(kept) == 20_000
    finally:
        policy.stop()


def test_the_clock_waits_while_the_collector_is_disabled(gc_state: None) -> None:
    policy = gcpolicy.GcPolicy()
    gc.disable()
    assert policy.young() == 0 and policy.ticks == 0


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> _Node:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return a


async def test_the_reclaim_frees_cycles_among_frozen_objects_when_memory_has_grown(gc_state: None) -> None:
    rss = [100 * 2**20]
    now = [0.0]
    policy = gcpolicy.GcPolicy(tick=3600, growth=2.0, min_interval=600, rss=lambda: rss[0], clock=lambda: now[0])
    policy.start()
    try:
        holder = [_cycle() for _ in range(1000)]
        refs = [weakref.ref(n) for n in holder]
        policy.young()  # the cycles are reachable: frozen
        holder.clear()  # now they are garbage, but frozen: no collection sees them
        gc.collect()
        assert sum(1 for r in refs if r() is not None) == 1000
        rss[0] = 250 * 2**20
        now[0] = 599.0
        assert not policy.maybe_reclaim()  # too soon after the start
        now[0] = 601.0
        rss[0] = 199 * 2**20
        assert not policy.maybe_reclaim()  # grown, but not twofold
        rss[0] = 200 * 2**20
        assert policy.maybe_reclaim()
        assert all(r() is None for r in refs)
        assert policy.reclaims == 1 and policy.reclaimed >= 2000
        assert not policy.maybe_reclaim()  # the next one measures from here
    finally:
        policy.stop()


async def test_install_starts_one_clock_per_loop(gc_state: None) -> None:
    first = gcpolicy.install()
    second = gcpolicy.install()  # a cluster node that becomes the home: collect and freeze again
    assert first is second and gcpolicy.running() is first
    first.stop()


async def test_the_start_freezes_what_the_load_made_before_the_listener_opens(tmp_path, monkeypatch) -> None:
    """A stalls review: the full collection of the start ran after "listening", holding the loop
    145-229 ms just as the reconnections after a restart came in. It runs before the listener opens."""
    from server import gcpolicy
    from server.app import App
    from tests.server.test_group_ids import config

    app = App(config(tmp_path))
    app.freeze_at_start = True  # (as run() sets it: the process's own server)
    listening_then: list[bool] = []
    monkeypatch.setattr(gcpolicy.GcPolicy, "freeze_all", staticmethod(
        lambda: listening_then.append(app._server is not None)))
    await app.start()
    try:
        assert listening_then[:1] == [False]
    finally:
        await app.stop()
