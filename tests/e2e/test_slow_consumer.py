"""A member that stops reading is closed (1013) once its outbox overflows; the others keep up."""

from __future__ import annotations

import asyncio
import socket

import msgpack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.harness import ServerProcess, open_group


async def test_non_reading_member_is_dropped_and_others_get_everything(make_server):
    srv = make_server()  # defaults: server.max_outbox_bytes = 1 MiB
    owner = await srv.user()
    reader = await srv.user()
    slow = await srv.user()
    gid = await open_group(owner)
    for c in (reader, slow):
        await c.request("join_group", group_id=gid)
    token = slow.token
    await slow.close()

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", srv.port))
    ws = await connect(srv.url, sock=sock, max_queue=1)
    await ws.send(msgpack.packb({"op": "auth", "rid": 1, "token": token}))
    assert msgpack.unpackb(await ws.recv())["ok"]
    # from here on the slow member never reads

    text = "满" * 3000
    sent = 0
    for _ in range(600):
        await asyncio.gather(*[owner.send(gid, text) for _ in range(10)])
        sent += 10
        if any("stopped reading" in line for line in srv.output):
            break
    assert any("stopped reading" in line for line in srv.output), "the slow member was never dropped"
    for _ in range(sent):  # every message reached the reader who keeps up (a missing one times out)
        await reader.next_event("message", timeout=10)

    closed = None
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as exc:
        closed = exc
    assert closed is not None
    assert closed.rcvd is None or closed.rcvd.code == 1013
    # the group goes on
    assert (await reader.send(gid, "still here"))["seq"] > 0
    for c in (owner, reader):
        await c.close()


async def test_one_reply_larger_than_the_outbox_bound_does_not_close_a_client_that_reads(tmp_path, started, backend):
    """The outbox was measured right after a write: a single history page of long messages, larger than
    ``max_outbox_bytes`` by itself, closed (1013) a client reading as fast as its small socket buffer
    allows, and again at each reconnect. It is the backlog a write finds that counts."""
    srv = ServerProcess(tmp_path, backend=backend)
    srv.config.write_text(srv.config.read_text().replace("[server]\n", "[server]\nmax_outbox_bytes = 65536\n", 1))
    started(srv)
    owner = await srv.user()
    gid = await open_group(owner)
    for i in range(0, 500, 20):  # about 12 KB each: a page of 500 is about 6 MB, more than the kernel takes
        await asyncio.gather(*(owner.send(gid, f"{n} " + "长" * 3990) for n in range(i, i + 20)))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # (the kernel takes little at a time)
    sock.connect(("127.0.0.1", srv.port))
    async with connect(srv.url, sock=sock, max_size=None) as ws:
        await ws.send(msgpack.packb({"op": "auth", "rid": 1, "token": owner.token}))
        assert msgpack.unpackb(await ws.recv())["ok"]
        for rid in (2, 3):  # twice: it stays open for the next request
            await ws.send(msgpack.packb({"op": "history", "rid": rid, "group_id": gid, "limit": 500}))
            reply = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 30))
            assert reply["re"] == rid and len(reply["messages"]) == 500
    assert not any("stopped reading" in line for line in srv.output)
