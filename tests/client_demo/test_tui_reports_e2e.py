"""The terminal client's /reports, /appeal and /appeals end to end, on each storage backend: a user
reports, appeals, quits, the operator decides while they are away, and the lists show the outcomes
and the operator's notes when they come back (the live notices reached nobody)."""

from __future__ import annotations

import asyncio
import json
import re

from tests.client_demo import test_tui_v2_e2e as v2
from tests.client_demo.test_tui_v2_e2e import group_with, make_user, say
from tests.e2e.harness import ServerProcess

server = v2.server  # one server per backend for this module, [sqlite] and [postgresql]
tui = v2.tui
T = r"\d\d:\d\d"


def admin(server: ServerProcess, *args: str) -> str:
    rc, out, err = asyncio.run(server.admin(*args))
    assert rc == 0, err
    return out


def test_reports_and_appeals_list_outcomes_decided_while_away(server, tui):
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    gid, a, [b] = group_with(server, tui, alice, bob)
    seq = say(a, gid, "加我微信买发票", "Alice", owner=True)
    b.command("/reports", r"^\* no reports$")
    b.command(f"/report message {seq} 诈骗 卖假发票", r"^\* report filed \(id (\d+)\)$")
    rid = b.command(f"/report user {alice[0]} spam", r"^\* report filed \(id (\d+)\)$").group(1)
    b.command("/reports", r"^\* your reports: 2$")
    b.expect(rf"^  #{rid} {T} user Alice \({alice[0]}\) in {gid}: spam  -> open$")
    b.expect(rf"^  #\d+ {T} message #{seq} in {gid}: 诈骗  -> open$")
    # a sanction against bob, which he appeals
    name = b.command("/me", r"^\* user_id=\S+, username=([^,]+),").group(1)
    admin(server, "revoke-create", name, "--reason", "spam groups")
    [sanction] = [json.loads(line) for line in admin(server, "sanctions", "--user", name).splitlines()]
    sid = sanction["id"]
    b.command("/sanctions", r"^\* measures standing against you or your groups: 1 \(/appeal ID REASON contests one\)$")
    b.expect(rf"^  #{sid} your right to create groups revoked since {T}, no end date: spam groups$")
    b.command("/appeal 12x reason", r"^! usage: .*is not a sanction id")
    aid = b.command(f"/appeal {sid} 我没有发广告", r"^\* appeal filed \(id (\d+)\)").group(1)
    b.command("/appeals", r"^\* your appeals: 1$")
    b.expect(rf"^  #{aid} {T} sanction {sid}  -> open$")
    assert b.finish() == 0  # bob is away when the operator decides

    admin(server, "resolve", rid, "--outcome", "upheld", "--note", "已警告，电话 13800138000 已隐去")
    admin(server, "decide-appeal", aid, "--outcome", "rejected", "--note", "证据确凿")

    back = tui(bob)
    back.command("/reports 1", r"^\* your reports: 1$")
    # a new session knows no names yet: the user id alone
    line = back.expect(rf"^  #{rid} {T} user {alice[0]} in {gid}: spam  -> upheld {T}: 已警告，电话 (\S+) 已隐去$")
    assert "13800138000" not in line.group(1)  # masked when the operator typed it
    back.expect(rf"^\* older: /reports 1 before {rid}$")
    back.command(f"/reports 1 before {rid}", r"^\* your reports: 1$")
    back.expect(rf"^  #\d+ {T} message #{seq} in {gid}: 诈骗  -> open$")
    back.command("/appeals", r"^\* your appeals: 1$")
    back.expect(rf"^  #{aid} {T} sanction {sid}  -> rejected {T}: 证据确凿$")
    back.command("/appeals before x", r"^! usage: ID must be a whole number.*/appeals \[N\] \[before ID\]")
    # another user's list holds none of it
    a.command("/reports", r"^\* no reports$")
    a.command("/appeals", r"^\* no appeals$")
    assert not any(re.search("证据确凿|已警告", ln) for ln in a.output)
