"""``ping`` is answered by the node the client is connected to, whatever the home is doing.

docs/protocol.md: a cluster's gateway answers it itself; it never reaches the home. A gateway that
heard no home (cut off from NATS past a lease, or during a failover) answered it ``internal`` with
every other request: a client's probe of a live connection was told it failed. Found by a review of
what a gateway's clients get that a single node's do not.
"""

from __future__ import annotations

import asyncio
import time

from tests.cluster.harness import Cluster, CuttableRelay


async def test_a_gateway_answers_ping_ok_while_it_hears_no_home(
        gateway_behind_relay: tuple[Cluster, CuttableRelay]) -> None:
    c, relay = gateway_behind_relay
    home, [gw] = c.home(), c.gateways()
    on_home, on_gw = await home.user(), await gw.user()
    fresh = await gw.client()  # not logged in: ping is open before login
    for cl in (on_home, on_gw, fresh):
        assert (await cl.call("ping"))["ok"]

    reopened = relay.cut_for(2 * c.lease_seconds + 2)
    deadline = time.monotonic() + 2 * c.lease_seconds
    while gw.ready() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not gw.ready(), "the gateway is still on NATS"
    await asyncio.sleep(c.lease_seconds + 0.5)  # the gateway takes the home for gone after a lease
    try:
        me = await on_gw.call("me")  # (what any other request gets meanwhile: the home is not heard)
        assert me["code"] == "internal" and me["reason"].startswith("no node serves"), me
        answers = {"logged in": await on_gw.call("ping"), "before login": await fresh.call("ping")}
        assert all(r["ok"] for r in answers.values()), answers
        assert (await on_home.call("ping"))["ok"]
    finally:
        await asyncio.to_thread(reopened.wait, 20)
        for cl in (on_home, on_gw, fresh):
            await cl.close()
