"""The cluster's NATS dies mid-chat and comes back on the same port: the nodes reconnect, the
home keeps its lease, sends work across nodes again and history has no gap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from server.cluster.gateway import EVENTS_LOST
from tests.cluster.harness import (
    Cluster,
    NatsServer,
    Sender,
    assert_in_seq_order,
    full_history,
    members_on,
    message_events,
    messages_events_so_far,
    resumed,
)
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

    # A gateway that lost events meanwhile (published by the home before the gateway was back on
    # NATS) has its clients resume: closed with 1013, they connect again and read history. It may
    # learn of the loss only from the home's heartbeats, a lease period after the fact.
    await asyncio.sleep(c.lease_seconds + 1.0)
    live_events = [messages_events_so_far(rcv, gid) for rcv in receivers]  # (some lost with the broker)
    for i, rcv in enumerate(receivers):
        if not rcv.closed:  # then it missed nothing: its node would have had it resume otherwise
            seqs = [ev["seq"] for ev in live_events[i]]
            missed = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs))
            assert not missed, f"a connection left open missed {len(missed)} events, from seq {missed[:1]}"
        else:
            assert (rcv.ws.close_code, rcv.ws.close_reason) == (1013, EVENTS_LOST), (rcv.ws.close_code,
                                                                                    rcv.ws.close_reason)
            assert rcv.node is not home  # type: ignore[attr-defined]  # (the home loses nothing)
            receivers[i] = await resumed(rcv)

    # History: every acknowledged message, and no gap.
    history = await full_history(receivers[1], gid)
    stored = {m["seq"]: m["text"] for m in history}
    acked = {cmid: seq for s in senders for cmid, seq in s.acked.items()}
    assert {cmid: seq for cmid, seq in acked.items() if stored.get(seq) != cmid} == {}
    assert list(stored) == list(range(1, len(history) + 1)), "history has a gap"
    assert len(set(stored.values())) == len(stored), "a message is stored twice"
    assert c.db_rows("SELECT seq, text FROM messages WHERE group_id = ? ORDER BY seq", gid) == list(stored.items())
    for events in live_events:
        assert_in_seq_order(events)
        assert all(stored.get(ev["seq"]) == ev["text"] for ev in events)

    # Sends work across nodes again: one from each node reaches the receivers on every node.
    for i, cl in enumerate(s.c for s in senders):  # (a sender that resumed has a new connection)
        await cl.send(gid, f"after-{i}")
        for rcv in receivers:
            [ev] = await message_events(rcv, gid, 1, timeout=5.0)
            assert ev["text"] == f"after-{i}"
    print(f"resumed: {sum(s.resumed for s in senders)} senders")
    for cl in [owner, *chatters, *(s.c for s in senders), *receivers]:
        await cl.close()
