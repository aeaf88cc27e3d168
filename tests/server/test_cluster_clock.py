"""A cluster node whose clock is far off the database's does not start (server/cluster/node.py): its
clock stamps what the home writes, and a chaos reviewer's home 25 hours ahead stored a retry twice and
swept a live upload, and one 32 days ahead logged everyone out."""

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
