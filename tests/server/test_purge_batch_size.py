"""A purge batch's size follows how long batches take (server.retention.next_batch): a message send
queued behind one waits for it, and what a batch costs depends on its rows."""

from __future__ import annotations

import pytest

from server.retention import BATCH_SECONDS, MIN_BATCH, next_batch

SLOW, QUICK, FAIR = BATCH_SECONDS * 4, BATCH_SECONDS / 4, BATCH_SECONDS * 0.75


@pytest.mark.parametrize(("rows", "took", "most", "expected"), [
    (100, QUICK, 1000, 200),  # quick: twice as many
    (800, QUICK, 1000, 1000),  # ... never more than retention.purge_batch
    (1000, QUICK, 1000, 1000),
    (400, FAIR, 1000, 400),  # between half the time and the time: as many
    (400, BATCH_SECONDS, 1000, 400),
    (1000, SLOW, 1000, 250),  # slow: in proportion to the time
    (100, SLOW * 10, 1000, MIN_BATCH),  # ... never fewer than the least
    (10, SLOW, 1000, MIN_BATCH),
    (10, QUICK, 10, 10),  # retention.purge_batch at its own least (10)
    (10, SLOW, 10, 10),
])
def test_next_batch(rows: int, took: float, most: int, expected: int) -> None:
    assert next_batch(rows, took, most) == expected
