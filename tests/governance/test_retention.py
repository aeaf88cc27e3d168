"""Retention arithmetic (G13, P16): elapsed milliseconds, exact across DST changes and 29 February."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from governance.retention import DAY_MS, MIN_DAYS, cutoff_ms, is_past_retention, sanction_holds

MINUTE = 60_000
UTC = dt.UTC


def ms(text: str, tz: str) -> int:
    """A local wall-clock time in ``tz`` as epoch milliseconds (what App.now_ms returns)."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def test_cutoff_is_elapsed_days_in_milliseconds():
    now = 1_800_000_000_000
    assert cutoff_ms(now, 184) == now - 184 * 86_400_000
    assert cutoff_ms(now, 190) == now - 190 * DAY_MS


def test_the_record_exactly_at_the_cutoff_is_kept():
    now, days = 1_800_000_000_000, 190
    c = cutoff_ms(now, days)
    assert not is_past_retention(c, now, days)
    assert is_past_retention(c - 1, now, days)


def test_below_184_days_is_refused():
    assert MIN_DAYS == 184
    with pytest.raises(ValueError):
        cutoff_ms(1_800_000_000_000, 183)


def test_times_must_be_integers():
    with pytest.raises(TypeError):
        cutoff_ms(1.8e12, 190)  # type: ignore[arg-type]


# now (local wall clock, zone), days: each period crosses a DST change or 29 February.
BOUNDARIES = [
    ("2026-03-08 03:30", "America/New_York", 184),   # minutes after spring-forward; period spans fall-back
    ("2026-03-08 12:00", "America/New_York", 190),
    ("2026-01-15 12:00", "America/New_York", 184),   # winter now, summer cutoff: one change inside
    ("2026-03-29 03:30", "Europe/Berlin", 184),      # minutes after the EU spring change
    ("2026-10-25 02:30", "Europe/Berlin", 184),      # ambiguous hour of the EU autumn change
    ("2026-04-10 09:00", "Europe/London", 184),
    ("2028-03-01 00:00", "Asia/Shanghai", 184),      # 29 Feb 2028 inside the period, at its very end
    ("2028-08-30 23:59", "Asia/Shanghai", 184),      # 29 Feb 2028 near the period's start
    ("2028-03-01 00:00", "America/New_York", 366),   # a year of 366 days with a DST change
]


@pytest.mark.parametrize("local, tz, days", BOUNDARIES)
def test_one_minute_younger_survives_one_minute_older_goes(local, tz, days):
    now = ms(local, tz)
    limit = now - days * 86_400_000
    younger, older = limit + MINUTE, limit - MINUTE
    assert not is_past_retention(younger, now, days)
    assert is_past_retention(older, now, days)
    # The period is exactly days * 24 h of elapsed time, whatever the calendar did in between.
    assert now - cutoff_ms(now, days) == days * 24 * 3600 * 1000


@pytest.mark.parametrize("local, tz, days", BOUNDARIES)
def test_cutoff_equals_utc_arithmetic(local, tz, days):
    """Subtracting days in UTC (no DST there) gives the same instant as the ms arithmetic."""
    now = ms(local, tz)
    utc_now = dt.datetime.fromtimestamp(now / 1000, UTC)
    assert int((utc_now - dt.timedelta(days=days)).timestamp() * 1000) == cutoff_ms(now, days)


def test_local_calendar_arithmetic_would_be_an_hour_off_across_dst():
    """Why the rule is elapsed time: 'same wall-clock time 184 days ago' in New York is 184 days
    and one hour ago when the period contains the autumn change, so it must already be gone."""
    tz = ZoneInfo("America/New_York")
    now_local = dt.datetime(2026, 1, 15, 12, 0, tzinfo=tz)  # EST
    now = int(now_local.timestamp() * 1000)
    same_wall_clock = int((now_local - dt.timedelta(days=184)).timestamp() * 1000)  # 2025-07-15 12:00 EDT
    assert now - same_wall_clock == 184 * DAY_MS + 3_600_000
    assert is_past_retention(same_wall_clock, now, 184)
    assert not is_past_retention(same_wall_clock + 3_600_000, now, 184)  # exactly the limit: kept


def test_29_february_counts_as_one_day():
    now = ms("2028-03-01 00:00", "Asia/Shanghai")
    # 184 days before 1 March 2028 is 30 August 2027, counting 29 February 2028 ...
    limit = dt.datetime.fromtimestamp(cutoff_ms(now, 184) / 1000, ZoneInfo("Asia/Shanghai"))
    assert limit.isoformat() == "2027-08-30T00:00:00+08:00"
    # ... versus 28 days in February of a common year (2027), one day less.
    now27 = ms("2027-03-01 00:00", "Asia/Shanghai")
    limit27 = dt.datetime.fromtimestamp(cutoff_ms(now27, 184) / 1000, ZoneInfo("Asia/Shanghai"))
    assert limit27.isoformat() == "2026-08-29T00:00:00+08:00"


def test_184_days_cover_any_six_calendar_months():
    """The longest six-month span (1 July to 1 January, and 1 August to 1 February...) is 184 days."""
    longest = 0
    for year in (2026, 2027, 2028):
        for month in range(1, 13):
            start = dt.date(year, month, 1)
            end_month = month + 6
            end = dt.date(year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
            longest = max(longest, (end - start).days)
    assert longest == MIN_DAYS


def test_sanction_holds():
    now, days = 1_800_000_000_000, 184
    assert sanction_holds(now - DAY_MS, now + 1, now, days)        # timed, still running
    assert not sanction_holds(now - DAY_MS, now, now, days)        # timed, ended
    assert sanction_holds(cutoff_ms(now, days), None, now, days)   # permanent, imposed one period ago
    assert not sanction_holds(cutoff_ms(now, days) - 1, None, now, days)
    # a warning: past its deadline (overdue, still standing), it holds a full period from when it was given
    assert sanction_holds(now - DAY_MS, now - 1, now, days, kind="warning")
    assert not sanction_holds(cutoff_ms(now, days) - 1, now - 1, now, days, kind="warning")
    assert sanction_holds(cutoff_ms(now, days) - 1, now + 1, now, days, kind="warning")  # its deadline still ahead
    # an open appeal holds any of them until it is decided
    assert sanction_holds(now - DAY_MS, now - 1, now, days, appealed=True)  # timed, ended
    assert sanction_holds(cutoff_ms(now, days) - 1, None, now, days, appealed=True)  # a period past
