"""The cluster's NATS dies mid-chat and comes back on the same port: the nodes reconnect, the
home keeps its lease, sends work across nodes again and history has no gap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from tests.cluster.harness import Chat, Cluster, NatsServer, check_after_broker_outage

OUTAGE = 4.0  # seconds without a broker: longer than the lease (3 s), so the gateways give the home up


@pytest.fixture
def private_nats() -> Iterator[NatsServer]:
    """A nats-server of this test's own, on a free port: this test kills it, so it cannot use the
    machine's NATS on 4222 that every other cluster test shares. Set up before the cluster, so torn
    down after it (the nodes stop while their broker is still there)."""
    why = NatsServer.missing()
    if why is not None:
        pytest.skip(why)
    server = NatsServer().start()
    yield server
    server.kill9()


async def test_broker_restart_mid_chat(private_nats: NatsServer, make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(broker_url=private_nats.url)
    home = c.home()
    epoch = c.lease()[1]  # type: ignore[index]
    chat = await Chat.start(c)

    private_nats.kill9()
    await asyncio.sleep(OUTAGE)
    await asyncio.to_thread(private_nats.start)
    await chat.back(time.monotonic(), "NATS back")
    await asyncio.to_thread(c.wait_ready, 10.0)
    assert c.home() is home and c.lease()[1] == epoch  # type: ignore[index]  # the lease is in PostgreSQL

    await check_after_broker_outage(c, chat.gid, home, chat.senders, chat.receivers)
    print(f"resumed: {sum(s.resumed for s in chat.senders)} senders")
    await chat.close()
