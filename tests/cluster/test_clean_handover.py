"""A home stopped cleanly (SIGTERM, as at a rolling restart) gives its lease back and says so in a
last heartbeat (wire.RELEASED): a gateway takes the lease at once, not after a lease period of
silence. With a long lease the difference is plain: before, the gateway waited the lease out."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

from websockets.asyncio.client import connect

from tests.cluster.harness import Cluster

LEASE = 6.0


def test_a_cleanly_stopped_home_is_followed_at_once(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=2, lease_seconds=LEASE)
    home, gateway = c.home(), c.gateways()[0]
    assert home.proc is not None

    async def knock() -> None:  # a connection that never logs in: counted, one row at the stop
        async with connect(home.url, subprotocols=["qunguan.v1+json"]):  # type: ignore[list-item]
            pass
    asyncio.run(knock())
    home.proc.send_signal(signal.SIGTERM)
    assert home.proc.wait(15) == 0
    gone = time.monotonic()
    assert c.wait_home(timeout=3 * LEASE, not_=home) is gateway
    took = time.monotonic() - gone
    assert took < LEASE / 3, f"the gateway took over {took:.1f} s after the home stopped"
    assert "gave the lease back" in gateway.log()
    # Its last network-log rows were stored before it let the lease go (after, they were fenced:
    # refused, and the clean stop logged as a lost lease).
    assert "another node holds the home lease" not in home.log(), home.log()
    assert c.db_rows("SELECT COUNT(*) FROM netlog WHERE kind = 'unauthenticated'") != [(0,)]
