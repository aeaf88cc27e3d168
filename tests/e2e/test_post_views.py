"""What a post's readers can tell from the server when the platform acts on its account or its posts,
through a real server on both backends:

- a post that takes no new comments says why (**[ext]** ``comments_closed_by``: the platform's
  restriction, the account's credit level, or the post's own mode), while ``comments`` stays
  ``closed`` as before, and its existing comments stay readable and moderatable (operator.md:
  "Existing comments stay as they are"), a suspension on top of a restriction included;
- a post that goes (deleted by its account, removed by the platform, a held one rejected in review)
  is announced with **[ext]** ``post_deleted`` to who was told of it: the subscribers online and
  the account's managers, and for a held post the managers alone;
- a comment that goes from what readers see (deleted or hidden by the account, removed by the
  platform, a held one rejected in review) is announced with **[ext]** ``comment_deleted``, its ids
  alone, to those who saw it and no longer do, and to nobody else."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.admin_helpers import admin_ok, notice

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
    (d / "review.txt").write_text("集会\n", encoding="utf-8")
    return make_server(CONFIG)


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


async def new_account(owner, name):
    return (await owner.request("create_account", name=name, category="culture", intro="",
                                subject_type="individual"))["account_id"]


def why(post):
    return post["comments"], post.get("comments_closed_by")


async def texts(client, post_id):
    return [c["text"] for c in (await client.request("comments", post_id=post_id))["comments"]]


async def test_a_post_without_comments_says_why_and_keeps_its_comments_readable(srv):
    owner, reader = await srv.user(verify_id=True), await srv.user()
    aid = await new_account(owner, "留言板")
    talk = (await owner.request("publish", account_id=aid, title="聊聊", body="b"))["post_id"]
    quiet = (await owner.request("publish", account_id=aid, title="公告", body="b", comments="closed"))["post_id"]
    assert why(await reader.request("read_post", post_id=talk)) == ("open", None)
    assert why(await reader.request("read_post", post_id=quiet)) == ("closed", "post")
    shown = (await reader.request("comment", post_id=talk, text="第一"))["comment_id"]
    later = (await reader.request("comment", post_id=talk, text="第二"))["comment_id"]
    await owner.request("moderate_comment", post_id=talk, comment_id=later, action="hide")

    # The platform restricts the account's comments: every post says so, the platform's reason first.
    await admin_ok(srv, "restrict-account", aid, "--comments", "off", "--reason", "评论区管理不力")
    await notice(owner, "account_restricted")
    for who in (reader, owner):
        assert why(await who.request("read_post", post_id=talk)) == ("closed", "platform")
        assert [why(p) for p in (await who.request("posts", account_id=aid))["posts"]] == [("closed", "platform")] * 2
    during = await owner.request("publish", account_id=aid, title="照常发布", body="b")
    assert why(during) == ("closed", "platform")
    # Existing comments stay: the reader reads the visible one, the owner both, and still moderates.
    assert await texts(reader, talk) == ["第一"]
    assert await texts(owner, talk) == ["第二", "第一"]
    assert code(await reader.call("comment", post_id=talk, text="第三")) == "forbidden"
    assert code(await owner.call("moderate_comment", post_id=talk, comment_id=later, action="approve")) == "forbidden"
    await owner.request("moderate_comment", post_id=talk, comment_id=shown, action="hide")
    await owner.request("moderate_comment", post_id=talk, comment_id=later, action="delete")
    assert await texts(reader, talk) == []
    assert await texts(owner, talk) == ["第一"]

    # A suspension on top (status `suspended`) does not hide the restriction from the posts.
    await admin_ok(srv, "suspend-account", aid, "--seconds", "3600", "--reason", "违规转载")
    assert (await reader.request("account_info", account_id=aid))["status"] == "suspended"
    assert why(await reader.request("read_post", post_id=talk)) == ("closed", "platform")
    assert await texts(owner, talk) == ["第一"]
    [sid] = [s["id"] for s in map(json.loads, (await admin_ok(srv, "sanctions", "--account", aid)).splitlines())
             if s["kind"] == "suspend_account" and s["status"] == "in_force"]
    await admin_ok(srv, "lift", str(sid), "--reason", "误判")

    # Lifted: the posts' own modes again (the one published meanwhile kept `open`).
    await admin_ok(srv, "restrict-account", aid, "--comments", "on", "--reason", "已整改")
    assert why(await reader.request("read_post", post_id=talk)) == ("open", None)
    assert why(await reader.request("read_post", post_id=during["post_id"])) == ("open", None)
    assert why(await reader.request("read_post", post_id=quiet)) == ("closed", "post")

    # A credit level that allows no comments: said as such; the comments stay readable too.
    await owner.request("moderate_comment", post_id=talk, comment_id=shown, action="approve")
    await admin_ok(srv, "account-credit", aid, "--delta", "-70", "--reason", "多次违规")
    assert why(await reader.request("read_post", post_id=talk)) == ("closed", "credit")
    assert why(await reader.request("read_post", post_id=quiet)) == ("closed", "credit")
    assert await texts(reader, talk) == ["第一"]
    await admin_ok(srv, "account-credit", aid, "--delta", "70", "--reason", "已整改")
    assert why(await reader.request("read_post", post_id=talk)) == ("open", None)


async def gone(client, post_id, timeout=2.0):
    """The next ``post_deleted`` event, which must name ``post_id``."""
    ev = await client.next_event("post_deleted", timeout=timeout)
    assert ev["post_id"] == post_id, ev
    return ev


async def test_a_post_that_goes_is_announced_to_whoever_was_told_of_it(srv):
    owner, editor = await srv.user(verify_id=True), await srv.user(verify_id=True)
    fan, passer = await srv.user(), await srv.user()
    aid = await new_account(owner, "快讯")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await fan.request("subscribe", account_id=aid)
    removed = (await owner.request("publish", account_id=aid, title="违规文章", body="b"))["post_id"]
    deleted = (await owner.request("publish", account_id=aid, title="写错了", body="b"))["post_id"]
    assert (await fan.next_event("post", timeout=2))["post_id"] == removed

    # The platform removes a post: its subscribers online and its managers hear of it at once.
    await admin_ok(srv, "remove-post", removed, "--reason", "含违法信息")
    ev = await gone(fan, removed)
    assert ev == {"ev": "post_deleted", "account_id": aid, "post_id": removed}
    await gone(editor, removed)
    assert (await notice(owner, "post_removed"))["post_id"] == removed  # as before, with the reason
    await gone(owner, removed)
    # The account deletes one: the same, the deleter's own connection included.
    await editor.request("delete_post", post_id=deleted)
    for who in (fan, owner, editor):
        await gone(who, deleted)

    # A held post was never announced: its deletion and its rejection reach its managers alone.
    held = await owner.request("publish", account_id=aid, title="通知", body="今晚集会")
    withdrawn = await owner.request("publish", account_id=aid, title="再通知", body="明晚集会")
    assert held["held"] and withdrawn["held"]
    await owner.request("delete_post", post_id=withdrawn["post_id"])
    for who in (owner, editor):
        await gone(who, withdrawn["post_id"])
    rc, out, err = await srv.admin("review-queue", "--open")
    assert rc == 0, err
    [item] = [i for i in map(json.loads, out.splitlines()) if str(i.get("post_id")) == held["post_id"]]
    rc, _, err = await srv.admin("decide", str(item["item_id"]), "--decision", "reject", "--note", "谣言")
    assert rc == 0, err
    assert (await notice(owner, "content_removed"))["post_id"] == held["post_id"]
    for who in (owner, editor):
        await gone(who, held["post_id"])
    await asyncio.sleep(0.3)
    assert [e for e in fan.drain_events() if e.get("ev") == "post_deleted"] == []
    assert [e for e in passer.drain_events() if e.get("ev") == "post_deleted"] == []


async def comment_gone(client, aid, post_id, comment_id, timeout=2.0):
    """The next ``comment_deleted`` event, which must be exactly this comment's ids."""
    ev = await client.next_event("comment_deleted", timeout=timeout)
    assert ev == {"ev": "comment_deleted", "account_id": aid, "post_id": post_id, "comment_id": comment_id}, ev


def comments_gone(client):
    """The ids of the ``comment_deleted`` events ``client`` has received and not read yet."""
    return [e["comment_id"] for e in client.drain_events() if e.get("ev") == "comment_deleted"]


async def test_a_comment_that_goes_is_announced_to_whoever_saw_it(srv):
    owner, editor = await srv.user(verify_id=True), await srv.user(verify_id=True)
    fan, writer, passer = await srv.user(), await srv.user(), await srv.user()
    aid = await new_account(owner, "茶话")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await fan.request("subscribe", account_id=aid)
    pid = (await owner.request("publish", account_id=aid, title="聊聊", body="b"))["post_id"]
    await passer.request("read_post", post_id=pid)  # reads it, follows nothing, wrote nothing
    say = (await fan.request("comment", post_id=pid, text="第一"))["comment_id"]
    hid = (await writer.request("comment", post_id=pid, text="第二"))["comment_id"]
    ad = (await writer.request("comment", post_id=pid, text="广告"))["comment_id"]
    held = await writer.request("comment", post_id=pid, text="今晚集会")
    assert held["held"]

    # The account deletes a visible comment: its subscribers online, its managers (the deleter's
    # own connection included) and its author hear of it; a reader who follows nothing does not.
    await editor.request("moderate_comment", post_id=pid, comment_id=say, action="delete")
    for who in (fan, owner, editor):
        await comment_gone(who, aid, pid, say)
    # Hidden: gone for the subscribers and its author (not a subscriber: told as its author); the
    # managers still list it (hidden: true), so they are not told.
    await owner.request("moderate_comment", post_id=pid, comment_id=hid, action="hide")
    for who in (fan, writer):
        await comment_gone(who, aid, pid, hid)
    assert "第二" in await texts(owner, pid) and "第二" not in await texts(fan, pid)
    # Deleted once hidden: only the managers still saw it.
    await owner.request("moderate_comment", post_id=pid, comment_id=hid, action="delete")
    for who in (owner, editor):
        await comment_gone(who, aid, pid, hid)

    # The platform removes a visible comment: the same audience as the account's deletion.
    await admin_ok(srv, "remove-comment", ad, "--reason", "违法广告")
    for who in (fan, writer, owner, editor):
        await comment_gone(who, aid, pid, ad)
    assert (await notice(writer, "content_removed"))["comment_id"] == ad  # as before

    # A held comment rejected in review: its author and the managers saw it, nobody else.
    rc, out, err = await srv.admin("review-queue", "--open")
    assert rc == 0, err
    [item] = [i for i in map(json.loads, out.splitlines()) if str(i.get("comment_id")) == held["comment_id"]]
    await admin_ok(srv, "decide", str(item["item_id"]), "--decision", "reject", "--note", "谣言")
    for who in (writer, owner, editor):
        await comment_gone(who, aid, pid, held["comment_id"])

    # Hidden and approved again: its author, a subscriber, is told once (one connection, once);
    # approving announces no comment_deleted (its `comment` event: test_account_live_changes.py).
    # And nobody heard more than the above, the passer nothing at all.
    again = (await fan.request("comment", post_id=pid, text="第三"))["comment_id"]
    await owner.request("moderate_comment", post_id=pid, comment_id=again, action="hide")
    await comment_gone(fan, aid, pid, again)
    await owner.request("moderate_comment", post_id=pid, comment_id=again, action="approve")
    await asyncio.sleep(0.3)
    for who in (fan, passer, owner, editor, writer):
        assert comments_gone(who) == [], who.user_id
    assert await texts(passer, pid) == ["第三"]


async def test_a_held_post_deleted_while_its_release_is_stored_is_announced_to_its_readers(srv):
    """The account's delete_post read the post as held, then the platform's release was stored and
    its subscribers got ``post``, then the deletion: it told the managers alone, as for a post
    never shown, and the subscribers never heard the post went. Who is told now follows the post
    as the store had it when it deleted it."""
    from tests.e2e.store_hold import until_write_waits, writes_held

    owner, fan = await srv.user(verify_id=True), await srv.user()
    aid = await new_account(owner, "快讯")
    await fan.request("subscribe", account_id=aid)
    held = await owner.request("publish", account_id=aid, title="通知", body="今晚集会")
    assert held["held"]
    rc, out, err = await srv.admin("review-queue", "--open")
    [item] = [i for i in map(json.loads, out.splitlines()) if str(i.get("post_id")) == held["post_id"]]
    async with writes_held(srv, "posts"):
        releasing = asyncio.ensure_future(srv.admin("decide", str(item["item_id"]), "--decision", "release",
                                                    "--note", "ok"))
        await until_write_waits(srv, "posts")
        deleting = asyncio.ensure_future(owner.call("delete_post", post_id=held["post_id"]))
        await asyncio.sleep(0.3)
    assert (await releasing)[0] == 0
    assert (await deleting)["ok"]
    assert (await fan.next_event("post", timeout=3))["post_id"] == held["post_id"]
    await gone(fan, held["post_id"], timeout=3)
