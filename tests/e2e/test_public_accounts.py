"""Public accounts end to end (P4-P13): every op of the contract's table, and every refusal it names,
through a real server on both backends."""

from __future__ import annotations

import asyncio

import pytest

from governance.public_accounts import org_check_char
from tests.e2e.harness import close_all, new_id_number, restart

LEGAL_NAME = "张三"  # what ServerProcess.user(verify_id=True) verifies with
RESERVED = "新华\nOfficial Daily\n"
WORDS = {"block.txt": "赌场\n", "review.txt": "集会\n", "flag.txt": "彩票\n"}
CONFIG = """
[public_accounts]
max_editors = 2
reserved_names = "reserved.txt"
[[content.lists]]
category = "gambling"
path = "block.txt"
action = "block"
[[content.lists]]
category = "rumour"
path = "review.txt"
action = "review"
[[content.lists]]
category = "lottery"
path = "flag.txt"
action = "flag"
"""


def org_code(serial: int) -> str:
    first17 = f"91110108MA{serial:07d}"
    return first17 + org_check_char(first17)


@pytest.fixture
def srv(tmp_path, make_server, monkeypatch):
    """A server whose config has two editors at most, a reserved-name list and three word lists;
    one verified ID number may back two user accounts (for the shared per-subject cap)."""
    d = tmp_path / "srv"
    d.mkdir()
    (d / "reserved.txt").write_text(RESERVED, encoding="utf-8")
    for name, text in WORDS.items():
        (d / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("QUNGUAN_IDENTITY_MAX_ACCOUNTS_PER_ID", "2")
    return make_server(CONFIG)


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


async def new_account(owner, name, category="culture", **kw):
    args = {"name": name, "category": category, "intro": "关于我们", "subject_type": "individual", **kw}
    return (await owner.request("create_account", **args))["account_id"]


async def recorded(srv, actions, within=2.0):
    """Whether record entries with all of ``actions`` are stored within ``within`` seconds."""
    for _ in range(int(within / 0.05)):
        if set(actions) <= {a for (a,) in srv.db_rows("SELECT action FROM audit")}:
            return True
        await asyncio.sleep(0.05)
    return False


async def comment_event(client, comment_id):
    while True:
        ev = await client.next_event("comment")
        if ev["comment_id"] == comment_id:
            return ev




def kept_counts_agree(srv) -> None:
    """Each post's number of visible comments the database keeps (triggers on comments) is what a count
    of them gives."""
    rows = srv.db_rows("SELECT p.post_id, p.visible_comments, (SELECT COUNT(*) FROM comments c"
                       " WHERE c.post_id = p.post_id AND c.status = 'visible') FROM posts p")
    assert rows and all(kept == counted for _, kept, counted in rows), rows


async def test_create_info_and_who_may_create(srv):
    owner = await srv.user(verify_id=True)
    plain = await srv.user()
    aid = await new_account(owner, "茶馆日报")
    assert len(aid) >= 9 and aid.isdigit()
    info = await plain.request("account_info", account_id=aid)
    assert {k: info[k] for k in ("account_id", "name", "category", "intro", "subject_type", "labels",
                                 "credit_level", "subscriber_count", "status")} == {
        "account_id": aid, "name": "茶馆日报", "category": "culture", "intro": "关于我们",
        "subject_type": "individual", "labels": ["verified"], "credit_level": 3, "subscriber_count": 0,
        "status": "active"}
    assert "org_name" not in info and LEGAL_NAME not in repr(info)

    # not ID-verified; unknown category; a person naming an organisation; an organisation without its code
    assert code(await plain.call("create_account", name="x1", category="culture", intro="",
                                 subject_type="individual")) == "verification_required"
    assert code(await owner.call("create_account", name="x2", category="cooking", intro="",
                                 subject_type="individual")) == "bad_request"
    for extra in ({"org_name": "某公司"}, {"org_code": "x"}):  # (a person's account has no organisation)
        refused = await owner.call("create_account", name="x3", category="culture", intro="",
                                   subject_type="individual", **extra)
        assert code(refused) == "bad_request" and refused["field"] == next(iter(extra)), refused
    missing = await owner.call("create_account", name="x4", category="culture", intro="", org_name="某公司",
                               subject_type="organization")
    assert code(missing) == "bad_request" and missing["field"] == "org_code"  # the argument, not the wording
    # a bad unified social credit code (check character wrong; too short)
    good = org_code(1)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    for org in (bad, good[:10]):
        refused = await owner.call("create_account", name="x5", category="culture", intro="", org_code=org,
                                   subject_type="organization", org_name="北京某文化公司")
        assert code(refused) == "bad_request" and refused["field"] == "org_code"
    blank = await owner.call("create_account", name="x6", category="culture", intro="", org_code=good,
                             subject_type="organization", org_name="\u200b")
    assert code(blank) == "bad_request" and blank["field"] == "org_name"
    org_aid = await new_account(owner, "某文化", subject_type="organization", org_name="北京某文化公司", org_code=good)
    org_info = await plain.request("account_info", account_id=org_aid)
    assert org_info["org_name"] == "北京某文化公司" and org_info["subject_type"] == "organization"
    assert LEGAL_NAME not in repr(org_info)
    assert code(await plain.call("account_info", account_id="999999999")) == "not_found"
    assert code(await plain.call("account_info", account_id="0123")) == "bad_request"
    await close_all(owner, plain)


async def test_names_taken_reserved_and_screened(srv):
    owner = await srv.user(verify_id=True)
    other = await srv.user(verify_id=True)
    await new_account(owner, "Tea House")
    for variant in ("teahouse", "TEA  HOUSE", "Ｔｅａ Ｈｏｕｓｅ", "tea\u3000house"):
        assert code(await other.call("create_account", name=variant, category="culture", intro="",
                                     subject_type="individual")) == "conflict", variant
    # reserved names, and names containing them, ignoring case, width and spaces
    for name in ("新华", "新华早报", "official daily", "The ＯＦＦＩＣＩＡＬ Daily news"):
        assert code(await other.call("create_account", name=name, category="culture", intro="",
                                     subject_type="individual")) == "forbidden", name
    # the prohibited-content filter on name and intro
    assert code(await other.call("create_account", name="赌场之家", category="culture", intro="",
                                 subject_type="individual")) == "content_blocked"
    assert code(await other.call("create_account", name="好名字", category="culture", intro="来赌场",
                                 subject_type="individual")) == "content_blocked"
    # A request refused anyway is refused for that, and its listed words cost nothing: every other
    # check comes before the word lists (a blocked name with a wrong category cost two points).
    score = (await other.request("me"))["credit_score"]
    for args, refused in (({"category": "no-such"}, "bad_request"),
                          ({"category": "government"}, "forbidden"),
                          ({"category": "culture", "intro": "x" * 501}, "too_large"),
                          ({"category": "culture", "subject_type": "organization", "org_name": "某公司"},
                           "bad_request")):
        got = await other.call("create_account", **{"name": "赌场之家", "intro": "", "subject_type": "individual",
                                                    **args})
        assert code(got) == refused, (args, got)
    assert (await other.request("me"))["credit_score"] == score
    # update_account: owner only, the same rules; the old name is free again afterwards
    aid = await new_account(other, "Second Shop")
    assert code(await owner.call("update_account", account_id=aid, intro="hi")) == "forbidden"
    assert code(await other.call("update_account", account_id=aid, name="TeaHouse")) == "conflict"
    assert code(await other.call("update_account", account_id=aid, name="新华书店")) == "forbidden"
    assert code(await other.call("update_account", account_id=aid)) == "bad_request"
    await other.request("update_account", account_id=aid, name="Third Shop", intro="新简介")
    info = await owner.request("account_info", account_id=aid)
    assert (info["name"], info["intro"]) == ("Third Shop", "新简介")
    await owner.request("create_account", name="second shop", category="culture", intro="", subject_type="individual")
    await close_all(owner, other)


async def test_cap_is_shared_by_every_user_account_of_one_person(srv):
    """Two user accounts verified with the same ID number share max_per_subject (2); closing one
    account frees its place. An organisation has a cap of its own, whoever opens its accounts."""
    number = new_id_number()
    a, b = await srv.user(), await srv.user()
    for c in (a, b):
        await c.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    first = await new_account(a, "Person One")
    await new_account(b, "Person Two")
    assert code(await a.call("create_account", name="Person Three", category="culture", intro="",
                             subject_type="individual")) == "create_cap_reached"
    assert code(await b.call("create_account", name="Person Three", category="culture", intro="",
                             subject_type="individual")) == "create_cap_reached"
    org = org_code(2)
    c, d, e = [await srv.user(verify_id=True) for _ in range(3)]
    for who, n in ((c, "Org One"), (d, "Org Two")):
        await new_account(who, n, subject_type="organization", org_name="某公司", org_code=org)
    assert code(await e.call("create_account", name="Org Three", category="culture", intro="", org_name="某公司",
                             subject_type="organization", org_code=org)) == "create_cap_reached"
    await a.request("close_account", account_id=first)
    await new_account(b, "Person Three")
    await close_all(a, b, c, d, e)


async def test_concurrent_creates_never_pass_the_cap(srv):
    number = new_id_number()
    clients = [await srv.user() for _ in range(2)]
    for c in clients:
        await c.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    extra = []
    for c in clients:  # more connections of the same two user accounts
        for _ in range(2):
            n = await srv.client()
            await n.login(c.username, "password123")
            extra.append(n)
    senders = [*clients, *extra][:5]
    replies = await asyncio.gather(*[
        s.call("create_account", name=f"Race {i}", category="culture", intro="", subject_type="individual")
        for i, s in enumerate(senders)])
    assert sorted(code(r) for r in replies) == ["create_cap_reached"] * 3 + ["ok"] * 2
    await close_all(*clients, *extra)


async def test_editors_roles_and_my_accounts(srv):
    owner = await srv.user(verify_id=True)
    e1, e2, e3 = [await srv.user(verify_id=True) for _ in range(3)]  # editors need a verified identity
    aid = await new_account(owner, "Editors Desk")
    assert code(await e1.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    unverified = await srv.user()  # (publishes in the account's name: needs a verified identity, P6)
    assert code(await owner.call("set_editor", account_id=aid, user_id=unverified.user_id, on=True)) == \
        "verification_required"
    await unverified.close()
    await owner.request("set_editor", account_id=aid, user_id=e1.user_id, on=True)
    await owner.request("set_editor", account_id=aid, user_id=e2.user_id, on=True)
    await owner.request("set_editor", account_id=aid, user_id=e2.user_id, on=True)  # already: nothing changes
    assert code(await owner.call("set_editor", account_id=aid, user_id=e3.user_id, on=True)) == "conflict"
    assert code(await e1.call("set_editor", account_id=aid, user_id=e3.user_id, on=True)) == "forbidden"
    assert code(await owner.call("set_editor", account_id=aid, user_id="u0000000000000000", on=True)) == "not_found"
    assert (await owner.request("my_accounts"))["accounts"] == [
        {"account_id": aid, "name": "Editors Desk", "role": "owner", "status": "active"}]
    assert (await e1.request("my_accounts"))["accounts"] == [
        {"account_id": aid, "name": "Editors Desk", "role": "editor", "status": "active"}]
    assert (await e1.request("publish", account_id=aid, title="by an editor", body="正文"))["post_id"]
    assert code(await e1.call("update_account", account_id=aid, intro="x")) == "forbidden"
    assert code(await e1.call("close_account", account_id=aid)) == "forbidden"
    await owner.request("set_editor", account_id=aid, user_id=e1.user_id, on=False)
    assert (await e1.request("my_accounts"))["accounts"] == []
    assert code(await e1.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    await owner.request("set_editor", account_id=aid, user_id=e3.user_id, on=True)  # a free place again
    await close_all(owner, e1, e2, e3)


async def test_the_store_refuses_an_editor_it_does_not_hold(srv):
    """Memory decides who manages an account, and the store decides again in the transaction of a
    post, a post's deletion and a comment's moderation (as it does for a group's managers): an
    editor's seat that memory kept after undos that ran out of order, but that the store does not
    hold, publishes, deletes and moderates nothing."""
    owner, editor, reader = await srv.user(verify_id=True), await srv.user(verify_id=True), await srv.user()
    aid = await new_account(owner, "Second Look")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    post_id = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    comment_id = (await reader.request("comment", post_id=post_id, text="好"))["comment_id"]
    # memory and the store part, as they would after those undos
    srv.db_rows("DELETE FROM account_editors WHERE account_id = ? AND user_id = ?", aid, editor.user_id)
    assert code(await editor.call("publish", account_id=aid, title="t2", body="b")) == "forbidden"
    assert code(await editor.call("moderate_comment", post_id=post_id, comment_id=comment_id,
                                  action="hide")) == "forbidden"
    assert code(await editor.call("delete_post", post_id=post_id)) == "forbidden"
    assert srv.db_rows("SELECT COUNT(*) FROM posts WHERE account_id = ? AND deleted_at IS NULL", aid) == [(1,)]
    assert srv.db_rows("SELECT status FROM comments WHERE comment_id = ?", int(comment_id)) == [("visible",)]
    assert code(await owner.call("moderate_comment", post_id=post_id, comment_id=comment_id, action="hide")) == "ok"
    assert code(await owner.call("delete_post", post_id=post_id)) == "ok"
    await close_all(owner, editor, reader)


async def test_posts_reach_subscribers_online_and_are_read_later(srv):
    owner = await srv.user(verify_id=True)
    fan, stranger, late = await srv.user(), await srv.user(), await srv.user()
    aid = await new_account(owner, "Morning Post")
    await fan.request("subscribe", account_id=aid)
    await late.request("subscribe", account_id=aid)
    await fan.request("subscribe", account_id=aid)  # twice: still one subscription
    assert (await stranger.request("account_info", account_id=aid))["subscriber_count"] == 2
    assert (await fan.request("my_subscriptions"))["accounts"] == [
        {"account_id": aid, "name": "Morning Post", "status": "active"}]
    await late.close()  # offline: reads posts later

    first = await owner.request("publish", account_id=aid, title="第一篇", body="早上好")
    assert first["comments"] == "open" and "held" not in first
    ev = await fan.next_event("post")
    assert ev == {"ev": "post", "account_id": aid, "post_id": first["post_id"], "title": "第一篇", "ts": first["ts"]}
    second = await owner.request("publish", account_id=aid, title="第二篇", body="晚上好", comments="closed")
    assert (await fan.next_event("post"))["post_id"] == second["post_id"]
    await asyncio.sleep(0.2)
    assert [e for e in stranger.drain_events() if e["ev"] == "post"] == []

    late = (await restart_client(srv, late))
    page = (await late.request("posts", account_id=aid))["posts"]
    assert [p["post_id"] for p in page] == [second["post_id"], first["post_id"]]
    assert page[1] == {"post_id": first["post_id"], "account_id": aid, "title": "第一篇", "body": "早上好",
                       "ts": first["ts"], "reads": 0, "comment_count": 0, "comments": "open"}
    assert [p["post_id"] for p in (await late.request("posts", account_id=aid, before=second["post_id"]))["posts"]] \
        == [first["post_id"]]
    assert len((await late.request("posts", account_id=aid, limit=1))["posts"]) == 1

    # one read per user
    assert (await late.request("read_post", post_id=first["post_id"]))["reads"] == 1
    assert (await late.request("read_post", post_id=first["post_id"]))["reads"] == 1
    assert (await stranger.request("read_post", post_id=first["post_id"]))["reads"] == 2
    assert code(await stranger.call("read_post", post_id="99999999")) == "not_found"
    assert code(await stranger.call("read_post", post_id="nope")) == "not_found"

    # unsubscribe: no more events
    await fan.request("unsubscribe", account_id=aid)
    assert (await fan.request("my_subscriptions"))["accounts"] == []
    await owner.request("publish", account_id=aid, title="第三篇", body="…")
    await asyncio.sleep(0.2)
    assert [e for e in fan.drain_events() if e["ev"] == "post"] == []

    # delete_post: gone from posts and read_post; only the account's managers may delete
    assert code(await stranger.call("delete_post", post_id=first["post_id"])) == "forbidden"
    await owner.request("delete_post", post_id=first["post_id"])
    assert code(await owner.call("delete_post", post_id=first["post_id"])) == "not_found"
    assert code(await late.call("read_post", post_id=first["post_id"])) == "not_found"
    assert first["post_id"] not in [p["post_id"] for p in (await late.request("posts", account_id=aid))["posts"]]
    assert srv.db_rows("SELECT COUNT(*) FROM posts WHERE post_id = ?", int(first["post_id"])) == [(1,)]
    await close_all(owner, fan, stranger, late)


async def restart_client(srv, c):
    n = await srv.client()
    await n.login(c.username, "password123")
    n.username = c.username
    return n


async def test_a_bad_reply_is_refused_before_screening_and_a_closed_accounts_held_post_stays_unseen(srv):
    """A comment naming no comment to reply to is ``not_found`` before its text is screened (a
    blocked word there must not cost credit nor be recorded); once an account is closed, a reader
    who does not manage it still gets ``not_found`` for its held post, not a ``forbidden`` that
    would tell them it exists."""
    owner = await srv.user(verify_id=True)
    fan = await srv.user()
    aid = await new_account(owner, "Closing Soon")
    held = (await owner.request("publish", account_id=aid, title="周末", body="有人组织集会"))["post_id"]
    shown = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    first = (await fan.request("comment", post_id=shown, text="好"))["comment_id"]
    nowhere = str(int(first) + 1000)
    assert code(await fan.call("comment", post_id=shown, text="去赌场", reply_to=nowhere)) == "not_found"
    assert code(await fan.call("comment", post_id=shown, text="去赌场")) == "content_blocked"
    assert await recorded(srv, {"content_blocked"})  # (written after the reply: the later one waited for)
    assert srv.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'content_blocked'") == [(1,)]
    await owner.request("close_account", account_id=aid)
    assert code(await fan.call("read_post", post_id=held)) == "not_found"
    assert code(await fan.call("comments", post_id=held)) == "not_found"
    assert code(await fan.call("read_post", post_id=shown)) == "forbidden"
    assert code(await owner.call("read_post", post_id=held)) == "forbidden"
    await close_all(owner, fan)


async def test_nobody_may_take_the_name_a_held_account_shows(srv):
    owner = await srv.user(verify_id=True)
    refused = await owner.call("create_account", name="公众号 123456789", category="culture", intro="",
                               subject_type="individual")
    assert code(refused) == "forbidden" and "under review" in refused["reason"]
    aid = await new_account(owner, "Own Name")
    assert code(await owner.call("update_account", account_id=aid, name="公众号１２３")) == "forbidden"
    await close_all(owner)


async def test_post_text_is_screened(srv):
    owner = await srv.user(verify_id=True)
    fan = await srv.user()
    aid = await new_account(owner, "Screened")
    await fan.request("subscribe", account_id=aid)
    assert code(await owner.call("publish", account_id=aid, title="去赌场", body="x")) == "content_blocked"
    assert code(await owner.call("publish", account_id=aid, title="x", body="赌 场在这里")) == "content_blocked"
    held = await owner.request("publish", account_id=aid, title="周末", body="有人组织集会")
    assert held["held"] is True
    flagged = await owner.request("publish", account_id=aid, title="彩票开奖", body="号码")
    assert "held" not in flagged
    assert (await fan.next_event("post"))["post_id"] == flagged["post_id"]  # the held one never arrives
    assert [p["post_id"] for p in (await fan.request("posts", account_id=aid))["posts"]] == [flagged["post_id"]]
    assert code(await fan.call("read_post", post_id=held["post_id"])) == "not_found"
    mine = (await owner.request("posts", account_id=aid))["posts"]
    assert [(p["post_id"], p.get("held")) for p in mine] == [(flagged["post_id"], None), (held["post_id"], True)]
    # the filter's records are written after the reply, without holding it up: wait for them
    assert await recorded(srv, {"content_blocked", "post_held", "content_flagged"})
    # empty and over-long texts
    assert code(await owner.call("publish", account_id=aid, title="  ", body="x")) == "bad_request"
    assert code(await owner.call("publish", account_id=aid, title="t" * 129, body="x")) == "too_large"
    assert code(await owner.call("publish", account_id=aid, title="t", body="")) == "bad_request"
    await close_all(owner, fan)


async def test_comments_modes_moderation_and_who_sees_held_ones(srv):
    owner = await srv.user(verify_id=True)
    editor, reader, other = await srv.user(verify_id=True), await srv.user(), await srv.user()
    aid = await new_account(owner, "Talk Back")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    posted = [(await owner.request("publish", account_id=aid, title=mode, body="b", comments=mode))["post_id"]
              for mode in ("open", "review", "closed")]
    open_post, review_post, closed_post = posted

    c1 = await reader.request("comment", post_id=open_post, text="好文章")
    assert c1["held"] is False
    ev = await comment_event(editor, c1["comment_id"])
    assert ev["user"] == {"user_id": reader.user_id,
                                                                   "display_name": reader.username.title()}
    assert "held" not in ev and ev["account_id"] == aid and ev["post_id"] == open_post
    reply = await other.request("comment", post_id=open_post, text="同意", reply_to=c1["comment_id"])
    listed = (await other.request("comments", post_id=open_post))["comments"]
    assert [(c["comment_id"], c["text"], c.get("reply_to")) for c in listed] == [
        (reply["comment_id"], "同意", c1["comment_id"]), (c1["comment_id"], "好文章", None)]
    assert listed[1]["user"] == {"user_id": reader.user_id, "display_name": reader.username.title()}
    assert LEGAL_NAME not in repr(listed)
    assert (await other.request("read_post", post_id=open_post))["comment_count"] == 2

    # review mode: held, seen by its author and the account's managers only
    held = await reader.request("comment", post_id=review_post, text="等审核")
    assert held["held"] is True
    assert (await comment_event(owner, held["comment_id"]))["held"] is True
    assert [c["comment_id"] for c in (await other.request("comments", post_id=review_post))["comments"]] == []
    [mine] = (await reader.request("comments", post_id=review_post))["comments"]
    assert mine["held"] is True
    [seen] = (await editor.request("comments", post_id=review_post))["comments"]
    assert seen["comment_id"] == held["comment_id"] and seen["held"] is True
    assert code(await other.call("comment", post_id=review_post, text="reply", reply_to=held["comment_id"])) \
        == "not_found"
    assert code(await reader.call("moderate_comment", post_id=review_post, comment_id=held["comment_id"],
                                  action="approve")) == "forbidden"
    assert (await other.request("read_post", post_id=review_post))["comment_count"] == 0  # (held: not counted)
    await editor.request("moderate_comment", post_id=review_post, comment_id=held["comment_id"], action="approve")
    [now_public] = (await other.request("comments", post_id=review_post))["comments"]
    assert now_public["comment_id"] == held["comment_id"] and "held" not in now_public
    assert (await other.request("read_post", post_id=review_post))["comment_count"] == 1

    # hide and delete
    await owner.request("moderate_comment", post_id=open_post, comment_id=c1["comment_id"], action="hide")
    assert [c["comment_id"] for c in (await other.request("comments", post_id=open_post))["comments"]] == [
        reply["comment_id"]]
    assert (await other.request("read_post", post_id=open_post))["comment_count"] == 1
    assert [c.get("hidden") for c in (await owner.request("comments", post_id=open_post))["comments"]] == [None, True]
    await owner.request("moderate_comment", post_id=open_post, comment_id=reply["comment_id"], action="delete")
    assert code(await owner.call("moderate_comment", post_id=open_post, comment_id=reply["comment_id"],
                                 action="approve")) == "not_found"
    assert code(await owner.call("moderate_comment", post_id=review_post, comment_id=c1["comment_id"],
                                 action="hide")) == "not_found"
    assert srv.db_rows("SELECT status FROM comments WHERE comment_id = ?", int(reply["comment_id"])) == [("deleted",)]
    assert (await other.request("read_post", post_id=open_post))["comment_count"] == 0
    await owner.request("moderate_comment", post_id=open_post, comment_id=c1["comment_id"], action="approve")
    assert (await other.request("posts", account_id=aid))["posts"][-1]["comment_count"] == 1  # (a feed page too)

    # closed mode; screened comments; unknown posts
    assert code(await reader.call("comment", post_id=closed_post, text="x")) == "forbidden"
    assert code(await reader.call("comment", post_id=open_post, text="赌场")) == "content_blocked"
    screened = await reader.request("comment", post_id=open_post, text="明天集会吗")
    assert screened["held"] is True  # the filter asked the platform to look first
    assert code(await owner.call("moderate_comment", post_id=open_post, comment_id=screened["comment_id"],
                                 action="approve")) == "forbidden"
    assert code(await reader.call("comment", post_id="424242424", text="x")) == "not_found"
    assert code(await reader.call("comments", post_id="424242424")) == "not_found"
    kept_counts_agree(srv)
    srv.db_rows("DELETE FROM comments WHERE comment_id = ?", int(c1["comment_id"]))  # (as the purge deletes)
    kept_counts_agree(srv)
    await close_all(owner, editor, reader, other)


async def test_platform_states_gate_publishing_and_comments(srv):
    """An unlicensed news account, a suspended one, a restricted one and a low credit score: the
    states are set in the database (as the operator commands store them) and the server restarted."""
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    news = await new_account(owner, "Evening News", category="news")
    assert code(await owner.call("publish", account_id=news, title="t", body="b")) == "forbidden"
    other = await new_account(owner, "Side Notes")
    post = (await owner.request("publish", account_id=other, title="t", body="b"))["post_id"]
    srv.db_rows("UPDATE accounts SET labels = ? WHERE account_id = ?", '["news"]', news)
    srv.db_rows("UPDATE accounts SET comments_restricted = 1, credit_score = 70 WHERE account_id = ?", other)
    owner, reader = await restart(srv, owner, reader)

    assert (await reader.request("account_info", account_id=news))["labels"] == ["verified", "news"]
    assert (await owner.request("publish", account_id=news, title="licensed", body="b"))["post_id"]
    info = await reader.request("account_info", account_id=other)
    assert (info["status"], info["credit_level"]) == ("restricted", 2)
    assert code(await reader.call("comment", post_id=post, text="hello")) == "forbidden"
    # credit level 2: one post an hour (the last one was before the restart)
    refused = await owner.call("publish", account_id=other, title="again", body="b")
    assert refused["code"] == "rate_limited" and 0 < refused["retry_after_ms"] <= 3_600_000

    srv.db_rows("UPDATE accounts SET suspended_until = ?, credit_score = 10 WHERE account_id = ?",
                2**53, news)
    owner, reader = await restart(srv, owner, reader)
    assert (await reader.request("account_info", account_id=news))["status"] == "suspended"
    assert code(await owner.call("publish", account_id=news, title="t", body="b")) == "forbidden"
    # credit level 1: no comments on new posts
    srv.db_rows("UPDATE accounts SET suspended_until = 0 WHERE account_id = ?", news)
    srv.db_rows("UPDATE posts SET ts = ts - ? WHERE account_id = ?", 2 * 86_400_000, news)
    owner, reader = await restart(srv, owner, reader)
    low = await owner.request("publish", account_id=news, title="quiet", body="b", comments="open")
    assert low["comments"] == "closed"
    assert code(await reader.call("comment", post_id=low["post_id"], text="x")) == "forbidden"
    await close_all(owner, reader)


async def admin(srv, *args):
    rc, out, err = await srv.admin(*args, "--reason", "e2e test")
    assert rc == 0, err


async def test_operator_measures_gate_publishing_and_comments(srv):
    """The platform's commands (qunguan admin) take effect on the user-facing ops at once."""
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    news = await new_account(owner, "Daily Wire", category="news")
    assert code(await owner.call("publish", account_id=news, title="t", body="b")) == "forbidden"
    await admin(srv, "license-account", news, "--news")
    post = (await owner.request("publish", account_id=news, title="licensed", body="b"))["post_id"]
    await reader.request("comment", post_id=post, text="first")
    await admin(srv, "restrict-account", news, "--comments", "off")
    assert (await reader.request("account_info", account_id=news))["status"] == "restricted"
    refused = await reader.call("comment", post_id=post, text="second")
    assert (code(refused), refused.get("cause")) == ("forbidden", "platform"), refused  # (why, for a client)
    assert (await owner.request("publish", account_id=news, title="still publishing", body="b"))["post_id"]
    await admin(srv, "suspend-account", news, "--seconds", "3600")
    assert (await reader.request("account_info", account_id=news))["status"] == "suspended"
    assert code(await owner.call("publish", account_id=news, title="t", body="b")) == "forbidden"
    # credit level 1 (score 5): a first post is allowed, without comments (another person's account:
    # one the same owner opened now would carry the suspension above)
    other = await srv.user(verify_id=True)
    fresh = await new_account(other, "Low Credit")
    await admin(srv, "account-credit", fresh, "--delta", "-95")
    assert (await reader.request("account_info", account_id=fresh))["credit_level"] == 1
    low = await other.request("publish", account_id=fresh, title="quiet", body="b")
    assert low["comments"] == "closed"
    assert code(await other.call("publish", account_id=fresh, title="again", body="b")) == "rate_limited"
    await close_all(owner, reader, other)


async def test_close_account_stops_publishing_and_keeps_records(srv):
    owner = await srv.user(verify_id=True)
    fan = await srv.user()
    aid = await new_account(owner, "Short Lived")
    await fan.request("subscribe", account_id=aid)
    post = (await owner.request("publish", account_id=aid, title="last", body="b"))["post_id"]
    await owner.request("comment", post_id=post, text="bye")
    assert code(await fan.call("close_account", account_id=aid)) == "forbidden"
    fan.drain_events()
    await owner.request("close_account", account_id=aid)
    told = await fan.next_event("notice")  # a follower with a post open learns it at once
    assert (told["kind"], told["account_id"]) == ("account_closed", aid) and "by" not in told
    assert (await fan.request("account_info", account_id=aid))["status"] == "closed"
    for op, args in (("publish", {"account_id": aid, "title": "t", "body": "b"}),
                     ("update_account", {"account_id": aid, "intro": "x"}),
                     ("set_editor", {"account_id": aid, "user_id": fan.user_id, "on": True}),
                     ("close_account", {"account_id": aid})):
        assert code(await owner.call(op, **args)) == "forbidden", op
    assert code(await fan.call("subscribe", account_id=aid)) == "forbidden"
    assert code(await fan.call("posts", account_id=aid)) == "forbidden"
    assert code(await fan.call("comment", post_id=post, text="x")) == "forbidden"
    assert srv.db_rows("SELECT COUNT(*) FROM posts WHERE account_id = ?", aid) == [(1,)]
    assert srv.db_rows("SELECT closed_at IS NOT NULL FROM accounts WHERE account_id = ?", aid) in ([(1,)], [(True,)])
    # the name stays taken
    assert code(await owner.call("create_account", name="short lived", category="culture", intro="",
                                 subject_type="individual")) == "conflict"
    await close_all(owner, fan)


async def test_reports_on_accounts_posts_and_comments(srv):
    owner = await srv.user(verify_id=True)
    reporter = await srv.user()
    aid = await new_account(owner, "Reported")
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    cmt = (await owner.request("comment", post_id=post, text="c"))["comment_id"]
    ids = set()
    for kind, args in (("account", {"account_id": aid}), ("post", {"post_id": post}),
                       ("comment", {"comment_id": cmt})):
        r = await reporter.request("report", target_type=kind, reason="spam", **args)
        again = await reporter.request("report", target_type=kind, reason="spam", **args)
        assert again == {"re": again["re"], "ok": True, "report_id": r["report_id"], "duplicate": True}
        ids.add(r["report_id"])
    assert len(ids) == 3
    rows = srv.db_rows("SELECT target_type, account_id, post_id, comment_id, user_id FROM reports ORDER BY report_id")
    assert rows == [("account", aid, None, None, owner.user_id), ("post", aid, int(post), None, owner.user_id),
                    ("comment", aid, int(post), int(cmt), owner.user_id)]
    assert code(await reporter.call("report", target_type="account", reason="x", account_id="999999999")) \
        == "not_found"
    assert code(await reporter.call("report", target_type="post", reason="x", post_id="77777")) == "not_found"
    assert code(await reporter.call("report", target_type="comment", reason="x", comment_id="77777")) == "not_found"
    assert code(await reporter.call("report", target_type="post", reason="x")) == "bad_request"
    await close_all(owner, reporter)


async def test_a_posts_author_pays_once_for_upheld_reports_about_it(srv):
    """Each upheld report about a post took ``penalty_report_upheld`` from its author again: five
    reporters, five charges for one post (a message or a comment costs its author once). A post is paid
    for once now; an upheld report about a comment under it is the comment's, and does not count."""
    owner = await srv.user(verify_id=True)
    aid = await new_account(owner, "Reported twice")
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    commenter = await srv.user()
    cmt = (await commenter.request("comment", post_id=post, text="c"))["comment_id"]
    reporters = [await srv.user() for _ in range(3)]
    comment_report = (await reporters[0].request("report", target_type="comment", reason="spam",
                                                 comment_id=cmt))["report_id"]
    rc, out, err = await srv.admin("resolve", comment_report, "--outcome", "upheld", "--note", "违规")
    assert rc == 0, err
    score = (await owner.request("me"))["credit_score"]
    outs = []
    for r in reporters[1:]:
        rid = (await r.request("report", target_type="post", reason="spam", post_id=post))["report_id"]
        rc, out, err = await srv.admin("resolve", rid, "--outcome", "upheld", "--note", "违规")
        assert rc == 0, err
        outs.append(out)
    assert (await owner.request("me"))["credit_score"] == score - 10  # credit.penalty_report_upheld, once
    assert "no credit taken" not in outs[0] and f"already taken for post {post}" in outs[1], outs
    await close_all(owner, commenter, *reporters)


async def test_accounts_and_subscriptions_survive_a_restart(srv):
    owner = await srv.user(verify_id=True)
    editor, fan = await srv.user(verify_id=True), await srv.user()
    aid = await new_account(owner, "Durable")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await fan.request("subscribe", account_id=aid)
    owner, editor, fan = await restart(srv, owner, editor, fan)
    assert (await fan.request("my_subscriptions"))["accounts"][0]["account_id"] == aid
    assert (await editor.request("my_accounts"))["accounts"][0]["role"] == "editor"
    post = await editor.request("publish", account_id=aid, title="after restart", body="b")
    assert (await fan.next_event("post"))["post_id"] == post["post_id"]
    assert code(await fan.call("create_account", name="durable", category="culture", intro="",
                               subject_type="individual")) == "verification_required"
    other = await srv.user(verify_id=True)
    assert code(await other.call("create_account", name="DURABLE", category="culture", intro="",
                                 subject_type="individual")) == "conflict"
    await close_all(owner, editor, fan, other)


def _png() -> bytes:
    """A valid 1×1 RGBA PNG."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00\xff"))
            + chunk(b"IEND", b""))


PNG = _png()


async def upload(client, data: bytes, mime: str = "image/png") -> str:
    import hashlib

    begin = await client.request("upload_begin", mime=mime, size=len(data), name="a.png")
    await client.request("upload_chunk", upload_id=begin["upload_id"], offset=0, data=data)
    end = await client.request("upload_end", upload_id=begin["upload_id"], sha256=hashlib.sha256(data).hexdigest())
    return end["media_id"]


async def test_posts_carry_the_publishers_uploads(srv):
    import httpx

    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    aid = await new_account(owner, "Pictures")
    mine, theirs = await upload(owner, PNG), await upload(reader, PNG)
    assert code(await owner.call("publish", account_id=aid, title="t", body="b", attachments=[theirs])) \
        == "bad_request"
    post = await owner.request("publish", account_id=aid, title="图", body="看图", attachments=[mine])
    [listed] = (await reader.request("posts", account_id=aid))["posts"]
    [att] = listed["attachments"]
    assert (att["media_id"], att["kind"], att["mime"], att["size"]) == (mine, "image", "image/png", len(PNG))
    got = httpx.get(f"http://127.0.0.1:{srv.port}{att['url']}", timeout=5)
    assert got.status_code == 200 and got.content == PNG
    assert (await reader.request("read_post", post_id=post["post_id"]))["attachments"][0]["media_id"] == mine
    assert srv.db_rows("SELECT media_id FROM post_media WHERE post_id = ?", int(post["post_id"])) == [(mine,)]
    await close_all(owner, reader)


async def test_publishing_and_commenting_wait_for_the_current_agreement(srv):
    """P5 (with G5): the platform rules and service agreement bind account holders and commenters."""
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    aid = await new_account(owner, "协议号")
    post = (await owner.request("publish", account_id=aid, title="before", body="b"))["post_id"]
    (srv.dir / "rules.txt").write_text("一、不得发布违法信息", encoding="utf-8")
    (srv.dir / "agreement.txt").write_text("服务协议正文", encoding="utf-8")
    rc, _, err = await srv.admin("set-agreement", "--version", "2026-12", "--rules-file", str(srv.dir / "rules.txt"),
                                 "--agreement-file", str(srv.dir / "agreement.txt"))
    assert rc == 0, err
    refused = await owner.call("publish", account_id=aid, title="after", body="b")
    assert (refused["code"], refused["agreement_version"]) == ("forbidden", "2026-12")
    refused = await reader.call("comment", post_id=post, text="好文")
    assert (refused["code"], refused["agreement_version"]) == ("forbidden", "2026-12")
    # A new name or intro, and a new account, publish words too (a compliance audit's case).
    for op, args in (("update_account", {"account_id": aid, "intro": "新简介"}),
                     ("update_account", {"account_id": aid, "name": "协议号二"}),
                     ("create_account", {"name": "第二号", "category": "culture", "intro": "",
                                         "subject_type": "individual"})):
        refused = await owner.call(op, **args)
        assert (refused["code"], refused.get("agreement_version")) == ("forbidden", "2026-12"), (op, refused)
    assert code(await owner.call("update_account", account_id=aid, name="协议号")) == "ok"  # (restated)
    for c in (owner, reader):
        await c.request("accept_agreement", version="2026-12")
    assert code(await owner.call("publish", account_id=aid, title="after", body="b")) == "ok"
    assert code(await reader.call("comment", post_id=post, text="好文")) == "ok"
    await close_all(owner, reader)


async def test_only_an_organisation_may_open_a_government_account(srv):
    """P4: government accounts are for party and government organs, never a person's."""
    person = await srv.user(verify_id=True)
    refused = await person.call("create_account", name="某某政务", category="government", intro="",
                                subject_type="individual")
    assert refused["code"] == "forbidden"
    aid = await new_account(person, "某市政务", category="government", subject_type="organization",
                            org_name="某市人民政府", org_code=org_code(77))
    assert (await person.request("account_info", account_id=aid))["category"] == "government"
    await close_all(person)


INFO_KEYS = {"account_id", "name", "category", "intro", "subject_type", "labels", "credit_level",
             "subscriber_count", "status", "created_at"}


async def test_account_info_shows_exactly_its_public_fields(srv):
    """``account_info`` is answered to anyone signed in, so its key set is pinned exactly: nothing but
    the public fields, ``org_name`` for an organisation's and ``suspended_until`` while suspended.
    Never ``subject_key`` (a keyed hash of the owner's ID number or of the organisation's code, by
    which accounts of one subject could be linked), nor the owner's identity (``owner_id``, legal name)
    nor its editors, which the ``Account`` object holds and a field added to ``info`` would publish."""
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    person = await new_account(owner, "个人小号")
    org = await new_account(owner, "某文化号", subject_type="organization", org_name="北京某文化公司",
                            org_code=org_code(31))
    keys = dict(srv.db_rows("SELECT account_id, subject_key FROM accounts"))
    assert set(keys) == {person, org} and all(keys.values())
    for aid, expected in ((person, INFO_KEYS), (org, INFO_KEYS | {"org_name"})):
        info = await reader.request("account_info", account_id=aid)
        shown = {k for k in info if k not in ("ok", "re")}
        assert shown == expected, shown ^ expected
        assert keys[aid] not in repr(info) and owner.user_id not in repr(info) and LEGAL_NAME not in repr(info)
    await admin(srv, "suspend-account", person, "--seconds", "3600")
    info = await reader.request("account_info", account_id=person)
    assert info["status"] == "suspended"
    assert {k for k in info if k not in ("ok", "re")} == INFO_KEYS | {"suspended_until"}
    await close_all(owner, reader)


async def test_the_editor_cap_is_the_handlers_refusal_naming_the_editors(srv):
    """With ``max_editors = 2`` and two editors seated, a third is refused by the handler's own count,
    before anything is claimed: ``conflict`` whose reason names the seated editors by id (documented
    [ext]: no op lists them, so this is how an owner learns which seat to free). The database counts
    again when it stores a change, so an off-by-one in memory (``>`` for ``>=``) would still end in a
    bare ``conflict`` from the store, after the third editor had been seated in memory meanwhile; the
    reason tells the two apart. Nothing is stored and the refused user is told nothing."""
    owner = await srv.user(verify_id=True)
    e1, e2, e3 = [await srv.user(verify_id=True) for _ in range(3)]
    aid = await new_account(owner, "Capped Desk")
    for e in (e1, e2):
        await owner.request("set_editor", account_id=aid, user_id=e.user_id, on=True)
        assert (await e.next_event("editor_changed"))["on"] is True
    refused = await owner.call("set_editor", account_id=aid, user_id=e3.user_id, on=True)
    assert refused["code"] == "conflict", refused
    assert "at most 2 editors" in refused["reason"] and "its editors:" in refused["reason"], refused
    assert e1.user_id in refused["reason"] and e2.user_id in refused["reason"] and \
        e3.user_id not in refused["reason"], refused
    assert sorted(u for (u,) in srv.db_rows("SELECT user_id FROM account_editors WHERE account_id = ?", aid)) == \
        sorted([e1.user_id, e2.user_id])
    assert (await e3.request("my_accounts"))["accounts"] == []
    assert [e for e in e3.drain_events() if e.get("ev") == "editor_changed"] == []
    await close_all(owner, e1, e2, e3)


async def test_no_account_without_a_verified_identity_nor_a_persons_government_account(srv):
    """P4/P6: an owner without a verified identity is told ``verification_required`` first, whatever
    else is wrong with the request (here a government category for a person, which the handler would
    otherwise refuse ``forbidden``): getting verified is what they must do before any other answer
    matters, and a person's subject is their verified ID number, so without one the account would
    have no subject to be capped or barred by. A verified person asking for a government account is
    ``forbidden`` (organs of government only). Nothing is stored."""
    plain = await srv.user()
    person = await srv.user(verify_id=True)
    for category, subject in (("culture", "individual"), ("government", "individual")):
        refused = await plain.call("create_account", name="无证号", category=category, intro="",
                                   subject_type=subject)
        assert refused["code"] == "verification_required", refused
    refused = await person.call("create_account", name="某某政务", category="government", intro="",
                                subject_type="individual")
    assert refused["code"] == "forbidden" and "organisation" in refused["reason"], refused
    assert srv.db_rows("SELECT COUNT(*) FROM accounts") == [(0,)]
    assert (await person.request("my_accounts"))["accounts"] == []
    await close_all(plain, person)


async def test_a_blacklisted_or_cancelled_user_is_made_no_editor(srv):
    """``set_editor on`` naming a user who is blacklisted or cancelled is ``not_found`` (as for an
    unknown id: an editor publishes in the account's name), refused by the handler before anything
    is claimed. The store refuses such a user too, but only after the handler had seated them in
    memory for the length of the write: a request for the last free seat made meanwhile (here from
    the owner's second device) was refused ``conflict`` for a seat nobody would get."""
    owner = await srv.user(verify_id=True)
    banned, gone, e1, e2 = [await srv.user(verify_id=True) for _ in range(4)]
    aid = await new_account(owner, "Closed Doors")
    await owner.request("set_editor", account_id=aid, user_id=e1.user_id, on=True)  # one seat of two left
    await admin(srv, "blacklist", banned.username)
    await gone.request("delete_account", password="password123")
    device = await srv.client()
    await device.auth(owner.token)
    refused, seated = await asyncio.gather(
        owner.call("set_editor", account_id=aid, user_id=banned.user_id, on=True),
        device.call("set_editor", account_id=aid, user_id=e2.user_id, on=True))
    assert refused["code"] == "not_found" and seated["ok"], (refused, seated)
    await owner.request("set_editor", account_id=aid, user_id=e2.user_id, on=False)
    refused, seated = await asyncio.gather(
        owner.call("set_editor", account_id=aid, user_id=gone.user_id, on=True),
        device.call("set_editor", account_id=aid, user_id=e2.user_id, on=True))
    assert refused["code"] == "not_found" and seated["ok"], (refused, seated)
    assert sorted(u for (u,) in srv.db_rows("SELECT user_id FROM account_editors WHERE account_id = ?", aid)) == \
        sorted([e1.user_id, e2.user_id])
    await close_all(owner, device, banned, gone, e1, e2)


async def test_reports_on_public_accounts_get_the_feedback_and_limits_of_g12(make_server, monkeypatch):
    """P15: a report on an account, a post or a comment is answered as one on a group is (G12): the
    reporter is told the outcome with ``report_result`` and reads it in ``my_reports``, the hourly limit
    counts them, and a reporter whose reports were mostly rejected is slowed, on these kinds too."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_REPORTS_PER_HOUR", "9")
    srv = make_server()
    owner = await srv.user(verify_id=True)
    reporter = await srv.user()
    aid = await new_account(owner, "Reported often")
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    cmt = (await owner.request("comment", post_id=post, text="c"))["comment_id"]
    rid = (await reporter.request("report", target_type="comment", reason="spam", comment_id=cmt))["report_id"]
    rc, _, err = await srv.admin("resolve", rid, "--outcome", "upheld", "--note", "已删除")
    assert rc == 0, err
    told = await reporter.next_event("notice", timeout=5)
    assert (told["kind"], told["report_id"], told["outcome"]) == ("report_result", rid, "upheld")
    [mine] = (await reporter.request("my_reports"))["reports"]
    assert (mine["report_id"], mine["target_type"], mine["comment_id"], mine["status"], mine["outcome"],
            mine["note"]) == (rid, "comment", cmt, "resolved", "upheld", "已删除")
    assert (mine["account_id"], mine["account_name"]) == (aid, "Reported often")   # [ext] named, not only numbered
    # Five reports on accounts and posts, all rejected: the reporter is then slowed (2 an hour), and
    # before that, nine an hour was the limit for these kinds as for any.
    others = []
    for i in range(5):
        a = await new_account(await srv.user(verify_id=True), f"Other {i}")
        kind = "account" if i % 2 else "post"
        args = {"account_id": a} if kind == "account" else {
            "post_id": (await owner.request("publish", account_id=aid, title=f"p{i}", body="b"))["post_id"]}
        others.append((await reporter.request("report", target_type=kind, reason=f"r{i}", **args))["report_id"])
    for r in others:
        rc, _, err = await srv.admin("resolve", r, "--outcome", "rejected", "--note", "unfounded")
        assert rc == 0, err
    slowed = await reporter.call("report", target_type="account", reason="again", account_id=aid)
    assert slowed["code"] == "rate_limited" and slowed["retry_after_ms"] > 0, slowed
    # Another reporter, none rejected: nine reports on posts in the hour, then the tenth is refused.
    busy = await srv.user()
    posts = [(await owner.request("publish", account_id=aid, title=f"q{i}", body="b"))["post_id"] for i in range(10)]
    for p in posts[:9]:
        assert (await busy.call("report", target_type="post", reason="spam", post_id=p))["ok"]
    tenth = await busy.call("report", target_type="post", reason="spam", post_id=posts[9])
    assert tenth["code"] == "rate_limited", tenth
    await close_all(owner, reporter, busy)


async def test_my_reports_give_a_reported_posts_title_while_the_reporter_may_read_it(srv):
    """[ext] ``post_title`` in ``my_reports``: the title of the post a report names (the post reported,
    or the one a reported comment is on), only while the reporter may read that post (``read_post``):
    a held post's to an editor who reported it, and no more once they edit no longer; none for a post
    the platform removed, none once the account is closed (its name stays, as account_info gives it)."""
    owner, editor = await srv.user(verify_id=True), await srv.user(verify_id=True)
    reader = await srv.user()
    aid = await new_account(owner, "Titled")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    shown = (await owner.request("publish", account_id=aid, title="书单", body="b"))["post_id"]
    removed = (await owner.request("publish", account_id=aid, title="旧闻", body="b"))["post_id"]
    held = await owner.request("publish", account_id=aid, title="周末", body="有人组织集会")
    assert held["held"] is True
    cmt = (await owner.request("comment", post_id=shown, text="c"))["comment_id"]
    assert code(await reader.call("report", target_type="post", reason="spam", post_id=held["post_id"])) == "not_found"
    for args in ({"target_type": "comment", "comment_id": cmt}, {"target_type": "post", "post_id": shown},
                 {"target_type": "post", "post_id": removed}):
        await reader.request("report", reason="spam", **args)
    await editor.request("report", target_type="post", reason="spam", post_id=held["post_id"])
    await admin(srv, "remove-post", removed)

    async def titles(client):
        return [(r["target_type"], r.get("post_id"), r.get("post_title"))
                for r in (await client.request("my_reports"))["reports"]]

    assert await titles(reader) == [("post", removed, None), ("post", shown, "书单"), ("comment", shown, "书单")]
    assert await titles(editor) == [("post", held["post_id"], "周末")]   # (a manager reads it)
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=False)
    assert await titles(editor) == [("post", held["post_id"], None)]   # (to them it does not exist now)
    await owner.request("close_account", account_id=aid)
    mine = (await reader.request("my_reports"))["reports"]
    assert [r.get("post_title") for r in mine] == [None, None, None], mine
    assert {r["account_name"] for r in mine} == {"Titled"}
    await close_all(owner, editor, reader)
