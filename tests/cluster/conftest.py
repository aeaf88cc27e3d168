"""Fixtures for the cluster tests: real nodes on the machine's PostgreSQL and NATS (tests/cluster/harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.harness import Cluster, CuttableRelay, broker_through_relay, unavailable

# What the shared cluster's tests need: a member cap low enough that 50 joiners overflow a group
# cheaply (test_joins.py), high enough for the chat tests' groups (owner + 12).
SHARED_CONFIG = "\n[limits]\nmax_members = 16\n"


@pytest.fixture(scope="session", autouse=True)
def _services() -> None:
    """Skip every cluster test, with the reason, when PostgreSQL or NATS cannot be reached."""
    why = unavailable()
    if why is not None:
        pytest.skip(f"cluster tests need PostgreSQL and NATS: {why}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three nodes shared by a module's tests that kill nothing (n1 is the home at the start)."""
    c = Cluster(tmp_path_factory.mktemp("cluster"), extra_config=SHARED_CONFIG)
    try:
        c.start()
        yield c
    finally:
        c.cleanup()


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """A cluster of a test's own (to kill nodes, cut its broker or its database), started; cleaned up after."""
    made: list[Cluster] = []

    def make(**kw: Any) -> Cluster:
        c = Cluster(tmp_path / f"cluster{len(made) + 1}", **kw)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        c.cleanup()


@pytest.fixture
def gateway_behind_relay(tmp_path: Path) -> Iterator[tuple[Cluster, CuttableRelay]]:
    """Two nodes, started: n1 the home, n2 a gateway that reaches NATS through a relay the test cuts."""
    c = Cluster(tmp_path, size=2)
    relay = broker_through_relay(c.nodes[1])
    try:
        c.start()
        assert c.home() is c.nodes[0] and c.gateways() == [c.nodes[1]]
        yield c, relay
    finally:
        c.cleanup()
        relay.close()
