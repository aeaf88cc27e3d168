"""governance.sanctions: which sanctions stand, the end that remains, what a replacement cuts short."""

from __future__ import annotations

from governance.sanctions import cut_short, standing_until

NOW = 1_000_000


def row(sid, kind="suspend_group", expires_at=NOW + 600_000, lifted_at=None):
    return {"id": sid, "kind": kind, "expires_at": expires_at, "lifted_at": lifted_at}


def test_standing_until_is_the_latest_end_among_those_in_force():
    rows = [row(1, expires_at=NOW + 60_000), row(2, expires_at=NOW + 600_000),
            row(3, expires_at=NOW + 900_000, lifted_at=NOW - 1),  # lifted
            row(4, expires_at=NOW),  # ran out
            row(5, kind="suspend_admin", expires_at=NOW + 999_000),  # another kind
            row(6, kind="warning", expires_at=None)]
    assert standing_until(rows, "suspend_group", NOW) == NOW + 600_000
    assert standing_until(rows, "suspend_group", NOW, without=2) == NOW + 60_000
    assert standing_until(rows, "suspend_group", NOW, without=1) == NOW + 600_000
    assert standing_until([row(1)], "suspend_group", NOW, without=1) == 0


def test_a_shorter_replacement_cuts_short_what_outlasts_it():
    rows = [row(1, expires_at=NOW + 600_000), row(2, expires_at=NOW + 30_000), row(3, expires_at=NOW + 60_000),
            row(4, expires_at=NOW + 600_000, lifted_at=NOW - 1), row(5, expires_at=NOW - 1),
            row(6, kind="suspend_admin")]
    assert cut_short(rows, "suspend_group", NOW + 60_000, NOW) == [1]  # an equal end is not cut
    assert cut_short(rows, "suspend_group", NOW + 1_000, NOW) == [1, 2, 3]
    assert cut_short(rows, "suspend_group", NOW + 900_000, NOW) == []  # a longer one cuts nothing
    # After the cut, the new end is the target's end: nothing standing outlasts it.
    until = NOW + 1_000
    left = [r for r in rows if int(r["id"]) not in cut_short(rows, "suspend_group", until, NOW)]
    assert max(standing_until(left, "suspend_group", NOW), until) == until


def test_where_the_later_end_wins_nothing_is_cut_short():
    rows = [row(1, kind="suspend_account", expires_at=NOW + 600_000)]
    assert cut_short(rows, "suspend_account", NOW + 1_000, NOW) == []


def test_a_sanctions_end_is_the_first_moment_it_no_longer_holds():
    """The edges a mutation review found untested: a warning is overdue from its deadline on, a timed
    sanction stands until the millisecond before its end."""
    from governance.sanctions import standing, status

    warning = {"kind": "warning", "expires_at": 1000, "lifted_at": None}
    assert (status(warning, 999), status(warning, 1000)) == ("in_force", "overdue")
    suspension = {"kind": "suspend_group", "expires_at": 1000, "lifted_at": None}
    assert (status(suspension, 999), status(suspension, 1000)) == ("in_force", "expired")
    assert standing(suspension, "suspend_group", 999) and not standing(suspension, "suspend_group", 1000)
