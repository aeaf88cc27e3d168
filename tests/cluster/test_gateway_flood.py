"""A client flooding a gateway with frames while the home is slow holds at most MAX_WAITING of its
requests in flight: the gateway reads its next frame only once the home has answered one.

The home here is the test itself, on the real NATS and PostgreSQL: it holds the home lease (so the
node stays a gateway), heartbeats (so the gateway forwards) and answers when it chooses to."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
from websockets.asyncio.client import connect

from protocol.codec import SUBPROTOCOL_JSON
from server.cluster import wire
from server.cluster.gateway import MAX_WAITING
from server.storage.postgres import PostgresStore
from tests.cluster.harness import BROKER, Cluster

FLOOD = 5 * MAX_WAITING


async def test_a_flooding_client_holds_at_most_max_waiting_requests_at_the_home(tmp_path: Path) -> None:
    c = Cluster(tmp_path, size=1, request_timeout_seconds=300.0)
    [gw] = c.nodes
    subjects = wire.Subjects(c.name)
    store = PostgresStore(c.pg_url)
    await store.open()  # the schema, so that the test can hold the lease before the node starts
    try:
        assert await store.take_lease(wire.HOME_LEASE, "test-home/0", 600.0) == 1
    finally:
        await store.close()
    nc = await nats.connect(BROKER)
    forwarded: list[tuple[str, int, Any]] = []  # (gateway instance, connection, frame) of each REQ

    async def home_in(msg: Any) -> None:
        items = wire.unpack_stream(msg.data)
        _, instance = next(items)  # (then a STAMP item, skipped below)
        forwarded.extend((instance, it[1], it[2]) for it in items if it[0] == wire.REQ)

    async def heartbeat() -> None:
        while True:
            await nc.publish(subjects.heartbeat, wire.pack(["test-home", 1]))
            await asyncio.sleep(0.3)

    async def info(msg: Any) -> None:  # (as a home answers: a gateway that asks finds it alive)
        await msg.respond(b"")

    await nc.subscribe(subjects.home_in, cb=home_in)
    await nc.subscribe(subjects.info, cb=info)
    beating = asyncio.create_task(heartbeat())
    try:
        await asyncio.to_thread(gw.start)
        await asyncio.to_thread(c.wait_ready)
        async with connect(gw.url, subprotocols=[SUBPROTOCOL_JSON]) as ws:  # type: ignore[list-item]
            for rid in range(1, FLOOD + 1):
                await ws.send(json.dumps({"op": "me", "rid": rid}))
            await asyncio.sleep(1.5)
            assert len(forwarded) == MAX_WAITING, f"{len(forwarded)} of {FLOOD} frames forwarded unanswered"

            # Answering ten of them lets ten more through, in the client's order.
            instance, conn, _ = forwarded[0]
            reply = [[wire.REPLY, json.dumps({"re": rid, "ok": True}), conn, rid] for rid in range(1, 11)]
            await nc.publish(subjects.node(gw.node_id), b"".join(wire.pack(x) for x in [[1, instance], *reply]))
            answers = [json.loads(await asyncio.wait_for(ws.recv(), 5.0)) for _ in range(10)]
            assert [a["re"] for a in answers] == list(range(1, 11))
            await asyncio.sleep(1.0)
            assert [json.loads(f)["rid"] for _, _, f in forwarded] == list(range(1, MAX_WAITING + 11))
    finally:
        beating.cancel()
        await nc.close()
        await asyncio.to_thread(c.cleanup)
