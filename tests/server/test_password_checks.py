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


async def test_a_hash_under_old_settings_also_pays_the_stand_ins_check_until_it_is_made_again() -> None:
    """A privacy review: with the argon2 settings raised, an account's wrong password (checked against
    its cheaper old hash) answered in 2 ms and an unknown name's (the stand-in, today's settings) in
    177 ms. A stale hash's check runs the stand-in's too; a fresh one, and an unknown name, one check."""
    old = await Passwords(time_cost=1, memory_kib=1024).hash("secret", "192.0.2.1")
    now = Passwords(time_cost=2, memory_kib=2048)
    assert now.needs_rehash(old) and not now.needs_rehash(await now.hash("secret", "192.0.2.1"))
    assert not now.needs_rehash(None)
    calls: list[str] = []
    hasher = now._ph

    class Counted:  # (the hasher's own verify, each call noted)
        def verify(self, stored: str, password: str) -> bool:
            calls.append(stored)
            return hasher.verify(stored, password)

        def check_needs_rehash(self, stored: str) -> bool:
            return hasher.check_needs_rehash(stored)

    now._ph = Counted()  # type: ignore[assignment]
    assert await now.verify(old, "wrong", "192.0.2.1") is False
    assert calls == [old, now._dummy]
    calls.clear()
    assert await now.verify(old, "secret", "192.0.2.1") is True  # (right, and still the same cost)
    assert calls == [old, now._dummy]
    calls.clear()
    assert await now.verify(None, "wrong", "192.0.2.1") is False
    assert calls == [now._dummy]
