import math

import pytest

from governance.ratelimit import AddressCount, AddressWindow, TokenBucket, WindowCounter, is_loopback, network_key

# --- TokenBucket ---------------------------------------------------------------

def test_bucket_starts_full_then_refuses():
    b = TokenBucket(rate=5.0, burst=3)
    assert [b.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(100.0) == pytest.approx(0.2)


def test_bucket_refill_arithmetic():
    b = TokenBucket(rate=2.0, burst=4)
    for _ in range(4):
        assert b.take(0.0) == 0.0
    assert b.take(0.0) == pytest.approx(0.5)
    # 0.75 s later: 1.5 tokens
    assert b.take(0.75) == 0.0
    assert b.take(0.75) == pytest.approx(0.25)  # 0.5 left, needs 0.5 more at 2/s
    # refill never exceeds burst
    assert b.tokens <= 4
    for _ in range(4):
        assert b.take(1000.0) == 0.0
    assert b.take(1000.0) > 0.0


def test_refusal_consumes_nothing():
    b = TokenBucket(rate=1.0, burst=1)
    assert b.take(0.0) == 0.0
    assert b.take(0.2) == pytest.approx(0.8)
    assert b.take(0.4) == pytest.approx(0.6)  # still only time-based, no debt
    assert b.take(1.0) == 0.0


def test_waiting_the_returned_delay_is_enough():
    b = TokenBucket(rate=3.0, burst=1)
    now = 10.0
    assert b.take(now) == 0.0
    for _ in range(50):
        wait = b.take(now)
        assert wait > 0
        now += wait
        assert b.take(now) == 0.0


def test_cost():
    b = TokenBucket(rate=1.0, burst=10)
    assert b.take(0.0, cost=7) == 0.0
    assert b.take(0.0, cost=5) == pytest.approx(2.0)
    assert b.take(2.0, cost=5) == 0.0


def test_cost_above_burst_is_never_allowed():
    b = TokenBucket(rate=1.0, burst=2)
    assert b.take(0.0, cost=3) == math.inf


@pytest.mark.parametrize("rate,burst", [(0, 20), (-1, 20), (5.0, 0), (5.0, -3), (0, 0)])
def test_bucket_disabled(rate, burst):
    b = TokenBucket(rate, burst)
    assert all(b.take(0.0) == 0.0 for _ in range(1000))


def test_clock_going_backwards_does_not_refill_or_crash():
    b = TokenBucket(rate=1.0, burst=1)
    assert b.take(10.0) == 0.0
    assert b.take(5.0) > 0.0
    assert b.take(11.0) == 0.0


def test_bucket_is_slotted():
    b = TokenBucket(1.0, 1)
    assert not hasattr(b, "__dict__")


# --- WindowCounter -------------------------------------------------------------

def test_window_limit_and_retry_delay():
    w = WindowCounter(limit=3, window=3600.0)
    assert w.hit("p", 0.0) == 0.0
    assert w.hit("p", 100.0) == 0.0
    assert w.hit("p", 200.0) == 0.0
    assert w.hit("p", 300.0) == pytest.approx(3300.0)  # until the first hit leaves
    assert w.hit("p", 3599.0) == pytest.approx(1.0)
    assert w.hit("p", 3600.0) == 0.0  # first hit expired
    assert w.hit("p", 3601.0) == pytest.approx(99.0)  # now the 100.0 hit is oldest


def test_keys_are_independent():
    w = WindowCounter(limit=1, window=60.0)
    assert w.hit("a", 0.0) == 0.0
    assert w.hit("a", 1.0) > 0.0
    assert w.hit("b", 1.0) == 0.0


def test_peek_does_not_count():
    w = WindowCounter(limit=2, window=10.0)
    for _ in range(5):
        assert w.peek("k", 0.0) == 0.0
    assert len(w) == 0
    w.hit("k", 0.0)
    w.hit("k", 1.0)
    assert w.peek("k", 2.0) == pytest.approx(8.0)
    assert w.peek("k", 10.0) == 0.0


def test_refused_hit_is_not_counted():
    w = WindowCounter(limit=1, window=10.0)
    w.hit("k", 0.0)
    for t in range(1, 10):
        assert w.hit("k", float(t)) > 0
    assert w.hit("k", 10.0) == 0.0


def test_reset():
    w = WindowCounter(limit=1, window=10.0)
    w.hit("k", 0.0)
    w.reset("k")
    w.reset("never-seen")
    assert w.hit("k", 1.0) == 0.0


@pytest.mark.parametrize("limit,window", [(0, 3600.0), (-1, 3600.0), (5, 0.0)])
def test_window_disabled(limit, window):
    w = WindowCounter(limit, window)
    assert all(w.hit("k", 0.0) == 0.0 for _ in range(100))
    assert w.peek("k", 0.0) == 0.0
    assert len(w) == 0


def test_expired_keys_are_pruned():
    w = WindowCounter(limit=5, window=10.0)
    for i in range(100):
        w.hit(f"k{i}", float(i) * 0.01)
    assert len(w) == 100
    w.hit("late", 20.0)
    assert len(w) == 1
    w.prune(100.0)
    assert len(w) == 0


def test_pruning_keeps_live_keys():
    w = WindowCounter(limit=1, window=10.0)
    w.hit("old", 0.0)
    w.hit("live", 5.0)
    w.prune(12.0)
    assert len(w) == 1
    assert w.hit("live", 12.0) > 0
    assert w.hit("old", 12.0) == 0.0


def test_recent_hit_moves_key_to_the_back():
    w = WindowCounter(limit=3, window=10.0)
    w.hit("a", 0.0)
    w.hit("b", 1.0)
    w.hit("a", 9.0)  # a is live again
    w.prune(10.5)  # b's only hit (1.0) is still live; a too
    assert len(w) == 2
    w.prune(11.0)  # b expired, a live
    assert len(w) == 1
    assert w.peek("a", 11.0) == 0.0


def test_a_full_table_evicts_the_least_recently_hit_among_equals():
    w = WindowCounter(limit=1, window=1000.0, max_keys=3)
    for i, k in enumerate("abcd"):
        w.hit(k, float(i))
    assert len(w) == 2  # cut to 90 % of max_keys at once: a, b go
    assert w.hit("a", 5.0) == 0.0  # evicted, so forgotten
    assert w.hit("c", 5.0) > 0.0  # still counted
    assert w.hit("d", 5.0) > 0.0  # the key just hit is never the one evicted


# Each case: max_keys, the target's hits, then fresh keys with so many hits each; whether the
# target's count survives. Fresh keys are hit after the target, so a least-recently-hit
# eviction would push the target out in every case.
EVICTION_CASES = [
    # a key at its limit is not pushed out by any number of lighter keys
    pytest.param(100, 3, 1, 1000, True, id="at-limit-vs-many-single-hit-keys"),
    pytest.param(100, 3, 2, 1000, True, id="at-limit-vs-many-lighter-keys"),
    # a key below the limit outweighs lighter keys too
    pytest.param(100, 2, 1, 1000, True, id="below-limit-vs-lighter-keys"),
    # keys as heavy as the target, enough to fill the table, do push it out (the work it costs
    # is the limit's worth for every one of them)
    pytest.param(100, 3, 3, 200, False, id="at-limit-vs-a-table-of-keys-at-the-limit"),
    pytest.param(100, 1, 1, 200, False, id="single-hit-vs-a-table-of-single-hit-keys"),
]


@pytest.mark.parametrize("max_keys,target_hits,fresh_hits,fresh_keys,survives", EVICTION_CASES)
def test_fresh_keys_cannot_push_out_a_heavier_key(max_keys, target_hits, fresh_hits, fresh_keys, survives):
    w = WindowCounter(limit=3, window=1000.0, max_keys=max_keys)
    now = 0.0
    for _ in range(target_hits):
        now += 0.001
        assert w.hit("victim", now) == 0.0
    for i in range(fresh_keys):
        for _ in range(fresh_hits):
            now += 0.001
            w.hit(f"fresh{i}", now)
        assert len(w) <= max_keys
    assert (len(w._logs.get("victim", ())) == target_hits) is survives


def test_a_full_table_weighs_keys_by_their_hits_still_in_the_window():
    w = WindowCounter(limit=3, window=10.0, max_keys=3)
    for t in (0.0, 1.0, 8.0):  # two of these have left the window by 11.5
        w.hit("victim", t)
    w.hit("a", 9.0)
    w.hit("a", 9.1)
    w.hit("b", 9.2)
    w.hit("b", 9.3)
    w.hit("c", 11.5)  # over max_keys: the victim weighs one hit now, a and b two each
    assert list(w._logs) == ["b", "c"]  # cut to 2: the victim, then the older of a and b
    assert list(w._logs["b"]) == [9.2, 9.3]


def test_a_key_at_its_limit_stays_limited_whatever_the_keys_made_meanwhile():
    """The per-phone code limit case: 5 requests for the victim's number, then a flood of requests
    for other numbers (each a fresh key) up to many times the table's size; the victim's number
    is still refused."""
    w = WindowCounter(limit=5, window=3600.0, max_keys=1000)
    for t in range(5):
        assert w.hit("victim", float(t)) == 0.0
    for i in range(20_000):
        w.hit(f"other{i}", 10.0 + i * 0.01)
    assert w.hit("victim", 300.0) > 0.0


def test_per_key_log_is_bounded():
    w = WindowCounter(limit=3, window=10.0)
    for t in range(1000):
        w.hit("k", t * 0.001)
    assert len(w._logs["k"]) == 3


def test_window_limit_changed_at_run_time():
    """A config reload sets ``limit`` on a live counter: hits already counted still count."""
    w = WindowCounter(limit=1, window=100.0)
    assert w.hit("k", 0.0) == 0.0
    assert w.hit("k", 1.0) > 0.0
    w.limit = 3  # raised: two more fit, then the window is full again
    assert w.hit("k", 2.0) == 0.0
    assert w.hit("k", 3.0) == 0.0
    assert w.hit("k", 4.0) == pytest.approx(96.0)
    w.limit = 2  # lowered below the hits in the log: allowed once two of the three have left
    assert w.hit("k", 50.0) == pytest.approx(52.0)
    assert w.peek("k", 102.0) == 0.0
    assert w.hit("k", 102.0) == 0.0
    assert w.hit("k", 102.5) == pytest.approx(0.5)  # the hits at 3 and 102 fill it


def test_record_counts_a_late_learned_hit_as_of_its_time_and_refuses_nothing() -> None:
    w = WindowCounter(limit=2, window=60.0)
    w.record("ip", 50.0, 100.0)  # learned at 100 of a hit at 50
    w.record("ip", 45.0, 100.0)  # out of order: kept in time order
    w.record("ip", 30.0, 100.0)  # left the window already (it starts at 40): nothing
    assert w.peek("ip", 100.0) == pytest.approx(5.0)  # free again once the hit at 45 leaves the window
    w.record("ip", 90.0, 100.0)  # over the limit: recorded all the same (it was admitted elsewhere)
    assert w.hit("ip", 100.0) == pytest.approx(10.0)  # the hits at 50 and 90 are the last two
    assert w.hit("ip", 110.1) == 0.0


def test_take_back_forgets_one_hit_made_at_that_moment():
    w = WindowCounter(2, 60.0)
    w.hit("ip", 1.0)
    w.hit("ip", 2.0)
    assert w.peek("ip", 3.0) > 0
    w.take_back("ip", 2.0)
    assert w.peek("ip", 3.0) == 0.0
    w.take_back("ip", 9.0)  # none made then: nothing changes
    w.take_back("other", 1.0)
    assert w.hit("ip", 3.0) == 0.0 and w.peek("ip", 3.5) > 0



# --- per network -----------------------------------------------------------------

NETWORK_KEYS = [
    ("198.51.100.7", 64, "198.51.100.7"),  # IPv4: the address itself
    ("198.51.100.8", 48, "198.51.100.8"),  # (the IPv6 prefix does not apply)
    ("2001:db8:1:2::1", 64, "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", 64, "2001:db8:1:2::/64"),  # same line, another address
    ("2001:db8:1:3::1", 64, "2001:db8:1:3::/64"),  # the next /64: another line
    ("2001:DB8:1:2:0:0:0:1", 64, "2001:db8:1:2::/64"),  # spelled otherwise
    ("2001:db8:1:ff::1", 56, "2001:db8:1::/56"),
    ("2001:db8:1:2::1", 48, "2001:db8:1::/48"),
    ("2001:db8:1:2::1", 128, "2001:db8:1:2::1/128"),
    ("2001:db8:1:2::1", 32, "2001:db8::/32"),
    ("::ffff:198.51.100.7", 64, "198.51.100.7"),  # IPv4-mapped (a dual-stack listener): IPv4
    ("fe80::1%eth0", 64, "fe80::/64"),  # the zone is no part of the network
    ("?", 64, "?"),  # unknown peer: its own key
    ("", 64, ""),
]


@pytest.mark.parametrize("address,prefix,key", NETWORK_KEYS)
def test_network_key(address: str, prefix: int, key: str) -> None:
    assert network_key(address, prefix) == key


# (limit 2) a sequence of (address, allowed?) hits: addresses of one /64 share a count
ADDRESS_WINDOW_CASES = [
    pytest.param(64, [("2001:db8::1", True), ("2001:db8::2", True), ("2001:db8::3", False),
                      ("2001:db8:0:0:1234:5678:9abc:def0", False), ("2001:db8:0:1::1", True)], id="one-/64"),
    pytest.param(56, [("2001:db8:0:1::1", True), ("2001:db8:0:2::1", True), ("2001:db8:0:ff::1", False),
                      ("2001:db8:0:100::1", True)], id="one-/56"),
    pytest.param(128, [("2001:db8::1", True), ("2001:db8::2", True), ("2001:db8::1", True),
                       ("2001:db8::1", False)], id="per-address"),
    pytest.param(64, [("192.0.2.1", True), ("192.0.2.2", True), ("192.0.2.1", True), ("::ffff:192.0.2.1", False)],
                 id="ipv4-per-address"),
]


@pytest.mark.parametrize("prefix,hits", ADDRESS_WINDOW_CASES)
def test_an_address_window_counts_networks(prefix: int, hits: list[tuple[str, bool]]) -> None:
    w = AddressWindow(2, 60.0, prefix)
    for i, (address, allowed) in enumerate(hits):
        assert (w.hit(address, float(i)) == 0.0) is allowed, (i, address)


def test_an_address_window_maps_every_method() -> None:
    w = AddressWindow(1, 60.0)
    w.hit("2001:db8::1", 1.0)
    assert w.peek("2001:db8::ffff", 2.0) > 0  # the same network
    w.take_back("2001:db8::2", 1.0)  # given back from another address of it
    assert w.peek("2001:db8::1", 2.0) == 0.0
    w.record("2001:db8::3", 1.5, 2.0)  # learned of late (a cluster's previous home)
    assert w.hit("2001:db8::4", 2.0) > 0
    w.reset("2001:db8::5")
    assert w.hit("2001:db8::1", 2.0) == 0.0
    assert list(w._logs) == ["2001:db8::/64"]  # one key for all of them


def test_an_address_count_admits_up_to_its_limit_per_network_and_frees_a_place_on_drop():
    count = AddressCount(2, ipv6_prefix=64)
    assert count.take("2001:db8:1:2::1") and count.take("2001:db8:1:2::ffff")
    assert not count.take("2001:db8:1:2:dead::9")  # the same /64: full
    assert count.held("2001:db8:1:2::7") == 2  # (refused: not counted)
    assert count.take("2001:db8:1:3::1") and count.take("192.0.2.1") and count.take("::ffff:192.0.2.1")
    assert not count.take("192.0.2.1")  # an IPv4-mapped address is the IPv4 address
    count.drop("2001:db8:1:2::1")
    assert count.take("2001:db8:1:2::5")
    count.add("2001:db8:1:2::6")  # one coming back (a logout) is counted past the limit
    assert count.held("2001:db8:1:2::") == 3 and not count.take("2001:db8:1:2::8")
    for _ in range(5):
        count.drop("192.0.2.1")
    assert count.held("192.0.2.1") == 0 and count._held.get("192.0.2.1") is None  # nothing kept for it
    unlimited = AddressCount(0)
    assert all(unlimited.take("198.51.100.1") for _ in range(1000))


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("10.0.0.1", False), ("192.0.2.1", False), ("::", False), ("::2", False), ("2001:db8::1", False),
    ("::ffff:192.0.2.1", False), ("?", False), ("", False), ("localhost", False),
])
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_a_window_and_a_count_that_spare_loopback_never_refuse_it_and_still_limit_the_rest() -> None:
    window = AddressWindow(1, 60.0, spare_loopback=True)
    assert [window.hit("127.0.0.1", 0.0) for _ in range(5)] == [0.0] * 5
    assert window.peek("::1", 0.0) == 0.0
    assert window.hit("192.0.2.1", 0.0) == 0.0 and window.hit("192.0.2.1", 0.0) > 0
    strict = AddressWindow(1, 60.0)
    assert strict.hit("127.0.0.1", 0.0) == 0.0 and strict.hit("127.0.0.1", 0.0) > 0
    count = AddressCount(1, spare_loopback=True)
    assert all(count.take("127.0.0.1") for _ in range(3)) and count.held("127.0.0.1") == 3  # (counted)
    assert count.take("192.0.2.1") and not count.take("192.0.2.1")
    strict_count = AddressCount(1)
    assert strict_count.take("::1") and not strict_count.take("::1")


def test_forget_drops_every_hit_of_one_key():
    c = WindowCounter(2, 60.0)
    for key in ("a", "b"):
        assert c.hit(key, 1.0) == 0.0 and c.hit(key, 2.0) == 0.0
    assert c.hit("a", 3.0) > 0.0 and c.hit("b", 3.0) > 0.0  # both at their limit
    c.forget("a")
    c.forget("nobody")  # (a key never hit: nothing)
    assert c.hit("a", 4.0) == 0.0 and c.hit("b", 4.0) > 0.0 and len(c) == 2
