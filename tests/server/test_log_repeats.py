"""A warning that can repeat fast (server/logs.py Repeats): the first, then one every period with a count."""

from __future__ import annotations

import logging

from server.logs import Repeats


def test_a_repeating_warning_is_logged_first_then_once_a_period_with_how_many_were_not(caplog) -> None:
    now = [100.0]
    r = Repeats(30.0, clock=lambda: now[0])
    log = logging.getLogger("qunguan.test")
    caplog.set_level(logging.WARNING, "qunguan.test")
    logged = []
    for _ in range(60):  # twice a second for 30 s: the first line only
        logged.append(r.log(log, logging.WARNING, "NATS at %s: %s", "nats://h:4222", "refused"))
        now[0] += 0.5
    assert logged == [True] + [False] * 59
    assert r.log(log, logging.WARNING, "NATS at %s: %s", "nats://h:4222", "refused")  # 30 s after the first
    assert [rec.getMessage() for rec in caplog.records] == [
        "NATS at nats://h:4222: refused",
        "NATS at nats://h:4222: refused (59 more times in the 30 s before, not logged)",
    ]
    r.clear()  # over: the next is logged at once, with no count
    now[0] += 1
    assert r.log(log, logging.WARNING, "again")
    assert caplog.records[-1].getMessage() == "again"
