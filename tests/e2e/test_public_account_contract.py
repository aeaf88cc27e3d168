"""Public accounts against the wire contract, as an outside client developer reads it (audit of
the public-account section): error codes for every bad input whatever its size, what a report may
name, which labels an operator may grant, replies, and the identity rules for posting; through a
real server on both backends."""

from __future__ import annotations

import asyncio
import json

import pytest

from governance.public_accounts import org_check_char
from tests.e2e.admin_helpers import admin_ok, admin_refused, notice

REVIEW_WORDS = "集会\n"
CONFIG = """
[[content.lists]]
category = "rumour"
path = "review.txt"
action = "review"
"""


@pytest.fixture
def srv(tmp_path, make_server):
    d = tmp_path / "srv"
    d.mkdir()
    (d / "review.txt").write_text(REVIEW_WORDS, encoding="utf-8")
    return make_server(CONFIG)


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


def org_code(serial: int) -> str:
    first17 = f"91310115MA{serial:07d}"
    return first17 + org_check_char(first17)


async def new_account(owner, name, category="culture", **kw):
    args = {"name": name, "category": category, "intro": "", "subject_type": "individual", **kw}
    return (await owner.request("create_account", **args))["account_id"]


async def close_all(*clients):
    for c in clients:
        await c.close()


async def test_a_name_org_name_or_title_too_long_is_too_large_at_any_length(srv):
    """``too_large`` names a text over its limit: an account name over 30 characters, an org_name
    over 100, a title over max_title_chars, however long (the decoder's 256 is no second limit
    with another code)."""
    owner = await srv.user(verify_id=True)
    for n in (31, 257, 5000):
        assert code(await owner.call("create_account", name="名" * n, category="culture", intro="",
                                     subject_type="individual")) == "too_large", n
    for n in (101, 300):
        refused = await owner.call("create_account", name="某机构", category="culture", intro="",
                                   subject_type="organization", org_name="机" * n, org_code=org_code(1))
        assert code(refused) == "too_large" and refused["field"] == "org_name", n
    aid = await new_account(owner, "Long Titles")
    assert code(await owner.call("update_account", account_id=aid, name="n" * 300)) == "too_large"
    for n in (129, 300, 10_000):
        assert code(await owner.call("publish", account_id=aid, title="t" * n, body="b")) == "too_large", n
    assert (await owner.request("account_info", account_id=aid))["name"] == "Long Titles"
    assert (await owner.request("posts", account_id=aid))["posts"] == []
    await close_all(owner)


async def test_a_report_names_only_what_the_reporter_can_see(srv):
    """A post id or comment id that names nothing the caller may see is ``not_found``, in ``report``
    as in ``read_post`` and ``comments``: a stranger cannot learn by reporting that a held post,
    someone else's held comment or a hidden comment exists. Who sees them may report them."""
    owner = await srv.user(verify_id=True)
    editor, author, stranger = await srv.user(verify_id=True), await srv.user(), await srv.user()
    aid = await new_account(owner, "Reportable")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    held_post = await owner.request("publish", account_id=aid, title="周末", body="有人组织集会")
    assert held_post["held"] is True
    review_post = (await owner.request("publish", account_id=aid, title="r", body="b", comments="review"))["post_id"]
    open_post = (await owner.request("publish", account_id=aid, title="o", body="b"))["post_id"]
    held_comment = (await author.request("comment", post_id=review_post, text="等审核"))["comment_id"]
    hidden = (await author.request("comment", post_id=open_post, text="藏起来"))["comment_id"]
    await owner.request("moderate_comment", post_id=open_post, comment_id=hidden, action="hide")

    def report(client, kind, **args):
        return client.call("report", target_type=kind, reason="spam", **args)

    assert code(await stranger.call("read_post", post_id=held_post["post_id"])) == "not_found"
    assert code(await report(stranger, "post", post_id=held_post["post_id"])) == "not_found"
    assert code(await report(stranger, "comment", comment_id=held_comment)) == "not_found"
    assert code(await report(stranger, "comment", comment_id=hidden)) == "not_found"
    assert code(await report(author, "comment", comment_id=hidden)) == "not_found"  # hidden from its author too
    # those who see them may report them: the managers, and the author of a held comment
    assert code(await report(editor, "post", post_id=held_post["post_id"])) == "ok"
    assert code(await report(editor, "comment", comment_id=hidden)) == "ok"
    assert code(await report(author, "comment", comment_id=held_comment)) == "ok"
    # a comment of a deleted post is seen by nobody any more
    visible = (await author.request("comment", post_id=open_post, text="看得见"))["comment_id"]
    await owner.request("delete_post", post_id=open_post)
    assert code(await report(stranger, "comment", comment_id=visible)) == "not_found"
    assert srv.db_rows("SELECT COUNT(*) FROM reports WHERE reporter_id = ?", stranger.user_id) == [(0,)]
    await close_all(owner, editor, author, stranger)


async def test_the_government_licence_is_for_organisations_only(srv):
    """P4: only an organisation may open a ``government`` account, and the platform cannot label a
    person's account ``government`` either (exit 2, nothing changes); an organisation's may be."""
    person = await srv.user(verify_id=True)
    reader = await srv.user()
    mine = await new_account(person, "个人随笔")
    err = await admin_refused(srv, "license-account", mine, "--government", "--reason", "e2e")
    assert "person" in err
    assert (await reader.request("account_info", account_id=mine))["labels"] == ["verified"]
    assert srv.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'license_account'") == [(0,)]
    org = await new_account(person, "某区卫健委", subject_type="organization", org_name="某区卫生健康委员会",
                            org_code=org_code(2))
    await admin_ok(srv, "license-account", org, "--government", "--reason", "e2e")
    assert (await reader.request("account_info", account_id=org))["labels"] == ["organization", "government"]
    await close_all(person, reader)


async def test_replies_go_to_comments_everyone_sees_or_ones_own_held_one(srv):
    """``reply_to`` takes a visible comment of the same post, or the caller's own held one; a hidden
    comment and someone else's held one are ``not_found`` even for the account's managers (a reply
    must not point its readers at a comment they cannot see)."""
    owner = await srv.user(verify_id=True)
    fan = await srv.user()
    aid = await new_account(owner, "Replies")
    open_post = (await owner.request("publish", account_id=aid, title="o", body="b"))["post_id"]
    review_post = (await owner.request("publish", account_id=aid, title="r", body="b", comments="review"))["post_id"]
    hidden = (await fan.request("comment", post_id=open_post, text="x"))["comment_id"]
    await owner.request("moderate_comment", post_id=open_post, comment_id=hidden, action="hide")
    held = (await fan.request("comment", post_id=review_post, text="等审核"))["comment_id"]
    assert code(await owner.call("comment", post_id=open_post, text="re", reply_to=hidden)) == "not_found"
    assert code(await owner.call("comment", post_id=review_post, text="re", reply_to=held)) == "not_found"
    own = await fan.request("comment", post_id=review_post, text="补充", reply_to=held)
    assert own["held"] is True
    await owner.request("moderate_comment", post_id=review_post, comment_id=held, action="approve")
    assert code(await owner.call("comment", post_id=review_post, text="谢谢", reply_to=held)) == "ok"
    await close_all(owner, fan)


async def test_publishing_and_commenting_need_an_id_when_the_platform_says_so(tmp_path, make_server, monkeypatch):
    """``identity.require_id_to_post``: a commenter with only a verified phone gets
    ``verification_required``, as for ``send`` (an editor needs a verified identity whatever the
    setting: ``set_editor`` refuses one without it)."""
    monkeypatch.setenv("QUNGUAN_IDENTITY_REQUIRE_ID_TO_POST", "true")
    srv = make_server()
    owner = await srv.user(verify_id=True)
    editor, reader = await srv.user(), await srv.user()
    aid = await new_account(owner, "Verified Only")
    refused = await owner.call("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    assert code(refused) == "verification_required", refused
    assert code(await editor.call("publish", account_id=aid, title="t", body="b")) == "forbidden"  # not an editor
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    assert code(await reader.call("comment", post_id=post, text="hi")) == "verification_required"
    assert code(await owner.call("comment", post_id=post, text="hi")) == "ok"
    await close_all(owner, editor, reader)


async def test_a_closed_account_takes_no_management_but_can_be_reported(srv):
    """After ``close_account`` its managers cannot delete posts or moderate comments (``forbidden``,
    like every act on it), its posts and comments stay stored, and a post of it can still be
    reported (P15: supervision goes on after a cancellation)."""
    owner = await srv.user(verify_id=True)
    fan = await srv.user()
    aid = await new_account(owner, "Closing Down")
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    cmt = (await fan.request("comment", post_id=post, text="c"))["comment_id"]
    await owner.request("close_account", account_id=aid)
    assert code(await owner.call("delete_post", post_id=post)) == "forbidden"
    assert code(await owner.call("moderate_comment", post_id=post, comment_id=cmt, action="hide")) == "forbidden"
    assert code(await fan.call("report", target_type="post", reason="spam", post_id=post)) == "ok"
    assert code(await fan.call("report", target_type="account", reason="spam", account_id=aid)) == "ok"
    assert (await owner.request("my_accounts"))["accounts"][0]["status"] == "closed"
    assert srv.db_rows("SELECT status FROM comments WHERE comment_id = ?", int(cmt)) == [("visible",)]
    await close_all(owner, fan)


async def test_only_the_platform_grants_a_reserved_name(tmp_path, make_server):
    """``reserved_names``: names (and names containing them) only an operator can grant. Users get
    ``forbidden``; ``grant-name`` gives one to the account of the subject entitled to it (the
    organisation's name too), under the other rules: free, within length, through the word lists,
    recorded, and told to the account's owner and editors."""
    d = tmp_path / "srv"
    d.mkdir()
    (d / "reserved.txt").write_text("新华\n", encoding="utf-8")
    (d / "block.txt").write_text("赌场\n", encoding="utf-8")
    srv = make_server('[public_accounts]\nreserved_names = "reserved.txt"\n'
                      '[[content.lists]]\ncategory = "gambling"\npath = "block.txt"\naction = "block"\n')
    owner = await srv.user(verify_id=True)
    other = await srv.user(verify_id=True)
    assert code(await owner.call("create_account", name="新华社", category="news", intro="",
                                 subject_type="organization", org_name="新华通讯社", org_code=org_code(3))) \
        == "forbidden"
    aid = await new_account(owner, "通讯社筹备", category="news", subject_type="organization",
                            org_name="国家通讯社", org_code=org_code(3))
    mine = await new_account(other, "个人号")
    args = ("--reason", "已核对机构资质")
    await admin_refused(srv, "grant-name", aid, *args)  # nothing to grant
    await admin_refused(srv, "grant-name", aid, "--name", "普通名字", *args)  # not reserved: update_account
    await admin_refused(srv, "grant-name", aid, "--name", "新华" + "名" * 30, *args)  # too long
    await admin_refused(srv, "grant-name", aid, "--name", "新华赌场", *args)  # the word lists still apply
    # nothing visible: a readable reason naming the option (the names rule, before any key is made)
    for blank, why in (("\u0301", "needs at least one visible character"), ("\u200b新华", "invisible formatting"),
                       ("   ", "1 to")):
        err = await admin_refused(srv, "grant-name", aid, "--name", blank, *args)
        assert "--name: name" in err and why in err, err
    await admin_refused(srv, "grant-name", mine, "--org-name", "新华通讯社", *args)  # a person's account
    await admin_refused(srv, "grant-name", aid, "--name", "个人号", *args)  # taken (and not reserved)
    # not while the platform suspends the account: what it shows stays as it was until the end
    await admin_ok(srv, "suspend-account", aid, "--seconds", "600", "--reason", "核查")
    assert "suspended" in await admin_refused(srv, "grant-name", aid, "--name", "新华社", *args)
    [row] = [json.loads(x) for x in (await admin_ok(srv, "sanctions", "--account", aid)).splitlines()]
    await admin_ok(srv, "lift", str(row["id"]), "--reason", "核查完毕")
    out = await admin_ok(srv, "grant-name", aid, "--name", "新华社", "--org-name", "新华通讯社", *args)
    assert aid in out
    ev = await notice(owner, "account_name_granted")
    assert ev["account_id"] == aid and "新华社" in ev["text"]
    info = await other.request("account_info", account_id=aid)
    assert (info["name"], info["org_name"]) == ("新华社", "新华通讯社")
    # the granted name is the account's alone; its old name is free again; users still cannot take one
    assert code(await other.call("create_account", name="新华社", category="culture", intro="",
                                 subject_type="individual")) == "forbidden"
    await admin_refused(srv, "grant-name", mine, "--name", "新 华 社", *args)
    assert code(await other.call("update_account", account_id=mine, name="新华日报")) == "forbidden"
    await new_account(other, "通讯社筹备")
    assert srv.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'grant_name'") == [(1,)]
    # stored: a restart keeps the name and its key
    await srv.stopped()
    srv.start()
    again = await srv.client()
    await again.login(owner.username, "password123")
    assert (await again.request("account_info", account_id=aid))["name"] == "新华社"
    await close_all(owner, other, again)


async def test_a_held_post_does_not_exist_for_a_stranger_who_tries_to_manage_it(srv):
    """``delete_post`` and ``moderate_comment`` by someone who does not manage the account: a visible
    post gets ``forbidden``, a held one ``not_found`` (as in ``read_post``: they cannot see it, and
    the code must not tell them it is there)."""
    owner = await srv.user(verify_id=True)
    stranger = await srv.user()
    aid = await new_account(owner, "Held Back")
    held = (await owner.request("publish", account_id=aid, title="周末", body="有人组织集会"))["post_id"]
    shown = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    mine = (await owner.request("comment", post_id=held, text="c"))["comment_id"]
    assert code(await stranger.call("delete_post", post_id=held)) == "not_found"
    assert code(await stranger.call("moderate_comment", post_id=held, comment_id=mine, action="hide")) == "not_found"
    assert code(await stranger.call("delete_post", post_id=shown)) == "forbidden"
    assert srv.db_rows("SELECT status FROM comments WHERE comment_id = ?", int(mine)) == [("visible",)]
    await owner.request("delete_post", post_id=held)  # its managers still may
    await close_all(owner, stranger)


async def test_restating_the_name_shown_is_no_new_choice_of_it(tmp_path, make_server):
    """An ``update_account`` that sends the name the account shows (a client sending the whole form)
    used to be judged as choosing it anew: a name the platform granted from the reserved list was
    ``forbidden`` to its own account, and the intro sent with it lost; a name the review list has
    caught since was recorded against the owner, who wrote nothing new. Only a new name is."""
    from tests.e2e.harness import restart

    d = tmp_path / "srv"
    d.mkdir()
    (d / "reserved.txt").write_text("新华\n", encoding="utf-8")
    (d / "review.txt").write_text("集会\n", encoding="utf-8")
    srv = make_server('[public_accounts]\nreserved_names = "reserved.txt"\n' + CONFIG)
    owner = await srv.user(verify_id=True)
    granted = await new_account(owner, "通讯社筹备")
    spring = await new_account(owner, "春季茶话")
    await admin_ok(srv, "grant-name", granted, "--name", "新华社", "--reason", "已核对资质")
    await owner.request("update_account", account_id=granted, name="新华社", intro="新的简介")
    info = await owner.request("account_info", account_id=granted)
    assert (info["name"], info["intro"]) == ("新华社", "新的简介")
    assert code(await owner.call("update_account", account_id=granted, name="新华日报")) == "forbidden"
    # The review list catches the name shown after it was chosen: restating it holds and records nothing.
    (d / "review.txt").write_text("集会\n茶话\n", encoding="utf-8")
    [owner] = await restart(srv, owner)
    reply = await owner.request("update_account", account_id=spring, name="春季茶话", intro="每周一聚")
    assert not reply.get("held"), reply
    info = await owner.request("account_info", account_id=spring)
    assert (info["name"], info["intro"]) == ("春季茶话", "每周一聚")
    assert code(await owner.call("update_account", account_id=spring, name="茶话会")) == "ok"  # new: held
    # (the entries are written after the reply: the new name's shows that the restated one's would have)
    for _ in range(50):
        flagged = srv.db_rows("SELECT detail FROM audit WHERE action = 'content_flagged' AND target_id = ?",
                              owner.user_id)
        if flagged:
            break
        await asyncio.sleep(0.1)
    assert len(flagged) == 1 and "茶话" in str(flagged), flagged  # the new name's alone
    await owner.close()


async def test_a_taken_name_is_refused_before_the_word_lists_charge_for_the_intro(tmp_path, make_server):
    """Every other refusal of ``create_account`` comes before the word lists, so that a request
    refused anyway costs no credit; the taken name came after them, so a blocked word in the intro
    of a request for a taken name lowered its author's credit."""
    d = tmp_path / "srv"
    d.mkdir()
    (d / "block.txt").write_text("赌场\n", encoding="utf-8")
    srv = make_server('[[content.lists]]\ncategory = "gambling"\npath = "block.txt"\naction = "block"\n')
    first, second = await srv.user(verify_id=True), await srv.user(verify_id=True)
    await new_account(first, "茶馆")
    before = (await second.request("me"))["credit_score"]
    assert code(await second.call("create_account", name="茶馆", category="culture", intro="赌场",
                                  subject_type="individual")) == "conflict"
    assert (await second.request("me"))["credit_score"] == before
    assert code(await second.call("create_account", name="茶馆二", category="culture", intro="赌场",
                                  subject_type="individual")) == "content_blocked"
    assert (await second.request("me"))["credit_score"] < before
    await close_all(first, second)
