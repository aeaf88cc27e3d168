"""A home stopped cleanly (SIGTERM, as at a rolling restart) gives its lease back and says so in a
last heartbeat (wire.RELEASED): a gateway takes the lease at once, not after a lease period of
silence. With a long lease the difference is plain: before, the gateway waited the lease out."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from tests.cluster.harness import Cluster

LEASE = 6.0


def test_a_cleanly_stopped_home_is_followed_at_once(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=2, lease_seconds=LEASE)
    home, gateway = c.home(), c.gateways()[0]
    assert home.proc is not None
    home.proc.send_signal(signal.SIGTERM)
    assert home.proc.wait(15) == 0
    gone = time.monotonic()
    assert c.wait_home(timeout=3 * LEASE, not_=home) is gateway
    took = time.monotonic() - gone
    assert took < LEASE / 3, f"the gateway took over {took:.1f} s after the home stopped"
    assert "gave the lease back" in gateway.log()
