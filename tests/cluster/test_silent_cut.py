"""A node whose link to NATS drops every packet without a reset (a firewall's silent drop): its NATS
client thinks it is connected, so nothing says "disconnected", while no gateway hears it and none
may take the lease it keeps renewing. It notices that none of its own heartbeats come back, hands
the lease over and stops (exit 3, to restart as a gateway); a gateway serves the clients again.
Before, the whole service waited for the NATS client's own pings: two minutes apart by default."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.cluster.harness import Cluster, broker_through_relay
from tests.e2e.harness import open_group

LEASE = 1.0


async def test_a_home_whose_nats_link_drops_silently_hands_over_within_a_few_leases(tmp_path: Path) -> None:
    c = Cluster(tmp_path, size=2, lease_seconds=LEASE)
    home_node = c.nodes[0]
    relay = broker_through_relay(home_node)
    try:
        c.start()
        assert c.home() is home_node
        gateway = c.nodes[1]
        client = await gateway.user()
        gid = await open_group(client)

        relay.stall()
        stalled = time.monotonic()
        new_home = c.wait_home(timeout=20.0, not_=home_node)
        took = time.monotonic() - stalled
        assert new_home is gateway
        assert home_node.proc is not None
        status = home_node.exit_status(10)
        assert status == 3, f"the cut-off home still runs (exit status {status})"
        assert "cut off from NATS" in home_node.log()
        # 3 leases of silence, the hand-over, the gateway's take and its state load
        assert took < 10 * LEASE + 5, took
        # the client on the gateway is served by the new home (after the 1013 a failover closes with)
        again = await gateway.client()
        reply = await again.call("auth", token=client.token)
        deadline = time.monotonic() + 10
        while not reply["ok"] and reply["code"] == "internal" and time.monotonic() < deadline:
            time.sleep(0.2)
            reply = await again.call("auth", token=client.token)
        assert reply["ok"], reply
        assert (await again.send(gid, "served again"))["seq"] >= 1
    finally:
        c.cleanup()
        relay.close()


async def test_a_gateway_whose_nats_link_drops_silently_does_not_take_the_lease(tmp_path: Path) -> None:
    """Its NATS client still says "connected" for a few leases, and it hears no home: it contested,
    and took a free lease it could serve no gateway under (until its own heartbeats went missing and
    it stopped again). Now it asks NATS for a ping first, and leaves the lease until NATS answers."""
    c = Cluster(tmp_path, size=2, lease_seconds=LEASE)
    home_node, gateway = c.nodes
    relay = broker_through_relay(gateway)
    try:
        c.start()
        assert c.home() is home_node
        relay.stall()
        time.sleep(LEASE)  # (the gateway stops hearing the home)
        home_node.stop()  # the lease is given back at once
        free_since = time.monotonic()
        while time.monotonic() - free_since < 4 * LEASE:
            lease = c.lease()
            assert lease is None or lease[0] != gateway.node_id or not lease[2], \
                f"a gateway NATS could not reach took the lease: {lease}"
            time.sleep(0.05)
        assert "NATS did not answer a ping" in gateway.log()
        relay.unstall()
        assert c.wait_home(timeout=20.0) is gateway
        assert "NATS answers again" in gateway.log()
    finally:
        c.cleanup()
        relay.close()


async def test_a_gateway_whose_ping_was_answered_late_still_hears_nats(tmp_path: Path) -> None:
    """The ping a gateway sends before contesting was cancelled when it timed out; nats-py kept it in
    its list of pings, and the late answer ended the client's read loop: the gateway, "connected",
    heard nothing more (no event for its clients, no home) until its pings went stale."""
    c = Cluster(tmp_path, size=2, lease_seconds=3.0)
    home_node, gateway = c.nodes
    relay = broker_through_relay(gateway)
    try:
        c.start()
        assert c.home() is home_node
        owner = await home_node.user()
        gid = await open_group(owner)
        member = await gateway.user()
        await member.request("join_group", group_id=gid)
        relay.hold()  # everything late, nothing lost: the gateway stops hearing the home and contests
        held = time.monotonic()
        while "NATS did not answer a ping" not in gateway.log():
            assert time.monotonic() - held < 6.0, "the gateway never contested"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        relay.release()  # the late answers come, the pings' among them
        await asyncio.sleep(1.0)
        member.drain_events()
        await owner.send(gid, "heard?")
        assert (await member.next_event("message", timeout=3.0))["text"] == "heard?"
        assert c.home() is home_node
    finally:
        c.cleanup()
        relay.close()
