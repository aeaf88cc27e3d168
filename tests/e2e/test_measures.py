"""Measures that finish (Art. 11): overdue warnings, lifting sanctions early, appeals, and a
blacklisted owner's groups. Each client-visible effect arrives within 2 s."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

from tests.e2e.harness import close_all, new_id_number, open_group, restart
from tests.e2e.store_hold import (
    CountedServer,
    until,
    until_operator_connections,
    until_write_waits,
    until_writes_queued,
    writes_held,
)

WITHIN = 2.0


async def setup_group(server, n=1):
    owner = await server.user()
    gid = await open_group(owner)
    members = []
    for _ in range(n):
        c = await server.user()
        await c.request("join_group", group_id=gid)
        members.append(c)
    owner.drain_events()
    return owner, gid, members


async def sanctions(server, *args):
    rc, out, err = await server.admin("sanctions", *args)
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines()]


async def one_sanction(server, kind, *args):
    [row] = [r for r in await sanctions(server, *args) if r["kind"] == kind and r["status"] != "lifted"]
    return row


async def until_event(client, match, keep=False, timeout=WITHIN):
    """The first event (seen before or arriving within ``timeout``) that ``match`` accepts; with ``keep``
    the events looked at stay available for the next call."""
    seen = getattr(client, "_seen", [])
    client._seen = seen
    for i, e in enumerate(seen):
        if match(e):
            return seen.pop(i)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        e = await asyncio.wait_for(client.events.get(), max(0.01, deadline - loop.time()))
        if match(e):
            return e
        if keep:
            seen.append(e)


def audit_actions(server):
    return [(a, actor, d) for a, actor, d in server.db_rows("SELECT action, actor_id, detail FROM audit ORDER BY id")]


async def until_overdue(server, sanction_id, timeout=10.0):
    """The ``sanctions --overdue`` rows once they include ``sanction_id`` (polled: each call is a process)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await sanctions(server, "--overdue")
        if any(r["id"] == sanction_id for r in rows) or loop.time() > deadline:
            return rows
        await asyncio.sleep(0.1)


async def test_warning_deadline_that_passes_is_reported_overdue(server):
    owner, gid, [m] = await setup_group(server)
    # One warning whose deadline is far off (never overdue here, however busy the machine) and one
    # whose deadline passes two seconds after it is given: the test waits only that long, then asks.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    rc, out, _ = await server.admin("warn-group", gid, "--reason", "请在期限内整改", "--deadline", later.isoformat())
    assert rc == 0
    ev = await m.next_event("notice", timeout=WITHIN)
    assert ev["kind"] == "warning" and ev["sanction_id"] and ev["by"] == "operator"
    standing = await one_sanction(server, "warning", "--group", gid)
    assert standing["status"] == "in_force" and standing["id"] == ev["sanction_id"] and standing["actor"] == "operator"
    assert await sanctions(server, "--overdue") == []
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    rc, out, err = await server.admin("warn-group", gid, "--reason", "两秒内整改", "--deadline", soon.isoformat())
    assert rc == 0, err
    ev = await m.next_event("notice", timeout=WITHIN)
    soon_ms = int(soon.timestamp() * 1000)
    assert ev["kind"] == "warning" and ev["deadline"] == soon_ms
    asked_ms = time.time() * 1000
    [row] = [r for r in await sanctions(server, "--group", gid) if r["id"] == ev["sanction_id"]]
    answered_ms = time.time() * 1000
    # In force while its deadline is ahead (overdue only if the machine was slow enough to pass it).
    status = row["status"]
    assert (status == "in_force" and asked_ms < soon_ms) or (status == "overdue" and answered_ms >= soon_ms), row
    await asyncio.sleep(max(0.0, soon_ms / 1000 - time.time()))
    [overdue] = await until_overdue(server, row["id"])  # and the far-off one is not
    assert overdue["id"] == row["id"] and overdue["status"] == "overdue" and overdue["target_id"] == gid
    # A lifted warning is no longer overdue (the far-off one still is not).
    rc, _, _ = await server.admin("lift", row["id"], "--reason", "已整改")
    assert rc == 0
    ev = await m.next_event("notice", timeout=WITHIN)
    assert ev["kind"] == "sanction_lifted" and ev["group_id"] == gid and ev["sanction_id"] == row["id"]
    assert "until" not in ev  # a warning held no posting: nothing to say about a suspension
    assert await sanctions(server, "--overdue") == []
    [lifted] = [r for r in await sanctions(server, "--group", gid) if r["id"] == row["id"]]
    assert lifted["status"] == "lifted" and lifted["lift_reason"] == "已整改" and lifted["lifted_by"] == "operator"


async def test_lift_group_suspension_posting_works_again(server):
    owner, gid, [m] = await setup_group(server)
    rc, _, _ = await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam")
    assert rc == 0
    await m.next_event("group_suspended", timeout=WITHIN)
    assert (await m.call("send", group_id=gid, text="x"))["code"] == "group_suspended"
    row = await one_sanction(server, "suspend_group", "--group", gid)
    rc, out, err = await server.admin("lift", row["id"], "--reason", "误判")
    assert rc == 0, err
    assert "posting works again" in out
    ev = await m.next_event("notice", timeout=WITHIN)
    assert ev["kind"] == "sanction_lifted" and ev["group_id"] == gid and "误判" in ev["text"]
    assert ev["until"] == 0 and "cause" not in ev  # nothing holds the group now: a client clears it from this
    assert (await m.call("send", group_id=gid, text="back"))["ok"]
    # lifting twice is refused; the record has the lift, with the sanction it lifted
    rc, _, err = await server.admin("lift", row["id"], "--reason", "again")
    assert rc == 2 and "already lifted" in err and len(err.strip().splitlines()) == 1
    lifts = [(actor, json.loads(d)) for a, actor, d in audit_actions(server) if a == "lift_sanction"]
    assert lifts == [("operator", {"sanction_id": int(row["id"]), "kind": "suspend_group"})]
    # still lifted after a restart
    await server.stopped()
    server.start()
    c = await server.client()
    await c.auth(m.token)
    assert (await c.call("send", group_id=gid, text="after restart"))["ok"]


async def test_lift_one_of_two_suspensions_keeps_the_other(server):
    owner, gid, [m] = await setup_group(server)
    # A longer suspension after a shorter one: both stand, the group ends with the longer.
    await server.admin("suspend-group", gid, "--seconds", "60", "--reason", "one")
    await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "two")
    rows = [r for r in await sanctions(server, "--group", gid) if r["kind"] == "suspend_group"]
    assert [r["status"] for r in rows] == ["in_force", "in_force"]
    longer = max(rows, key=lambda r: r["expires_at"])
    shorter = min(rows, key=lambda r: r["expires_at"])
    rc, out, _ = await server.admin("lift", longer["id"], "--reason", "x")
    assert rc == 0 and "still suspended until" in out and f"({shorter['expires_at']})" in out
    r = await m.call("send", group_id=gid, text="x")
    assert r["code"] == "group_suspended" and r["until"] == shorter["expires_at"]


def audit_rows(server):
    return server.db_rows("SELECT id, ts, action, reason, detail, prev_hash, hash FROM audit ORDER BY id")


async def test_a_shorter_suspend_group_ends_the_longer_in_the_record(server):
    """`suspend-group --seconds 1` on a group suspended for longer shortens the suspension, and the
    longer sanction ends in the record with it: `sanctions` no longer shows it in force, it cannot
    be lifted again, and the record gains one entry naming it (the earlier entries stay as written)."""
    owner, gid, [m] = await setup_group(server)
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "刷屏")
    assert rc == 0, err
    [longer] = await sanctions(server, "--group", gid)
    before = audit_rows(server)
    rc, out, err = await server.admin("suspend-group", gid, "--seconds", "1", "--reason", "已整改，缩短")
    assert rc == 0, err
    cut, shorter = await sanctions(server, "--group", gid)
    assert cut["id"] == longer["id"] and cut["status"] == "lifted" and cut["lifted_by"] == "operator"
    assert cut["lift_reason"] == "replaced by a shorter suspend-group: 已整改，缩短"
    assert (cut["replaced_by"], shorter["replaced_by"]) == (shorter["id"], None)
    assert cut["expires_at"] == longer["expires_at"]  # its own period stays as imposed
    # (the one-second suspension may already have run out on a busy machine: each admin call is a process)
    assert shorter["status"] in ("in_force", "expired") and f"({shorter['expires_at']})" in out
    # Append-only: the entries before stand unchanged; one new entry names what it cut short.
    after = audit_rows(server)
    assert after[:len(before)] == before and len(after) == len(before) + 1
    assert after[-1][2] == "suspend_group"
    assert json.loads(after[-1][4]) == {"seconds": 1, "sanctions_lifted": [int(longer["id"])],
                                        "sanction_id": int(shorter["id"])}  # (the row the entry is)
    # The owner reads in group_log that the new measure ended the longer one.
    [latest, *_] = (await owner.request("group_log", group_id=gid))["entries"]
    assert latest["action"] == "suspend_group" and latest["detail"]["sanctions_lifted"] == [longer["id"]]  # strings
    rc, out, _ = await server.admin("verify-audit")
    assert rc == 0 and "whole" in out
    # The cut-short sanction is over: lifting it is refused, an appeal against it too.
    rc, _, err = await server.admin("lift", longer["id"], "--reason", "x")
    assert rc == 2 and "already lifted" in err
    assert (await owner.call("appeal", sanction_id=longer["id"], text="不服"))["ok"] is False
    # When the short one runs out nothing is in force, and posting works.
    await asyncio.sleep(max(0.0, (shorter["expires_at"] - time.time() * 1000) / 1000) + 0.3)
    assert (await m.call("send", group_id=gid, text="back"))["ok"]
    assert [r["status"] for r in await sanctions(server, "--group", gid)] == ["lifted", "expired"]
    # ... also after a restart.
    await server.stopped()
    server.start()
    assert [r["status"] for r in await sanctions(server, "--group", gid)] == ["lifted", "expired"]


async def test_lift_after_a_shortened_suspension_does_not_bring_back_the_longer(server):
    owner, gid, [m] = await setup_group(server)
    await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "long")
    await server.admin("suspend-group", gid, "--seconds", "60", "--reason", "shorter")
    shorter = await one_sanction(server, "suspend_group", "--group", gid)
    rc, out, err = await server.admin("lift", shorter["id"], "--reason", "误判")
    assert rc == 0, err
    assert "posting works again" in out and "still suspended" not in out
    assert (await m.call("send", group_id=gid, text="back"))["ok"]
    assert [r["status"] for r in await sanctions(server, "--group", gid)] == ["lifted", "lifted"]


async def test_a_shorter_suspend_group_cuts_the_groups_own_but_neither_shortens_a_category_freeze(server):
    """A freeze of the group's category holds it to the freeze's end whatever the group's own
    suspensions: a shorter suspend-group used to lift the freeze's row with the group's own, and the
    group posted again while its category stayed frozen."""
    owner, gid, [m] = await setup_group(server)
    # freeze-category keeps a longer suspension: both stand, the group ends with the longer one.
    await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "long")
    rc, _, err = await server.admin("freeze-category", "friends", "--seconds", "60", "--reason", "emergency")
    assert rc == 0, err
    rows = await sanctions(server, "--group", gid)
    assert [r["status"] for r in rows] == ["in_force", "in_force"]
    r = await m.call("send", group_id=gid, text="x")
    assert r["code"] == "group_suspended" and r["until"] == rows[0]["expires_at"]
    # suspend-group replaces the group's own end: it cuts short the suspension that outlasts it, not
    # the freeze, which holds the group to its end.
    await server.admin("suspend-group", gid, "--seconds", "30", "--reason", "shorter")
    cut, freeze, last = await sanctions(server, "--group", gid)
    assert (cut["status"], freeze["status"], last["status"]) == ("lifted", "in_force", "in_force")
    assert last["expires_at"] < freeze["expires_at"]
    r = await m.call("send", group_id=gid, text="x")
    assert r["code"] == "group_suspended" and r["until"] == freeze["expires_at"]
    rc, out, _ = await server.admin("lift", last["id"], "--reason", "x")
    assert rc == 0 and f"({freeze['expires_at']}) by another sanction" in out, out
    rc, out, _ = await server.admin("lift", freeze["id"], "--reason", "x")
    assert rc == 0 and "posting works again" in out


async def test_a_group_exempted_from_its_categorys_freeze_is_held_by_its_own_suspension_alone(server):
    """Its freeze row lifted, a group posts again; a short suspend-group then holds it that long only
    (it was held to the freeze's end, with nothing in force that lift could reach)."""
    owner, gid, [m] = await setup_group(server)
    rc, _, err = await server.admin("freeze-category", "friends", "--seconds", "600", "--reason", "emergency")
    assert rc == 0, err
    [freeze] = await sanctions(server, "--group", gid)
    assert freeze["cause"] == "freeze"
    rc, _, err = await server.admin("lift", freeze["id"], "--reason", "not this group")
    assert rc == 0, err
    assert "seq" in await m.request("send", group_id=gid, text="exempted")
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "2", "--reason", "brief")
    assert rc == 0, err
    _, own = await sanctions(server, "--group", gid)
    assert own["cause"] is None
    r = await m.call("send", group_id=gid, text="x")
    assert r["code"] == "group_suspended" and r["until"] == own["expires_at"], r
    await asyncio.sleep(max(0.0, own["expires_at"] / 1000 - time.time()) + 0.2)
    assert "seq" in await m.request("send", group_id=gid, text="after its own end")


async def test_a_shorter_suspend_group_in_a_frozen_category_ends_the_groups_own_longer_one(server):
    """It keeps the freeze's row and still ends the group's own suspension that outlasts it: that one
    stood, and held the group again once the freeze's row was lifted for it."""
    owner, gid, [m] = await setup_group(server)
    await server.admin("suspend-group", gid, "--seconds", "300", "--reason", "own")
    await server.admin("freeze-category", "friends", "--seconds", "600", "--reason", "emergency")
    await server.admin("suspend-group", gid, "--seconds", "2", "--reason", "brief")
    own, freeze, brief = await sanctions(server, "--group", gid)
    assert (own["status"], freeze["status"], brief["status"]) == ("lifted", "in_force", "in_force")
    rc, _, err = await server.admin("lift", freeze["id"], "--reason", "not this group")
    assert rc == 0, err
    await asyncio.sleep(max(0.0, brief["expires_at"] / 1000 - time.time()) + 0.2)
    assert "seq" in await m.request("send", group_id=gid, text="free again")


async def test_a_lifted_group_suspension_says_what_still_holds_the_group(server):
    """``sanction_lifted`` of a group's suspension carries ``until`` and ``cause`` of what still
    holds it (here its category's freeze), so a client keeps the right end without reading ``text``."""
    owner, gid, [m] = await setup_group(server)
    await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "long")
    rc, _, err = await server.admin("freeze-category", "friends", "--seconds", "60", "--reason", "emergency")
    assert rc == 0, err
    own, freeze = await sanctions(server, "--group", gid)
    rc, _, err = await server.admin("lift", own["id"], "--reason", "x")
    assert rc == 0, err
    ev = await m.next_event("notice", timeout=WITHIN)
    assert ev["kind"] == "sanction_lifted" and ev["sanction_id"] == own["id"]
    assert ev["until"] == freeze["expires_at"] and ev["cause"] == "category_freeze"
    r = await m.call("send", group_id=gid, text="x")
    assert r["code"] == "group_suspended" and (r["until"], r["cause"]) == (ev["until"], ev["cause"])


async def test_a_shorter_suspend_admin_ends_the_longer_in_the_record(server):
    owner, gid, [m1, m2] = await setup_group(server, 2)
    await server.admin("suspend-admin", owner.username, "--seconds", "600", "--reason", "abuse")
    [longer] = await sanctions(server, "--user", owner.username)
    before = audit_rows(server)
    score = (await owner.request("me"))["credit_score"]
    rc, out, err = await server.admin("suspend-admin", owner.username, "--seconds", "60", "--reason", "shorter")
    assert rc == 0, err
    assert (await owner.request("me"))["credit_score"] == score  # (its conduct's, shortened: nothing more)
    cut, shorter = await sanctions(server, "--user", owner.username)
    assert cut["id"] == longer["id"] and cut["status"] == "lifted"
    assert cut["lift_reason"] == "replaced by a shorter suspend-admin: shorter"
    assert (cut["replaced_by"], shorter["replaced_by"]) == (shorter["id"], None)
    assert shorter["status"] == "in_force" and f"({shorter['expires_at']})" in out
    after = audit_rows(server)
    assert after[:len(before)] == before and len(after) == len(before) + 1
    assert json.loads(after[-1][4]) == {"seconds": 60, "sanctions_lifted": [int(longer["id"])],
                                        "sanction_id": int(shorter["id"])}
    assert (await owner.call("kick", group_id=gid, user_id=m2.user_id))["code"] == "forbidden"
    rc, out, err = await server.admin("lift", shorter["id"], "--reason", "申诉核实")
    assert rc == 0, err
    assert "powers are back" in out and "still suspended" not in out
    assert (await owner.call("kick", group_id=gid, user_id=m2.user_id))["ok"]


async def test_lift_admin_suspension_gives_powers_back(server):
    owner, gid, [m1, m2] = await setup_group(server, 2)
    await server.admin("suspend-admin", owner.username, "--seconds", "600", "--reason", "abuse")
    assert (await owner.next_event("notice", timeout=WITHIN))["kind"] == "sanction"
    assert (await owner.next_event("notice", timeout=WITHIN))["kind"] == "credit"  # what it cost them
    assert (await owner.call("kick", group_id=gid, user_id=m2.user_id))["code"] == "forbidden"
    row = await one_sanction(server, "suspend_admin", "--user", owner.username)
    assert row["username"] == owner.username
    rc, _, _ = await server.admin("lift", row["id"], "--reason", "申诉核实")
    assert rc == 0
    ev = await owner.next_event("notice", timeout=WITHIN)
    assert ev["kind"] == "sanction_lifted" and ev["sanction_id"] == row["id"]
    assert (await owner.call("kick", group_id=gid, user_id=m2.user_id))["ok"]


async def test_lift_revoke_create_lets_them_create_again(server):
    alice = await server.user()
    await server.admin("revoke-create", alice.username, "--reason", "spam groups")
    assert (await alice.next_event("notice", timeout=WITHIN))["kind"] == "sanction"
    assert (await alice.next_event("notice", timeout=WITHIN))["kind"] == "credit"  # what it cost them
    args = {"name": "x", "category": "work", "join_policy": "open"}
    assert (await alice.call("create_group", **args))["code"] == "forbidden"
    row = await one_sanction(server, "revoke_create", "--user", alice.username)
    rc, _, _ = await server.admin("lift", row["id"], "--reason", "ok")
    assert rc == 0
    assert (await alice.next_event("notice", timeout=WITHIN))["kind"] == "sanction_lifted"
    assert (await alice.call("create_group", **args))["ok"]


async def test_lifting_one_of_two_sanctions_of_a_kind_says_the_other_still_holds(server):
    """Two suspensions of one owner's powers (or two revocations of the create right): lifting one
    told the user "the platform gave back your management powers" while the other still held them.
    The notice says so: ``still`` and, for the powers, ``until``; the text too."""
    owner, gid, [m1] = await setup_group(server, 1)
    for seconds in ("600", "3600"):
        await server.admin("suspend-admin", owner.username, "--seconds", seconds, "--reason", "abuse")
    rc, out, _ = await server.admin("sanctions", "--user", owner.username)
    rows = sorted((json.loads(x) for x in out.splitlines()), key=lambda r: r["expires_at"])
    owner.drain_events()
    await server.admin("lift", rows[0]["id"], "--reason", "核实")  # the shorter: the longer holds
    ev = await owner.next_event("notice", timeout=WITHIN)
    assert (ev["kind"], ev["still"], ev["until"]) == ("sanction_lifted", True, rows[1]["expires_at"]), ev
    assert "another suspension" in ev["text"]
    assert (await owner.call("kick", group_id=gid, user_id=m1.user_id))["code"] == "forbidden"
    await server.admin("lift", rows[1]["id"], "--reason", "核实")
    ev = await owner.next_event("notice", timeout=WITHIN)
    assert (ev["still"], ev["until"]) == (False, 0), ev
    for _ in range(2):
        await server.admin("revoke-create", owner.username, "--reason", "spam groups")
    rc, out, _ = await server.admin("sanctions", "--user", owner.username)
    revoked = [json.loads(x) for x in out.splitlines() if json.loads(x)["kind"] == "revoke_create"]
    owner.drain_events()
    await server.admin("lift", revoked[0]["id"], "--reason", "ok")
    ev = await owner.next_event("notice", timeout=WITHIN)
    assert (ev["measure"], ev["still"]) == ("revoke_create", True) and "another revocation" in ev["text"], ev
    assert (await owner.request("me"))["create_revoked"] is True


async def test_lift_blacklist_reopens_the_account(server):
    bob = await server.user()
    await server.admin("blacklist", bob.username, "--reason", "fraud")
    c = await server.client()
    assert (await c.call("login", username=bob.username, password="password123"))["code"] == "blacklisted"
    assert (await c.call("auth", token=bob.token))["code"] == "blacklisted"  # (while it stands)
    row = await one_sanction(server, "blacklist", "--user", bob.username)
    rc, out, _ = await server.admin("lift", row["id"], "--reason", "身份被冒用，已核实")
    assert rc == 0 and "open again" in out
    # A token from before the blacklist (a stolen one, say) never comes back: its owner logs in again.
    refused = await c.call("auth", token=bob.token)
    assert (refused["code"], refused["cause"]) == ("unauthenticated", "account_reopened")
    assert (await c.call("login", username=bob.username, password="password123"))["ok"]


async def test_a_blacklisting_of_a_cancelled_account_can_be_lifted_and_frees_the_identity(server):
    """``blacklist`` accepts a cancelled account (fraud found after the user left), but its ``lift``
    refused ("nothing to reopen"), so a mistaken one could never be undone: the person's ID number
    stayed barred on every other login for good, and retention never erased the identity. The lift
    goes through; the account stays cancelled, and the ID number no longer reads as barred."""
    alice = await server.user()
    id_number = new_id_number()
    await alice.request("verify_identity", legal_name="张三", id_number=id_number)
    await alice.request("delete_account", password="password123")
    rc, _, err = await server.admin("blacklist", alice.username, "--reason", "事后发现的诈骗")
    assert rc == 0, err
    other = await server.user()
    barred = await other.call("verify_identity", legal_name="张三", id_number=id_number)
    assert barred["code"] == "blacklisted", barred
    row = await one_sanction(server, "blacklist", "--user", alice.username)
    rc, out, err = await server.admin("lift", row["id"], "--reason", "查无实据")
    assert rc == 0 and "stays so" in out, (out, err)
    refused = await other.call("verify_identity", legal_name="张三", id_number=id_number)
    assert refused["code"] == "conflict", refused  # held by the cancelled account until retention ends
    c = await server.client()
    assert (await c.call("login", username=alice.username, password="password123"))["code"] != "blacklisted"
    [row] = [r for r in await sanctions(server, "--user", alice.username) if r["kind"] == "blacklist"]
    assert row["status"] == "lifted", row


async def test_close_group_and_unknown_sanctions_cannot_be_lifted(server):
    owner, gid, _ = await setup_group(server)
    await server.admin("close-group", gid, "--reason", "赌博")
    row = await one_sanction(server, "close_group", "--group", gid)
    for args in ((row["id"], "--reason", "x"), ("99999", "--reason", "x"), (row["id"],)):
        rc, _, err = await server.admin("lift", *args)
        assert rc == 2 and len(err.strip().splitlines()) == 1, (args, err)
    rc, _, err = await server.admin("lift", row["id"], "--reason", "x")
    assert "final" in err


async def test_a_closed_groups_earlier_suspension_is_not_lifted(server):
    """A reviewer lifted a suspension of a group closed since, and the command said "posting works
    again". Closing is final: lifting an earlier sanction changes nothing (and an appeal of it is
    refused for that reason), so the lift is refused too, saying why."""
    owner, gid, _ = await setup_group(server)
    await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam")
    row = await one_sanction(server, "suspend_group", "--group", gid)
    await server.admin("close-group", gid, "--reason", "赌博")
    rc, out, err = await server.admin("lift", row["id"], "--reason", "x")
    assert (rc, "is closed, which is final" in err, out) == (2, True, ""), (out, err)
    assert (await one_sanction(server, "suspend_group", "--group", gid))["id"] == row["id"]  # still stands


async def test_a_closed_groups_earlier_sanctions_cannot_be_appealed(server):
    """Closing is final: a suspension issued before it is no longer appealable either (upholding it
    would tell the owner the sanction is lifted, on a group that stays closed)."""
    owner, gid, _ = await setup_group(server)
    await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam")
    row = await one_sanction(server, "suspend_group", "--group", gid)
    await server.admin("close-group", gid, "--reason", "赌博")
    refused = await owner.call("appeal", sanction_id=row["id"], text="不公平")
    assert refused["code"] == "forbidden" and "closed" in refused["reason"]


async def test_appeal_queued_and_upheld_lifts_the_sanction(server):
    owner, gid, [m] = await setup_group(server)
    await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam")
    await m.next_event("group_suspended", timeout=WITHIN)
    row = await one_sanction(server, "suspend_group", "--group", gid)
    # only the group's owner may appeal a group's sanction; the same answer as for no sanction at all
    assert (await m.call("appeal", sanction_id=row["id"], text="不公平"))["code"] == "not_found"
    assert (await owner.call("appeal", sanction_id="99999", text="x"))["code"] == "not_found"
    assert (await owner.call("appeal", sanction_id=row["id"], text="   "))["code"] == "bad_request"
    assert (await owner.call("appeal", sanction_id="abc", text="x"))["code"] == "bad_request"
    assert (await owner.call("appeal", sanction_id=row["id"]))["code"] == "bad_request"
    reply = await owner.request("appeal", sanction_id=row["id"], text="群里的广告是新成员发的，已踢出")
    appeal_id = reply["appeal_id"]
    assert (await owner.call("appeal", sanction_id=row["id"], text="again"))["code"] == "conflict"
    rc, out, _ = await server.admin("appeals", "--open")
    [queued] = [json.loads(line) for line in out.splitlines()]
    assert queued["appeal_id"] == appeal_id and queued["sanction_id"] == row["id"]
    assert queued["username"] == owner.username and "新成员" in queued["text"]
    rc, out, err = await server.admin("decide-appeal", appeal_id, "--outcome", "upheld", "--note", "情况属实")
    assert rc == 0, err
    assert "lifted" in out
    notices = []
    while len(notices) < 2:
        notices.append(await owner.next_event("notice", timeout=WITHIN))
    kinds = {n["kind"]: n for n in notices}
    assert kinds["appeal_result"]["appeal_id"] == appeal_id and kinds["appeal_result"]["outcome"] == "upheld"
    assert "情况属实" in kinds["appeal_result"]["text"] and kinds["appeal_result"]["by"] == "operator"
    assert kinds["appeal_result"]["lifted"] is True  # (the decision lifted it)
    assert kinds["sanction_lifted"]["group_id"] == gid
    [mine] = (await owner.request("my_appeals"))["appeals"]
    assert (mine["outcome"], mine["lifted"]) == ("upheld", True)
    assert (await m.call("send", group_id=gid, text="back"))["ok"]
    rc, out, _ = await server.admin("appeals", "--open")
    assert out.strip() == ""
    rc, _, err = await server.admin("decide-appeal", appeal_id, "--outcome", "rejected", "--note", "x")
    assert rc == 2 and "already decided" in err
    # a lifted sanction can no longer be appealed
    assert (await owner.call("appeal", sanction_id=row["id"], text="x"))["code"] == "conflict"
    decided = [json.loads(d) for a, _, d in audit_actions(server) if a == "decide_appeal"]
    assert decided[0]["outcome"] == "upheld" and decided[0]["appeal_id"] == int(appeal_id)
    # The appellant's own export carries the decision on their appeal (recorded against the group,
    # it was only in the group's; a reviewer's find).
    rc, _, err = await server.admin("export", "--user", owner.username, "--out", str(server.dir / "ex"))
    assert rc == 0, err
    entries = [json.loads(line) for line in (server.dir / "ex" / "audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in entries if e["action"] in ("appeal", "decide_appeal")][-1] == "decide_appeal"


async def test_appeal_rejected_keeps_the_sanction(server):
    alice = await server.user()
    await server.admin("revoke-create", alice.username, "--reason", "spam groups")
    assert (await alice.next_event("notice", timeout=WITHIN))["kind"] == "sanction"
    assert (await alice.next_event("notice", timeout=WITHIN))["kind"] == "credit"  # what it cost them
    row = await one_sanction(server, "revoke_create", "--user", alice.username)
    appeal_id = (await alice.request("appeal", sanction_id=row["id"], text="我没有发广告"))["appeal_id"]
    rc, out, _ = await server.admin("decide-appeal", appeal_id, "--outcome", "rejected", "--note", "证据确凿")
    assert rc == 0 and "stands" in out
    ev = await alice.next_event("notice", timeout=WITHIN)
    assert ev["kind"] == "appeal_result" and ev["outcome"] == "rejected" and "证据确凿" in ev["text"]
    args = {"name": "x", "category": "work", "join_policy": "open"}
    assert (await alice.call("create_group", **args))["code"] == "forbidden"
    # closing a group is final: no appeal
    owner, gid, _ = await setup_group(server)
    await server.admin("close-group", gid, "--reason", "x")
    closed = await one_sanction(server, "close_group", "--group", gid)
    assert (await owner.call("appeal", sanction_id=closed["id"], text="x"))["code"] == "forbidden"


async def test_appeals_are_limited_per_user(make_server):
    """An appeal goes to the operators' queue and is kept for good, and a rejected one may be filed
    again at once: without a limit one user could fill the queue. ``rate_limits.appeals_per_day``;
    an appeal refused for another reason counts nothing."""
    srv = make_server("appeals_per_day = 2\n")  # the harness's config ends inside [rate_limits]
    alice = await srv.user()
    await srv.admin("revoke-create", alice.username, "--reason", "spam groups")
    sid = (await one_sanction(srv, "revoke_create", "--user", alice.username))["id"]
    assert (await alice.call("appeal", sanction_id=sid, text=" "))["code"] == "bad_request"  # (counts nothing)
    for n in range(2):
        appeal_id = (await alice.request("appeal", sanction_id=sid, text=f"第 {n} 次"))["appeal_id"]
        rc, _, err = await srv.admin("decide-appeal", appeal_id, "--outcome", "rejected", "--note", "维持")
        assert rc == 0, err
    refused = await alice.call("appeal", sanction_id=sid, text="第三次")
    assert refused["code"] == "rate_limited" and refused["retry_after_ms"] > 0, refused
    # The day's appeals are read back at a start (a restart, a cluster's takeover): it used to give
    # every user a fresh day of them.
    (alice,) = await restart(srv, alice)
    refused = await alice.call("appeal", sanction_id=sid, text="重启之后")
    assert refused["code"] == "rate_limited" and refused["retry_after_ms"] > 0, refused
    await alice.close()


async def test_an_owner_offline_at_a_measure_reads_it_and_its_id_with_my_sanctions(server):
    """The warning notice reached only the members online: an owner offline then never learned of the
    warning, its deadline, nor the id an appeal takes. ``my_sanctions`` lists what stands against the
    caller and the groups they own: not a lifted one, not another group's, not to a plain member."""
    owner, gid, [member] = await setup_group(server, 1)
    token = owner.token
    await owner.close()  # offline while the platform acts
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    for args in (["warn-group", gid, "--reason", "整改广告刷屏", "--deadline", deadline],
                 ["suspend-admin", owner.username, "--seconds", "600", "--reason", "滥用"],
                 ["revoke-create", owner.username, "--reason", "刷群"]):
        rc, _, err = await server.admin(*args)
        assert rc == 0, err
    other_owner, other_gid, _ = await setup_group(server, 0)
    await server.admin("warn-group", other_gid, "--reason", "别的群")
    back = await server.client()
    await back.auth(token)
    listed = (await back.request("my_sanctions"))["sanctions"]
    assert [x["measure"] for x in listed] == ["warning", "suspend_admin", "revoke_create"], listed
    warning, suspension, revocation = listed
    assert (warning["group_id"], warning["reason"], warning["status"]) == (gid, "整改广告刷屏", "in_force")
    assert warning["deadline"] > time.time() * 1000 and "until" not in warning
    assert suspension["until"] > time.time() * 1000 and revocation["until"] is None
    assert "group_id" not in suspension and "group_name" not in revocation
    # the id is the one an appeal takes
    assert (await back.request("appeal", sanction_id=warning["sanction_id"], text="已整改"))["appeal_id"]
    await server.admin("lift", revocation["sanction_id"], "--reason", "核实")
    assert [x["measure"] for x in (await back.request("my_sanctions"))["sanctions"]] == ["warning", "suspend_admin"]
    assert (await member.request("my_sanctions"))["sanctions"] == []  # the group's are its owner's to see
    for c in (back, member, other_owner):
        await c.close()


async def test_an_appellant_offline_at_the_decision_reads_the_outcome_with_my_appeals(server):
    """The ``appeal_result`` notice reaches only connections open at the moment; ``my_appeals`` gives
    an appellant who was offline each of their appeals (their own only, newest first, paged) with the
    status, the outcome and the operator's note (masked), but not the text they wrote nor who decided."""
    alice, bob = await server.user(), await server.user()
    for u in (alice, bob):
        await server.admin("revoke-create", u.username, "--reason", "spam groups")
        assert (await u.next_event("notice", timeout=WITHIN))["kind"] == "sanction"
    mine = await one_sanction(server, "revoke_create", "--user", alice.username)
    theirs = await one_sanction(server, "revoke_create", "--user", bob.username)
    assert (await alice.request("my_appeals"))["appeals"] == []
    first = (await alice.request("appeal", sanction_id=mine["id"], text="我没有发广告"))["appeal_id"]
    other = (await bob.request("appeal", sanction_id=theirs["id"], text="bob's"))["appeal_id"]
    token = alice.token
    await alice.close()  # offline when the operator decides
    rc, _, err = await server.admin("decide-appeal", first, "--outcome", "rejected",
                                    "--note", "证据确凿，可致电 13800138000")
    assert rc == 0, err
    back = await server.client()
    await back.auth(token)
    back.drain_events()
    second = (await back.request("appeal", sanction_id=mine["id"], text="新的证据"))["appeal_id"]
    listed = (await back.request("my_appeals"))["appeals"]
    assert [a["appeal_id"] for a in listed] == [second, first] and other not in {a["appeal_id"] for a in listed}
    assert listed[0] == {"appeal_id": second, "sanction_id": mine["id"], "created_at": listed[0]["created_at"],
                         "status": "open"}
    decided = listed[1]
    assert (decided["sanction_id"], decided["status"], decided["outcome"]) == (mine["id"], "decided", "rejected")
    assert decided["note"].startswith("证据确凿") and "13800138000" not in decided["note"]
    assert decided["decided_at"] >= decided["created_at"]
    assert "text" not in decided and "decided_by" not in decided and "user_id" not in decided
    assert "lifted" not in decided  # (only an upheld appeal says whether it lifted the sanction)
    page = (await back.request("my_appeals", before=second, limit=1))["appeals"]
    assert [a["appeal_id"] for a in page] == [first]
    assert (await back.call("my_appeals", before="abc"))["code"] == "bad_request"
    assert [a["appeal_id"] for a in (await bob.request("my_appeals"))["appeals"]] == [other]


async def test_blacklisted_owner_groups_pass_to_longest_serving_admin_or_close(server):
    owner = await server.user()
    with_admins = await open_group(owner)
    no_admin = await open_group(owner, name="no admins")
    first, second, plain = await server.user(), await server.user(), await server.user()
    for c in (first, second, plain):
        await c.request("join_group", group_id=with_admins)
        await asyncio.sleep(0.01)  # joined at distinct milliseconds
    await plain.request("join_group", group_id=no_admin)
    # the later joiner is made admin first: "longest-serving" counts from joining the group
    await owner.request("set_role", group_id=with_admins, user_id=second.user_id, role="admin")
    await owner.request("set_role", group_id=with_admins, user_id=first.user_id, role="admin")
    await until_event(plain, lambda e: e.get("ev") == "role_changed" and e["user_id"] == first.user_id)
    rc, out, err = await server.admin("blacklist", owner.username, "--reason", "诈骗")
    assert rc == 0, err
    assert f"group {with_admins} passed to {first.username}" in out and f"group {no_admin} closed" in out
    ev = await until_event(plain, lambda e: e.get("ev") == "role_changed" and e["role"] == "owner", keep=True)
    assert ev["group_id"] == with_admins and ev["user_id"] == first.user_id
    closed = await until_event(plain, lambda e: e.get("ev") == "group_closed", keep=True)
    # the operator's reason alone, the cause a field of its own (a reviewer saw English words in a
    # Chinese notice: the reason came prefixed "owner blacklisted: ")
    assert closed == {"ev": "group_closed", "group_id": no_admin, "reason": "诈骗", "cause": "owner_blacklisted"}
    handover = await until_event(first, lambda e: e.get("ev") == "notice")
    assert handover["kind"] == "group_handover" and handover["group_id"] == with_admins
    # the new owner owns it: manages it, and the member list says so
    assert (await first.call("kick", group_id=with_admins, user_id=plain.user_id))["ok"]
    roles = {u["user_id"]: u["role"] for u in (await first.request("members", group_id=with_admins))["members"]}
    assert roles[first.user_id] == "owner" and roles[owner.user_id] == "member"
    assert (await plain.call("send", group_id=no_admin, text="x"))["code"] == "group_closed"
    [entry] = [json.loads(d) for a, _, d in audit_actions(server) if a == "blacklist"]
    [row] = [r for r in await sanctions(server, "--user", owner.username) if r["kind"] == "blacklist"]
    assert entry == {"groups_passed": {with_admins: first.user_id}, "groups_closed": [no_admin],
                     "sanction_id": int(row["id"])}
    # and after a restart
    await server.stopped()
    server.start()
    c = await server.client()
    await c.auth(first.token)
    roles = {u["user_id"]: u["role"] for u in (await c.request("members", group_id=with_admins))["members"]}
    assert roles[first.user_id] == "owner"
    assert (await c.call("group_info", group_id=no_admin))["code"] == "group_closed"


async def test_a_blacklisted_owners_group_does_not_pass_to_an_admin_whose_own_group_is_suspended(server):
    """The suspension of a group holds its owner (no group handed to them meanwhile, as by
    transfer_owner): an admin who owns a suspended group does not inherit, and the group, with no
    other admin, is closed."""
    owner, heir = await server.user(), await server.user()
    gid = await open_group(owner)
    own = await open_group(heir, name="heir's")
    await heir.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=heir.user_id, role="admin")
    rc, _, err = await server.admin("suspend-group", own, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    rc, out, err = await server.admin("blacklist", owner.username, "--reason", "诈骗")
    assert rc == 0, err
    assert f"group {gid} closed" in out, out


async def test_a_group_suspension_follows_its_owner(server):
    """While the platform suspends posting in a group, its owner cannot escape it: no new group
    (created or handed over), and the suspended group is neither dissolved, handed on nor renamed.
    Its settings may still change, and everything works again once the suspension is lifted."""
    owner, gid, [m] = await setup_group(server)
    other = await server.user()
    other_gid = await open_group(other, name="other room")
    await owner.request("join_group", group_id=other_gid)
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    ev = await m.next_event("group_suspended", timeout=WITHIN)
    until = ev["until"]

    refused = await owner.call("create_group", name="new room", category="friends", join_policy="open")
    assert refused["code"] == "forbidden" and refused["until"] == until, refused
    assert "suspended a group you own" in refused["reason"]
    for op, args, verb in (("dissolve_group", {}, "dissolved"), ("transfer_owner", {"user_id": m.user_id}, "handed on"),
                           ("update_group", {"name": "fresh name"}, "renamed")):
        refused = await owner.call(op, group_id=gid, **args)
        assert refused["code"] == "group_suspended" and refused["until"] == until, (op, refused)
        assert verb in refused["reason"]
    # The owner takes on no group by transfer either; the group offered stays with its owner.
    refused = await other.call("transfer_owner", group_id=other_gid, user_id=owner.user_id)
    assert refused["code"] == "forbidden" and refused["until"] == until and "that user" in refused["reason"]
    # A suspended group may still tidy itself up: its join policy, and its own name restated.
    assert (await owner.call("update_group", group_id=gid, join_policy="approval"))["ok"]
    assert (await owner.call("update_group", group_id=gid, name="tea room"))["ok"]
    mine = (await owner.request("my_groups"))["groups"]
    assert sorted(g["group_id"] for g in mine) == sorted([gid, other_gid])
    info = await owner.request("group_info", group_id=gid)
    assert info["name"] == "tea room" and info["member_count"] == 2

    row = await one_sanction(server, "suspend_group", "--group", gid)
    rc, _, err = await server.admin("lift", row["id"], "--reason", "已整改")
    assert rc == 0, err
    await m.next_event("notice", timeout=WITHIN)
    assert (await owner.call("update_group", group_id=gid, name="renamed room"))["ok"]
    assert (await owner.call("create_group", name="new room", category="friends", join_policy="open"))["ok"]
    assert (await other.call("transfer_owner", group_id=other_gid, user_id=owner.user_id))["ok"]
    assert (await owner.call("dissolve_group", group_id=gid))["ok"]


async def score(client) -> int:
    return (await client.request("me"))["credit_score"]


async def until_notice(client, kind):
    return await until_event(client, lambda e: e.get("ev") == "notice" and e.get("kind") == kind, keep=True)


async def test_an_upheld_appeal_gives_back_the_credit_the_sanction_took(server):
    """The points a sanction took are recorded with it (``credit_taken``) and given back, once, when
    an appeal against it is upheld; a plain lift keeps them taken, ``lift --restore-credit`` does not."""
    owner, gid, _ = await setup_group(server)
    start = await score(owner)
    await server.admin("suspend-admin", owner.username, "--seconds", "600", "--reason", "abuse")
    await until_notice(owner, "sanction")
    taken = await until_notice(owner, "credit")  # what the sanction cost them, told at once
    assert (taken["delta"], taken["credit_score"], taken["reason"]) == (-20, start - 20, "abuse")
    assert await score(owner) == start - 20  # credit.penalty_sanction's default
    row = await one_sanction(server, "suspend_admin", "--user", owner.username)
    assert row["credit_taken"] == 20
    appeal_id = (await owner.request("appeal", sanction_id=row["id"], text="误判"))["appeal_id"]
    rc, out, err = await server.admin("decide-appeal", appeal_id, "--outcome", "upheld", "--note", "情况属实")
    assert rc == 0, err
    assert "20 credit points given back" in out
    credit = await until_notice(owner, "credit")
    assert f"sanction {row['id']}" in credit["text"] and f"now {start}" in credit["text"]
    # The numbers as fields too: a client builds its line from them, never from the English text.
    level = (await owner.request("me"))["credit_level"]
    assert (credit["credit_score"], credit["credit_level"], credit["delta"], credit["sanction_id"]) == (
        start, level, 20, str(row["id"]))
    assert "reason" not in credit
    assert await score(owner) == start
    decided = [json.loads(d) for a, _, d in audit_actions(server) if a == "decide_appeal"]
    assert decided[-1]["credit_given_back"] == 20

    # revoke-create: a plain lift keeps the points taken, --restore-credit gives them back.
    await server.admin("revoke-create", owner.username, "--reason", "spam groups")
    await until_notice(owner, "sanction")
    await until_notice(owner, "credit")  # the 20 points it took
    first = await one_sanction(server, "revoke_create", "--user", owner.username)
    rc, out, _ = await server.admin("lift", first["id"], "--reason", "已整改")
    assert rc == 0 and "given back" not in out
    assert await score(owner) == start - 20
    await server.admin("revoke-create", owner.username, "--reason", "again")
    await until_notice(owner, "sanction")
    await until_notice(owner, "credit")  # the 20 points it took
    second = await one_sanction(server, "revoke_create", "--user", owner.username)
    rc, out, err = await server.admin("lift", second["id"], "--reason", "误判", "--restore-credit")
    assert rc == 0 and "20 credit points given back" in out, (out, err)
    restored = await until_notice(owner, "credit")
    assert (restored["credit_score"], restored["delta"], restored["sanction_id"]) == (start - 20, 20, str(second["id"]))
    assert await score(owner) == start - 20  # the second sanction's 20 back, the first's stay taken
    lifts = [json.loads(d) for a, _, d in audit_actions(server) if a == "lift_sanction"]
    assert [x.get("credit_given_back") for x in lifts] == [None, 20]

    # Stored, not only in memory: the scores survive a restart.
    await server.stopped()
    server.start()
    c = await server.client()
    await c.auth(owner.token)
    assert await score(c) == start - 20


async def test_an_upheld_appeal_gives_back_the_points_of_a_sanction_that_ran_out_meanwhile(server):
    owner, _, _ = await setup_group(server)
    start = await score(owner)
    await server.admin("suspend-admin", owner.username, "--seconds", "4", "--reason", "abuse")
    await until_notice(owner, "sanction")
    row = await one_sanction(server, "suspend_admin", "--user", owner.username)
    appeal_id = (await owner.request("appeal", sanction_id=row["id"], text="误判"))["appeal_id"]
    await asyncio.sleep(max(0.0, row["expires_at"] / 1000 - time.time()) + 0.1)
    rc, out, err = await server.admin("decide-appeal", appeal_id, "--outcome", "upheld", "--note", "情况属实")
    assert rc == 0, err
    assert "had already ended; 20 credit points given back" in out
    assert await score(owner) == start
    result = await until_notice(owner, "appeal_result")
    assert result["outcome"] == "upheld" and "the sanction is lifted" not in result["text"]
    assert result["lifted"] is False  # upheld, but it had run out: the client must not say "lifted"
    [mine] = (await owner.request("my_appeals"))["appeals"]
    assert (mine["outcome"], mine["lifted"]) == ("upheld", False)


def moved(member, gid: str):
    """Whether the group is in the category ``work`` in the server's memory (as ``member`` sees it)."""
    async def check() -> bool:
        return (await member.request("group_info", group_id=gid))["category"] == "work"
    return check


async def test_a_group_whose_move_out_fails_as_its_category_freezes_is_suspended_by_the_freeze_upkeep(
        started, tmp_path, backend):
    """A group whose move out of a category was in flight when the category froze is not in the freeze's
    list (memory has it elsewhere); when the move's write fails, the group is back in the frozen category,
    unsuspended, and no write of its own follows. The freeze upkeep job finds it (no ``suspend_group``
    sanction lasting the freeze) and suspends it as the freeze did the others, by ``system``."""
    server = started(CountedServer(tmp_path, backend=backend))
    owner, gid, [m] = await setup_group(server)  # in friends
    # The move's write fails (as a failing disk would refuse it); the upkeep's write does not touch the category.
    if server.backend == "postgresql":
        server.db_rows("ALTER TABLE groups ADD CONSTRAINT no_move CHECK (category <> 'work') NOT VALID")
    else:
        server.db_rows("CREATE TRIGGER no_move BEFORE UPDATE OF category ON groups WHEN NEW.category = 'work'"
                       " BEGIN SELECT RAISE(ABORT, 'no move'); END")
    async with writes_held(server, "groups"):
        moving = asyncio.ensure_future(owner.call("update_group", group_id=gid, category="work"))
        await until(moved(m, gid), timeout=4)  # claimed in memory,
        await until_write_waits(server, "groups")  # its write taken by the writer and waiting for the hold
        freezing = asyncio.ensure_future(server.admin("freeze-category", "friends", "--seconds", "3600",
                                                      "--reason", "突发"))
        await until_writes_queued(server)  # the freeze listed the category's groups (not this one); its write waits
        assert not moving.done()
    reply = await moving
    assert not reply["ok"], reply
    rc, out, err = await freezing
    assert rc == 0 and "froze 0 groups" in out, (out, err)
    ev = await until_event(m, lambda e: e.get("ev") == "group_suspended", timeout=15)
    assert (ev["group_id"], ev["cause"]) == (gid, "category_freeze")
    assert ev["reason"] == "the platform froze the category friends"
    r = await m.call("send", group_id=gid, text="x")
    assert (r["code"], r["until"]) == ("group_suspended", ev["until"])
    [row] = await sanctions(server, "--group", gid)
    assert (row["kind"], row["actor"], row["expires_at"]) == ("suspend_group", "system", ev["until"])
    assert ("suspend_group", None) in [(a, actor) for a, actor, _ in audit_actions(server)]


async def test_a_group_whose_move_in_fails_as_its_category_freezes_stays_suspended_after_a_restart(
        started, tmp_path, backend):
    """The mirror case: a group whose move into a category was claimed in memory when the category froze is
    in the freeze's list and suspended in memory (its members told). When the move's write then fails, the
    group is back in its old category; the store holds it suspended too, with its sanction row, so memory
    and the store agree and a restart does not free it."""
    server = started(CountedServer(tmp_path, backend=backend))
    owner, gid, [m] = await setup_group(server)  # in friends
    if server.backend == "postgresql":
        server.db_rows("ALTER TABLE groups ADD CONSTRAINT no_move CHECK (category <> 'work') NOT VALID")
    else:
        server.db_rows("CREATE TRIGGER no_move BEFORE UPDATE OF category ON groups WHEN NEW.category = 'work'"
                       " BEGIN SELECT RAISE(ABORT, 'no move'); END")
    async with writes_held(server, "groups"):
        moving = asyncio.ensure_future(owner.call("update_group", group_id=gid, category="work"))
        await until(moved(m, gid), timeout=4)  # claimed in memory,
        await until_write_waits(server, "groups")  # its write taken by the writer and waiting for the hold
        freezing = asyncio.ensure_future(server.admin("freeze-category", "work", "--seconds", "3600",
                                                      "--reason", "突发"))
        await until_writes_queued(server)  # the freeze listed the category's groups (this one too); its write waits
        assert not moving.done()
    assert not (await moving)["ok"]
    rc, out, err = await freezing
    assert rc == 0 and "froze 1 groups" in out, (out, err)
    r = await m.call("send", group_id=gid, text="x")
    assert r["code"] == "group_suspended"
    until_ms = r["until"]
    await server.stopped()
    server.start()
    c = await server.client()
    await c.auth(m.token)
    assert (await c.call("group_info", group_id=gid))["category"] == "friends"
    r = await c.call("send", group_id=gid, text="after restart")
    assert (r["code"], r["until"]) == ("group_suspended", until_ms)
    [row] = await sanctions(server, "--group", gid)
    assert (row["kind"], row["expires_at"]) == ("suspend_group", until_ms)


async def test_a_category_freeze_does_not_follow_the_owners(server):
    """A freeze-category is an emergency measure on a whole category, not a sanction of its owners:
    they may still open a group elsewhere, hand theirs on and dissolve it; a group's own suspension
    that outlasts the freeze still follows its owner."""
    owner, gid, [m] = await setup_group(server)  # open_group's category: friends
    rc, _, err = await server.admin("freeze-category", "friends", "--seconds", "600", "--reason", "突发")
    assert rc == 0, err
    await m.next_event("group_suspended", timeout=WITHIN)
    assert (await owner.call("create_group", name="elsewhere", category="work", join_policy="open"))["ok"]
    assert (await owner.call("transfer_owner", group_id=gid, user_id=m.user_id))["ok"]
    # The new owner's group is suspended for longer by a sanction of its own: that one holds them.
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "1200", "--reason", "spam")
    assert rc == 0, err
    assert (await m.call("dissolve_group", group_id=gid))["code"] == "group_suspended"
    assert (await m.call("create_group", name="m's", category="work", join_policy="open"))["code"] == "forbidden"


async def test_a_group_frozen_with_its_category_cannot_move_out_of_it(server):
    """Moved out, it would carry the freeze's suspension into a category that is not frozen, where
    it looked like a sanction of the group itself: its owner was then held as if sanctioned (no
    dissolving, no new group) and its members were told ``cause: sanction``. A group whose own
    suspension outlasts the freeze may move: that suspension is its own wherever it goes."""
    owner, gid, [m] = await setup_group(server)  # in friends
    rc, _, err = await server.admin("freeze-category", "friends", "--seconds", "600", "--reason", "突发")
    assert rc == 0, err
    await m.next_event("group_suspended", timeout=WITHIN)
    r = await owner.call("update_group", group_id=gid, category="work")
    assert (r["code"], r["cause"]) == ("group_suspended", "category_freeze"), r
    assert (await owner.call("update_group", group_id=gid, category="friends", join_policy="approval"))["ok"]
    assert (await m.call("group_info", group_id=gid))["category"] == "friends"
    assert (await m.call("send", group_id=gid, text="x"))["cause"] == "category_freeze"
    assert (await owner.call("create_group", name="elsewhere", category="work", join_policy="open"))["ok"]
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "1200", "--reason", "spam")
    assert rc == 0, err
    assert (await owner.call("update_group", group_id=gid, category="work"))["ok"]
    assert (await m.call("send", group_id=gid, text="x"))["cause"] == "sanction"


async def test_a_group_cannot_leave_a_category_whose_freeze_is_still_being_applied(started, tmp_path, backend):
    """A freeze claims the category at once, then takes its groups' locks one by one; a group it has
    listed but not reached yet (another command holds a lock it waits for) was free to move out,
    and was then suspended all the same, elsewhere, where that passed for a sanction of its own."""
    server = started(CountedServer(tmp_path, backend=backend))
    a, b = await setup_group(server), await setup_group(server)
    # (the freeze takes its groups' locks in id order: the held one must come first)
    (_, first, _), (owner, gid, [m]) = sorted((a, b), key=lambda x: x[1])
    rc, out, err = await server.admin("suspend-group", first, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    [row] = await sanctions(server, "--group", first)
    outsider = await server.user()
    rc, out, err = await server.admin("revoke-create", outsider.username, "--reason", "x")
    assert rc == 0, err

    async def claimed() -> bool:  # (no write either way: refused for the frozen category, or for the right)
        r = await outsider.call("create_group", name="x", category="friends", join_policy="open")
        return r.get("code") == "forbidden" and "cause" not in r

    async with writes_held(server, "sanctions"):
        lifting = asyncio.ensure_future(server.admin("lift", str(row["id"]), "--reason", "ok"))
        await until_write_waits(server, "sanctions")  # it holds the first group's lock meanwhile
        freezing = asyncio.ensure_future(server.admin("freeze-category", "friends", "--seconds", "3600",
                                                      "--reason", "突发"))
        await until(claimed, timeout=4)  # claimed and listed; it waits for the first group's lock
        r = await owner.call("update_group", group_id=gid, category="work")
        assert (r.get("code"), r.get("cause")) == ("group_suspended", "category_freeze"), r
    assert (await lifting)[0] == 0
    rc, out, err = await freezing
    assert rc == 0 and "froze 2 groups" in out, (out, err)
    assert (await m.call("group_info", group_id=gid))["category"] == "friends"
    assert (await m.call("send", group_id=gid, text="x"))["cause"] == "category_freeze"


async def test_a_category_freezes_group_suspended_names_each_groups_own_sanction_for_its_owner_to_appeal(server):
    """``freeze-category`` records one ``suspend_group`` sanction per group; each group's
    ``group_suspended`` carries that group's own (as ``suspend-group``'s does), so its owner can appeal
    it. An upheld appeal frees that group alone: the other group of the category stays frozen."""
    owner, gid, [m] = await setup_group(server)
    other, gid2, [m2] = await setup_group(server)
    rc, _, err = await server.admin("freeze-category", "friends", "--seconds", "600", "--reason", "突发")
    assert rc == 0, err
    ev = await owner.next_event("group_suspended", timeout=WITHIN)
    ev2 = await other.next_event("group_suspended", timeout=WITHIN)
    assert (ev["group_id"], ev["cause"], ev2["group_id"]) == (gid, "category_freeze", gid2)
    row = await one_sanction(server, "suspend_group", "--group", gid)
    row2 = await one_sanction(server, "suspend_group", "--group", gid2)
    assert (ev["sanction_id"], ev2["sanction_id"]) == (row["id"], row2["id"]) and row["id"] != row2["id"]
    assert (await m.next_event("group_suspended", timeout=WITHIN))["sanction_id"] == row["id"]
    # the owner, and nobody else, appeals the sanction the event named
    assert (await m.call("appeal", sanction_id=ev["sanction_id"], text="x"))["code"] == "not_found"
    appeal_id = (await owner.request("appeal", sanction_id=ev["sanction_id"], text="本群没有违规"))["appeal_id"]
    rc, _, err = await server.admin("decide-appeal", appeal_id, "--outcome", "upheld", "--note", "情况属实")
    assert rc == 0, err
    lifted = await until_event(m, lambda e: e.get("ev") == "notice" and e.get("kind") == "sanction_lifted")
    assert (lifted["sanction_id"], lifted["until"]) == (row["id"], 0)
    assert (await m.call("send", group_id=gid, text="back"))["ok"]
    assert (await m2.call("send", group_id=gid2, text="x"))["code"] == "group_suspended"


async def test_two_lifts_of_one_blacklist_at_once_leave_the_account_open(server):
    """``lift`` read the sanction before taking its target's lock: a second lift of the same blacklist,
    which read it while the first's write was in flight, claimed the reopening again, was refused by
    the store (already lifted) and its undo closed the account in memory again: the store said open,
    the server refused the login until a restart."""
    user = await server.user()
    rc, _, err = await server.admin("blacklist", user.username, "--reason", "spam")
    assert rc == 0, err
    row = await one_sanction(server, "blacklist", "--user", user.username)
    async with writes_held(server, "sanctions"):
        first = asyncio.ensure_future(server.admin("lift", row["id"], "--reason", "误判"))
        await until_write_waits(server, "sanctions")  # the first lift's write waits
        second = asyncio.ensure_future(server.admin("lift", row["id"], "--reason", "误判"))
        await until_operator_connections(server, 2)  # it read the sanction (still standing) and waits for the lock
        assert not first.done()
    (rc1, _, err1), (rc2, out2, err2) = await first, await second
    assert rc1 == 0, err1
    # Told what is so: the second read the sanction again under the lock, after the first stored it.
    assert rc2 == 2 and out2 == "" and f"sanction {row['id']} was already lifted" in err2, (rc2, out2, err2)
    c = await server.client()
    assert (await c.call("login", username=user.username, password="password123"))["ok"]
    [(stored,)] = server.db_rows("SELECT blacklisted_at FROM users WHERE user_id = ?", user.user_id)
    assert stored is None


async def test_a_token_from_before_a_blacklisting_never_logs_in_while_its_lift_is_stored(server):
    """The lift reopened the account in memory before its write (which also revokes the account's
    old tokens) was stored: meanwhile an ``auth`` with a token from before the blacklisting (a stolen
    one, say) found the token still good in the database and logged in, and stayed logged in after
    the lift committed. Until the write settles the account answers as closed. (The refused ``auth``
    is answered once its ``auth_refused`` row is stored, which waits behind the held write: its answer
    is awaited after the hold.)"""
    bob = await server.user()
    old_token = bob.token
    rc, _, err = await server.admin("blacklist", bob.username, "--reason", "fraud")
    assert rc == 0, err
    row = await one_sanction(server, "blacklist", "--user", bob.username)
    c, other = await server.client(), await server.client()
    async with writes_held(server, "sanctions"):
        lifting = asyncio.ensure_future(server.admin("lift", row["id"], "--reason", "误判"))
        await until_write_waits(server, "sanctions")  # the reopening is claimed; its write waits
        signing_in = asyncio.ensure_future(c.call("auth", token=old_token))
        assert (await other.call("login", username=bob.username, password="password123"))["code"] == "blacklisted"
        assert not lifting.done()
    rc, out, err = await lifting
    assert rc == 0 and "open again" in out, err
    assert (await asyncio.wait_for(signing_in, 10))["code"] == "blacklisted"  # (decided before the lift stored)
    assert (await c.call("my_groups"))["code"] == "unauthenticated"  # (and not signed in)
    assert (await c.call("auth", token=old_token))["code"] == "unauthenticated"
    assert (await c.call("login", username=bob.username, password="password123"))["ok"]


async def test_the_second_of_two_lifts_of_one_suspension_at_once_is_told_it_is_already_lifted(server):
    """``lift`` read the sanction before taking its target's lock: the second of two lifts of one group
    suspension, which read it while the first's write was in flight, was refused by the store and said
    "lifted meanwhile"; read again under the lock, it is "already lifted", and posting works again."""
    owner, gid, _ = await setup_group(server)
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    row = await one_sanction(server, "suspend_group", "--group", gid)
    async with writes_held(server, "sanctions"):
        first = asyncio.ensure_future(server.admin("lift", row["id"], "--reason", "误判"))
        await until_write_waits(server, "sanctions")  # the first lift's write waits (posting is back once stored)
        second = asyncio.ensure_future(server.admin("lift", row["id"], "--reason", "误判"))
        await until_operator_connections(server, 2)  # the second waits for the group's sanction lock
        assert not first.done()
    (rc1, out1, err1), (rc2, out2, err2) = await first, await second
    assert rc1 == 0 and "posting works again" in out1, (out1, err1)
    assert rc2 == 2 and out2 == "" and f"sanction {row['id']} was already lifted" in err2, (rc2, out2, err2)
    assert (await owner.call("send", group_id=gid, text="again"))["ok"]


async def test_points_given_back_for_a_sanction_that_ran_out_are_not_given_back_again_by_a_lift(server):
    """An upheld appeal of a sanction that had run out gives its points back and leaves it unlifted.
    A clock stepped back into its period (an operator, NTP) made it stand again, and
    ``lift --restore-credit`` gave the same points back a second time: nothing marked the give-back.
    The sanction row now says when (``credit_given_back_at``), and the store gives them back once."""
    owner, _, _ = await setup_group(server)
    start = await score(owner)
    await server.admin("suspend-admin", owner.username, "--seconds", "4", "--reason", "abuse")
    await until_notice(owner, "sanction")
    row = await one_sanction(server, "suspend_admin", "--user", owner.username)
    appeal_id = (await owner.request("appeal", sanction_id=row["id"], text="误判"))["appeal_id"]
    await asyncio.sleep(max(0.0, row["expires_at"] / 1000 - time.time()) + 0.1)
    rc, out, err = await server.admin("decide-appeal", appeal_id, "--outcome", "upheld", "--note", "情况属实")
    assert rc == 0 and "20 credit points given back" in out, (out, err)
    assert await score(owner) == start
    [(given_at,)] = server.db_rows("SELECT credit_given_back_at FROM sanctions WHERE id = ?", int(row["id"]))
    assert given_at is not None
    # As a clock stepped back into its period sees it: standing again, never lifted.
    server.db_rows("UPDATE sanctions SET expires_at = ? WHERE id = ?", int(time.time() * 1000) + 600_000,
                   int(row["id"]))
    rc, out, err = await server.admin("lift", row["id"], "--reason", "误判", "--restore-credit")
    assert rc == 0 and "given back" not in out, (out, err)
    assert await score(owner) == start
    [(stored,)] = server.db_rows("SELECT credit_score FROM users WHERE user_id = ?", owner.user_id)
    assert stored == start


async def test_a_lift_and_an_upheld_appeal_at_once_give_the_credit_back_once(server):
    """``decide-appeal`` read the sanction before taking its target's lock: an upheld appeal decided
    while ``lift --restore-credit`` was in flight, of a suspension that ran out meanwhile, took it for
    one that had ended by itself and still stood, and gave its points back a second time."""
    owner, _, _ = await setup_group(server)
    start = await score(owner)
    await server.admin("suspend-admin", owner.username, "--seconds", "4", "--reason", "abuse")
    await until_notice(owner, "sanction")
    row = await one_sanction(server, "suspend_admin", "--user", owner.username)
    appeal_id = (await owner.request("appeal", sanction_id=row["id"], text="误判"))["appeal_id"]

    async def given_back() -> bool:
        return await score(owner) == start

    async with writes_held(server, "sanctions"):
        lifting = asyncio.ensure_future(server.admin("lift", row["id"], "--reason", "误判", "--restore-credit"))
        await until(given_back, timeout=3)  # the lift claimed the points; its write waits for the hold
        deciding = asyncio.ensure_future(server.admin("decide-appeal", appeal_id, "--outcome", "upheld",
                                                      "--note", "情况属实"))
        # The decision reads the sanction (standing) and waits for the lock; the suspension runs out.
        await until_operator_connections(server, 2)
        await asyncio.sleep(max(0.0, row["expires_at"] / 1000 - time.time() + 0.3))
        assert not lifting.done()
    rc, _, err = await lifting
    assert rc == 0, err
    rc, out, err = await deciding
    assert rc == 0, err
    assert "given back" not in out, out
    assert await score(owner) == start
    [(stored,)] = server.db_rows("SELECT credit_score FROM users WHERE user_id = ?", owner.user_id)
    assert stored == start


async def test_group_suspended_says_whether_the_group_is_sanctioned_or_its_category_frozen(server):
    """``group_suspended`` (the event, and the refusals) carries ``cause``: ``sanction`` for the group's
    own suspension, which holds its owner too (no dissolving, handing on or renaming), and
    ``category_freeze`` for a freeze of its category, which stops posting and renaming only."""
    owner, gid, [member] = await setup_group(server)
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    ev = await member.next_event("group_suspended", timeout=WITHIN)
    assert (ev["group_id"], ev["cause"]) == (gid, "sanction")
    for op, args in (("send", {"text": "x"}), ("update_group", {"name": "new name"}), ("dissolve_group", {}),
                     ("transfer_owner", {"user_id": member.user_id})):
        refused = await owner.call(op, group_id=gid, **args)
        assert (refused["code"], refused["cause"]) == ("group_suspended", "sanction"), (op, refused)

    frozen_owner = await server.user()
    frozen = await open_group(frozen_owner, category="study")
    heir = await server.user()
    await heir.request("join_group", group_id=frozen)
    rc, _, err = await server.admin("freeze-category", "study", "--seconds", "600", "--reason", "emergency")
    assert rc == 0, err
    ev = await heir.next_event("group_suspended", timeout=WITHIN)
    assert (ev["group_id"], ev["cause"]) == (frozen, "category_freeze")
    for op, args in (("send", {"text": "x"}), ("update_group", {"name": "new name"})):
        refused = await frozen_owner.call(op, group_id=frozen, **args)
        assert (refused["code"], refused["cause"]) == ("group_suspended", "category_freeze"), (op, refused)
    assert (await frozen_owner.call("transfer_owner", group_id=frozen, user_id=heir.user_id))["ok"]

    # The group's own suspension outlasting the freeze is a sanction again, and says so.
    rc, _, err = await server.admin("suspend-group", frozen, "--seconds", "1200", "--reason", "spam")
    assert rc == 0, err
    ev = await heir.next_event("group_suspended", timeout=WITHIN)
    assert (ev["group_id"], ev["cause"]) == (frozen, "sanction")
    refused = await heir.call("dissolve_group", group_id=frozen)
    assert (refused["code"], refused["cause"]) == ("group_suspended", "sanction")


async def test_a_blacklisted_owners_group_skips_an_admin_whose_own_group_is_suspended(server):
    """The handover follows transfer_owner's rule: while the platform suspends a group, its owner
    receives no other group (else the members are called over to one that is not suspended). The
    group passes to the next admin, or closes."""
    owner = await server.user()
    gid = await open_group(owner)
    suspended_admin, next_admin = await server.user(), await server.user()
    for c in (suspended_admin, next_admin):
        await c.request("join_group", group_id=gid)
        await asyncio.sleep(0.01)  # joined at distinct milliseconds: the first is the longest-serving
    for c in (suspended_admin, next_admin):
        await owner.request("set_role", group_id=gid, user_id=c.user_id, role="admin")
    own = await open_group(suspended_admin, name="their own")
    rc, _, err = await server.admin("suspend-group", own, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    rc, out, err = await server.admin("blacklist", owner.username, "--reason", "诈骗")
    assert rc == 0, err
    assert f"group {gid} passed to {next_admin.username}" in out, out


async def test_an_upheld_appeal_of_a_suspension_cut_short_by_a_shorter_one_gives_its_points_back(server):
    """A shorter ``suspend-admin`` lifts the longer one it cuts short; nobody chose then whether that
    one's points come back, and ``lift`` can no longer reach it. An upheld appeal against it gives
    them back (before, it said "upheld" and gave nothing). The shorter one, its conduct's shortened,
    took nothing more: the points were the longer one's alone."""
    owner, _, _ = await setup_group(server)
    start = await score(owner)
    await server.admin("suspend-admin", owner.username, "--seconds", "2592000", "--reason", "abuse")
    await until_notice(owner, "sanction")
    longer = await one_sanction(server, "suspend_admin", "--user", owner.username)
    appeal_id = (await owner.request("appeal", sanction_id=longer["id"], text="误判"))["appeal_id"]
    await server.admin("suspend-admin", owner.username, "--seconds", "86400", "--reason", "abuse")
    assert await score(owner) == start - 20  # the first took its points, the shorter nothing more
    rc, out, err = await server.admin("decide-appeal", appeal_id, "--outcome", "upheld", "--note", "情况属实")
    assert rc == 0, err
    assert "20 credit points given back" in out, out
    assert await score(owner) == start


async def test_an_operator_lift_worded_like_a_replacement_is_not_taken_for_one(server):
    """Whether a shorter sanction replaced one is its own column (``replaced_by``), not the start of
    the free-text ``lift_reason``: an operator who lifts a suspension with words that happen to begin
    like a replacement's chose then not to give its points back, and an upheld appeal gives nothing
    more (before, the words alone made it give the points back)."""
    owner, _, _ = await setup_group(server)
    start = await score(owner)
    await server.admin("suspend-admin", owner.username, "--seconds", "2592000", "--reason", "abuse")
    await until_notice(owner, "sanction")
    row = await one_sanction(server, "suspend_admin", "--user", owner.username)
    appeal_id = (await owner.request("appeal", sanction_id=row["id"], text="误判"))["appeal_id"]
    rc, _, err = await server.admin("lift", row["id"], "--reason", "replaced by a shorter suspend-admin: 已整改")
    assert rc == 0, err
    [lifted] = [r for r in await sanctions(server, "--user", owner.username) if r["id"] == row["id"]]
    assert (lifted["status"], lifted["replaced_by"]) == ("lifted", None)
    assert await score(owner) == start - 20
    rc, out, err = await server.admin("decide-appeal", appeal_id, "--outcome", "upheld", "--note", "情况属实")
    assert rc == 0, err
    assert "had already ended" in out and "given back" not in out, out
    assert await score(owner) == start - 20


async def test_a_freeze_that_listed_a_group_whose_creation_is_then_refused_goes_on(server):
    """freeze-category lists the category's groups, then waits for each one's sanction lock (here a
    suspend-group of another group holds it while its write waits). A group created meanwhile whose
    write the store refuses is gone from memory when the freeze goes on: the freeze failed on it
    (KeyError, exit 3, nothing frozen); it suspends the groups that are still there."""
    owner, gid, _ = await setup_group(server)
    maker = await server.user()
    if server.backend == "postgresql":
        server.db_rows("ALTER TABLE groups ADD CONSTRAINT no_doomed CHECK (name <> 'doomed') NOT VALID")
    else:
        server.db_rows("CREATE TRIGGER no_doomed BEFORE INSERT ON groups WHEN NEW.name = 'doomed'"
                       " BEGIN SELECT RAISE(ABORT, 'no doomed'); END")
    async with writes_held(server, "groups"):
        creating = asyncio.ensure_future(maker.call("create_group", name="doomed", category="friends",
                                                    join_policy="open"))
        await asyncio.sleep(0.2)  # claimed in memory, its write queued first
        suspending = asyncio.ensure_future(server.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam"))
        await asyncio.sleep(1.0)  # its command holds the group's lock, its write queued after the creation's
        freezing = asyncio.ensure_future(server.admin("freeze-category", "friends", "--seconds", "60",
                                                      "--reason", "emergency"))
        await asyncio.sleep(1.5)  # the freeze listed both groups and waits for the first one's lock
    assert (await suspending)[0] == 0
    assert not (await creating)["ok"]
    rc, out, err = await freezing
    assert rc == 0 and "froze 1 groups" in out, (out, err)
    assert server.db_rows("SELECT COUNT(*) FROM groups WHERE name = 'doomed'") == [(0,)]
    assert (await owner.call("send", group_id=gid, text="x"))["code"] == "group_suspended"


async def test_a_blacklisted_owners_group_passes_over_an_admin_whose_powers_are_suspended(server):
    """A reviewer's case: the longest-serving admin took the group although the platform suspended
    their management powers, leaving a group whose owner could manage nothing. An admin with powers
    comes first; with none, the suspended one still takes it rather than see the group closed."""
    owner = await server.user()
    both = await open_group(owner)
    alone = await open_group(owner, name="one admin")
    senior, junior = await server.user(), await server.user()
    for c in (senior, junior):
        await c.request("join_group", group_id=both)
        await asyncio.sleep(0.01)  # joined at distinct milliseconds
    await senior.request("join_group", group_id=alone)
    for gid, admin in ((both, senior), (both, junior), (alone, senior)):
        await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    rc, _, err = await server.admin("suspend-admin", senior.username, "--seconds", "3600", "--reason", "滥用")
    assert rc == 0, err
    rc, out, err = await server.admin("blacklist", owner.username, "--reason", "诈骗")
    assert rc == 0, err
    assert f"group {both} passed to {junior.username}" in out, out
    assert f"group {alone} passed to {senior.username}" in out, out


async def test_exports_carry_the_appeals_themselves(server, tmp_path):
    """Appeals are kept for good with the measures they contest, but no export carried them: only the
    decision's record entry, never what the person wrote, nor one still open. A user's export has the
    appeals they made; a group's those against its measures."""
    owner, gid, _ = await setup_group(server)
    rc, _, err = await server.admin("warn-group", gid, "--reason", "广告刷屏")
    assert rc == 0, err
    warning = await one_sanction(server, "warning", "--group", gid)
    on_group = (await owner.request("appeal", sanction_id=warning["id"], text="已清理，请再看"))["appeal_id"]
    await server.admin("revoke-create", owner.username, "--reason", "spam groups")
    revoked = await one_sanction(server, "revoke_create", "--user", owner.username)
    on_user = (await owner.request("appeal", sanction_id=revoked["id"], text="误判"))["appeal_id"]
    rc, _, err = await server.admin("decide-appeal", on_user, "--outcome", "rejected", "--note", "证据确凿")
    assert rc == 0, err

    async def appeals_of(*target: str) -> dict[str, dict]:
        out = tmp_path / "-".join(target).strip("-")
        rc, _, err = await server.admin("export", *target, "--out", str(out))
        assert rc == 0, err
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert "appeals.jsonl" in {f["name"] for f in manifest["files"]}
        lines = (out / "appeals.jsonl").read_text(encoding="utf-8").splitlines()
        return {a["appeal_id"]: a for a in map(json.loads, lines)}

    mine = await appeals_of("--user", owner.username)
    assert set(mine) == {on_group, on_user}
    decided = mine[on_user]
    assert (decided["username"], decided["text"], decided["measure"], decided["sanction_id"]) == (
        owner.username, "误判", "revoke_create", str(revoked["id"]))
    assert (decided["status"], decided["outcome"], decided["note"]) == ("decided", "rejected", "证据确凿")
    assert decided["decided_by"] and decided["decided_at_iso"] and decided["created_at_iso"]
    assert decided["lifted"] is None  # (rejected: nothing to say)
    assert mine[on_group]["status"] == "open" and mine[on_group]["text"].startswith("已清理")
    rc, _, err = await server.admin("decide-appeal", on_group, "--outcome", "upheld", "--note", "已整改")
    assert rc == 0, err
    assert (await appeals_of("--group", gid))[on_group]["lifted"] is True
    assert await appeals_of("--group", gid, "--until", "2001-01-01") == {}


async def test_a_persons_legal_name_typed_into_a_reason_is_masked_for_everyone_told(server):
    """An operator reads the verified name beside a case and may type it into the reason: phone and ID
    numbers were masked, the name was not, and the group's members read it in the warning, the
    closing and the group log. The legal name of the person the measure names is masked too."""
    owner = await server.user(verify_id=True)  # (verified as 张三)
    gid = await open_group(owner, name="named")
    member = await server.user()
    await member.request("join_group", group_id=gid)
    member.drain_events()
    rc, _, err = await server.admin("warn-group", gid, "--reason", "群主 张 三 发布诈骗信息")
    assert rc == 0, err
    warned = await member.next_event("notice", timeout=WITHIN)
    assert warned["kind"] == "warning" and warned["text"] == "群主 [redacted] 发布诈骗信息", warned
    rc, _, err = await server.admin("lift", warned["sanction_id"], "--reason", "张三已整改")
    assert rc == 0, err
    lifted = await member.next_event("notice", timeout=WITHIN)
    assert lifted["kind"] == "sanction_lifted" and lifted["reason"] == "[redacted]已整改", lifted
    rc, _, err = await server.admin("blacklist", owner.username, "--reason", "张三诈骗")
    assert rc == 0, err
    closed = await member.next_event("group_closed", timeout=WITHIN)
    assert "张三" not in json.dumps(closed, ensure_ascii=False) and "[redacted]诈骗" in closed["reason"], closed
    stored = server.db_rows("SELECT reason FROM sanctions WHERE target_id IN (?, ?)", gid, owner.user_id)
    assert stored and all("张三" not in r for (r,) in stored), stored


async def test_the_owners_legal_name_in_a_reports_note_is_masked_for_the_reporter(server):
    """A report about a group names no user: the note of its resolution, told to the reporter (anyone
    may report a group), masked phone and ID numbers but not the owner's verified name."""
    owner = await server.user(verify_id=True)  # (verified as 张三)
    gid = await open_group(owner, name="reported")
    stranger = await server.user()
    rid = (await stranger.request("report", target_type="group", group_id=gid, reason="诈骗"))["report_id"]
    rc, _, err = await server.admin("resolve", rid, "--outcome", "upheld", "--note", "群主张三已处理")
    assert rc == 0, err
    told = await stranger.next_event("notice", timeout=WITHIN)
    assert told["kind"] == "report_result" and told["text"] == "群主[redacted]已处理", told
    [mine] = (await stranger.request("my_reports"))["reports"]
    assert mine["note"] == "群主[redacted]已处理", mine
    await close_all(owner, stranger)
