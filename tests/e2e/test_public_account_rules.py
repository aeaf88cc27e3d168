"""Public accounts end to end, both backends: a suspension stops changes to what the account shows
(P13 suspension of updates), editors need a verified identity like the owner (P6), and the mass
emergency tools reach posts and comments (P5 with G5)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.admin_helpers import admin_ok, notice
from tests.e2e.harness import close_all, new_id_number, open_group, restart


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


async def new_account(owner, name, category="culture"):
    return (await owner.request("create_account", name=name, category=category, intro="简介",
                                subject_type="individual"))["account_id"]




@pytest.fixture
def srv(make_server):
    return make_server()


# -- P13: a suspension of updates covers the account's name and introduction ------------------------
async def test_a_suspended_account_cannot_change_its_name_or_intro_until_the_suspension_ends(srv):
    """``suspend-account`` suspends updates: not only ``publish`` but ``update_account`` is ``forbidden``
    (name and intro both, saying why), and nothing changes; closing the account stays allowed. Once
    the suspension is lifted the owner edits again."""
    owner = await srv.user(verify_id=True)
    aid = await new_account(owner, "停更号")
    spare = await new_account(owner, "关门号")
    await admin_ok(srv, "suspend-account", aid, "--seconds", "3600", "--reason", "违规转载")
    await notice(owner, "account_suspended")
    for change in ({"name": "改名号"}, {"intro": "新简介"}, {"name": "改名号", "intro": "新简介"}):
        refused = await owner.call("update_account", account_id=aid, **change)
        assert code(refused) == "forbidden" and "suspended" in refused["reason"], (change, refused)
    info = await owner.request("account_info", account_id=aid)
    assert (info["name"], info["intro"], info["status"]) == ("停更号", "简介", "suspended")
    # the refused name was never taken: another account may have it
    await owner.request("update_account", account_id=spare, name="改名号")

    [susp] = [json.loads(x) for x in (await admin_ok(srv, "sanctions", "--account", aid)).splitlines()
              if json.loads(x)["kind"] == "suspend_account"]
    await admin_ok(srv, "lift", str(susp["id"]), "--reason", "申诉成立")
    await owner.request("update_account", account_id=aid, intro="新简介")
    assert (await owner.request("account_info", account_id=aid))["intro"] == "新简介"

    await admin_ok(srv, "suspend-account", spare, "--seconds", "3600", "--reason", "违规转载")
    await owner.request("close_account", account_id=spare)  # closing stays allowed while suspended
    assert (await owner.request("account_info", account_id=spare))["status"] == "closed"
    await owner.close()


# -- P6: editors publish in the account's name, so they need a verified identity -----------------------
async def test_only_a_user_with_a_verified_identity_becomes_an_editor(srv):
    owner = await srv.user(verify_id=True)
    plain, verified = await srv.user(), await srv.user(verify_id=True)
    aid = await new_account(owner, "实名编辑")
    refused = await owner.call("set_editor", account_id=aid, user_id=plain.user_id, on=True)
    assert code(refused) == "verification_required" and "verified identity" in refused["reason"], refused
    assert (await plain.request("my_accounts"))["accounts"] == []
    assert code(await plain.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    assert srv.db_rows("SELECT COUNT(*) FROM account_editors WHERE account_id = ?", aid) == [(0,)]

    await owner.request("set_editor", account_id=aid, user_id=verified.user_id, on=True)
    assert (await verified.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    await plain.request("verify_identity", legal_name="张三", id_number=new_id_number())
    await owner.request("set_editor", account_id=aid, user_id=plain.user_id, on=True)  # verified now
    assert (await plain.request("publish", account_id=aid, title="t2", body="b"))["post_id"]
    await close_all(owner, plain, verified)


async def test_an_editor_without_a_verified_identity_cannot_publish(srv):
    """An editor made before editors had to be verified (the row stored as ``set_editor`` stored it
    then) stays an editor but cannot ``publish`` (``verification_required``) until they verify;
    the owner publishes as before."""
    owner = await srv.user(verify_id=True)
    editor = await srv.user()
    aid = await new_account(owner, "老编辑")
    srv.db_rows("INSERT INTO account_editors (account_id, user_id, added_at) VALUES (?, ?, ?)",
                aid, editor.user_id, 1)
    owner, editor = await restart(srv, owner, editor)
    assert (await editor.request("my_accounts"))["accounts"][0]["role"] == "editor"
    refused = await editor.call("publish", account_id=aid, title="t", body="b")
    assert code(refused) == "verification_required" and "verified identity" in refused["reason"], refused
    assert srv.db_rows("SELECT COUNT(*) FROM posts WHERE account_id = ?", aid) == [(0,)]
    assert (await owner.request("publish", account_id=aid, title="owner", body="b"))["post_id"]
    await editor.request("verify_identity", legal_name="张三", id_number=new_id_number())
    assert (await editor.request("publish", account_id=aid, title="editor", body="b"))["post_id"]
    await close_all(owner, editor)


# -- P5 with G5: the mass emergency tool reaches posts and comments -------------------------------------
async def test_remove_term_takes_down_shown_posts_and_comments_containing_it(srv):
    """``remove-term`` takes down, besides group messages, every shown post whose title or body
    contains the term and every live comment that does (normalised as for messages: spaces do not
    hide it), each as ``remove-post`` / ``remove-comment`` would: kept for the record, gone for
    readers, the owner and the commenter told, the sanctions and record entries written; without
    the one-item commands' credit penalties, as for messages (an emergency ban of a term)."""
    owner = await srv.user(verify_id=True)
    commenter, reader = await srv.user(), await srv.user()
    aid = await new_account(owner, "谣言号")
    by_body = (await owner.request("publish", account_id=aid, title="通知", body="据说明天停水，请储水"))["post_id"]
    by_title = (await owner.request("publish", account_id=aid, title="明天 停水", body="详情"))["post_id"]
    keep = (await owner.request("publish", account_id=aid, title="天气", body="晴"))["post_id"]
    bad = (await commenter.request("comment", post_id=keep, text="听说明天停水"))["comment_id"]
    fine = (await commenter.request("comment", post_id=keep, text="好天气"))["comment_id"]
    gid = await open_group(owner)
    await owner.send(gid, "明天停水吗")
    before = (await commenter.request("me"))["credit_score"]

    out = await admin_ok(srv, "remove-term", "明天停水", "--reason", "谣言")
    assert "removed 1 messages, 2 posts and 1 comments" in out, out
    removed = {(await notice(owner, "post_removed"))["post_id"] for _ in range(2)}
    assert removed == {by_body, by_title}
    told = await notice(commenter, "content_removed")
    assert (told["account_id"], told["post_id"], told["comment_id"]) == (aid, keep, bad) and "谣言" in told["text"]

    assert [p["post_id"] for p in (await reader.request("posts", account_id=aid))["posts"]] == [keep]
    assert code(await reader.call("read_post", post_id=by_body)) == "not_found"
    for who in (reader, owner, commenter):
        assert [c["comment_id"] for c in (await who.request("comments", post_id=keep))["comments"]] == [fine]
    assert (await commenter.request("me"))["credit_score"] == before  # no penalty, as for messages
    # kept for the record, as the one-item commands keep them
    assert srv.db_rows("SELECT body, removed_reason FROM posts WHERE post_id = ?", int(by_body)) == [
        ("据说明天停水，请储水", "谣言")]
    assert srv.db_rows("SELECT text, status FROM comments WHERE comment_id = ?", int(bad)) == [
        ("听说明天停水", "rejected")]
    kinds = [json.loads(x)["kind"] for x in (await admin_ok(srv, "sanctions", "--account", aid)).splitlines()]
    assert kinds.count("remove_post") == 2
    [row] = [json.loads(x) for x in (await admin_ok(srv, "accounts")).splitlines()]
    assert row["credit_score"] == 100  # the initial score: no penalty, as for messages
    entries = {(action, json.loads(detail).get("post_id"), json.loads(detail).get("comment_id"))
               for action, detail in srv.db_rows("SELECT action, detail FROM audit WHERE action IN"
                                                 " ('remove_post', 'remove_comment')")}
    assert entries == {("remove_post", int(by_body), None), ("remove_post", int(by_title), None),
                       ("remove_comment", int(keep), int(bad))}
    assert all(json.loads(d)["term"] == "明天停水" for (d,) in srv.db_rows(
        "SELECT detail FROM audit WHERE action IN ('remove_post', 'remove_comment', 'remove_term')"))
    # (the service-wide entry; each group it took messages from has an entry of its own too)
    [(detail,)] = srv.db_rows("SELECT detail FROM audit WHERE action = 'remove_term' AND group_id IS NULL")
    assert (sorted(json.loads(detail)["posts"]), json.loads(detail)["comments"]) == (
        sorted([int(by_body), int(by_title)]), [int(bad)])

    # nothing is left to take down: a second run removes nothing and penalises nobody again
    assert "removed 0 messages, 0 posts and 0 comments" in await admin_ok(srv, "remove-term", "明天停水",
                                                                          "--reason", "谣言")
    await close_all(owner, commenter, reader)


async def test_a_name_that_shows_as_a_reserved_or_taken_one_is_refused(tmp_path, make_server):
    """Account names are compared without what shows as nothing: a variation selector (a mark that
    draws no glyph) kept in the key let a user take a name that shows exactly as a reserved one, as
    another account's, or as a held account's stand-in (found by a review of public accounts). A
    reserved name is also matched as the word lists match, traditional characters as simplified."""
    from governance.public_accounts import org_check_char

    vs = "\ufe00"  # VARIATION SELECTOR-1
    d = tmp_path / "srv"
    d.mkdir()
    (d / "reserved.txt").write_text("新华\n", encoding="utf-8")
    srv = make_server('[public_accounts]\nreserved_names = "reserved.txt"\nmax_per_subject = 5\n')
    owner, other = await srv.user(verify_id=True), await srv.user(verify_id=True)
    first = await owner.request("create_account", name="Tea House", category="culture", intro="",
                                subject_type="individual")
    refusals = {}
    for label, name in (("reserved", "新" + vs + "华社"), ("traditional", "新華社"), ("taken", "Tea" + vs + " House"),
                        ("stand-in", "公众号" + vs + " " + first["account_id"])):
        refusals[label] = code(await other.call("create_account", name=name, category="culture", intro="",
                                                subject_type="individual"))
    org = "91310115MA0000003"
    refusals["org_name"] = code(await other.call(
        "create_account", name="通讯社筹备", category="culture", intro="", subject_type="organization",
        org_name="新" + vs + "华通讯社", org_code=org + org_check_char(org)))
    assert refusals == {"reserved": "forbidden", "traditional": "forbidden", "taken": "conflict",
                        "stand-in": "forbidden", "org_name": "forbidden"}
    await close_all(owner, other)
