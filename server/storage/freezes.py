"""What a category freeze missed, read from the store the same way on every backend
(:class:`FreezeReads`, part of the ``Store`` protocol).

A freeze suspends the targets of a category it lists, 100 a write (server/operator/freezing.py);
a target that joined the category around it (an account whose insert was in flight, a group
whose move out of the category failed and put it back) is suspended by a later write of its
own, and should that write fail, nothing else would; nor would anything suspend the targets
of a freeze's writes that failed or were never made (a stop in the middle).
:meth:`FreezeReads.freeze_misses` finds them for the upkeep job (``server/operator/freeze_upkeep.py``).
"""

from __future__ import annotations

from typing import Protocol

# ``?`` placeholders. A target the freeze reached has a suspension sanction lasting at least as long as
# the freeze, lifted or not: an operator who lifted the freeze for one group or account is not overruled
# (the lift leaves the row, with ``lifted_at``). The stored ``suspended_until`` is not asked: memory
# decides (the caller), the sanction row tells what was done.
FREEZE_MISSES = (
    "SELECT 'group', g.group_id, g.category, f.until FROM groups g"
    " JOIN category_freezes f ON f.category = g.category"
    " WHERE f.until > ? AND g.dissolved_at IS NULL AND g.closed_at IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM sanctions s WHERE s.target_type = 'group' AND s.target_id = g.group_id"
    "  AND s.kind = 'suspend_group' AND s.expires_at >= f.until)"
    " UNION ALL"
    " SELECT 'account', a.account_id, a.category, f.until FROM accounts a"
    " JOIN account_category_freezes f ON f.category = a.category"
    " WHERE f.until > ? AND a.closed_at IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM sanctions s WHERE s.target_type = 'account' AND s.target_id = a.account_id"
    "  AND s.kind = 'suspend_account' AND s.expires_at >= f.until)"
    " ORDER BY 1, 2"
)


class FreezeReads(Protocol):
    async def freeze_misses(self, now: int) -> list[tuple[str, str, str, int]]:
        """(``group`` or ``account``, its id, its category, the freeze's end) of every live group and
        public account in a category frozen beyond ``now`` without a suspension sanction (``suspend_group``
        / ``suspend_account``, lifted or not) lasting until the freeze's end, by type and id."""
        ...
