"""reset_password on a gateway's connection logged in to the account signs it out there too, and closes
the account's connections on the other nodes (from a review of the account lifecycle)."""

from __future__ import annotations

import asyncio

from tests.cluster.harness import Cluster
from tests.e2e.harness import closed_by_server, open_group


async def test_reset_password_on_a_gateway_connection_signed_in_to_the_account_signs_it_out(cluster: Cluster) -> None:
    home = cluster.home()
    gw, far = cluster.gateways()
    owner = await home.user(verify_id=True)
    alice = await gw.user()
    gid = await open_group(owner)
    await alice.request("join_group", group_id=gid)
    on_far = await far.client()
    await on_far.login(alice.username, "password123")  # type: ignore[attr-defined]
    token = alice.token
    await alice.request("request_code", phone=alice.phone)  # type: ignore[attr-defined]
    code = cluster.last_code(alice.phone)  # type: ignore[attr-defined]
    assert (await alice.call("reset_password", phone=alice.phone, code=code,  # type: ignore[attr-defined]
                             new_password="cluster-reset-1"))["ok"]
    assert await closed_by_server(on_far) == (1008, "the password was changed")
    fresh = await home.client()
    assert (await fresh.call("auth", token=token))["code"] == "unauthenticated"
    alice.drain_events()
    await owner.send(gid, "still here?")
    await asyncio.sleep(0.5)
    got = [e for e in alice.drain_events() if e.get("ev") == "message"]
    me = await alice.call("me")
    assert me.get("code") == "unauthenticated" and got == [], (me, got)
