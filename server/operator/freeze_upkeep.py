"""The freeze upkeep job: a category freeze holds by reconciliation, not by one write.

``freeze-category`` suspends every target of a category it can see, 100 a write; one whose write
failed, or was never made (a stop in the middle), is put back in memory unsuspended. A target
it cannot see is suspended by a write of its own later: an account whose insert was in flight
(``create_account``'s late suspension), a group whose move out of the category was in flight
and then failed (back in the category, never suspended). Should that write fail, or no write
exist, the target would stay unsuspended in a frozen category. Every ``CHECK_SECONDS``, while
a freeze is in force, this job asks the store for such targets
(:meth:`~server.storage.freezes.FreezeReads.freeze_misses`) and suspends each as the freeze
suspended the others (:func:`server.operator.freezing.suspend_each`), by ``system``, telling
its owner and editors or its connected members. A target an operator lifted the freeze for
keeps its lifted sanction row, and is left alone.

It runs once per service (on the home node in a cluster): the state it corrects is the home's.

The store's read walks the frozen categories' groups and accounts, which on a large service is
not free: it runs at the job's first look after a start or promotion, at once after any store
write failed (``failed_writes``: the only way a target is missed is a write that failed), and
otherwise every ``SCAN_SECONDS`` as a safety net, only while a freeze is in force.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from server.operator.platform import keep_group_frozen
from server.operator.public_accounts import keep_account_frozen

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.freeze")

# How soon a missed target is suspended (and a failed attempt tried again). The store is read only
# while a freeze is in force, so a service without one pays nothing.
CHECK_SECONDS = 5.0
SCAN_SECONDS = 300.0  # with no failed write since the last read: the safety net's period


async def run_forever(app: Context) -> None:
    last_scan = -SCAN_SECONDS
    failed_at_scan = -1
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        failed = app.store.failed_writes
        if failed == failed_at_scan and time.monotonic() - last_scan < SCAN_SECONDS:
            continue
        try:
            await keep_freezes(app)
        except Exception:  # the store unreachable: tried again next time
            log.exception("the freeze upkeep could not read the store; trying again in %s s", CHECK_SECONDS)
            continue
        last_scan, failed_at_scan = time.monotonic(), failed


async def keep_freezes(app: Context) -> int:
    """Suspend every target a freeze in force missed; how many were suspended. A target whose write
    fails is logged and tried again on the next run; the others go on."""
    now = app.now_ms()
    state = app.state
    if all(end <= now for end in (*state.category_frozen_until.values(),
                                  *state.account_category_frozen_until.values())):
        return 0
    done = 0
    for target_type, target_id, category, until in await app.store.freeze_misses(now):
        keep = keep_account_frozen if target_type == "account" else keep_group_frozen
        try:
            if await keep(app, target_id, category, until):
                done += 1
                log.warning("%s %s was unsuspended in the frozen category %s: suspended until %d",
                            target_type, target_id, category, until)
        except Exception:
            log.exception("%s %s is unsuspended in the frozen category %s, and suspending it failed; "
                          "trying again in %s s", target_type, target_id, category, CHECK_SECONDS)
    return done
