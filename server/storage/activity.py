"""Each group's messages per day (the ``group_daily`` table), kept by the message writer.

A group's activity class (``groups.activity_window_days``: group info, the filing report) is the
number of its messages in the last days. The server counts them in memory as it sends
(``Group.daily``); a start or a takeover used to count them again from a week of messages, which
grows with the service (a week at the capacity model's scale is billions of rows). Now each
batch of messages adds its counts per group and day in its own transaction, and a start reads the
window's rows of this table: one row per group and active day.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

from governance.retention import DAY_MS
from server.storage.base import MessageRow

# Plain SQL for both backends but the placeholders (PostgreSQL's spelling below).
ADD = ("INSERT INTO group_daily (day, group_id, messages) VALUES (?, ?, ?)"
       " ON CONFLICT (day, group_id) DO UPDATE SET messages = group_daily.messages + excluded.messages")
PG_ADD = ADD.replace("(?, ?, ?)", "($1, $2, $3)")
# The days before the one the retention cutoff falls in go with the purge of messages (that day's
# count stays: some of its messages do).
PRUNE = "DELETE FROM group_daily WHERE day < ?"
PG_PRUNE = PRUNE.replace("?", "$1")


def tally(rows: Sequence[MessageRow], left_out: Container[int]) -> tuple[dict[str, int], list[tuple[int, str, int]]]:
    """Of a batch's stored rows (all but the indexes ``left_out``): each group's highest seq, and the
    parameters of :data:`ADD`, one (day, group id, messages) per group and day."""
    last: dict[str, int] = {}
    days: dict[tuple[int, str], int] = {}
    for i, row in enumerate(rows):
        if i in left_out:
            continue
        gid, seq = row.group_id, row.seq
        if seq > last.get(gid, 0):
            last[gid] = seq
        key = (row.ts // DAY_MS, gid)
        days[key] = days.get(key, 0) + 1
    return last, [(day, gid, n) for (day, gid), n in days.items()]


def cutoff_day(cutoff_ms: int) -> int:
    """The day the retention cutoff falls in: :data:`PRUNE` keeps it and the days after."""
    return cutoff_ms // DAY_MS
