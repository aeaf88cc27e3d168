"""Review (rv-session2): unlock-login, the take-backs of refused renames and reports, the hour of @all
read back at a start, through the real server."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.test_address_limits import _once, _server
from tests.e2e.test_races import _refusing_trigger

ROOT = Path(__file__).resolve().parents[2]


async def test_an_unlock_whose_record_entry_fails_is_not_left_in_force_behind_a_failure(tmp_path, started, backend):
    """DEFECT. docs/operator.md, unlock-login: "recorded: unlock_login (target the user, detail
    address)" and the command fails only when "nothing is unlocked then". lockouts.py stores the
    network-log row and forgets the counts in memory *before* writing the enforcement-record entry
    (``apply(..., audit=...)``); when that write is refused, the command exits non-zero, yet the account
    is unlocked (now, and after a restart too, from the stored ``login_unlocked`` row), with no record
    entry naming who unlocked it or why. The operator is told it failed; what it did stands unrecorded."""
    srv = started(_server(tmp_path, backend, failed_logins_per_account=3))
    victim = await srv.user()
    for i in range(4):
        await _once(srv, f"2001:db8:{i}::1", "login", username=victim.username, password=f"wrong-{i:04d}")
    assert (await _once(srv, "192.0.2.50", "login", username=victim.username, password="password123"))["code"] == \
        "rate_limited"
    _refusing_trigger(srv, "no_unlock_entry", "audit", "INSERT", "NEW.action = 'unlock_login'")
    rc, out, err = await srv.admin("unlock-login", victim.username, "--reason", "本人来电核实")
    assert rc != 0, (rc, out, err)  # refused: its record entry was not written
    assert srv.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'unlock_login'") == [(0,)]
    # ... and so nothing should be unlocked (the doc: a failure unlocks nothing); it is.
    after = await _once(srv, "192.0.2.51", "login", username=victim.username, password="password123")
    assert after.get("code") == "rate_limited", ("unlocked with no record entry, the command having failed", after)


def test_scale_out_md_no_longer_says_the_hour_of_at_all_starts_empty_on_a_new_home():
    """DEFECT (docs contradict the code). 480b76cd reads the hour of @all per group back at a start and
    on becoming a cluster's home (server/limits.py, docs/config.md: "a restart or a cluster's new home
    included"), but docs/scale-out.md still lists ``mention_all`` among the windows a new home "does not
    know", which "start empty, as after a restart of one node", and server/limits.py's own docstring
    says "The other windows (reports, @all, sends) start empty"."""
    scale = (ROOT / "docs" / "scale-out.md").read_text(encoding="utf-8")
    m = re.search(r"What the new home does not know:(.*?)which start empty", scale, re.S)
    assert m is not None
    assert "mention_all" not in m.group(1), m.group(1)
    limits_doc = (ROOT / "server" / "limits.py").read_text(encoding="utf-8").split('"""')[1]
    assert "(reports, @all, sends) start empty" not in limits_doc
