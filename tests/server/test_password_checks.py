"""Passwords bounds its argon2 checks: a few at once per address, one per CPU in all, each counted
until its thread is done (server/security.py)."""

from __future__ import annotations

import asyncio
import os

import pytest

from protocol.errors import ContractError
from server.security import Passwords


async def test_a_check_cancelled_while_it_runs_counts_until_its_thread_is_done() -> None:
    # (A stop cancels the handlers; the argon2 thread cannot be stopped: releasing its turn at the
    # cancel would let more checks run at once than there are CPUs.)
    passwords = Passwords(time_cost=6, memory_kib=65536, per_address=1)
    stored = await passwords.hash("secret", "192.0.2.1")
    check = asyncio.create_task(passwords.verify(stored, "secret", "192.0.2.1"))
    await asyncio.sleep(0.05)  # (running in its thread now)
    check.cancel()
    with pytest.raises(asyncio.CancelledError):
        await check
    assert passwords.in_flight.held("192.0.2.1") == 1  # still running
    with pytest.raises(ContractError) as refused:
        await passwords.verify(stored, "secret", "192.0.2.1")
    assert (refused.value.code, refused.value.extra["retry_after_ms"]) == ("rate_limited", 500)
    for _ in range(200):
        if passwords.in_flight.held("192.0.2.1") == 0:
            break
        await asyncio.sleep(0.02)
    assert passwords.in_flight.held("192.0.2.1") == 0
    assert await passwords.verify(stored, "secret", "192.0.2.1")


async def test_checks_beyond_the_cpus_wait_their_turn_and_all_answer() -> None:
    passwords = Passwords(time_cost=1, memory_kib=1024, per_address=0)
    stored = await passwords.hash("secret", "192.0.2.1")
    n = (os.cpu_count() or 1) * 4
    results = await asyncio.gather(*(passwords.verify(stored, "secret" if i % 2 else "wrong", f"198.51.100.{i}")
                                     for i in range(n)))
    assert results == [bool(i % 2) for i in range(n)]
    assert passwords.in_flight._held == {}
