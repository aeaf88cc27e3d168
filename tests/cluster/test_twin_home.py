"""Two running nodes with one ``cluster.node_id``, one of them the home: its twin is a gateway whose
link replaces none at the home (the home has no link for itself), so only the home's own node id
tells the two apart. The newer of the two stops, as between two gateway twins: the gateway when it
started later, the home itself (handing the lease over, exit status 2) when it did.

A twin gets past the start check (``<name>.id.<node_id>``) when the node with its id does not
answer within the check's second: here that node is frozen (SIGSTOP, as a long pause would) while
the twin starts, then thawed.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

from tests.cluster.harness import Cluster, Node, wait_stopped


def _twin_of(c: Cluster, node: Node) -> Node:
    """A second node with ``node``'s config (so its node id), started while ``node`` is frozen."""
    twin = Node(c, f"{node.node_id}-twin", node.config.read_text(encoding="utf-8"))
    c.nodes.append(twin)  # (stopped, and its output shown, by the cluster's cleanup)
    assert node.proc is not None
    node.proc.send_signal(signal.SIGSTOP)
    wait_stopped(node.proc.pid)
    # (started in a thread: a node says it listens once it hears a home, and the home is frozen; thawed
    # once the twin has joined the cluster, past its node-id check)
    starting = threading.Thread(target=twin.start, daemon=True)
    try:
        starting.start()
        deadline = time.monotonic() + 30.0
        while f"cluster node {node.node_id} (service" not in twin.log():
            assert time.monotonic() < deadline, twin.log()
            time.sleep(0.05)
    finally:
        node.proc.send_signal(signal.SIGCONT)
    starting.join(60)
    return twin


def _holder(c: Cluster) -> str:
    rows = c.db_rows("SELECT holder FROM cluster_leases WHERE name = 'home' AND expires_at > now()")
    return str(rows[0][0]) if rows else ""


def test_the_home_stops_a_newer_twin_of_its_own(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=1, lease_seconds=10.0)  # (the home's freeze must not cost it its lease)
    home = c.home()
    holder = _holder(c)
    twin = _twin_of(c, home)
    status = twin.exit_status(15.0)
    assert status == 2, f"the twin of the home still runs beside it (exit status {status})"
    assert "stopping: another running node uses the node id n1" in twin.log()
    assert "two running nodes use the node id n1" in home.log()
    assert home.alive and _holder(c) == holder and c.home() is home


def test_a_home_newer_than_its_twin_hands_the_lease_over_and_stops(make_cluster: Callable[..., Cluster]) -> None:
    """n2 (a gateway) is frozen while its twin starts; the home n1 dies, the twin takes the lease
    (the only gateway that answers); n2, thawed, talks to it: the twin, newer, stops and n2 is
    the home."""
    c = make_cluster(size=2)
    n1, n2 = c.nodes
    assert c.home() is n1
    assert n2.proc is not None
    n2.proc.send_signal(signal.SIGSTOP)
    wait_stopped(n2.proc.pid)
    try:
        twin = Node(c, "n2-twin", n2.config.read_text(encoding="utf-8"))
        c.nodes.append(twin)
        twin.start()
        n1.kill9()
        deadline = time.monotonic() + 15.0
        while "node n2 is the home node" not in twin.log():
            assert time.monotonic() < deadline, "the twin did not take the lease"
            time.sleep(0.05)
        twin_holder = _holder(c)
        assert twin_holder.startswith("n2/"), twin_holder
    finally:
        n2.proc.send_signal(signal.SIGCONT)
    status = twin.exit_status(15.0)
    assert status == 2, f"the home runs on beside an older node with its node id (exit status {status})"
    assert "stopping: another running node uses the node id n2" in twin.log()
    deadline = time.monotonic() + 15.0
    while not (n2.alive and "node n2 is the home node" in n2.log()):
        assert time.monotonic() < deadline, "the older twin did not take over"
        time.sleep(0.05)
    assert _holder(c) not in ("", twin_holder)
    c.wait_ready(10.0, [n2])
