"""A close the home sends to a gateway while that gateway is cut off from NATS (for less than a
lease, so nobody notices a missing home) is lost: NATS delivers at most once. The gateway
registers its connections again when it is back, and the home repeats the close."""

from __future__ import annotations

import asyncio
import time

from tests.cluster.harness import Cluster, CuttableRelay

CUT = 1.2  # seconds: well under the lease (3 s), so the gateway keeps the home


async def test_a_logout_while_a_gateway_is_cut_off_still_closes_its_connection(
        gateway_behind_relay: tuple[Cluster, CuttableRelay]) -> None:
    c, relay = gateway_behind_relay
    home, [gw] = c.home(), c.gateways()
    owner = await home.user()
    assert owner.token is not None
    elsewhere = await gw.client()
    await elsewhere.auth(owner.token)  # the same token, on the gateway

    reopened = relay.cut_for(CUT)
    await asyncio.sleep(0.3)
    assert (await owner.call("logout"))["ok"]  # closes every other connection of that token
    await asyncio.to_thread(reopened.wait, 10)
    back = time.monotonic()
    while not elsewhere.closed and time.monotonic() - back < 5.0:
        await asyncio.sleep(0.05)
    assert elsewhere.closed, "the connection of a revoked token stays open on the gateway"
    assert elsewhere.ws.close_code == 1008 and elsewhere.ws.close_reason == "logged out", (
        elsewhere.ws.close_code, elsewhere.ws.close_reason)
    assert c.lease() is not None and c.lease()[1] == 1  # type: ignore[index]  # no failover on the way
    await owner.close()
