"""The handshake gate (server/admission.py): futures at each turn, a cancelled waiter gives up its place."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.admission import HandshakeGate


async def test_waiters_get_their_turn_in_order_and_a_cancelled_one_is_skipped() -> None:
    gate = HandshakeGate(per_ip=5, total=0)
    assert all(gate.admit("198.51.100.7") is None for _ in range(5))  # the burst
    first, gone, last = (gate.admit("198.51.100.7") for _ in range(3))
    assert first is not None and gone is not None and last is not None
    assert gate.admit("203.0.113.1") is None  # another address: its own bucket
    gone.cancel()  # its handshake timed out
    await first
    t_first = time.monotonic()
    assert not last.done()
    await last
    gap = time.monotonic() - t_first
    assert 0.12 <= gap < 0.33  # the next token (0.2 s later), not the one after: the cancelled waiter took none
    assert gate.pacer.waiting == 0
    gate.close()


@pytest.mark.parametrize("prefix,other,own_bucket", [
    (64, "2001:db8:1:2::beef", False),  # another address of the same /64: the same line
    (64, "2001:db8:1:3::1", True),  # the next /64: its own
    (56, "2001:db8:1:3::1", False),  # within one /56
    (128, "2001:db8:1:2::beef", True),  # per address
])
async def test_handshakes_are_paced_per_network(prefix: int, other: str, own_bucket: bool) -> None:
    gate = HandshakeGate(per_ip=2, total=0, ipv6_prefix=prefix)
    assert all(gate.admit("2001:db8:1:2::1") is None for _ in range(2))  # the burst
    waiter = gate.admit(other)
    assert (waiter is None) is own_bucket
    if waiter is not None:
        waiter.cancel()
    gate.close()


async def test_turning_pacing_off_lets_every_waiter_through() -> None:
    gate = HandshakeGate(per_ip=1, total=0)
    assert gate.admit("a") is None
    waiters = [gate.admit("a") for _ in range(5)]
    gate.set_rates(0, 0)  # a config reload
    await asyncio.wait_for(asyncio.gather(*waiters), 0.5)  # type: ignore[arg-type]
    assert gate.admit("a") is None
    gate.close()


@pytest.mark.parametrize("now", [0.0, 12.34, 98765.4321])
def test_a_handshake_timeout_is_drawn_between_half_and_all_of_the_setting_on_a_grid(now: float) -> None:
    from server.admission import DROP_GRID, give_up_at

    for timeout in (1.0, 10.0, 60.0):
        at = [give_up_at(now, timeout, d / 1000) for d in range(1000)]
        assert all(now + timeout / 2 - DROP_GRID <= t <= now + timeout + 1e-9 for t in at)
        assert at == sorted(at, reverse=True)  # a larger draw, an earlier drop
        assert all(abs(t / DROP_GRID - round(t / DROP_GRID)) < 1e-6 for t in at)  # on the grid
        # spread over the whole window, a slot per DROP_GRID
        assert len(set(at)) >= int(timeout / 2 / DROP_GRID) - 1


async def test_a_stop_answers_every_waiter_and_every_later_handshake_at_once() -> None:
    gate = HandshakeGate(per_ip=1, total=0)
    assert gate.admit("a") is None and gate.admit("b") is None  # each address's burst
    waiters = [gate.admit("a") for _ in range(3)] + [gate.admit("b")]
    gate.stop()  # the server stops: no turn will come
    assert [w.result() if w is not None else None for w in waiters] == [False] * 4
    assert gate.pacer.waiting == 0
    later = gate.admit("c")
    assert later is not None and later.result() is False
