"""**[ext]** ``message_changes``: what changed in messages a client already had, while it was away.

``history`` with ``after_seq`` brings only new seqs; an edit, a recall, a reaction or a held message
released below them came back only by reading every page again. Through a real server on both
backends: each kind of change is listed once, as the message reads now, in the order of its last
change; paging; who sees what (the join point, held and rejected messages); the cursor across a
restart; and the refusals.
"""

from __future__ import annotations

import json

from tests.e2e.harness import close_all, restart
from tests.e2e.test_rich_messages import code, crowd, rich_server


async def changes(client, gid, since, **kw):
    return await client.request("message_changes", group_id=gid, since=since, **kw)


async def cursor_now(client, gid):
    r = await client.request("message_changes", group_id=gid)
    assert r["messages"] == [] and r["more"] is False
    return r["cursor"]


async def decide_open(srv, decision):
    """Decides the one open item of the content-review queue."""
    rc, out, err = await srv.admin("review-queue", "--open")
    assert rc == 0, err
    [item] = [json.loads(line) for line in out.splitlines()]
    rc, _, err = await srv.admin("decide", str(item["item_id"]), "--decision", decision, "--note", "checked")
    assert rc == 0, err


async def test_each_change_is_listed_once_as_the_message_reads_now(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1, m2] = await crowd(srv, 2)
    one = (await owner.send(gid, "one"))["seq"]
    two = (await m2.send(gid, "two"))["seq"]
    three = (await admin.send(gid, "three"))["seq"]
    held = await m2.send(gid, "刷单返利 four")
    assert held["held"] is True
    untouched = (await owner.send(gid, "five"))["seq"]
    since = await cursor_now(m1, gid)
    assert (await changes(m1, gid, since))["messages"] == []  # nothing changed yet

    # While m1 is away (it reads nothing), each kind of change, one message reacted to twice.
    await owner.request("edit_message", group_id=gid, seq=one, text="one, edited")
    await owner.request("react", group_id=gid, seq=two, emoji="👍", on=True)
    await admin.request("delete_message", group_id=gid, seq=three)
    await decide_open(srv, "release")
    await m1.request("react", group_id=gid, seq=two, emoji="🎉", on=True)

    r = await changes(m1, gid, since)
    assert [m["seq"] for m in r["messages"]] == [one, three, held["seq"], two]  # by their last change
    assert r["more"] is False and r["cursor"] > since
    first, recalled, released, reacted = r["messages"]
    assert first["text"] == "one, edited" and first["edited_at"] > 0
    assert recalled.get("deleted") is True and "text" not in recalled and recalled["deleted_by"] == "sender"
    assert released["text"] == "刷单返利 four" and released["sender"]["user_id"] == m2.user_id
    assert reacted["reactions"] == {"👍": 1, "🎉": 1} and reacted["my_reactions"] == ["🎉"]
    assert untouched not in [m["seq"] for m in r["messages"]]
    # Each reader is told which reactions are their own, as history tells them.
    by_owner = await changes(owner, gid, since)
    assert [m.get("my_reactions") for m in by_owner["messages"] if m["seq"] == two] == [["👍"]]

    # From the cursor on, only what changes after it; a reaction taken back is a change.
    assert (await changes(m1, gid, r["cursor"]))["messages"] == []
    await owner.request("react", group_id=gid, seq=two, emoji="👍", on=False)
    later = await changes(m1, gid, r["cursor"])
    assert [(m["seq"], m["reactions"]) for m in later["messages"]] == [(two, {"🎉": 1})]
    await close_all(owner, admin, m1, m2)


async def test_pages_follow_the_cursor_and_a_restart_keeps_it(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    seqs = [(await owner.send(gid, f"m{i}"))["seq"] for i in range(5)]
    since = await cursor_now(m1, gid)
    for seq in reversed(seqs):
        await owner.request("edit_message", group_id=gid, seq=seq, text=f"edited {seq}")

    got, cursor, pages = [], since, 0
    while True:
        page = await changes(m1, gid, cursor, limit=2)
        got += [m["seq"] for m in page["messages"]]
        cursor, pages = page["cursor"], pages + 1
        if not page["more"]:
            break
        assert len(page["messages"]) == 2
    assert got == list(reversed(seqs)) and pages == 3

    owner, m1 = await restart(srv, owner, m1)
    assert (await changes(m1, gid, cursor))["messages"] == []
    await owner.request("edit_message", group_id=gid, seq=seqs[2], text="after the restart")
    [m] = (await changes(m1, gid, cursor))["messages"]
    assert (m["seq"], m["text"]) == (seqs[2], "after the restart")
    await close_all(owner, admin, m1)


async def test_a_reader_gets_only_what_it_may_see(make_server, tmp_path):
    """Not a message from before the reader joined, nor one held for review or rejected; a
    stranger and a bad cursor are refused."""
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    before = (await owner.send(gid, "before the join"))["seq"]
    late = await srv.user()
    await late.request("join_group", group_id=gid)
    after = (await owner.send(gid, "after the join"))["seq"]
    since = await cursor_now(late, gid)
    held = await m1.send(gid, "刷单返利 still held")
    assert held["held"] is True
    await owner.request("edit_message", group_id=gid, seq=before, text="before, edited")
    await owner.request("edit_message", group_id=gid, seq=after, text="after, edited")
    assert [m["seq"] for m in (await changes(late, gid, since))["messages"]] == [after]
    assert [m["seq"] for m in (await changes(m1, gid, since))["messages"]] == [before, after]

    await decide_open(srv, "reject")  # held, then rejected: a change nobody is shown
    assert [m["seq"] for m in (await changes(m1, gid, since))["messages"]] == [before, after]

    stranger = await srv.user()
    assert code(await stranger.call("message_changes", group_id=gid, since=since)) == "not_member"
    bad = await m1.call("message_changes", group_id=gid, since=-1)
    assert code(bad) == "bad_request" and "since" in bad["reason"]
    assert code(await m1.call("message_changes", group_id=gid, since="1")) == "bad_request"
    await close_all(owner, admin, m1, late, stranger)


async def test_a_reader_who_joined_again_is_told_the_new_join_point(make_server, tmp_path):
    """A reader who left and joined again while away sees nothing from before the new join: the page
    says where that is (joined_seq), so that a client drops the older messages it holds."""
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    old = (await owner.send(gid, "before"))["seq"]
    since = await cursor_now(m1, gid)
    assert (await changes(m1, gid, since))["joined_seq"] < old
    await m1.request("leave_group", group_id=gid)
    await m1.request("join_group", group_id=gid)
    await owner.request("edit_message", group_id=gid, seq=old, text="before, edited")
    r = await changes(m1, gid, since)
    assert r["messages"] == [] and r["joined_seq"] >= old
    await close_all(owner, admin, m1)
