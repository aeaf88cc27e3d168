"""A node that is stopping never takes the home lease (a reviewer's case: SIGTERM to every node
of a cluster one after the other, as the README's stop step does, let a gateway already shutting
down take the lease the home gave back; in one run it then hung holding it, and nobody served the
service until it was killed)."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable

from tests.cluster.harness import Cluster

LEASE = 6.0


def test_a_stopping_gateway_leaves_the_released_lease_to_a_node_that_serves(
        make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=3, lease_seconds=LEASE)
    home, (stopping, serving) = c.home(), c.gateways()
    assert home.proc is not None and stopping.proc is not None
    host, port = stopping.url.removeprefix("ws://").split("/")[0].rsplit(":", 1)
    # An opening handshake sent in part holds the gateway's stop for its close timeout (2 s) before
    # it reaches the cluster: the home's release lands in that window, as in the reviewer's run.
    with socket.create_connection((host, int(port))) as half_open:
        half_open.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.2)
        stopping.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        home.proc.send_signal(signal.SIGTERM)
        assert home.proc.wait(15) == 0
        assert stopping.proc.wait(15) == 0
    assert c.wait_home(timeout=3 * LEASE, not_=home) is serving
    assert "takes the home lease" not in stopping.log(), stopping.log()
    # and a clean stop is no crash: its loops, told to end, are not taken for a task that died
    for node in (home, stopping):
        assert "this node stops" not in node.log() and "ERROR" not in node.log(), node.log()
