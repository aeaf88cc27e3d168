"""[ext] ``set_post_comments``: a public account's owner or editor changes a published post's comment
mode (P12: the account manages its comment section; a post drawing abuse is closed to new comments, or
has them held for approval, and opened again). Both backends, through a real server."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import restart
from tests.e2e.store_hold import writes_held
from tests.e2e.test_account_measures import code, new_account, record


async def test_a_posts_comments_are_closed_held_and_opened_again_by_its_managers(make_server):
    srv = make_server()
    owner, editor = await srv.user(verify_id=True), await srv.user(verify_id=True)
    reader, stranger = await srv.user(), await srv.user()
    aid = await new_account(owner, "茶馆日报")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await reader.request("subscribe", account_id=aid)
    pid = (await owner.request("publish", account_id=aid, title="开张", body="欢迎"))["post_id"]
    assert (await reader.next_event("post"))["post_id"] == pid
    first = (await reader.request("comment", post_id=pid, text="第一"))["comment_id"]

    closed = await owner.request("set_post_comments", post_id=pid, comments="closed")
    assert (closed["comments"], closed["comments_closed_by"]) == ("closed", "post")
    told = await reader.next_event("post_comments")
    assert (told["account_id"], told["post_id"], told["comments"], told["comments_closed_by"]) == (
        aid, pid, "closed", "post")
    refused = await reader.call("comment", post_id=pid, text="第二")
    assert (code(refused), refused.get("cause")) == ("forbidden", "post")
    assert [c["comment_id"] for c in (await reader.request("comments", post_id=pid))["comments"]] == [first]
    [listed] = (await reader.request("posts", account_id=aid))["posts"]
    assert listed["comments"] == "closed" and listed["comments_closed_by"] == "post"

    # an editor holds new comments for approval: they wait, the one before stays shown
    held = await editor.request("set_post_comments", post_id=pid, comments="review")
    assert held["comments"] == "review" and "comments_closed_by" not in held
    assert (await reader.request("comment", post_id=pid, text="待审"))["held"] is True
    # only its managers change it; a bad mode or post is refused with the contract's codes
    assert code(await stranger.call("set_post_comments", post_id=pid, comments="open")) == "forbidden"
    assert code(await owner.call("set_post_comments", post_id=pid, comments="sometimes")) == "bad_request"
    assert code(await owner.call("set_post_comments", post_id="99999", comments="open")) == "not_found"
    assert code(await owner.call("set_post_comments", post_id="x1", comments="open")) == "not_found"  # as read_post

    await owner.request("set_post_comments", post_id=pid, comments="open")
    assert (await reader.request("comment", post_id=pid, text="第三"))["held"] is False
    await owner.request("set_post_comments", post_id=pid, comments="closed")
    owner, reader = await restart(srv, owner, reader)
    assert code(await reader.call("comment", post_id=pid, text="重启后")) == "forbidden"  # (stored)
    assert [(actor, target, detail["comments"]) for actor, target, _, detail in record(srv, "set_post_comments")] == [
        (owner.user_id, aid, "closed"), (editor.user_id, aid, "review"), (owner.user_id, aid, "open"),
        (owner.user_id, aid, "closed")]

    await owner.request("delete_post", post_id=pid)
    assert code(await owner.call("set_post_comments", post_id=pid, comments="open")) == "not_found"


async def test_a_comment_read_while_its_post_is_being_closed_is_refused(make_server):
    """The close is claimed in memory before its write: a comment that read the post (open) while the
    close's write was in flight decides by the new mode, not the one it read, so no comment is
    stored on a post after its manager was told it was closed."""
    srv = make_server()
    owner, reader = await srv.user(verify_id=True), await srv.user()
    aid = await new_account(owner, "茶馆日报")
    pid = (await owner.request("publish", account_id=aid, title="开张", body="欢迎"))["post_id"]
    async with writes_held(srv, "posts"):
        closing = asyncio.ensure_future(owner.call("set_post_comments", post_id=pid, comments="closed"))
        await asyncio.sleep(0.5)
        commenting = asyncio.ensure_future(reader.call("comment", post_id=pid, text="抢在关闭前"))
        await asyncio.sleep(0.5)
    assert code(await closing) == "ok"
    refused = await commenting
    assert (code(refused), refused.get("cause")) == ("forbidden", "post"), refused
    assert (await reader.request("comments", post_id=pid))["comments"] == []
