"""Guards of a cluster node (server/cluster/node.py), from a chaos reviewer's findings: a node whose
clock is far off the database's does not start (its clock stamps what the home writes: a home 25 hours
ahead stored a retry twice and swept a live upload, one 32 days ahead logged everyone out), and a node
that stops says why once."""

from __future__ import annotations

import pytest

from server.cluster.node import MAX_CLOCK_SKEW_S, _check_clock

DB = 1_796_000_000.0


@pytest.mark.parametrize("local", [DB, DB + 1, DB - 1, DB + MAX_CLOCK_SKEW_S, DB - MAX_CLOCK_SKEW_S])
def test_a_clock_within_the_bound_starts(local: float) -> None:
    _check_clock(DB, local)


@pytest.mark.parametrize("local,said", [(DB + 90_000, "90000 s ahead of"), (DB - 31, "31 s behind"),
                                        (DB + 32 * 86_400, "2764800 s ahead of")])
def test_a_clock_past_the_bound_does_not(local: float, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        _check_clock(DB, local)


async def test_a_node_that_stops_says_why_once(caplog: pytest.LogCaptureFixture) -> None:
    """A chaos reviewer's old home logged 'stopping: node nX holds the home lease at a later epoch' 11 to
    15 times in one millisecond: each heartbeat of the new home that arrived before the exit said it."""
    import asyncio
    from types import SimpleNamespace

    from server.cluster.node import ClusterNode

    node = SimpleNamespace(app=SimpleNamespace(store=SimpleNamespace(fenced_out=False)), lost=asyncio.Event(),
                           lost_why="")
    for epoch in (5, 5, 6):
        ClusterNode._lose(node, f"node n2 holds the home lease at a later epoch ({epoch})")  # type: ignore[arg-type]
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopping:")]
    assert said == ["stopping: node n2 holds the home lease at a later epoch (5)"]
    assert node.lost.is_set() and node.lost_why.endswith("(5)") and node.app.store.fenced_out
