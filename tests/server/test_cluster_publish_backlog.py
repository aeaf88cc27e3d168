"""A gateway reads a client no faster than the broker takes what it forwards: a reviewer's one
client, pipelining 900 KB frames, grew a gateway to 5 GB in 20 s (the home answered each frame
before its publish to NATS was done, so nothing slowed the client). The node's publishes waiting
for NATS are counted in bytes; past PUBLISH_BACKLOG_BYTES the gateway's forward waits.

A node built in this process and not started, as in test_cluster_gateway_answers.py, with a broker that
takes publishes as slowly as the test says; a flood through real NATS is tests/cluster/test_gateway_flood.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from server.cluster.gateway import Gateway
from server.cluster.node import PUBLISH_BACKLOG_BYTES
from tests.server.test_cluster_gateway_answers import FakeSession, gateway_app


class SlowBroker:
    """A NATS connection whose publishes finish only once ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.published = 0

    async def publish(self, subject: str, data: bytes) -> None:
        await self.release.wait()
        self.published += len(data)


async def test_a_gateway_stops_reading_a_client_while_the_broker_lags(tmp_path) -> None:
    app = gateway_app(tmp_path)
    node: Any = app.cluster
    broker = SlowBroker()
    node.nc = broker
    gw = Gateway(app, "n2", "i2", node.subjects, node._publish, 1 << 20, room=node.publish_room)
    gw.on_heartbeat("n1", 1)  # a home is there
    sess = FakeSession()
    gw.opened(sess)  # type: ignore[arg-type]
    pad = "x" * 600_000
    forwarded = 0

    async def client() -> None:
        nonlocal forwarded
        for rid in range(1, 60):
            await gw.forward(sess, json.dumps({"op": "me", "rid": rid, "pad": pad}))  # type: ignore[arg-type]
            forwarded += 1
            await asyncio.sleep(0)  # (the outbox publishes at the end of the loop iteration)

    task = asyncio.create_task(client())
    await asyncio.sleep(0.5)
    assert not task.done()  # held: the broker has taken nothing
    assert node.publishing <= PUBLISH_BACKLOG_BYTES + 2 * 700_000, node.publishing
    assert forwarded < 40, forwarded  # (all 59 at once before)
    broker.release.set()  # the broker catches up: the client is read again
    await asyncio.wait_for(task, 10)
    assert forwarded == 59 and node.publishing == 0
