"""The cluster's NATS dies mid-chat and comes back on the same port: the nodes reconnect, the
home keeps its lease, sends work across nodes again and history has no gap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from tests.cluster.harness import Cluster, NatsServer, Sender, check_after_broker_outage, members_on
from tests.e2e.harness import open_group

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
    owner = await c.gateways()[0].user()
    gid = await open_group(owner)
    chatters = await members_on(c.nodes, gid, per_node=1, encodings=("msgpack", "json"))
    receivers = await members_on(c.nodes, gid, per_node=1, encodings=("json", "msgpack"))
    senders = [Sender(cl, gid, f"s{i}") for i, cl in enumerate(chatters)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop, timeout=12.0)) for s in senders]
    await asyncio.sleep(0.7)
    assert all(s.acked for s in senders), "the chat did not get going"

    private_nats.kill9()
    await asyncio.sleep(OUTAGE)
    await asyncio.to_thread(private_nats.start)
    back_at = time.monotonic()
    for s in senders:
        s.since = back_at
    deadline = back_at + 15
    while not all(s.first_ok_after is not None for s in senders) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)
    recovered = max(s.first_ok_after or float("inf") for s in senders) - back_at
    print(f"broker restart: every node's sender acknowledged again {recovered:.2f} s after NATS was back; "
          f"acked {sum(len(s.acked) for s in senders)}; "
          f"refused meanwhile: {sorted({reason for s in senders for _, reason, _ in s.errors})}")

    for s in senders:
        assert not s.silent and not s.died, (s.name, s.silent, s.died)
        assert {code for code, _, _ in s.errors} <= {"internal"}, s.errors
        assert s.first_ok_after is not None, f"{s.name}: no send got through after NATS came back"
    await asyncio.to_thread(c.wait_ready, 10.0)
    assert c.home() is home and c.lease()[1] == epoch  # type: ignore[index]  # the lease is in PostgreSQL

    await check_after_broker_outage(c, gid, home, senders, receivers)
    print(f"resumed: {sum(s.resumed for s in senders)} senders")
    for cl in [owner, *chatters, *(s.c for s in senders), *receivers]:
        await cl.close()
