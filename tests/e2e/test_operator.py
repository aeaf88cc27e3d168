"""Operator commands against a running server (Art. 11, 12): each effect reaches clients within 2 s."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time

from tests.e2e.harness import ROOT, new_id_number, open_group

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


async def test_socket_is_private_and_ping_works(server):
    mode = os.stat(server.dir / "qunguan.sock").st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    rc, out, _ = await server.admin("ping")
    assert rc == 0 and "groups" in json.loads(out)


async def test_bad_arguments_and_unknown_targets_exit_2_with_one_line(server):
    cases = [
        ("warn-group", "999999999", "--reason", "x"),
        ("suspend-group", "999999999", "--seconds", "10", "--reason", "x"),
        ("suspend-group", "123456789", "--seconds", "ten", "--reason", "x"),
        ("suspend-group", "123456789", "--seconds", "-5", "--reason", "x"),
        ("suspend-admin", "nobody", "--seconds", "10", "--reason", "x"),
        ("credit", "nobody", "--delta", "5", "--reason", "x"),
        ("blacklist", "nobody", "--reason", "x"),
        ("resolve", "12345", "--outcome", "upheld", "--note", "x"),
        ("close-group", "123456789"),
        ("no-such-command",),
        ("export", "--out", "x"),
    ]
    for args in cases:
        rc, out, err = await server.admin(*args)
        assert rc == 2, (args, out, err)
        assert len(err.strip().splitlines()) == 1, (args, err)


async def test_a_reader_that_leaves_early_gets_no_traceback(server):
    """`qunguan admin ... | head -1`: the pipe closes before the lines are written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes anything
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "admin", "--config", str(server.config), "ping",
        cwd=server.dir, stdout=write_end, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    os.close(write_end)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0 and err.decode() == ""


async def test_no_server_running(tmp_path, server):
    await server.stopped()
    rc, _, err = await server.admin("ping")
    assert rc == 2 and "no server is running" in err


async def test_warn_group(server):
    owner, gid, [m] = await setup_group(server)
    rc, _, _ = await server.admin("warn-group", gid, "--reason", "请整改：发布违规广告", "--deadline", "2030-01-01")
    assert rc == 0
    ev = await m.next_event("notice", timeout=WITHIN)
    assert ev["kind"] == "warning" and ev["group_id"] == gid and "违规广告" in ev["text"]
    assert ev["deadline"] > 0


async def test_suspend_group_then_restored(server):
    owner, gid, [m] = await setup_group(server)
    rc, _, _ = await server.admin("suspend-group", gid, "--seconds", "2", "--reason", "spam")
    assert rc == 0
    ev = await m.next_event("group_suspended", timeout=WITHIN)
    assert ev["until"] > 0
    assert (await m.call("send", group_id=gid, text="x"))["code"] == "group_suspended"
    assert (await owner.call("send", group_id=gid, text="x"))["code"] == "group_suspended"
    await asyncio.sleep(max(0.0, ev["until"] / 1000 - time.time()) + 0.1)  # it ends by itself
    assert (await m.call("send", group_id=gid, text="back"))["ok"]


async def test_a_suspended_group_gets_no_new_announcement_but_may_clear_one(server):
    """``suspend-group`` stops information being published in the group (G11): an announcement
    reaches every member like a message, so the owner cannot post one around the suspension
    (``group_suspended``, with ``until``); clearing the one it has (rectifying) still works."""
    owner, gid, [m] = await setup_group(server)
    await owner.request("set_announcement", group_id=gid, text="群规")
    await m.next_event("group_updated")
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    await m.next_event("group_suspended", timeout=WITHIN)
    refused = await owner.call("set_announcement", group_id=gid, text="加我微信领红包")
    assert refused["code"] == "group_suspended" and refused["until"] > 0, refused
    assert (await m.request("group_info", group_id=gid))["announcement"] == "群规"
    assert (await owner.call("set_announcement", group_id=gid, text=""))["ok"]  # taking it down
    assert (await m.next_event("group_updated", timeout=WITHIN))["announcement"] == ""
    # a member the owner muted, made admin, cannot announce either
    await owner.request("set_role", group_id=gid, user_id=m.user_id, role="admin")
    await owner.request("mute", group_id=gid, user_id=m.user_id, seconds=600)
    [sid] = [row["id"] for row in map(json.loads, (await server.admin("sanctions", "--group", gid))[1].splitlines())
             if row["kind"] == "suspend_group"]
    rc, _, err = await server.admin("lift", str(sid), "--reason", "rectified")
    assert rc == 0, err
    assert (await m.call("set_announcement", group_id=gid, text="x"))["code"] == "muted"
    assert (await owner.call("set_announcement", group_id=gid, text="新群规"))["ok"]


async def test_remove_message_takes_one_delivered_message_down(server):
    """G10, G11: a message found illegal (a complaint upheld against it, say) is taken down by the
    platform on its own, with no term to search for and no review item: members who saw it get
    ``message_deleted``, the text stays stored for the record, the sender is told and penalised."""
    owner, gid, [m] = await setup_group(server)
    keep = (await m.send(gid, "大家好"))["seq"]
    bad = (await m.send(gid, "出售枪支联系我"))["seq"]
    before = (await m.request("me"))["credit_score"]
    owner.drain_events()
    rc, out, err = await server.admin("remove-message", gid, str(bad), "--reason", "违禁物品")
    assert rc == 0 and f"removed message {bad}" in out, err
    assert (await owner.next_event("message_deleted", timeout=WITHIN)) == {
        "ev": "message_deleted", "group_id": gid, "seq": bad, "deleted_by": "platform"}
    ev = await m.next_event("notice", timeout=WITHIN)
    assert (ev["kind"], ev["group_id"]) == ("content_removed", gid) and "违禁物品" in ev["text"]
    hist = {x["seq"]: x for x in (await owner.request("history", group_id=gid))["messages"]}
    assert hist[keep]["text"] == "大家好" and "deleted_by" not in hist[keep]
    assert "text" not in hist[bad] and hist[bad]["deleted_by"] == "platform"  # (never the operator's name)
    assert (await m.request("me"))["credit_score"] == before - 10  # credit.penalty_report_upheld
    assert server.db_rows("SELECT text FROM messages WHERE group_id = ? AND seq = ?", gid, bad) == [("出售枪支联系我",)]
    [(actor, target, reason, detail)] = server.db_rows(
        "SELECT actor_id, target_id, reason, detail FROM audit WHERE action = 'remove_message'")
    assert (actor, target, reason, json.loads(detail)) == ("operator", m.user_id, "违禁物品",
                                                          {"seq": bad, "credit_taken": 10})
    for args in ([gid, str(bad)], [gid, "9999"], ["999999999", "1"]):  # already removed, no such message or group
        rc, out, err = await server.admin("remove-message", *args, "--reason", "x")
        assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, (args, err)


async def test_close_group_is_final(server):
    owner, gid, [m] = await setup_group(server)
    rc, _, _ = await server.admin("close-group", gid, "--reason", "赌博")
    assert rc == 0
    ev = await m.next_event("group_closed", timeout=WITHIN)
    assert ev == {"ev": "group_closed", "group_id": gid, "reason": "赌博"}
    for op, args in [("send", {"text": "x"}), ("history", {}), ("members", {}), ("group_info", {}),
                     ("join_group", {}), ("leave_group", {}), ("kick", {"user_id": m.user_id}),
                     ("dissolve_group", {}), ("report", {"target_type": "group", "reason": "x"}),
                     ("report", {"target_type": "message", "seq": 1, "reason": "x"}),
                     ("report", {"target_type": "user", "user_id": m.user_id, "reason": "x"})]:
        assert (await owner.call(op, group_id=gid, **args))["code"] == "group_closed", op
    assert (await owner.request("my_groups"))["groups"] == []
    # The operator's reason is for the group's members; anyone else naming the group gets the code alone
    # (a closing for the owner's blacklisting gave a stranger the reason the owner was blacklisted).
    assert "赌博" in (await owner.call("group_info", group_id=gid))["reason"]
    stranger = await server.user()
    for op in ("group_info", "join_group"):
        refused = await stranger.call(op, group_id=gid)
        assert (refused["code"], refused["reason"]) == ("group_closed", f"group {gid} was closed by the platform")
    rc, _, err = await server.admin("close-group", gid, "--reason", "again")
    assert rc == 2
    # the owner was penalised: credit fell
    assert (await owner.request("me"))["credit_score"] < 100


async def test_operator_reasons_never_carry_a_phone_or_id_number(server):
    owner, gid, [m] = await setup_group(server)
    id_number = new_id_number()
    rc, _, _ = await server.admin("warn-group", gid, "--reason", f"举报人 138 0013 8000 的投诉; 身份证 {id_number}")
    assert rc == 0
    ev = await m.next_event("notice", timeout=WITHIN)
    assert "138" not in ev["text"] and id_number not in ev["text"] and ev["text"].count("[redacted]") == 2
    rc, _, _ = await server.admin("close-group", gid, "--reason", "联系 +86 13900139000 赌博")
    assert rc == 0
    ev = await m.next_event("group_closed", timeout=WITHIN)
    assert ev["reason"] == "联系 [redacted] 赌博"
    out_dir = server.dir / "export-masked"
    rc, _, err = await server.admin("export", "--group", gid, "--out", str(out_dir))
    assert rc == 0, err
    exported = "".join(f.read_text(errors="replace") for f in out_dir.rglob("*") if f.is_file())
    assert "赌博" in exported and "[redacted]" in exported  # the reasons are in the record, masked
    assert "13900139000" not in exported and "0013 8000" not in exported and id_number not in exported


async def test_a_platform_notice_never_carries_a_phone_or_id_number(server):
    """``notice --text`` reaches every connected user: masked like every other operator text."""
    owner, gid, [m] = await setup_group(server)
    id_number = new_id_number()
    rc, _, err = await server.admin("notice", "--text", f"寻找 139-0013-9000 的机主, 身份证 {id_number}")
    assert rc == 0, err
    for c in (owner, m):
        ev = await c.next_event("notice", timeout=WITHIN)
        assert ev["kind"] == "platform"
        assert ev["text"] == "寻找 [redacted] 的机主, 身份证 [redacted]"
    rows = server.db_rows("SELECT reason FROM audit WHERE action = 'platform_notice'")
    assert rows == [("寻找 [redacted] 的机主, 身份证 [redacted]",)]


async def test_a_platform_notice_masks_numbers_whatever_separates_their_digits(server):
    """Dots, slashes, brackets, underscores, zero-width spaces and Chinese numerals hide no number."""
    owner, gid, [m] = await setup_group(server)
    numbers = ["139.0000.4094", "139/0000/4094", "(139)00004094", "139_0000_4094", "139\u200b0000\u200b4094",
               "110105.19900101.3326", "一三九〇〇〇〇四〇九四"]
    rc, _, err = await server.admin("notice", "--text", "找 " + " 和 ".join(numbers) + " 的机主")
    assert rc == 0, err
    ev = await m.next_event("notice", timeout=WITHIN)
    shown = ["[redacted]", "[redacted]", "([redacted]", "[redacted]", "[redacted]", "[redacted]", "[redacted]"]
    assert ev["text"] == "找 " + " 和 ".join(shown) + " 的机主"


async def test_a_report_resolution_note_never_carries_a_phone_or_id_number(server):
    """``resolve --note`` is told to the reporter and stored: masked like every other operator reason."""
    owner, gid, [m] = await setup_group(server)
    id_number = new_id_number()
    r = await m.request("report", target_type="group", group_id=gid, reason="bad group")
    rc, _, err = await server.admin("resolve", str(r["report_id"]), "--outcome", "rejected",
                                    "--note", f"已联系 13800138000, 身份证 {id_number}")
    assert rc == 0, err
    ev = await m.next_event("notice", timeout=WITHIN)
    assert ev["kind"] == "report_result"
    assert "13800138000" not in ev["text"] and id_number not in ev["text"] and ev["text"].count("[redacted]") == 2
    rc, out, _ = await server.admin("reports")
    assert rc == 0 and "13800138000" not in out and id_number not in out


async def test_close_group_survives_restart(server):
    owner, gid, _ = await setup_group(server)
    await server.admin("close-group", gid, "--reason", "x")
    token = owner.token
    await server.stopped()
    server.start()
    c = await server.client()
    await c.auth(token)
    assert (await c.call("send", group_id=gid, text="x"))["code"] == "group_closed"


async def test_suspend_admin(server):
    owner, gid, [m1, m2] = await setup_group(server, 2)
    await owner.request("set_role", group_id=gid, user_id=m1.user_id, role="admin")
    rc, _, _ = await server.admin("suspend-admin", owner.username, "--seconds", "60", "--reason", "abuse")
    assert rc == 0
    await owner.next_event("notice", timeout=WITHIN)
    assert (await owner.call("kick", group_id=gid, user_id=m2.user_id))["code"] == "forbidden"
    assert (await owner.call("mute_all", group_id=gid, on=True))["code"] == "forbidden"
    assert (await owner.send(gid, "still a member"))["seq"] > 0  # membership kept
    assert (await m1.call("mute", group_id=gid, user_id=m2.user_id, seconds=5))["ok"]  # others unaffected


async def test_me_reports_a_suspension_of_powers_until_it_ends_by_itself(server):
    """``me``'s ``powers_suspended_until`` is the end of a suspend-admin while it holds, and 0 once it
    has ended by itself (nothing lifts it: the stored end simply passes). A client takes any other
    value as a suspension in force: it would go on hiding the management tools of a user whose powers
    are back, as the server already lets them manage again."""
    owner, gid, [m1] = await setup_group(server)
    rc, _, err = await server.admin("suspend-admin", owner.username, "--seconds", "2", "--reason", "abuse")
    assert rc == 0, err
    await owner.next_event("notice", timeout=WITHIN)
    me = await owner.request("me")
    assert me["server_time"] < me["powers_suspended_until"] <= me["server_time"] + 2000, me
    assert (await owner.call("mute", group_id=gid, user_id=m1.user_id, seconds=5))["code"] == "forbidden"
    await asyncio.sleep((me["powers_suspended_until"] - me["server_time"]) / 1000 + 0.2)
    me = await owner.request("me")
    assert me["powers_suspended_until"] == 0, me
    assert (await owner.call("mute", group_id=gid, user_id=m1.user_id, seconds=5))["ok"]  # the powers are back


async def test_a_suspended_manager_does_not_speak_through_mute_all(server):
    """Speaking while the group is muted is a manager's power: an admin whose powers the platform
    suspended is held to mute-all like a plain member (send, edit and react), as to slow mode, until
    the suspension is lifted; the owner, not suspended, still speaks."""
    owner, gid, [m1] = await setup_group(server)
    await owner.request("set_role", group_id=gid, user_id=m1.user_id, role="admin")
    seq = (await m1.send(gid, "before"))["seq"]
    await owner.request("mute_all", group_id=gid, on=True)
    rc, _, err = await server.admin("suspend-admin", m1.username, "--seconds", "600", "--reason", "abuse")
    assert rc == 0, err
    for op, args in (("send", {"text": "still here"}), ("edit_message", {"seq": seq, "text": "edited"}),
                     ("react", {"seq": seq, "emoji": "👍", "on": True})):
        r = await m1.call(op, group_id=gid, **args)
        assert r["code"] == "muted" and "until" not in r, (op, r)
    assert (await owner.send(gid, "the owner speaks"))["seq"] > seq
    rc, out, err = await server.admin("sanctions", "--user", m1.username)
    assert rc == 0, err
    [row] = [json.loads(line) for line in out.splitlines()]
    rc, _, err = await server.admin("lift", row["id"], "--reason", "appeal upheld")
    assert rc == 0, err
    assert (await m1.send(gid, "back"))["seq"] > seq


async def test_a_suspended_manager_neither_deletes_others_messages_nor_mentions_all(server):
    """Deleting someone else's message and ``@all`` are a manager's powers (docs/protocol.md: ``mention_all``
    is ``forbidden`` "for a manager whose powers the platform suspended"): an owner whose powers
    ``suspend-admin`` suspended is held to them like a plain member, while a manager not suspended
    keeps them and the suspended one may still delete their own message. Both checks must look at the
    acting role, not the member's stored role: else a suspension stops kicks and mutes but leaves the
    manager free to wipe the members' messages and page the whole group, the abuse it was meant to stop."""
    owner, gid, [m1, m2] = await setup_group(server, 2)
    await owner.request("set_role", group_id=gid, user_id=m1.user_id, role="admin")
    theirs = (await m2.send(gid, "a member's message"))["seq"]
    mine = (await owner.send(gid, "the owner's own"))["seq"]
    rc, _, err = await server.admin("suspend-admin", owner.username, "--seconds", "600", "--reason", "abuse")
    assert rc == 0, err
    await owner.next_event("notice", timeout=WITHIN)
    assert (await owner.call("delete_message", group_id=gid, seq=theirs)).get("code") == "forbidden"
    assert (await owner.call("send", group_id=gid, text="@all", mention_all=True)).get("code") == "forbidden"
    assert (await owner.call("delete_message", group_id=gid, seq=mine))["ok"]  # their own: as any member
    assert (await m1.call("delete_message", group_id=gid, seq=theirs))["ok"]  # a manager not suspended
    assert (await m1.send(gid, "@all", mention_all=True))["seq"] > mine


async def test_revoke_create(server):
    owner = await server.user()
    before = (await owner.request("me"))["credit_score"]
    rc, _, _ = await server.admin("revoke-create", owner.username, "--reason", "spam groups")
    assert rc == 0
    ev = await owner.next_event("notice", timeout=WITHIN)
    assert (ev["kind"], ev["by"]) == ("sanction", "operator") and "create groups" in ev["text"]
    assert "spam groups" in ev["text"]
    r = await owner.call("create_group", name="x", category="work", join_policy="open")
    assert r["code"] == "forbidden"
    assert (await owner.request("me"))["credit_score"] == before - 20  # credit.penalty_sanction


async def test_credit_changes_level(server):
    alice = await server.user()
    before = (await alice.request("me"))["credit_level"]
    rc, out, _ = await server.admin("credit", alice.username, "--delta", "-60", "--reason", "violations")
    assert rc == 0 and "level" in out
    ev = await alice.next_event("notice", timeout=WITHIN)
    assert ev["kind"] == "credit" and "40" in ev["text"] and "violations" in ev["text"]
    after = (await alice.request("me"))
    assert (ev["credit_score"], ev["credit_level"], ev["delta"], ev["reason"]) == (40, after["credit_level"], -60,
                                                                                  "violations")
    assert "sanction_id" not in ev
    assert after["credit_level"] < before and after["credit_score"] == 40
    rc, _, _ = await server.admin("credit", alice.username, "--delta", "0", "--reason", "x")
    assert rc == 2


async def all_closed(*clients) -> None:
    """Each client's connection closed by the server within 2 s."""
    for c in clients:
        for _ in range(40):
            if c.closed:
                break
            await asyncio.sleep(0.05)
        assert c.closed


async def test_blacklist(server):
    bad = await server.user(verify_id=False)
    number = new_id_number()
    await bad.request("verify_identity", legal_name="孙八", id_number=number)
    other = await server.client()
    await other.auth(bad.token)
    rc, _, _ = await server.admin("blacklist", bad.username, "--reason", "fraud")
    assert rc == 0
    await all_closed(bad, other)
    c = await server.client()
    assert (await c.call("login", username=bad.username, password="password123"))["code"] == "blacklisted"
    assert (await c.call("auth", token=bad.token))["code"] == "blacklisted"
    newcomer = await server.user()
    r = await newcomer.call("verify_identity", legal_name="孙八", id_number=number)
    assert r["code"] == "blacklisted"


async def test_a_group_is_never_handed_to_a_blacklisted_member(server):
    """A blacklisted member stays in the group's member list, but transfer_owner to them is
    refused (forbidden): the platform closed the account, so it owns nothing."""
    owner, gid, [barred, fine] = await setup_group(server, 2)
    rc, _, _ = await server.admin("blacklist", barred.username, "--reason", "fraud")
    assert rc == 0
    r = await owner.call("transfer_owner", group_id=gid, user_id=barred.user_id)
    assert r["code"] == "forbidden" and "closed" in r["reason"], r
    assert (await owner.call("transfer_owner", group_id=gid, user_id=fine.user_id))["ok"]


async def test_show_report_gives_what_the_complaint_is_about_as_it_was_reported(server):
    """A reviewer has no database: ``reports`` gave ids only, so the message complained of could not be
    read, and a sender who edited it after the report left no trace of what was reported. show-report
    gives the report and the message with every text it had, the one in force at the report marked;
    a user's report names the person and the group (never their phone or ID number)."""
    owner, gid, [sender, witness] = await setup_group(server, 2)
    seq = (await sender.send(gid, "加我微信买枪"))["seq"]
    rid = (await witness.request("report", target_type="message", group_id=gid, seq=seq, reason="违法"))["report_id"]
    await asyncio.sleep(0.01)
    await sender.request("edit_message", group_id=gid, seq=seq, text="你好")
    await sender.request("delete_message", group_id=gid, seq=seq)
    rc, out, err = await server.admin("show-report", str(rid))
    assert rc == 0, err
    report, content = (json.loads(line) for line in out.splitlines())
    assert report["report"]["report_id"] == rid and report["report"]["username"] == sender.username
    m = content["content"]
    assert (m["type"], m["seq"], m["sender_username"], m["text"], m["text_when_reported"]) == (
        "message", seq, sender.username, "你好", "加我微信买枪"), m
    assert [v["text"] for v in m["versions"]] == ["加我微信买枪"] and m["deleted"] is True
    about = (await witness.request("report", target_type="user", user_id=sender.user_id, group_id=gid,
                                   reason="骚扰"))["report_id"]
    rc, out, _ = await server.admin("show-report", str(about))
    person = json.loads(out.splitlines()[1])["content"]
    assert (person["username"], person["group"]["group_id"], person["group"]["owner_username"]) == (
        sender.username, gid, owner.username)
    assert not {"phone", "legal_name", "id_number"} & set(person), person
    rc, _, err = await server.admin("show-report", "999999")
    assert rc == 2 and "unknown report 999999" in err


async def test_reports_and_resolution(server):
    owner, gid, [spammer, witness] = await setup_group(server, 2)
    seq = (await spammer.send(gid, "buy stuff"))["seq"]
    r1 = await witness.request("report", target_type="message", group_id=gid, seq=seq, reason="spam")
    again = await witness.request("report", target_type="message", group_id=gid, seq=seq, reason="spam!")
    assert again["report_id"] == r1["report_id"]  # de-duplicated while open
    r2 = await witness.request("report", target_type="user", user_id=spammer.user_id, reason="spammer")
    r3 = await witness.request("report", target_type="group", group_id=gid, reason="bad group")
    assert len({r1["report_id"], r2["report_id"], r3["report_id"]}) == 3
    for target in ("message", "user", "group", "account", "post", "comment"):  # each without what it needs
        assert (await witness.call("report", target_type=target, reason="x"))["code"] == "bad_request", target
    assert (await witness.call("report", target_type="message", group_id=gid, reason="x"))["code"] == "bad_request"
    assert (await witness.call("report", target_type="user", user_id="u_nobody", reason="x"))["code"] == "not_found"
    assert (await witness.call("report", target_type="planet", reason="x"))["code"] == "bad_request"

    rc, out, _ = await server.admin("reports", "--open")
    listed = [json.loads(line) for line in out.splitlines()]
    assert [x["report_id"] for x in listed] == [r1["report_id"], r2["report_id"], r3["report_id"]]
    assert listed[0]["user_id"] == spammer.user_id  # the message's sender is the reported user

    score_before = (await spammer.request("me"))["credit_score"]
    rc, _, _ = await server.admin("resolve", str(r1["report_id"]), "--outcome", "upheld", "--note", "removed")
    assert rc == 0
    ev = await witness.next_event("notice", timeout=WITHIN)
    assert ev["kind"] == "report_result" and ev["report_id"] == r1["report_id"] and ev["outcome"] == "upheld"
    me = await spammer.request("me")
    assert me["credit_score"] < score_before
    # the user reported is told what it cost them, as for any change of their score (not the note)
    told = await spammer.next_event("notice", timeout=WITHIN)
    assert (told["kind"], told["report_id"], told["credit_score"], told["credit_level"], told["delta"]) == (
        "credit", r1["report_id"], me["credit_score"], me["credit_level"], me["credit_score"] - score_before)
    assert "removed" not in told["text"]
    rc, _, _ = await server.admin("resolve", str(r3["report_id"]), "--outcome", "rejected", "--note", "fine")
    assert rc == 0
    rc, _, _ = await server.admin("resolve", str(r3["report_id"]), "--outcome", "rejected", "--note", "again")
    assert rc == 2
    rc, out, _ = await server.admin("reports", "--open")
    assert [json.loads(line)["report_id"] for line in out.splitlines()] == [r2["report_id"]]
    rc, out, _ = await server.admin("report-stats")
    stats = json.loads(out)
    assert stats["open"] == 1 and stats["resolved"] == 2 and "median_hours_to_resolution" in stats


async def test_a_user_report_keeps_as_context_only_a_group_the_reporter_is_in(server):
    """A report on a user may name a group as context. A reviewer named a group they were not in: it
    was kept, and the complaint and its handling were filed in that unrelated group's record and
    export. Only a group the reporter is a member of is kept; another is dropped."""
    owner, gid, [spammer, witness] = await setup_group(server, 2)
    elsewhere = await open_group(await server.user())
    mine = await witness.request("report", target_type="user", user_id=spammer.user_id, group_id=gid, reason="a")
    other = await witness.request("report", target_type="user", user_id=owner.user_id, group_id=elsewhere,
                                  reason="b")
    rc, out, err = await server.admin("reports", "--open")
    assert rc == 0, err
    context = {x["report_id"]: x.get("group_id") for x in map(json.loads, out.splitlines())}
    assert (context[mine["report_id"]], context[other["report_id"]]) == (gid, None), context


async def test_a_reporter_offline_at_the_resolution_learns_the_outcome_from_my_reports(server):
    """G12 feedback to the reporter: the ``report_result`` notice reaches only connections open at
    the moment; a reporter who was offline reads the outcome and the operator's note with
    ``my_reports`` (their own reports only, newest first, paged)."""
    owner, gid, [spammer, witness] = await setup_group(server, 2)
    seq = (await spammer.send(gid, "buy stuff"))["seq"]
    r1 = (await witness.request("report", target_type="message", group_id=gid, seq=seq, reason="spam",
                                detail="私下给我发了三次"))["report_id"]
    r2 = (await witness.request("report", target_type="user", user_id=spammer.user_id, reason="spammer"))["report_id"]
    await spammer.request("report", target_type="group", group_id=gid, reason="revenge")  # someone else's
    token = witness.token
    await witness.close()  # offline when the operator decides
    rc, _, err = await server.admin("resolve", r1, "--outcome", "upheld", "--note", "已删除")
    assert rc == 0, err
    back = await server.client()
    await back.auth(token)
    back.drain_events()
    mine = (await back.request("my_reports"))["reports"]
    assert [r["report_id"] for r in mine] == [r2, r1]  # newest first, only the caller's
    assert mine[0] == {"report_id": r2, "target_type": "user", "reason": "spammer", "user_id": spammer.user_id,
                       "created_at": mine[0]["created_at"], "status": "open"}
    resolved = mine[1]
    assert (resolved["status"], resolved["outcome"], resolved["note"]) == ("resolved", "upheld", "已删除")
    assert (resolved["group_id"], resolved["seq"], resolved["user_id"]) == (gid, seq, spammer.user_id)
    assert resolved["resolved_at"] >= resolved["created_at"] and "detail" not in resolved
    page = (await back.request("my_reports", before=r2, limit=1))["reports"]
    assert [r["report_id"] for r in page] == [r1]
    assert (await back.call("my_reports", before="abc"))["code"] == "bad_request"


async def test_reports_per_hour_limit_each_reporter(make_server):
    srv = make_server("reports_per_hour = 2\n")  # the harness's config ends inside [rate_limits]
    owner = await srv.user()
    gid = await open_group(owner)
    reporter, other = await srv.user(), await srv.user()
    targets = [await srv.user() for _ in range(3)]
    for t in targets[:2]:
        assert (await reporter.call("report", target_type="user", user_id=t.user_id, reason="spam"))["ok"]
    refused = await reporter.call("report", target_type="user", user_id=targets[2].user_id, reason="spam")
    assert refused["code"] == "rate_limited" and refused["retry_after_ms"] > 0
    assert (await other.call("report", target_type="group", group_id=gid, reason="spam"))["ok"]  # per reporter
    for c in (owner, reporter, other, *targets):
        await c.close()


async def test_one_report_sent_twice_at_once_counts_once_against_the_limit(make_server):
    """The same report from two connections of one reporter at once: one is filed, the other is its
    duplicate, which costs nothing against the rate limit (here the last report allowed)."""
    srv = make_server("reports_per_hour = 2\n")
    reporter = await srv.user()
    again = await srv.client()
    await again.login(reporter.username, "password123")
    first, target, last = await srv.user(), await srv.user(), await srv.user()
    assert (await reporter.call("report", target_type="user", user_id=first.user_id, reason="spam"))["ok"]
    replies = await asyncio.gather(*(c.call("report", target_type="user", user_id=target.user_id, reason="spam")
                                     for c in (reporter, again)))
    assert all(r["ok"] for r in replies), replies
    assert sorted(bool(r.get("duplicate")) for r in replies) == [False, True]
    assert replies[0]["report_id"] == replies[1]["report_id"]
    refused = await reporter.call("report", target_type="user", user_id=last.user_id, reason="spam")
    assert refused["code"] == "rate_limited"  # two filed: the limit is reached, not passed
    for c in (reporter, again, first, target, last):
        await c.close()


async def test_a_report_left_open_too_long_is_reported_overdue(server):
    """G12 timely handling: a complaint open longer than reports.answer_within_hours (24) is flagged to
    the operator (reports --overdue, report-stats), until it is resolved."""
    owner, gid, [spammer, witness] = await setup_group(server, 2)
    old = (await witness.request("report", target_type="user", user_id=spammer.user_id, reason="spam"))["report_id"]
    fresh = (await witness.request("report", target_type="group", group_id=gid, reason="bad group"))["report_id"]
    server.db_rows("UPDATE reports SET created_at = created_at - ? WHERE report_id = ?", 25 * 3_600_000, int(old))
    rc, out, _ = await server.admin("reports", "--open")
    assert {r["report_id"]: r["overdue"] for r in map(json.loads, out.splitlines())} == {old: True, fresh: False}
    rc, out, _ = await server.admin("reports", "--overdue")
    assert rc == 0 and [json.loads(line)["report_id"] for line in out.splitlines()] == [old]
    rc, out, _ = await server.admin("report-stats")
    assert json.loads(out)["overdue"] == 1 and json.loads(out)["answer_within_hours"] == 24
    rc, _, _ = await server.admin("resolve", old, "--outcome", "upheld", "--note", "done")
    assert rc == 0
    rc, out, _ = await server.admin("reports", "--overdue")
    assert out == ""
    rc, out, _ = await server.admin("report-stats")
    assert json.loads(out)["overdue"] == 0


async def test_malicious_reporter_is_slowed(make_server):
    srv = make_server("[credit]\ninitial_score = 100\n")
    owner, gid, [target] = await setup_group(srv)
    reporter = await srv.user()
    ids = []
    for i in range(5):
        g = await open_group(await srv.user())
        ids.append((await reporter.request("report", target_type="group", group_id=g, reason=f"r{i}"))["report_id"])
    for rid in ids:
        rc, _, _ = await srv.admin("resolve", str(rid), "--outcome", "rejected", "--note", "unfounded")
        assert rc == 0
    # mostly rejected: the limit drops to 2 an hour (the 5 earlier reports count)
    r = await reporter.call("report", target_type="group", group_id=gid, reason="again")
    assert r["code"] == "rate_limited" and r["retry_after_ms"] > 0


async def test_verify_audit_detects_an_edit(server):
    owner, gid, [m] = await setup_group(server)
    await owner.request("mute", group_id=gid, user_id=m.user_id, seconds=30)
    await server.admin("warn-group", gid, "--reason", "first warning")
    await owner.request("set_announcement", group_id=gid, text="rules")
    rc, out, _ = await server.admin("verify-audit")
    assert rc == 0 and "whole" in out
    server.db_rows("UPDATE audit SET reason = 'nothing happened' WHERE id = 2")
    rc, out, _ = await server.admin("verify-audit")
    assert rc == 1 and "entry 2" in out


async def test_sanction_records_its_report(server):
    owner, gid, [m] = await setup_group(server)
    rid = (await m.request("report", target_type="group", group_id=gid, reason="gambling"))["report_id"]
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "30", "--reason", "gambling",
                                    "--report", str(rid))
    assert rc == 0, err
    [row] = server.db_rows("SELECT kind, target_id, reason, actor, starts_at, expires_at, report_id FROM sanctions")
    assert row[0] == "suspend_group" and row[1] == gid and row[2] == "gambling" and row[3] == "operator"
    assert row[5] - row[4] == 30_000 and row[6] == int(rid)
    # The record itself says which row and which complaint the measure was (a reviewer found neither
    # there: only the sanctions table, which no export carries, held the report), for every command
    # that takes one sanction.
    rc, _, err = await server.admin("warn-group", gid, "--reason", "整改", "--report", str(rid))
    assert rc == 0, err
    rc, _, err = await server.admin("revoke-create", owner.username, "--reason", "r")
    assert rc == 0, err
    ids = {kind: sid for sid, kind in server.db_rows("SELECT id, kind FROM sanctions")}
    details = {action: json.loads(d) for action, d in server.db_rows(
        "SELECT action, detail FROM audit WHERE action IN ('suspend_group', 'warn_group', 'revoke_create')")}
    assert (details["suspend_group"]["sanction_id"], details["suspend_group"]["report_id"]) == (
        ids["suspend_group"], int(rid))
    assert (details["warn_group"]["sanction_id"], details["warn_group"]["report_id"]) == (ids["warning"], int(rid))
    assert (details["revoke_create"]["sanction_id"], "report_id" in details["revoke_create"]) == (
        ids["revoke_create"], False)
    rc, out, err = await server.admin("verify-audit")
    assert rc == 0 and "whole" in out, (out, err)
    # A report id no report has is refused before anything is done (it was stored as given: the
    # measure tied to no complaint, or to another's, in the record and in every export).
    missing = str(int(rid) + 1000)
    sanctions_before = server.db_rows("SELECT count(*) FROM sanctions")
    for args in (("warn-group", gid, "--reason", "x"), ("suspend-group", gid, "--seconds", "30", "--reason", "x"),
                 ("close-group", gid, "--reason", "x"), ("suspend-admin", owner.username, "--seconds", "9",
                                                         "--reason", "x"),
                 ("revoke-create", owner.username, "--reason", "x"), ("blacklist", m.username, "--reason", "x"),
                 ("warn-account", "100000001", "--reason", "x"), ("close-account", "100000001", "--reason", "x"),
                 ("remove-post", "1", "--reason", "x")):
        rc, out, err = await server.admin(*args, "--report", missing)
        assert (rc, out, err.strip()) == (2, "", f"qunguan admin: unknown report {missing}"), (args, err)
    assert server.db_rows("SELECT count(*) FROM sanctions") == sanctions_before


async def test_remove_text_takes_down_a_name_an_announcement_or_an_intro(server):
    """A red-team reviewer set a group name, an announcement, a display name and a public account's
    name and intro the platform found illegal, none of which the word lists held: remove-term reaches
    messages, posts and comments only, and nothing else but closing or blacklisting took them down."""
    owner, gid, [m] = await setup_group(server)
    await owner.request("update_group", group_id=gid, name="明天停水群")
    await owner.request("set_announcement", group_id=gid, text="明天停水，加群领水")
    await m.request("set_profile", display_name="明天停水通知员")
    owner_before, m_before = (await owner.request("me"))["credit_score"], (await m.request("me"))["credit_score"]
    owner.drain_events(), m.drain_events()

    rc, out, err = await server.admin("remove-text", "group_name", gid, "--reason", "谣言")
    assert rc == 0 and f"removed the group name '明天停水群'; it now shows '群聊 {gid}'" in out, err
    assert (await m.next_event("group_updated", timeout=WITHIN)) == {"ev": "group_updated", "group_id": gid,
                                                                     "name": f"群聊 {gid}"}
    told = await owner.next_event("notice", timeout=WITHIN)
    assert (told["kind"], told["content"], told["reason"]) == ("content_removed", "group_name", "谣言")
    rc, out, err = await server.admin("remove-text", "announcement", gid, "--reason", "谣言")
    assert rc == 0, err
    assert (await m.next_event("group_updated", timeout=WITHIN))["announcement"] == ""
    rc, out, err = await server.admin("remove-text", "display_name", m.username, "--reason", "谣言")
    assert rc == 0 and "lost 10 credit points" in out, (out, err)
    renamed = await owner.next_event("user_renamed", timeout=WITHIN)
    assert renamed["user_id"] == m.user_id and renamed["display_name"] != "明天停水通知员"
    info = await m.request("group_info", group_id=gid)
    assert (info["name"], info["announcement"]) == (f"群聊 {gid}", "")
    # The author pays where certain: the user for their name; nobody for a group's name (perhaps a
    # former owner's) or announcement (any admin's).
    assert (await owner.request("me"))["credit_score"] == owner_before
    assert (await m.request("me"))["credit_score"] == m_before - 10
    rows = server.db_rows("SELECT target_id, detail FROM audit WHERE action = 'remove_text' ORDER BY id")
    assert [(t, json.loads(d)["kind"], json.loads(d)["text"]) for t, d in rows] == [
        (owner.user_id, "group_name", "明天停水群"), (owner.user_id, "announcement", "明天停水，加群领水"),
        (m.user_id, "display_name", "明天停水通知员")]

    account_owner = await server.user(verify_id=True)
    aid = (await account_owner.request("create_account", name="明天停水号", category="culture", intro="明天停水简介",
                                       subject_type="individual"))["account_id"]
    for kind in ("account_name", "account_intro"):
        rc, out, err = await server.admin("remove-text", kind, aid, "--reason", "谣言")
        assert rc == 0, err
    shown = await m.request("account_info", account_id=aid)
    assert (shown["name"], shown["intro"]) == (f"公众号 {aid}", "")
    # what cannot be done: exit 2, one line, nothing changed
    for args in (["group_name", gid], ["account_intro", aid], ["nickname", gid], ["group_name", "999999999"],
                 ["display_name", "nobody_here"]):
        rc, out, err = await server.admin("remove-text", *args, "--reason", "x")
        assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, (args, out, err)
    await owner.close()
    await m.close()
    await account_owner.close()


async def test_a_raids_malicious_reports_are_listed_by_reporter_and_rejected_at_once(server):
    """reports --reporter / --user pick one person's reports; resolve takes several report ids, each
    resolved alone (the reporter told of each), the ones that cannot be said, exit 2."""
    owner, gid, [raider, victim, witness] = await setup_group(server, 3)
    made = [(await raider.request("report", target_type="user", user_id=u, reason="fake"))["report_id"]
            for u in (victim.user_id, owner.user_id)]
    honest = (await witness.request("report", target_type="user", user_id=raider.user_id, reason="raid"))["report_id"]

    async def listed(*args: str) -> list[str]:
        rc, out, err = await server.admin("reports", "--open", *args)
        assert rc == 0, err
        return [json.loads(line)["report_id"] for line in out.splitlines()]

    assert await listed("--reporter", raider.username) == made
    assert await listed("--user", raider.user_id) == [honest]
    assert await listed("--reporter", witness.user_id, "--user", raider.username) == [honest]
    rc, out, err = await server.admin("resolve", *made, "999999", "--outcome", "rejected", "--note", "malicious")
    assert rc == 2, (out, err)
    assert out.splitlines() == [*(f"report {r} rejected" for r in made), "unknown report 999999",
                                "1 of 3 reports not resolved"]
    outcomes = [await raider.next_event("notice", timeout=WITHIN) for _ in made]
    assert sorted(e["report_id"] for e in outcomes) == sorted(made) and {e["outcome"] for e in outcomes} == {"rejected"}
    assert await listed() == [honest]


async def test_several_raiders_are_blacklisted_by_one_command(server):
    owner, gid, [r1, r2, bystander] = await setup_group(server, 3)
    rc, out, err = await server.admin("blacklist", r1.username, r2.user_id, "nobody_here", "--reason", "raid")
    assert rc == 2, (out, err)
    lines = out.splitlines()
    assert lines[-2:] == ["unknown user nobody_here (give a username or a user id)", "1 of 3 users not blacklisted"]
    await all_closed(r1, r2)
    assert (await bystander.request("me"))["user_id"] == bystander.user_id  # (the others stay)
    rc, out, _ = await server.admin("sanctions", "--user", r2.username)
    assert rc == 0 and [json.loads(x)["kind"] for x in out.splitlines()] == ["blacklist"]
