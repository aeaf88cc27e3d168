"""The nodes' broker is a NATS cluster of three servers (``broker_url`` lists them). One is down when
the nodes start: they connect to the others. Then the server the home is connected to dies mid-chat
and never comes back: the nodes on it move to the last one, the home keeps its lease, sends work
across nodes again within a few seconds, and history has no gap. The broker is no longer the one
part that cannot fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from tests.cluster.harness import Chat, Cluster, NatsServer, check_after_broker_outage, nats_cluster

BACK_WITHIN = 6.0  # seconds from the kill until every node's sender is acknowledged again


@pytest.fixture
def three_nats() -> Iterator[list[NatsServer]]:
    """Three private nats-servers routed into one NATS cluster (set up before the nodes, so torn
    down after them)."""
    why = NatsServer.missing()
    if why is not None:
        pytest.skip(why)
    servers = nats_cluster(3)
    yield servers
    for server in servers:
        server.kill9()


def _server_of(servers: list[NatsServer], node_id: str) -> NatsServer:
    """The NATS server a node's connection is on now (its NATS client name is ``node_id/instance``)."""
    [server] = [s for s in servers if any(name.startswith(node_id + "/") for name in s.client_names())]
    return server


async def test_the_nats_server_of_the_home_dies_and_the_nodes_move_to_another(
        three_nats: list[NatsServer], make_cluster: Callable[..., Cluster]) -> None:
    # Every node lists the three servers; nats-py picks among them at random. The first is down
    # already when the nodes start: they connect to the others.
    three_nats[0].kill9()
    up = three_nats[1:]
    c = make_cluster(broker_url=", ".join(s.url for s in three_nats))
    home = c.home()
    epoch = c.lease()[1]  # type: ignore[index]
    chat = await Chat.start(c)

    doomed = _server_of(up, home.node_id)
    on_doomed = [n.node_id for n in c.nodes if _server_of(up, n.node_id) is doomed]
    doomed.kill9()
    back = await chat.back(time.monotonic(), f"NATS server of {on_doomed} killed")
    assert back <= BACK_WITHIN, f"sends worked again only {back:.2f} s after the NATS server died"
    await asyncio.to_thread(c.wait_ready, 10.0)
    # No failover was needed: the home reached another server before any gateway gave it up.
    assert c.home() is home and c.lease()[1] == epoch  # type: ignore[index]
    [survivor] = [s for s in up if s is not doomed]
    for node in c.nodes:
        assert _server_of([survivor], node.node_id) is survivor

    await check_after_broker_outage(c, chat.gid, home, chat.senders, chat.receivers)
    await chat.close()
