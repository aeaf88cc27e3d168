"""Handshake pacing (governance/pacing.py): per-key and total rates, lines served in turn."""

from __future__ import annotations

import pytest

from governance.pacing import Pacer


def alive(w: object) -> bool:
    return True


def test_off_admits_everything() -> None:
    p: Pacer[int] = Pacer(0, 0)
    assert all(p.offer("a", i, 0.0) for i in range(10_000))
    assert p.waiting == 0


def test_one_key_gets_its_burst_then_its_rate() -> None:
    p: Pacer[int] = Pacer(per_key=5, total=0)
    assert [p.offer("a", i, 0.0) for i in range(8)] == [True] * 5 + [False] * 3
    assert p.waiting == 3
    admitted, again = p.release(0.0, alive)
    assert admitted == [] and again == pytest.approx(0.2)
    admitted, again = p.release(0.2, alive)
    assert admitted == [5] and again == pytest.approx(0.2)
    admitted, again = p.release(0.6, alive)
    assert admitted == [6, 7] and again is None
    assert p.waiting == 0


def test_a_newcomer_queues_behind_its_own_line_not_ahead_of_it() -> None:
    p: Pacer[str] = Pacer(per_key=1, total=0)
    assert p.offer("a", "first", 0.0)
    assert not p.offer("a", "second", 0.0)
    # A token is back, but "second" is older: "third" must not take it.
    assert not p.offer("a", "third", 1.0)
    assert p.release(1.0, alive)[0] == ["second"]


def test_another_key_is_not_held_up_by_a_long_line() -> None:
    p: Pacer[str] = Pacer(per_key=2, total=100)
    for i in range(50):
        p.offer("flood", f"f{i}", 0.0)
    assert p.offer("user", "u", 0.0)  # its own bucket, and the total has room


def test_the_total_is_shared_in_turn_between_keys() -> None:
    p: Pacer[str] = Pacer(per_key=100, total=4)
    for i in range(4):
        assert p.offer("x", f"x{i}", 0.0)  # the total's burst is spent
    for i in range(6):
        assert not p.offer("a", f"a{i}", 0.0)
    for i in range(2):
        assert not p.offer("b", f"b{i}", 0.0)
    admitted, _ = p.release(1.0, alive)  # four total tokens: a, b, a, b
    assert admitted == ["a0", "b0", "a1", "b1"]
    admitted, again = p.release(2.0, alive)
    assert admitted == ["a2", "a3", "a4", "a5"] and again is None


def test_a_waiter_that_gave_up_costs_no_token() -> None:
    p: Pacer[str] = Pacer(per_key=1, total=0)
    p.offer("a", "kept0", 0.0)
    for w in ("gone1", "gone2", "kept3"):
        p.offer("a", w, 0.0)
    admitted, again = p.release(1.0, lambda w: not w.startswith("gone"))
    assert admitted == ["kept3"] and again is None
    assert p.waiting == 0


def test_new_rates_apply_to_waiting_lines() -> None:
    p: Pacer[int] = Pacer(per_key=1, total=0)
    p.offer("a", 0, 0.0)
    for i in range(1, 5):
        p.offer("a", i, 0.0)
    p.set_rates(0, 0)
    assert p.disabled
    p.set_rates(100, 0)  # (on again) the bucket refills at the new rate
    assert p.release(1.0, alive)[0] == [1, 2, 3, 4]


def test_memory_follows_recent_keys() -> None:
    p: Pacer[int] = Pacer(per_key=10, total=0)
    for i in range(5_000):
        p.offer(f"10.0.{i // 256}.{i % 256}", i, i * 0.01)  # one new address every 10 ms
    assert len(p._keys) < 2_100  # full (idle for a second) buckets are swept as the table doubles


def test_drain_hands_back_every_waiter_and_empties_the_lines() -> None:
    p: Pacer[str] = Pacer(per_key=1, total=0)
    p.offer("a", "a0", 0.0)
    p.offer("b", "b0", 0.0)
    for w in ("a1", "a2", "b1"):
        p.offer(w[0], w, 0.0)
    assert sorted(p.drain()) == ["a1", "a2", "b1"] and p.waiting == 0
    assert p.release(100.0, alive) == ([], None)


def test_a_flood_from_many_addresses_keeps_a_bucket_for_every_line() -> None:
    """A reviewer's flood from 40,000 addresses: the sweep that ran as the 1,024th address's bucket
    was made forgot that very bucket (full, no line yet); its handshake, over the total rate, was
    queued with no bucket, and every release from then on raised KeyError (handshakes answered 500,
    waiters never served)."""
    p: Pacer[str] = Pacer(per_key=5, total=100)
    for i in range(3_000):  # one handshake each, all at once: past the total's burst they wait
        p.offer(f"2001:db8:{i:x}::", str(i), 0.0)
    assert all(k in p._keys for k in p._lines)
    served: list[str] = []
    t = 0.0
    while p.waiting:
        t += 1.0
        admitted, _ = p.release(t, alive)  # (raised KeyError before)
        served += admitted
    assert len(served) == len(set(served)) == 3_000 - 100  # every waiter served once


def test_a_quiet_spell_saves_up_one_seconds_worth_and_no_more() -> None:
    """Tokens refill up to one second's worth: a key or the whole service quiet for a long time gets
    its burst back, not a hoard that lets a flood through at once."""
    p: Pacer[int] = Pacer(per_key=2, total=5)
    assert p.offer("a", 0, 0.0)
    at = 100.0  # long after: every bucket full again, and no fuller
    assert [p.offer("a", i, at) for i in range(1, 5)] == [True, True, False, False]  # (its 2)
    others = [p.offer(f"k{i}", i, at) for i in range(20)]
    assert others.count(True) == 3  # (the service's 5, two of them taken by "a")
