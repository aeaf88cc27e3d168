"""Three rounds of the crash loop (``python -m bench.crashloop`` runs fifty).

kill -9 during bursts from several clients loses nothing acked.
"""

from __future__ import annotations

from bench.crashloop import crash_loop


async def test_kill9_during_bursts_three_times_loses_nothing_acked(server):
    result = await crash_loop(server, 3, n_senders=4, window=6, seed=15)
    assert result["iterations"] == 3
    # The kills came while sends were in flight, so the retry path was exercised...
    assert result["unacked_at_kill"] > 0
    assert result["retries_already_stored"] + result["retries_stored_now"] > 0
    # ...and every acked message (about a thousand per round) was there once, with no gap.
    assert result["acked"] > 300
    # Read back in full at the end: exactly the acknowledged ones, the retries' included, are stored.
    assert result["stored"] == result["acked_in_all"] >= result["acked"]
