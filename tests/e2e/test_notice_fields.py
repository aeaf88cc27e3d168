"""What the platform's notices and refusals carry beside their English ``text`` and ``reason``, so a
client words each line in its reader's language from fields (docs/protocol.md, the notice table):
the measure, the operator's own reason or note, the sanction's id that ``appeal`` takes, what content
was taken down and how; ``cause`` and ``until`` on the ``forbidden`` of a user whose powers are
suspended or whose right to create groups is revoked, and ``me`` telling both; ``field`` on a
malformed registration. Both backends; each notice within 2 s."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.admin_helpers import admin_ok, notice
from tests.e2e.harness import new_phone, open_group
from tests.e2e.test_content import word_server


async def sanctions(srv: Any, *args: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (await admin_ok(srv, "sanctions", *args)).splitlines()]


async def appeal_id_of(srv: Any, sid: str) -> str:
    [row] = [json.loads(x) for x in (await admin_ok(srv, "appeals", "--open")).splitlines()
             if json.loads(x)["sanction_id"] == sid]
    return str(row["appeal_id"])


async def test_a_users_sanctions_carry_measure_reason_and_id_and_their_refusals_say_why(server):
    owner, member = await server.user(), await server.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    me = await owner.request("me")
    assert (me["powers_suspended_until"], me["create_revoked"]) == (0, False)

    await admin_ok(server, "suspend-admin", owner.username, "--seconds", "7200", "--reason", "管理失职")
    ev = await notice(owner, "sanction")
    [row] = await sanctions(server, "--user", owner.username)
    assert ev["text"] == "your management powers are suspended: 管理失职"  # as before, for old clients
    assert (ev["measure"], ev["reason"], ev["sanction_id"]) == ("suspend_admin", "管理失职", str(row["id"]))
    until = ev["until"]
    assert until == row["expires_at"]
    assert (await owner.request("me"))["powers_suspended_until"] == until
    # every management op says why, and until when, beside the code and the English reason
    for op, args in (("mute", {"user_id": member.user_id, "seconds": 600}), ("join_requests", {})):
        r = await owner.call(op, group_id=gid, **args)
        assert (r["code"], r["cause"], r["until"]) == ("forbidden", "powers_suspended", until), r

    # the id in the notice is what appeal takes: for the sanctioned user only
    assert (await member.call("appeal", sanction_id=ev["sanction_id"], text="不是我"))["code"] == "not_found"
    await owner.request("appeal", sanction_id=ev["sanction_id"], text="已经整改")
    appeal = await appeal_id_of(server, ev["sanction_id"])
    await admin_ok(server, "decide-appeal", appeal, "--outcome", "rejected", "--note", "整改不到位")
    result = await notice(owner, "appeal_result")
    assert result["text"] == "your appeal was rejected. 整改不到位"
    assert (result["outcome"], result["note"], result["sanction_id"]) == ("rejected", "整改不到位", ev["sanction_id"])

    await admin_ok(server, "revoke-create", owner.username, "--reason", "滥建群")
    revoked = await notice(owner, "sanction")
    assert (revoked["measure"], revoked["reason"]) == ("revoke_create", "滥建群")
    assert "until" not in revoked and revoked["sanction_id"] not in (None, ev["sanction_id"])
    assert (await owner.request("me"))["create_revoked"] is True
    r = await owner.call("create_group", name="又一个", category="study", join_policy="open")
    assert (r["code"], r["cause"]) == ("forbidden", "create_revoked")

    await admin_ok(server, "lift", revoked["sanction_id"], "--reason", "误判")
    lifted = await notice(owner, "sanction_lifted")
    assert (lifted["sanction_id"], lifted["measure"], lifted["reason"]) == (
        revoked["sanction_id"], "revoke_create", "误判")
    assert "appeal_id" not in lifted
    assert (await owner.request("me"))["create_revoked"] is False


async def test_a_group_suspension_names_its_sanction_for_the_owners_appeal(server):
    owner, member = await server.user(), await server.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    owner.drain_events()
    await admin_ok(server, "suspend-group", gid, "--seconds", "7200", "--reason", "整顿")
    ev = await owner.next_event("group_suspended", timeout=2)
    [row] = await sanctions(server, "--group", gid)
    assert (ev["sanction_id"], ev["cause"], ev["reason"]) == (str(row["id"]), "sanction", "整顿")
    assert (await member.next_event("group_suspended", timeout=2))["sanction_id"] == ev["sanction_id"]
    # the group's owner may appeal it, a member may not (docs/protocol.md, appeal)
    assert (await member.call("appeal", sanction_id=ev["sanction_id"], text="冤枉"))["code"] == "not_found"
    await owner.request("appeal", sanction_id=ev["sanction_id"], text="已整改")
    appeal = await appeal_id_of(server, ev["sanction_id"])
    await admin_ok(server, "decide-appeal", appeal, "--outcome", "upheld", "--note", "核实已整改")
    lifted = await notice(owner, "sanction_lifted")
    assert (lifted["group_id"], lifted["measure"], lifted["reason"], lifted["appeal_id"], lifted["until"]) == (
        gid, "suspend_group", "核实已整改", appeal, 0)
    assert (await notice(owner, "appeal_result"))["note"] == "核实已整改"


async def test_removed_content_says_what_was_taken_down_how_and_why(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, member = await srv.user(verify_id=True), await srv.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    held = await member.send(gid, "刷单返利，日入千元", client_msg_id="c-held")
    shown = await member.send(gid, "普通消息", client_msg_id="c-shown")
    assert (await owner.request("set_announcement", group_id=gid, text="刷单返利群"))["held"] is True
    aid = (await owner.request("create_account", name="评论号", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    post = (await owner.request("publish", account_id=aid, title="开张大吉", body="b"))["post_id"]
    said = (await member.request("comment", post_id=post, text="好文"))["comment_id"]
    assert (await member.request("comment", post_id=post, text="刷单返利"))["held"] is True
    items = [json.loads(x) for x in (await admin_ok(srv, "review-queue", "--open")).splitlines()]
    by_kind = {i["kind"]: str(i["item_id"]) for i in items}

    await admin_ok(srv, "decide", by_kind["message"], "--decision", "reject", "--note", "涉嫌诈骗")
    ev = await notice(member, "content_removed")
    assert (ev["group_id"], ev["content"], ev["outcome"], ev["reason"], ev["seq"]) == (
        gid, "message", "rejected", "涉嫌诈骗", held["seq"])
    assert ev["text"] == f"message {held['seq']} was rejected by the platform: 涉嫌诈骗"
    await admin_ok(srv, "remove-message", gid, str(shown["seq"]), "--reason", "违规")
    ev = await notice(member, "content_removed")
    assert (ev["content"], ev["outcome"], ev["reason"], ev["seq"]) == ("message", "removed", "违规", shown["seq"])

    await admin_ok(srv, "decide", by_kind["announcement"], "--decision", "reject", "--note", "公告不当")
    ev = await notice(owner, "content_removed")
    assert (ev["group_id"], ev["content"], ev["outcome"], ev["reason"]) == (gid, "announcement", "rejected", "公告不当")

    await admin_ok(srv, "decide", by_kind["comment"], "--decision", "reject", "--note", "广告")
    ev = await notice(member, "content_removed")
    assert (ev["account_id"], ev["post_id"], ev["content"], ev["outcome"], ev["reason"], ev["title"]) == (
        aid, post, "comment", "rejected", "广告", "开张大吉")
    await admin_ok(srv, "remove-comment", said, "--reason", "引战")
    ev = await notice(member, "content_removed")
    assert (ev["comment_id"], ev["content"], ev["outcome"], ev["reason"], ev["title"]) == (
        said, "comment", "removed", "引战", "开张大吉")


async def test_measures_on_a_public_account_carry_the_operators_reason_alone(server):
    owner = await server.user(verify_id=True)
    aid = (await owner.request("create_account", name="新闻眼", category="news", intro="简介",
                               subject_type="individual"))["account_id"]
    post = (await owner.request("create_account", name="备用号", category="culture", intro="简介",
                                subject_type="individual"))["account_id"]
    gone = (await owner.request("publish", account_id=post, title="违规文章", body="b"))["post_id"]

    await admin_ok(server, "restrict-account", aid, "--comments", "off", "--reason", "评论区管理不力")
    ev = await notice(owner, "account_restricted")
    assert ev["reason"] == "评论区管理不力" and ev["text"].startswith("comments on this account's posts")
    await admin_ok(server, "restrict-account", aid, "--comments", "on", "--reason", "已整改")
    assert (await notice(owner, "account_unrestricted"))["reason"] == "已整改"
    await admin_ok(server, "license-account", aid, "--news", "--reason", "持证")
    ev = await notice(owner, "account_licensed")
    assert (ev["label"], ev["measure"], ev["reason"]) == ("news", "grant", "持证")
    await admin_ok(server, "license-account", aid, "--news", "--revoke", "--reason", "过期")
    ev = await notice(owner, "account_licensed")
    assert (ev["label"], ev["measure"], ev["reason"]) == ("news", "revoke", "过期")
    await admin_ok(server, "warn-account", aid, "--reason", "标题党")
    warned = await notice(owner, "account_warning")
    await admin_ok(server, "lift", warned["sanction_id"], "--reason", "撤回警告")
    ev = await notice(owner, "sanction_lifted")
    assert (ev["account_id"], ev["measure"], ev["reason"]) == (aid, "warning", "撤回警告")

    await admin_ok(server, "remove-post", gone, "--reason", "含违法信息")
    ev = await notice(owner, "post_removed")
    assert (ev["post_id"], ev["title"], ev["reason"]) == (gone, "违规文章", "含违法信息")
    await admin_ok(server, "close-account", aid, "--reason", "多次违规")
    assert (await notice(owner, "account_closed"))["reason"] == "多次违规"


async def test_a_malformed_registration_names_the_field(server):
    c = await server.client()
    phone = new_phone()
    assert (await c.call("request_code", phone="12345"))["field"] == "phone"
    await c.request("request_code", phone=phone)
    args = {"username": "good_name", "password": "password123", "phone": phone, "code": server.last_code(phone)}
    for bad, field in (({"username": "1abc"}, "username"), ({"password": "short"}, "password"),
                       ({"display_name": "   "}, "display_name")):
        r = await c.call("register", **{**args, **bad})
        assert (r["code"], r["field"]) == ("bad_request", field), r


async def test_a_lifted_sanction_says_in_plain_words_what_was_lifted(server):
    """``sanction_lifted``'s English ``text`` names what the lift ended in words ("the suspension of
    this group", "its warning to this account"), never the sanction's kind as an identifier ("its
    suspend group of this group"); ``measure`` carries the kind for clients."""
    owner, member = await server.user(), await server.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    acct_owner = await server.user(verify_id=True)
    aid = (await acct_owner.request("create_account", name="晨报", category="culture", intro="简介",
                                    subject_type="individual"))["account_id"]
    await admin_ok(server, "warn-group", gid, "--reason", "整改")
    await admin_ok(server, "suspend-group", gid, "--seconds", "600", "--reason", "刷屏")
    await admin_ok(server, "warn-account", aid, "--reason", "整改")
    await admin_ok(server, "restrict-account", aid, "--comments", "off", "--reason", "评论失控")
    await admin_ok(server, "suspend-account", aid, "--seconds", "600", "--reason", "违规转载")
    expected = {
        ("group", "warning"): "the platform withdrew its warning to this group: 已核实",
        ("group", "suspend_group"): "the platform lifted the suspension of this group: 已核实",
        ("account", "warning"): "the platform withdrew its warning to this account: 已核实",
        ("account", "restrict_comments"):
            "the platform lifted its restriction of comments on this account's posts: 已核实",
        ("account", "suspend_account"): "the platform lifted the suspension of this account's publishing: 已核实",
    }
    for (target, kind), text in expected.items():
        args = ("--group", gid) if target == "group" else ("--account", aid)
        [row] = [r for r in await sanctions(server, *args) if r["kind"] == kind]
        await admin_ok(server, "lift", str(row["id"]), "--reason", "已核实")
        ev = await notice(member if target == "group" else acct_owner, "sanction_lifted")
        assert (ev["measure"], ev["sanction_id"], ev["reason"], ev["text"]) == (kind, str(row["id"]), "已核实", text)
