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

from tests.cluster.harness import (
    Cluster,
    NatsServer,
    Sender,
    check_after_broker_outage,
    members_on,
    nats_cluster,
)
from tests.e2e.harness import open_group

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
    owner = await c.gateways()[0].user()
    gid = await open_group(owner)
    chatters = await members_on(c.nodes, gid, per_node=1, encodings=("msgpack", "json"))
    receivers = await members_on(c.nodes, gid, per_node=1, encodings=("json", "msgpack"))
    senders = [Sender(cl, gid, f"s{i}") for i, cl in enumerate(chatters)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop, timeout=12.0)) for s in senders]
    await asyncio.sleep(0.7)
    assert all(s.acked for s in senders), "the chat did not get going"

    doomed = _server_of(up, home.node_id)
    on_doomed = [n.node_id for n in c.nodes if _server_of(up, n.node_id) is doomed]
    doomed.kill9()
    killed_at = time.monotonic()
    for s in senders:
        s.since = killed_at
    deadline = killed_at + 15
    while not all(s.first_ok_after is not None for s in senders) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)
    back = max(s.first_ok_after or float("inf") for s in senders) - killed_at
    print(f"NATS server of {on_doomed} killed: every node's sender acknowledged again {back:.2f} s later; "
          f"acked {sum(len(s.acked) for s in senders)}; "
          f"refused meanwhile: {sorted({reason for s in senders for _, reason, _ in s.errors})}")

    for s in senders:
        assert not s.silent and not s.died, (s.name, s.silent, s.died)
        assert {code for code, _, _ in s.errors} <= {"internal"}, s.errors
    assert back <= BACK_WITHIN, f"sends worked again only {back:.2f} s after the NATS server died"
    await asyncio.to_thread(c.wait_ready, 10.0)
    # No failover was needed: the home reached another server before any gateway gave it up.
    assert c.home() is home and c.lease()[1] == epoch  # type: ignore[index]
    [survivor] = [s for s in up if s is not doomed]
    for node in c.nodes:
        assert _server_of([survivor], node.node_id) is survivor

    await check_after_broker_outage(c, gid, home, senders, receivers)
    for cl in [owner, *chatters, *(s.c for s in senders), *receivers]:
        await cl.close()
