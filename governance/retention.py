"""Retention arithmetic (G13, P16): when a record is past its retention period.

The rule, in one line: a record with timestamp ``ts`` is *purgeable* at time
``now_ms`` when ``ts < now_ms - days * 86_400_000``.

Every timestamp in the store is UTC epoch milliseconds (``App.now_ms``), so the
period is *elapsed time*: ``days`` times 24 hours, exactly. No calendar or time
zone enters the arithmetic, which is why a daylight-saving change inside the
period does not make it an hour shorter or longer, and why 29 February counts
as one day like any other. A record exactly at the cutoff is kept (the
comparison is strict): it is ``days`` days old, not more. ``retention.days`` is
at least 184 (config refuses less): the longest span of six calendar months is
184 days (e.g. 1 July to 1 January), so 184 elapsed days is never less than
"six months" whatever month the record was made in.

Pure: no I/O, no clock of its own; callers pass ``now_ms``.
"""

from __future__ import annotations

DAY_MS = 86_400_000
MIN_DAYS = 184


def cutoff_ms(now_ms: int, days: int) -> int:
    """The oldest timestamp still inside the period: records with ``ts < cutoff`` may go."""
    if type(now_ms) is not int or type(days) is not int:
        raise TypeError("now_ms and days must be integers (epoch milliseconds, whole days)")
    if days < MIN_DAYS:
        raise ValueError(f"retention of {days} days is below the minimum of {MIN_DAYS}")
    return now_ms - days * DAY_MS


def is_past_retention(ts: int, now_ms: int, days: int) -> bool:
    """True when a record made at ``ts`` may be purged at ``now_ms``."""
    return ts < cutoff_ms(now_ms, days)


def sanction_holds(starts_at: int, expires_at: int | None, now_ms: int, days: int, kind: str = "",
                   appealed: bool = False) -> bool:
    """Whether a sanction still puts its target's records under legal hold at ``now_ms``.

    A sanction with an end (a timed suspension) holds until that end. A sanction without
    one (closing a group, a blacklist, revoking the right to create groups) holds for one
    full retention period after it was imposed, so the evidence behind it stays available
    to the authorities at least that long. A ``warning`` holds for both: its rectification
    deadline is when it turns overdue, the moment an operator follows it up with a harder
    measure, not when it stops, so it holds until that deadline and at least a full period.
    A sanction lifted early holds as imposed: the evidence behind a measure is kept for
    the measure as decided. A sanction with an open appeal against it (``appealed``) holds
    until the appeal is decided, whenever that is: the evidence is what the decision reads.
    """
    if appealed or (expires_at is not None and expires_at > now_ms):
        return True
    return (expires_at is None or kind == "warning") and starts_at >= cutoff_ms(now_ms, days)


__all__ = ["DAY_MS", "MIN_DAYS", "cutoff_ms", "is_past_retention", "sanction_holds"]
