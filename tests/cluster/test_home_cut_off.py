"""What a gateway sends while the *home* is cut off from NATS (for less than a lease) is lost:
NATS delivers at most once. A connection that closed meanwhile (its GONE lost) must not stay on
the home for good: the home's heartbeat says it reconnected, the gateway re-registers its
connections and lists them, and the home lets go of the others."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tests.cluster.harness import Cluster, Node, broker_through_relay, resumed
from tests.e2e.harness import open_group

CUT = 1.2  # seconds: well under the lease (3 s)


async def _connections(node: Node) -> int:
    code, out, err = await node.admin("ping")
    assert code == 0, (out, err)
    return int(json.loads(out.strip().splitlines()[-1])["connections"])


async def test_a_goodbye_lost_while_the_home_is_cut_off_does_not_leave_the_connection_there(
        tmp_path: Path) -> None:
    c = Cluster(tmp_path, size=2)
    home_node = c.nodes[0]  # n1 starts first: the home
    relay = broker_through_relay(home_node)
    try:
        await asyncio.to_thread(c.start)
        assert c.home() is home_node
        [gw] = c.gateways()
        stays, leaves = await gw.user(), await gw.user()
        await asyncio.sleep(0.5)
        before = await _connections(home_node)

        reopened = relay.cut_for(CUT)
        await asyncio.sleep(0.3)
        await leaves.close()  # its GONE goes to the home while the home is not on NATS
        await asyncio.to_thread(reopened.wait, 10)
        await asyncio.sleep(1.5)  # a few heartbeats after the home is back

        assert await _connections(home_node) == before - 1, "the closed connection stayed on the home"
        assert (await stays.request("me"))["user_id"] == stays.user_id  # the other carries on, logged in
        assert c.lease() is not None and c.lease()[1] == 1  # type: ignore[index]  # no failover on the way
        await stays.close()
    finally:
        await asyncio.to_thread(c.cleanup)
        relay.close()


async def test_a_home_cut_off_from_nats_for_good_gives_the_lease_up(tmp_path: Path) -> None:
    """The home can still renew its lease in PostgreSQL but no longer reach NATS (its link to the
    broker is cut and stays cut): the gateways hear no home and cannot take a lease it renews, so
    the whole service would answer `internal` until the link healed. After a few lease periods cut
    off, the home gives the lease up and stops; a gateway takes over and serves its clients."""
    c = Cluster(tmp_path, size=2)
    home_node = c.nodes[0]
    relay = broker_through_relay(home_node)
    try:
        await asyncio.to_thread(c.start)
        assert c.home() is home_node
        [gw] = c.gateways()
        owner = await gw.user()
        gid = await open_group(owner)
        relay.cut()  # for good
        deadline = time.monotonic() + 6 * c.lease_seconds + 10
        new_home = None
        while time.monotonic() < deadline and new_home is None:
            await asyncio.sleep(0.25)
            new_home = c.home_now()
            new_home = new_home if new_home is gw else None
        assert new_home is gw, f"no takeover while the home was cut off from NATS: lease {c.lease()}"
        assert not home_node.alive, "the home that gave its lease up is still running"
        await asyncio.to_thread(c.wait_ready, 10.0, [gw])
        again = await resumed(owner) if owner.closed else owner
        assert (await again.request("send", group_id=gid, text="after"))["seq"] >= 1
        await again.close()
    finally:
        await asyncio.to_thread(c.cleanup)
        relay.close()
