"""Events the home publishes to a gateway while that gateway is cut off from NATS are lost (NATS
delivers at most once). A gateway sees it by the numbers on the home's messages (a gap, or a
heartbeat naming more than arrived) and has its clients resume: closed with 1013, they connect
again and read ``history``, as a client whose queue overflowed does. A cut during which nothing
was sent to the gateway costs its clients nothing."""

from __future__ import annotations

import asyncio
import time

from server.cluster.gateway import EVENTS_LOST
from tests.cluster.harness import Cluster, CuttableRelay, full_history, resumed
from tests.e2e.harness import open_group

CUT = 1.2  # seconds: well under the lease (3 s), so the gateway keeps the home


async def _closed(client, within: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not client.closed and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return bool(client.closed)


async def test_a_gateway_that_missed_events_has_its_clients_resume(
        gateway_behind_relay: tuple[Cluster, CuttableRelay]) -> None:
    c, relay = gateway_behind_relay
    home, [gw] = c.home(), c.gateways()
    owner = await home.user()
    gid = await open_group(owner)
    member = await gw.user()
    member.node = gw  # type: ignore[attr-defined]
    await member.request("join_group", group_id=gid)
    await owner.send(gid, "before")
    assert (await member.next_event("message"))["text"] == "before"

    # A cut with nothing for the gateway meanwhile: its client stays, and hears what follows.
    await asyncio.to_thread(relay.cut_for(CUT).wait, 10)
    assert not await _closed(member, within=c.lease_seconds + 1.5), (
        "a cut that lost nothing closed the gateway's clients", member.ws.close_code, member.ws.close_reason)
    await owner.send(gid, "between")
    assert (await member.next_event("message", timeout=5))["text"] == "between"

    # A cut while the home sends the group a message and edits it: both events are lost here (the
    # link opens again only once both are published, however long a loaded home took to store them).
    cut_at = time.monotonic()
    await asyncio.to_thread(relay.cut)
    await asyncio.sleep(0.3)
    during = await owner.send(gid, "during")
    assert (await owner.request("edit_message", group_id=gid, seq=during["seq"], text="during, edited"))["ok"]
    await asyncio.sleep(max(0.0, CUT - (time.monotonic() - cut_at)))
    await asyncio.to_thread(relay.open)
    # Nothing else is sent: the gateway learns of the loss from the home's heartbeats.
    assert await _closed(member, within=c.lease_seconds + 3.0), "the client never heard what it missed"
    assert (member.ws.close_code, member.ws.close_reason) == (1013, EVENTS_LOST), (
        member.ws.close_code, member.ws.close_reason)
    assert [ev["text"] for ev in member.drain_events() if ev.get("ev") == "message"] == []

    again = await resumed(member)
    texts = [m["text"] for m in await full_history(again, gid)]
    assert texts == ["before", "between", "during, edited"], texts
    await owner.send(gid, "after")
    assert (await again.next_event("message", timeout=5))["text"] == "after"
    assert not owner.closed  # (the home's own clients lost nothing)
    assert c.lease() is not None and c.lease()[1] == 1  # type: ignore[index]  # no failover on the way
    for cl in (owner, again):
        await cl.close()
