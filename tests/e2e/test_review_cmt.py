"""Review of public-account comment moderation, complaints and appeals: each test here failed on the
code it was written against (see the report)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.admin_helpers import admin_ok
from tests.e2e.harness import close_all


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


async def new_account(owner, name, category="culture", **kw):
    args = {"name": name, "category": category, "intro": "", "subject_type": "individual", **kw}
    return (await owner.request("create_account", **args))["account_id"]


async def sanction_ids(srv, kind, *args):
    rc, out, err = await srv.admin("sanctions", *args)
    assert rc == 0, err
    return [json.loads(line)["id"] for line in out.splitlines() if line.strip()
            and json.loads(line)["kind"] == kind]


async def test_a_second_appeal_refused_as_a_duplicate_does_not_count_against_the_days_appeals(make_server):
    """protocol.md, ``appeal``: ``rate_limited`` past ``rate_limits.appeals_per_day`` appeals of the
    caller in 24 hours, "one refused for another reason does not count". A second appeal against a
    sanction the caller already has an open appeal against is refused (``conflict``): it must not use
    up one of the day's appeals (a double click, or a second device, would otherwise cost the user the
    appeal of another measure)."""
    srv = make_server("appeals_per_day = 2\n")  # (the harness's config ends inside [rate_limits])
    alice = await srv.user()
    await admin_ok(srv, "revoke-create", alice.username, "--reason", "spam groups")
    await admin_ok(srv, "suspend-admin", alice.username, "--seconds", "3600", "--reason", "abuse")
    [revoke] = await sanction_ids(srv, "revoke_create", "--user", alice.username)
    [suspend] = await sanction_ids(srv, "suspend_admin", "--user", alice.username)
    assert code(await alice.call("appeal", sanction_id=str(revoke), text="请复核")) == "ok"
    assert code(await alice.call("appeal", sanction_id=str(revoke), text="请复核")) == "conflict"  # open already
    # The first appeal is the only one counted: the second measure may still be appealed.
    reply = await alice.call("appeal", sanction_id=str(suspend), text="误判")
    assert code(reply) == "ok", reply
    await alice.close()


REVIEW_CONFIG = """
[[content.lists]]
category = "rumour"
path = "review.txt"
action = "review"
"""


@pytest.fixture
def reviewed(tmp_path, make_server):
    d = tmp_path / "srv"
    d.mkdir()
    (d / "review.txt").write_text("集会\n", encoding="utf-8")
    return make_server(REVIEW_CONFIG)


async def test_a_reply_never_points_other_readers_at_a_comment_held_from_them(reviewed):
    """protocol.md, ``comment``: "a reply is read by everyone who can see it, and must not point them
    at a comment they cannot see" (so the account's managers may not reply to a hidden comment). The
    author of a comment the word lists held for the platform's review may reply to it (their "own
    held one"): on an open post that reply is visible at once to every reader, with ``reply_to``
    naming the held comment, which no reader may see (and which the platform may yet reject). The
    reply should wait with its parent (held), or be refused; it must never be shown pointing at it."""
    srv = reviewed
    owner = await srv.user(verify_id=True)
    author, reader = await srv.user(), await srv.user()
    aid = await new_account(owner, "Replies")
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    held = await author.request("comment", post_id=post, text="周末集会")  # (a review list holds it)
    assert held["held"] is True
    reply = await author.call("comment", post_id=post, text="地点见上", reply_to=held["comment_id"])
    listed = (await reader.request("comments", post_id=post))["comments"]
    shown_ids = {c["comment_id"] for c in listed}
    dangling = [c for c in listed if c.get("reply_to") is not None and c["reply_to"] not in shown_ids]
    assert dangling == [], (reply, listed)
    # Since the fix: the reply is held with its parent, shown to its author and the managers only.
    assert reply["ok"] and reply["held"] is True, reply
    assert [c["comment_id"] for c in (await author.request("comments", post_id=post))["comments"]] == [
        reply["comment_id"], held["comment_id"]]
    # The platform releases the parent: it is shown; the reply waits for the managers, who approve it.
    [item] = [json.loads(x) for x in (await admin_ok(reviewed, "review-queue", "--open")).splitlines()]
    await admin_ok(reviewed, "decide", str(item["item_id"]), "--decision", "release", "--note", "ok")
    assert [c["comment_id"] for c in (await reader.request("comments", post_id=post))["comments"]] == [
        held["comment_id"]]
    await owner.request("moderate_comment", post_id=post, comment_id=reply["comment_id"], action="approve")
    assert [c["comment_id"] for c in (await reader.request("comments", post_id=post))["comments"]] == [
        reply["comment_id"], held["comment_id"]]
    await close_all(owner, author, reader)


async def test_a_reply_the_platform_releases_before_its_parent_waits_for_it(reviewed):
    """A reply held by the word lists, to its author's own comment held by them too: released by the
    platform first, it is not shown pointing at its parent still under review; it waits for the
    managers, who may approve it once the parent is shown."""
    srv = reviewed
    owner = await srv.user(verify_id=True)
    author, reader = await srv.user(), await srv.user()
    aid = await new_account(owner, "Released replies")
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    parent = await author.request("comment", post_id=post, text="周末集会")
    reply = await author.request("comment", post_id=post, text="集会地点", reply_to=parent["comment_id"])
    items = {str(json.loads(x)["comment_id"]): json.loads(x)["item_id"]
             for x in (await admin_ok(srv, "review-queue", "--open")).splitlines()}
    await admin_ok(srv, "decide", str(items[reply["comment_id"]]), "--decision", "release", "--note", "ok")
    assert (await reader.request("comments", post_id=post))["comments"] == []
    refused = await owner.call("moderate_comment", post_id=post, comment_id=reply["comment_id"], action="approve")
    assert refused["code"] == "forbidden" and "approve that one first" in refused["reason"], refused
    await admin_ok(srv, "decide", str(items[parent["comment_id"]]), "--decision", "release", "--note", "ok")
    await owner.request("moderate_comment", post_id=post, comment_id=reply["comment_id"], action="approve")
    assert [c["comment_id"] for c in (await reader.request("comments", post_id=post))["comments"]] == [
        reply["comment_id"], parent["comment_id"]]
    await close_all(owner, author, reader)


async def test_approving_a_reply_never_points_readers_at_its_parent_still_held(reviewed):
    """The same rule through ``moderate_comment``: on a post in ``review`` mode a commenter replies to
    their own held comment (allowed: "the caller's own held one"); a manager approves the reply and not
    its parent. Every reader is then shown a reply whose ``reply_to`` names a comment they cannot see."""
    srv = reviewed
    owner = await srv.user(verify_id=True)
    author, reader = await srv.user(), await srv.user()
    aid = await new_account(owner, "Reviewed replies")
    post = (await owner.request("publish", account_id=aid, title="t", body="b", comments="review"))["post_id"]
    parent = await author.request("comment", post_id=post, text="第一条")
    reply = await author.request("comment", post_id=post, text="补充", reply_to=parent["comment_id"])
    assert parent["held"] and reply["held"]
    approved = await owner.call("moderate_comment", post_id=post, comment_id=reply["comment_id"], action="approve")
    listed = (await reader.request("comments", post_id=post))["comments"]
    shown_ids = {c["comment_id"] for c in listed}
    dangling = [c for c in listed if c.get("reply_to") is not None and c["reply_to"] not in shown_ids]
    assert dangling == [], (approved, listed)
    assert approved["code"] == "forbidden" and "approve that one first" in approved["reason"], approved
    await owner.request("moderate_comment", post_id=post, comment_id=parent["comment_id"], action="approve")
    await owner.request("moderate_comment", post_id=post, comment_id=reply["comment_id"], action="approve")
    assert [c["comment_id"] for c in (await reader.request("comments", post_id=post))["comments"]] == [
        reply["comment_id"], parent["comment_id"]]
    await close_all(owner, author, reader)
