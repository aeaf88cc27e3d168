"""Changes on a public account that its people learn at once, through a real server on both backends:

- a comment whose status changes and stays listed for someone is announced with ``comment`` as it
  is shown now, with **[ext]** ``moderated: true`` (not a new comment): made visible (``approve``,
  the platform's ``decide … release``) to the audience of a new comment (the account's owner and
  editors) and to its author; with **[ext]** ``hidden: true`` to the owner and editors when one of
  them hides it (the others were told with ``comment_deleted``). Subscribers and readers are told
  nothing, as of a new comment;
- **[ext]** ``editor_changed``: ``set_editor`` tells the user made (or no longer) an editor, and the
  owner, at once; their ``my_accounts`` has changed. Nobody else hears of it."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.admin_helpers import admin_ok

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


async def new_account(owner, name):
    return (await owner.request("create_account", name=name, category="culture", intro="",
                                subject_type="individual"))["account_id"]


def events(client, name):
    """The ``name`` events ``client`` has received and not read yet (the others are dropped)."""
    return [e for e in client.drain_events() if e.get("ev") == name]


async def quiet(*clients, name="comment"):
    """None of ``clients`` gets a ``name`` event (waited for a moment)."""
    await asyncio.sleep(0.3)
    for c in clients:
        assert events(c, name) == [], c.user_id


async def shown(client, aid, pid, cid, author, text, **state):
    """The next ``comment`` event, exactly comment ``cid`` as the receiver lists it now."""
    ev = await client.next_event("comment", timeout=2)
    want = {"ev": "comment", "account_id": aid, "post_id": pid, "comment_id": cid,
            "user": {"user_id": author.user_id, "display_name": author.username.title()}, "text": text}
    assert {k: v for k, v in ev.items() if k != "ts"} == {**want, **state}, ev
    return ev


async def listed(client, pid):
    """The caller's ``comments`` of ``pid``: (text, state)."""
    items = (await client.request("comments", post_id=pid))["comments"]
    return [(c["text"], "held" if c.get("held") else "hidden" if c.get("hidden") else "visible") for c in items]


async def decide(srv, comment_id, decision):
    rc, out, err = await srv.admin("review-queue", "--open")
    assert rc == 0, err
    [item] = [i for i in map(json.loads, out.splitlines()) if str(i.get("comment_id")) == comment_id]
    await admin_ok(srv, "decide", str(item["item_id"]), "--decision", decision, "--note", "核实无误")


async def test_a_comment_shown_again_or_hidden_is_announced_as_it_is_shown_now(srv):
    owner, editor = await srv.user(verify_id=True), await srv.user(verify_id=True)
    fan, writer, passer = await srv.user(), await srv.user(), await srv.user()
    aid = await new_account(owner, "茶话")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await fan.request("subscribe", account_id=aid)
    vetted = (await owner.request("publish", account_id=aid, title="先审后发", body="b", comments="review"))["post_id"]
    talk = (await owner.request("publish", account_id=aid, title="聊聊", body="b"))["post_id"]
    await passer.request("read_post", post_id=talk)  # reads, follows nothing, writes nothing

    # Held for the account's approval: its managers were told, held; an editor approves it: the
    # managers (the approver's own connection included) and its author get it as a visible comment.
    held = (await writer.request("comment", post_id=vetted, text="先审"))["comment_id"]
    for who in (owner, editor):
        await shown(who, aid, vetted, held, writer, "先审", held=True)
    await editor.request("moderate_comment", post_id=vetted, comment_id=held, action="approve")
    for who in (owner, editor, writer):
        await shown(who, aid, vetted, held, writer, "先审", moderated=True)
    # Approved again: nothing changed, nothing said.
    await owner.request("moderate_comment", post_id=vetted, comment_id=held, action="approve")
    await quiet(owner, editor, writer, fan, passer)

    # Hidden by the owner: the other managers (and the owner's own connection) get it as hidden,
    # which they still list; its author and the subscribers, who no longer see it, get
    # comment_deleted as before, and no `comment`.
    said = (await fan.request("comment", post_id=talk, text="好文"))["comment_id"]
    for who in (owner, editor):
        await shown(who, aid, talk, said, fan, "好文")
    await owner.request("moderate_comment", post_id=talk, comment_id=said, action="hide")
    for who in (owner, editor):
        await shown(who, aid, talk, said, fan, "好文", hidden=True, moderated=True)
    assert [e["comment_id"] for e in events(fan, "comment_deleted")] == [said]
    assert await listed(editor, talk) == [("好文", "hidden")]
    await quiet(fan, writer, passer)
    # Hidden again: nothing. Approved: back for everyone; its author told again, the others not.
    await editor.request("moderate_comment", post_id=talk, comment_id=said, action="hide")
    await quiet(owner, editor)
    await editor.request("moderate_comment", post_id=talk, comment_id=said, action="approve")
    for who in (owner, editor, fan):
        await shown(who, aid, talk, said, fan, "好文", moderated=True)
    assert await listed(passer, talk) == [("好文", "visible")]

    # Held by the word lists and released by the platform: as an approved one.
    flagged = (await writer.request("comment", post_id=talk, text="今晚集会"))["comment_id"]
    for who in (owner, editor):
        await shown(who, aid, talk, flagged, writer, "今晚集会", held=True)
    await decide(srv, flagged, "release")
    for who in (owner, editor, writer):
        await shown(who, aid, talk, flagged, writer, "今晚集会", moderated=True)
    assert await listed(passer, talk) == [("今晚集会", "visible"), ("好文", "visible")]
    # Released on a post whose comments wait for the account's approval: still held, nothing said.
    waiting = (await writer.request("comment", post_id=vetted, text="明晚集会"))["comment_id"]
    for who in (owner, editor):
        await shown(who, aid, vetted, waiting, writer, "明晚集会", held=True)
    await decide(srv, waiting, "release")
    await quiet(owner, editor, writer)
    assert ("明晚集会", "held") in await listed(owner, vetted)

    # Deleted: comment_deleted alone, no `comment`. Readers who follow, or not, got no `comment` ever.
    await owner.request("moderate_comment", post_id=talk, comment_id=flagged, action="delete")
    await quiet(owner, editor, writer, fan, passer)
    assert events(passer, "comment_deleted") == []


async def test_set_editor_tells_the_editor_and_the_owner_at_once(srv):
    owner, editor, fan = await srv.user(verify_id=True), await srv.user(verify_id=True), await srv.user()
    aid = await new_account(owner, "快讯")
    await fan.request("subscribe", account_id=aid)
    second = await srv.client()  # the editor's second connection
    await second.login(editor.username, "password123")
    assert (await editor.request("my_accounts"))["accounts"] == []

    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    for who in (editor, second, owner):
        ev = await who.next_event("editor_changed", timeout=2)
        assert ev == {"ev": "editor_changed", "account_id": aid, "user_id": editor.user_id, "on": True,
                      "name": "快讯"}, ev
    assert [(x["account_id"], x["role"]) for x in (await editor.request("my_accounts"))["accounts"]] == [
        (aid, "editor")]
    # Set again: nothing changed, nothing said.
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await quiet(editor, owner, name="editor_changed")

    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=False)
    for who in (editor, second, owner):
        ev = await who.next_event("editor_changed", timeout=2)
        assert (ev["account_id"], ev["user_id"], ev["on"]) == (aid, editor.user_id, False), ev
    assert (await editor.request("my_accounts"))["accounts"] == []
    await quiet(fan, name="editor_changed")
    await second.close()
