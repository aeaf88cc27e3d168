"""Every operator command that takes credit points from a user tells them (``notice {kind: "credit"}``
with the new score, its level, the change and the operator's reason), as ``credit`` and an upheld
report always did: a score and level on screen never go stale after a penalty."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.e2e.admin_helpers import admin_ok, notice
from tests.e2e.test_content import group, word_server

REPORT_UPHELD = 10  # credit.penalty_report_upheld's default
SANCTION = 20  # credit.penalty_sanction's default


async def told(client: Any, delta: int, reason: str, before: int, sanction_id: str | None = None) -> int:
    """The credit notice after a penalty: its fields are the score and level ``me`` gives now (and
    the sanction that took the points, when one did)."""
    ev = await notice(client, "credit")
    me = await client.request("me")
    assert me["credit_score"] == before + delta
    assert (ev["credit_score"], ev["credit_level"], ev["delta"], ev["reason"]) == (
        me["credit_score"], me["credit_level"], delta, reason), ev
    if sanction_id is not None:
        assert ev["sanction_id"] == sanction_id, ev
    assert f"now {me['credit_score']}" in ev["text"] and reason in ev["text"]
    return int(me["credit_score"])


async def open_items(srv: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (await admin_ok(srv, "review-queue", "--open")).splitlines()]


async def test_decide_and_remove_message_send_a_credit_notice_with_each_penalty(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    score = (await member.request("me"))["credit_score"]

    # decide reject of a held message, decide remove of a flagged one
    await member.request("send", group_id=gid, text="刷单返利 加我", client_msg_id="held")
    await member.request("send", group_id=gid, text="vpn下载 这里", client_msg_id="flagged")
    held, flagged = await open_items(srv)
    await admin_ok(srv, "decide", str(held["item_id"]), "--decision", "reject", "--note", "诈骗")
    assert (await notice(member, "content_removed"))["group_id"] == gid
    score = await told(member, -REPORT_UPHELD, "诈骗", score)
    await admin_ok(srv, "decide", str(flagged["item_id"]), "--decision", "remove", "--note", "色情")
    score = await told(member, -REPORT_UPHELD, "色情", score)

    # remove-message of a delivered one
    seq = (await member.request("send", group_id=gid, text="一条普通消息", client_msg_id="plain"))["seq"]
    await admin_ok(srv, "remove-message", gid, str(seq), "--reason", "违法")
    score = await told(member, -REPORT_UPHELD, "违法", score)

    # decide reject of a held display name (the other held texts take the same path)
    assert (await member.request("set_profile", display_name="刷单返利王"))["held"] is True
    [name] = await open_items(srv)
    await admin_ok(srv, "decide", str(name["item_id"]), "--decision", "reject", "--note", "不当名称")
    score = await told(member, -REPORT_UPHELD, "不当名称", score)

    # a release costs nothing and tells nothing about credit
    await member.request("send", group_id=gid, text="刷单返利 再来", client_msg_id="held2")
    [again] = await open_items(srv)
    await admin_ok(srv, "decide", str(again["item_id"]), "--decision", "release", "--note", "ok")
    assert (await member.request("me"))["credit_score"] == score
    assert not [e for e in member.drain_events() if e.get("ev") == "notice" and e.get("kind") == "credit"]


async def test_removing_a_comment_or_rejecting_a_held_post_sends_a_credit_notice(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner = await srv.user(verify_id=True)
    commenter = await srv.user()
    aid = (await owner.request("create_account", name="评论号", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    bad = (await commenter.request("comment", post_id=post, text="广告"))["comment_id"]
    score = (await commenter.request("me"))["credit_score"]
    await admin_ok(srv, "remove-comment", bad, "--reason", "违法广告")
    score = await told(commenter, -REPORT_UPHELD, "违法广告", score)

    await commenter.request("comment", post_id=post, text="刷单返利 评论")  # held for review
    owner_score = (await owner.request("me"))["credit_score"]
    await owner.request("publish", account_id=aid, title="刷单返利", body="b")  # held for review
    comment_item, post_item = await open_items(srv)
    assert (comment_item["kind"], post_item["kind"]) == ("comment", "post")
    await admin_ok(srv, "decide", str(comment_item["item_id"]), "--decision", "reject", "--note", "诈骗评论")
    await told(commenter, -REPORT_UPHELD, "诈骗评论", score)
    await admin_ok(srv, "decide", str(post_item["item_id"]), "--decision", "reject", "--note", "诈骗文章")
    await told(owner, -REPORT_UPHELD, "诈骗文章", owner_score)


async def sanction_notice(srv: Any, client: Any, measure: str, reason: str) -> dict[str, Any]:
    """The ``sanction`` notice: the measure, the operator's reason and the id of the sanction stored
    for this user (what ``appeal`` takes), as docs/protocol.md gives them."""
    ev = await notice(client, "sanction")
    user_id = (await client.request("me"))["user_id"]
    [(sanction_id, target, expires_at)] = srv.db_rows(
        "SELECT id, target_id, expires_at FROM sanctions WHERE kind = ? AND lifted_at IS NULL", measure)
    assert str(target) == str(user_id)
    assert (ev["measure"], ev["reason"], ev["sanction_id"]) == (measure, reason, str(sanction_id)), ev
    assert reason in ev["text"]
    if measure == "suspend_admin":
        assert ev["until"] == expires_at, ev
    else:
        assert "until" not in ev, ev
    return ev


async def test_sanctions_that_cost_credit_send_a_credit_notice(server):
    owner, member, gid = await group(server)
    score = (await owner.request("me"))["credit_score"]
    before = int(time.time() * 1000)
    await admin_ok(server, "suspend-admin", owner.username, "--seconds", "600", "--reason", "滥用权限")
    suspended = await sanction_notice(server, owner, "suspend_admin", "滥用权限")
    assert before + 600_000 <= suspended["until"] <= int(time.time() * 1000) + 600_000
    score = await told(owner, -SANCTION, "滥用权限", score, suspended["sanction_id"])
    await admin_ok(server, "revoke-create", owner.username, "--reason", "滥建群")
    revoked = await sanction_notice(server, owner, "revoke_create", "滥建群")
    assert revoked["sanction_id"] != suspended["sanction_id"]
    score = await told(owner, -SANCTION, "滥建群", score, revoked["sanction_id"])
    await admin_ok(server, "close-group", gid, "--reason", "违法群")
    await told(owner, -SANCTION, "违法群", score)


BLOCKED = 2  # credit.penalty_blocked_content's default


def credit_notices(client: Any) -> list[dict[str, Any]]:
    return [e for e in client.drain_events() if e.get("ev") == "notice" and e.get("kind") == "credit"]


async def untold(client: Any, score: int) -> None:
    """No credit notice came, and the score is still ``score``."""
    await asyncio.sleep(0.3)
    assert credit_notices(client) == []
    assert (await client.request("me"))["credit_score"] == score


async def test_a_blocked_send_or_edit_tells_the_credit_it_took_once_per_penalty(make_server, tmp_path):
    """A ``send`` (or an edit) refused ``content_blocked`` costs ``credit.penalty_blocked_content``; once
    stored the sender is told, as after an operator's penalty: one ``credit`` notice per refusal that
    took points, with the score it left, ``cause: "content_blocked"`` and the group."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    score = (await member.request("me"))["credit_score"]
    for i in range(2):
        r = await member.call("send", group_id=gid, text="一起来赌博", client_msg_id=f"b{i}")
        assert r["code"] == "content_blocked"
    for _ in range(2):  # each penalty told in order, with the score it left
        ev = await notice(member, "credit")
        score -= BLOCKED
        assert (ev["delta"], ev["credit_score"], ev["cause"], ev["group_id"]) == (
            -BLOCKED, score, "content_blocked", gid), ev
        assert "by" not in ev and "pyramid_gambling" in ev["text"]  # no operator acted
    me = await member.request("me")
    assert (me["credit_score"], me["credit_level"]) == (score, ev["credit_level"])
    seq = (await member.request("send", group_id=gid, text="正常消息", client_msg_id="ok"))["seq"]
    assert (await member.call("edit_message", group_id=gid, seq=seq, text="赌博"))["code"] == "content_blocked"
    ev = await notice(member, "credit")
    assert (ev["delta"], ev["credit_score"], ev["cause"]) == (-BLOCKED, score - BLOCKED, "content_blocked")
    await asyncio.sleep(0.3)
    assert credit_notices(member) == [] and credit_notices(owner) == []


async def test_a_blocked_send_that_takes_no_points_tells_no_credit(make_server, tmp_path):
    d = tmp_path / "free"
    d.mkdir()
    (d / "gambling.txt").write_text("赌博\n", encoding="utf-8")
    srv = make_server('[credit]\npenalty_blocked_content = 0\n[[content.lists]]\ncategory = "pyramid_gambling"\n'
                      'path = "gambling.txt"\naction = "block"\n', subdir="free")
    owner, member, gid = await group(srv)
    score = (await member.request("me"))["credit_score"]
    assert (await member.call("send", group_id=gid, text="赌博", client_msg_id="b"))["code"] == "content_blocked"
    await asyncio.sleep(0.5)
    assert credit_notices(member) == []
    assert (await member.request("me"))["credit_score"] == score


async def test_a_blocked_post_tells_its_author_the_credit_it_took(make_server, tmp_path):
    """The same penalty on a public account's text (here a post a ``block`` list refuses) is told the
    same way, naming the account."""
    srv = word_server(make_server, tmp_path)
    owner = await srv.user(verify_id=True)
    aid = (await owner.request("create_account", name="茶馆", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    score = (await owner.request("me"))["credit_score"]
    refused = await owner.call("publish", account_id=aid, title="网上赌场", body="b")
    assert refused["code"] == "content_blocked"
    ev = await notice(owner, "credit")
    assert (ev["delta"], ev["credit_score"], ev["cause"], ev["account_id"]) == (
        -BLOCKED, score - BLOCKED, "content_blocked", aid), ev


async def test_one_message_costs_its_sender_once_whatever_measures_it_meets(make_server, tmp_path):
    """The complaint workflow operator.md documents: a report about a message upheld with ``resolve``,
    then the message taken down with ``remove-message``. The sender pays ``penalty_report_upheld`` once
    for the message, whichever measure comes first (a second upheld report, or ``decide --decision
    remove`` of its review item, takes nothing again either); the command that took nothing says so,
    and its sender gets no credit notice for it (the record entry says ``credit_taken`` 0)."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    witness = await srv.user()
    await witness.request("join_group", group_id=gid)
    score = (await member.request("me"))["credit_score"]

    async def report(by: Any, seq: int) -> str:
        return str((await by.request("report", target_type="message", group_id=gid, seq=seq,
                                     reason="违法"))["report_id"])

    # upheld, then removed: the removal takes nothing again
    first = (await member.request("send", group_id=gid, text="一条违规消息", client_msg_id="m1"))["seq"]
    rid, other = await report(owner, first), await report(witness, first)
    out = await admin_ok(srv, "resolve", rid, "--outcome", "upheld", "--note", "属实")
    assert "no credit taken" not in out
    score = await told_report(member, score)
    out = await admin_ok(srv, "remove-message", gid, str(first), "--reason", "违法")
    assert f"no credit taken from {member.username}: it was already taken for message {first} of group {gid}" in out
    assert (await notice(member, "content_removed"))["seq"] == first
    # removed, then a second report made before the removal upheld: nothing again
    out = await admin_ok(srv, "resolve", other, "--outcome", "upheld", "--note", "属实")
    assert "no credit taken" in out
    await untold(member, score)

    # removed first, then the complaint made before it upheld: the removal took the points
    second = (await member.request("send", group_id=gid, text="另一条违规消息", client_msg_id="m2"))["seq"]
    rid = await report(owner, second)
    await admin_ok(srv, "remove-message", gid, str(second), "--reason", "违法")
    score = await told(member, -REPORT_UPHELD, "违法", score)
    out = await admin_ok(srv, "resolve", rid, "--outcome", "upheld", "--note", "属实")
    assert f"no credit taken from {member.username}" in out

    # a flagged message: the complaint upheld, then its review item decided remove
    flagged = (await member.request("send", group_id=gid, text="vpn下载 这里", client_msg_id="m3"))["seq"]
    rid = await report(owner, flagged)
    await admin_ok(srv, "resolve", rid, "--outcome", "upheld", "--note", "属实")
    score = await told_report(member, score)
    [item] = await open_items(srv)
    out = await admin_ok(srv, "decide", str(item["item_id"]), "--decision", "remove", "--note", "色情")
    assert f"no credit taken from {member.username}" in out
    await untold(member, score)

    # the record says what each measure took
    taken = [(a, json.loads(d)["seq"], json.loads(d)["credit_taken"]) for a, d in srv.db_rows(
        "SELECT action, detail FROM audit WHERE action IN ('resolve_report', 'remove_message', 'review_remove')"
        " ORDER BY id")]
    assert taken == [("resolve_report", first, REPORT_UPHELD), ("remove_message", first, 0),
                     ("resolve_report", first, 0), ("remove_message", second, REPORT_UPHELD),
                     ("resolve_report", second, 0), ("resolve_report", flagged, REPORT_UPHELD),
                     ("review_remove", flagged, 0)]


async def test_reports_of_one_incident_resolved_together_cost_the_person_once(make_server, tmp_path):
    """Witnesses report a message, its sender, and the sender in that group (the web client offers
    both beside each message): upheld together in one ``resolve``, they cost the sender once, for the
    message; two reports about one person alone, once; ``--no-penalty`` upholds a report (its
    reporter is told so) and costs nothing. Each used to take the points again, so that an operator
    had to reject honest reports, counted against their reporters, to charge an incident once."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    witnesses = [await srv.user() for _ in range(2)]
    for w in witnesses:
        await w.request("join_group", group_id=gid)
    score = (await member.request("me"))["credit_score"]
    seq = (await member.request("send", group_id=gid, text="一条违规消息", client_msg_id="m1"))["seq"]

    async def report(by: Any, **target: Any) -> str:
        return str((await by.request("report", reason="骚扰", **target))["report_id"])

    about_message = await report(owner, target_type="message", group_id=gid, seq=seq)
    about_user = await report(witnesses[0], target_type="user", user_id=member.user_id)
    about_user_there = await report(witnesses[1], target_type="user", user_id=member.user_id, group_id=gid)
    # (the content's report last: it charges all the same, and the others nothing, whatever the order)
    out = await admin_ok(srv, "resolve", about_user, about_user_there, about_message, "--outcome", "upheld",
                         "--note", "属实")
    spared = f"no credit taken from {member.username}: charged for the content reported in this command"
    assert out.count(spared) == 2 and f"report {about_message} upheld" in out, out
    score = await told_report(member, score)
    await untold(member, score)
    for w in witnesses:  # (each reporter is told the report was upheld, as for any)
        assert (await notice(w, "report_result"))["outcome"] == "upheld"

    # two reports about the person alone: the first charges, the second says by which report
    first, second = [await report(w, target_type="user", user_id=member.user_id) for w in witnesses]
    out = await admin_ok(srv, "resolve", first, second, "--outcome", "upheld", "--note", "属实")
    assert f"no credit taken from {member.username}: already taken by report {first} in this command" in out, out
    score = await told_report(member, score)
    await untold(member, score)

    # upheld without a charge, when the operator knows the conduct was charged already
    again = await report(owner, target_type="user", user_id=member.user_id)
    out = await admin_ok(srv, "resolve", again, "--outcome", "upheld", "--note", "已处理", "--no-penalty")
    assert f"no credit taken from {member.username}: --no-penalty" in out, out
    assert (await notice(owner, "report_result"))["outcome"] == "upheld"
    await untold(member, score)
    stored = srv.db_rows("SELECT status, outcome FROM reports WHERE report_id = ?", int(again))
    assert stored == [("resolved", "upheld")]

    # A message upheld so is not marked paid: a later measure on it still costs its sender once (the
    # entry said nothing of credit, and one from before the field counts as having taken it).
    seq = (await member.request("send", group_id=gid, text="另一条消息", client_msg_id="m2"))["seq"]
    spared_message = await report(owner, target_type="message", group_id=gid, seq=seq)
    out = await admin_ok(srv, "resolve", spared_message, "--outcome", "upheld", "--note", "提醒", "--no-penalty")
    assert f"no credit taken from {member.username}: --no-penalty" in out, out
    await untold(member, score)
    out = await admin_ok(srv, "remove-message", gid, str(seq), "--reason", "违规")
    assert "already taken" not in out, out
    assert (await member.request("me"))["credit_score"] < score


async def test_one_comment_costs_its_author_once_whatever_measures_it_meets(make_server, tmp_path):
    """As a message: a report about a public account's comment upheld with ``resolve``, then the
    comment taken down with ``remove-comment``, costs its author ``penalty_report_upheld`` once; so
    does the removal first and the complaint made before it upheld, and a held comment reported,
    the complaint upheld and then its review item decided ``reject``. The command that took nothing
    says so, and the author gets no credit notice for it (its record entry says ``credit_taken`` 0)."""
    srv = word_server(make_server, tmp_path)
    owner = await srv.user(verify_id=True)
    commenter, witness = await srv.user(), await srv.user()
    aid = (await owner.request("create_account", name="评论号", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    score = (await commenter.request("me"))["credit_score"]

    async def report(by: Any, comment: str) -> str:
        return str((await by.request("report", target_type="comment", account_id=aid, post_id=post,
                                     comment_id=comment, reason="违法"))["report_id"])

    # upheld, then removed: the removal takes nothing again, nor a second report upheld after it
    first = (await commenter.request("comment", post_id=post, text="违规评论一"))["comment_id"]
    rid, other = await report(witness, first), await report(owner, first)
    out = await admin_ok(srv, "resolve", rid, "--outcome", "upheld", "--note", "属实")
    assert "no credit taken" not in out
    score = await told_report(commenter, score)
    out = await admin_ok(srv, "remove-comment", first, "--reason", "违法")
    assert f"no credit taken from {commenter.username}: it was already taken for comment {first}" in out
    assert (await notice(commenter, "content_removed"))["comment_id"] == str(first)
    out = await admin_ok(srv, "resolve", other, "--outcome", "upheld", "--note", "属实")
    assert f"no credit taken from {commenter.username}" in out
    await untold(commenter, score)

    # removed first, then the complaint made before it upheld: the removal took the points
    second = (await commenter.request("comment", post_id=post, text="违规评论二"))["comment_id"]
    rid = await report(witness, second)
    await admin_ok(srv, "remove-comment", second, "--reason", "违法")
    score = await told(commenter, -REPORT_UPHELD, "违法", score)
    out = await admin_ok(srv, "resolve", rid, "--outcome", "upheld", "--note", "属实")
    assert f"no credit taken from {commenter.username}" in out

    # a held comment the account's owner reported: upheld, then rejected in review
    held = (await commenter.request("comment", post_id=post, text="刷单返利 评论"))["comment_id"]
    rid = await report(owner, held)
    await admin_ok(srv, "resolve", rid, "--outcome", "upheld", "--note", "属实")
    score = await told_report(commenter, score)
    [item] = await open_items(srv)
    out = await admin_ok(srv, "decide", str(item["item_id"]), "--decision", "reject", "--note", "诈骗")
    assert f"no credit taken from {commenter.username}: it was already taken for comment {held}" in out
    await untold(commenter, score)

    # the record says what each measure took
    taken = [(a, str(json.loads(d)["comment_id"]), json.loads(d)["credit_taken"]) for a, d in srv.db_rows(
        "SELECT action, detail FROM audit WHERE action IN ('resolve_report', 'remove_comment', 'review_reject')"
        " ORDER BY id")]
    assert taken == [("resolve_report", first, REPORT_UPHELD), ("remove_comment", first, 0),
                     ("resolve_report", first, 0), ("remove_comment", second, REPORT_UPHELD),
                     ("resolve_report", second, 0), ("resolve_report", held, REPORT_UPHELD),
                     ("review_reject", held, 0)]


async def test_one_held_post_costs_its_author_once_whether_rejected_or_reported_first(make_server, tmp_path):
    """A post the word lists held for review that one of its account's managers also reported (they see
    it held) cost its author ``penalty_report_upheld`` twice: once as ``decide`` ``reject`` took it,
    once as ``resolve`` upheld the report, whichever came first, two charges for one post nobody saw.
    One post is paid for once, as a message or a comment is: the second decision says it took nothing,
    no credit notice goes out for it, and its record entry says ``credit_taken`` 0."""
    srv = word_server(make_server, tmp_path)
    owner, editor = await srv.user(verify_id=True), await srv.user(verify_id=True)
    aid = (await owner.request("create_account", name="审核号", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    score = (await editor.request("me"))["credit_score"]

    async def held_and_reported(title: str) -> tuple[str, str, str]:
        """(post, its review item, the owner's report about it) for a post of the editor's held for review."""
        published = await editor.request("publish", account_id=aid, title=title, body="正文")
        assert published["held"] is True, published
        [item] = await open_items(srv)
        assert (item["kind"], str(item["post_id"])) == ("post", published["post_id"]), item
        rid = (await owner.request("report", target_type="post", post_id=published["post_id"],
                                   reason="诈骗"))["report_id"]
        return published["post_id"], str(item["item_id"]), str(rid)

    # rejected in review, then the report made while it was held upheld: the rejection took the points
    first, item, rid = await held_and_reported("刷单返利 一")
    out = await admin_ok(srv, "decide", item, "--decision", "reject", "--note", "诈骗文章")
    assert "no credit taken" not in out, out
    score = await told(editor, -REPORT_UPHELD, "诈骗文章", score)
    out = await admin_ok(srv, "resolve", rid, "--outcome", "upheld", "--note", "属实")
    assert f"no credit taken from {editor.username}: it was already taken for post {first}" in out, out
    assert (await notice(owner, "report_result"))["outcome"] == "upheld"  # (the reporter is told as ever)
    await untold(editor, score)

    # the report upheld first, then the post rejected in review: the report took them
    second, item, rid = await held_and_reported("刷单返利 二")
    out = await admin_ok(srv, "resolve", rid, "--outcome", "upheld", "--note", "属实")
    assert "no credit taken" not in out, out
    score = await told_report(editor, score)
    out = await admin_ok(srv, "decide", item, "--decision", "reject", "--note", "诈骗文章")
    assert f"no credit taken from {editor.username}: it was already taken for post {second}" in out, out
    assert (await notice(editor, "content_removed"))["post_id"] == second  # (told it went, as ever)
    await untold(editor, score)

    # the record says what each decision took
    taken = [(a, str(json.loads(d)["post_id"]), json.loads(d)["credit_taken"]) for a, d in srv.db_rows(
        "SELECT action, detail FROM audit WHERE action IN ('resolve_report', 'review_reject') ORDER BY id")]
    assert taken == [("review_reject", first, REPORT_UPHELD), ("resolve_report", first, 0),
                     ("resolve_report", second, REPORT_UPHELD), ("review_reject", second, 0)]


async def told_report(client: Any, before: int) -> int:
    """The credit notice of an upheld report about ``client``: it names the report, not the note."""
    ev = await notice(client, "credit")
    assert (ev["delta"], ev["credit_score"]) == (-REPORT_UPHELD, before - REPORT_UPHELD) and ev["report_id"], ev
    return before - REPORT_UPHELD


async def account_told(client: Any, aid: str, delta: int, before: int, sanction_id: str | None,
                       reason: str | None) -> int:
    """The ``account_credit`` notice after a measure changed the account's score: its fields are the
    score and level the operator's ``accounts`` listing gives now."""
    ev = await notice(client, "account_credit")
    assert (ev["account_id"], ev["delta"], ev["credit_score"]) == (aid, delta, before + delta), ev
    assert (ev.get("sanction_id"), ev.get("reason")) == (sanction_id, reason), ev
    assert f"{before + delta} (level {ev['credit_level']})" in ev["text"], ev
    if reason is not None:
        assert reason in ev["text"]
    return before + delta


async def test_every_measure_that_changes_an_accounts_score_tells_its_owner_and_editors(make_server, tmp_path):
    """``suspend-account`` and ``remove-post`` take ``credit.penalty_sanction`` points from the account
    itself: its owner and editors get ``account_credit`` (the new score, its level, the change, the
    operator's reason and the sanction that took them), after the measure's own notice, as they do for
    ``account-credit`` and for points given back. Measures that take nothing (``remove-term``, a freeze)
    send none."""
    srv = word_server(make_server, tmp_path)
    owner = await srv.user(verify_id=True)
    editor = await srv.user(verify_id=True)
    aid = (await owner.request("create_account", name="晨报", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    score = 100  # public_accounts.initial_credit's default

    async def sanction_of(kind: str) -> str:
        rows = [json.loads(x) for x in (await admin_ok(srv, "sanctions", "--account", aid)).splitlines()]
        return str([r for r in rows if r["kind"] == kind][-1]["id"])

    post = (await owner.request("publish", account_id=aid, title="标题", body="正文"))["post_id"]
    await admin_ok(srv, "suspend-account", aid, "--seconds", "600", "--reason", "违规转载")
    for c in (owner, editor):
        assert (await notice(c, "account_suspended"))["account_id"] == aid
    suspension = await sanction_of("suspend_account")
    for c in (owner, editor):
        await account_told(c, aid, -SANCTION, score, suspension, "违规转载")
    score -= SANCTION

    await admin_ok(srv, "remove-post", post, "--reason", "谣言")
    assert (await notice(owner, "post_removed"))["post_id"] == post
    sid = await sanction_of("remove_post")
    await account_told(owner, aid, -SANCTION, score, sid, "谣言")
    score = await account_told(editor, aid, -SANCTION, score, sid, "谣言")

    await admin_ok(srv, "account-credit", aid, "--delta", "5", "--reason", "表现良好")
    await account_told(editor, aid, 5, score, None, "表现良好")
    score = await account_told(owner, aid, 5, score, None, "表现良好")
    await admin_ok(srv, "lift", suspension, "--reason", "误判", "--restore-credit")
    score = await account_told(owner, aid, SANCTION, score, suspension, None)
    [row] = [json.loads(x) for x in (await admin_ok(srv, "accounts")).splitlines() if aid in x]
    assert row["credit_score"] == score == 100 - SANCTION - SANCTION + 5 + SANCTION

    # what takes no points tells nothing about credit
    owner.drain_events()
    await owner.request("publish", account_id=aid, title="明天停水", body="正文")
    await admin_ok(srv, "remove-term", "明天停水", "--reason", "谣言")
    await notice(owner, "post_removed")
    await admin_ok(srv, "freeze-category", "culture", "--accounts", "--seconds", "60", "--reason", "突发")
    await notice(owner, "account_suspended")
    await asyncio.sleep(0.3)
    assert not [e for e in owner.drain_events() if e.get("ev") == "notice" and e.get("kind") == "account_credit"]
