"""A member sees the messages sent since they joined, and nothing about older ones.

``history`` never shows a member a message from before their join; the events about one
message (its deletion, by its sender, a manager or the platform) and the group's pins must
not name such a message either. End to end, on both backends.
"""

from __future__ import annotations

import json
from typing import Any

from client_demo.client import Client
from tests.e2e.test_rich_messages import close_all, crowd, rich_server


async def events_until(client: Client, name: str, seq: int) -> list[dict[str, Any]]:
    """Every event ``client`` gets up to and including the ``name`` event about ``seq``: a
    connection gets one group's events in order, so whatever came before it is in the list."""
    seen: list[dict[str, Any]] = []
    while True:
        ev = await client.next_event(timeout=5)
        seen.append(ev)
        if ev.get("ev") == name and ev.get("seq") == seq:
            return seen


async def test_deletions_of_messages_from_before_a_join_are_not_sent_to_the_newcomer(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    own = (await m1.send(gid, "mine to take back"))["seq"]
    managed = (await m1.send(gid, "an admin removes this"))["seq"]
    flagged = (await m1.send(gid, "vpn下载 here"))["seq"]  # flagged: delivered and queued for review
    termed = (await m1.send(gid, "明天停水 says a rumour"))["seq"]
    late = await srv.user()
    await late.request("join_group", group_id=gid)
    assert (await late.request("history", group_id=gid))["messages"] == []
    for c in (owner, admin, m1, late):
        c.drain_events()

    await m1.request("delete_message", group_id=gid, seq=own)  # by its sender
    await admin.request("delete_message", group_id=gid, seq=managed)  # by a manager
    rc, out, _ = await srv.admin("review-queue", "--open")
    [item] = [json.loads(line) for line in out.splitlines()]
    rc, _, err = await srv.admin("decide", str(item["item_id"]), "--decision", "remove", "--note", "porn")
    assert rc == 0, err  # by the platform's review
    rc, _, err = await srv.admin("remove-term", "明天停水", "--reason", "rumour")
    assert rc == 0, err  # by the platform's mass removal
    deleted = [e["seq"] for e in await events_until(owner, "message_deleted", termed) if e["ev"] == "message_deleted"]
    assert deleted == [own, managed, flagged, termed]  # members from before are told of each

    # A message after the join: the newcomer is told of its deletion, and of nothing before it.
    new = (await owner.send(gid, "welcome"))["seq"]
    await owner.request("delete_message", group_id=gid, seq=new)
    got = await events_until(late, "message_deleted", new)
    assert [e["seq"] for e in got if e["ev"] == "message_deleted"] == [new], got
    await close_all(owner, admin, m1, late)


async def test_a_manager_cannot_delete_a_message_sent_before_they_joined(make_server, tmp_path):
    """A message from before a member's join does not exist for them (``history`` never shows it),
    even once they are made an admin: deleting it is ``not_found``, as for any seq they cannot see,
    and the message stays shown to those who saw it. Without the check a newly promoted admin could
    blindly take down, by seq, messages they were never shown (and learn which seqs exist)."""
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    old = (await m1.send(gid, "said before the newcomer came"))["seq"]
    late = await srv.user()
    await late.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=late.user_id, role="admin")
    assert (await late.request("history", group_id=gid))["messages"] == []
    r = await late.call("delete_message", group_id=gid, seq=old)
    assert r.get("code") == "not_found", r
    [shown] = [m for m in (await owner.request("history", group_id=gid))["messages"] if m["seq"] == old]
    assert shown.get("text") == "said before the newcomer came" and not shown.get("deleted"), shown
    # (a message after the join: the same admin may delete it)
    new = (await m1.send(gid, "said after"))["seq"]
    assert (await late.call("delete_message", group_id=gid, seq=new))["ok"]
    await close_all(owner, admin, m1, late)


async def test_a_member_sees_only_the_pins_of_messages_sent_since_they_joined(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)  # max_pins = 2
    gid, owner, admin, [m1] = await crowd(srv, 1)
    old = (await m1.send(gid, "house rules"))["seq"]
    await owner.request("pin_message", group_id=gid, seq=old, on=True)
    late = await srv.user()
    await late.request("join_group", group_id=gid)
    assert (await late.request("history", group_id=gid))["messages"] == []
    assert (await late.request("group_info", group_id=gid))["pinned"] == []
    assert (await m1.request("group_info", group_id=gid))["pinned"] == [old]
    # Made an admin, the newcomer still cannot touch (nor learn of) the pin of a message from before
    # they joined: pinning it again or unpinning it answers as for a message that does not exist.
    await owner.request("set_role", group_id=gid, user_id=late.user_id, role="admin")
    for on in (True, False):
        assert (await late.call("pin_message", group_id=gid, seq=old, on=on))["code"] == "not_found"
    assert (await m1.request("group_info", group_id=gid))["pinned"] == [old]
    for c in (owner, admin, m1, late):
        c.drain_events()

    new = (await owner.send(gid, "welcome"))["seq"]
    await admin.request("pin_message", group_id=gid, seq=new, on=True)
    assert (await m1.next_event("group_updated"))["pinned"] == [old, new]
    assert (await late.next_event("group_updated"))["pinned"] == [new]
    assert (await late.request("group_info", group_id=gid))["pinned"] == [new]

    # Unpinning the old message changes nothing the newcomer can see: they are not told.
    await owner.request("pin_message", group_id=gid, seq=old, on=False)
    assert (await m1.next_event("group_updated"))["pinned"] == [new]
    await owner.request("pin_message", group_id=gid, seq=new, on=False)
    assert (await m1.next_event("group_updated"))["pinned"] == []
    assert (await late.next_event("group_updated"))["pinned"] == []  # the first since: no news of `old`
    await close_all(owner, admin, m1, late)


async def test_reactions_and_edits_of_messages_from_before_a_join_are_not_sent_to_the_newcomer(make_server, tmp_path):
    """An event about a message sent after every member joined goes to all the group's connections at
    once (the group's ``joined_high``); one about an older message only to those who were there, also
    after a restart (the load sets the mark from the stored memberships)."""
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    old = (await m1.send(gid, "before"))["seq"]
    late = await srv.user()
    await late.request("join_group", group_id=gid)
    names = {c: c.username for c in (owner, m1, late)}  # type: ignore[attr-defined]

    async def check(owner, m1, late) -> None:
        for c in (owner, m1, late):
            c.drain_events()
        await m1.request("react", group_id=gid, seq=old, emoji="👍", on=True)
        await m1.request("edit_message", group_id=gid, seq=old, text="before, edited")
        assert (await owner.next_event("message_edited"))["seq"] == old
        marker = (await owner.send(gid, "after"))["seq"]
        await m1.request("react", group_id=gid, seq=marker, emoji="🎉", on=True)
        got = await events_until(late, "reaction", marker)
        assert [(e["ev"], e.get("seq")) for e in got] == [("message", marker), ("reaction", marker)], got

    await check(owner, m1, late)
    await close_all(owner, admin, m1, late)
    await srv.stopped()
    srv.start()
    again = {}
    for c, name in names.items():
        again[c] = await srv.client()
        await again[c].login(name, "password123")
    await check(again[owner], again[m1], again[late])
    await close_all(*again.values())


async def test_a_join_still_being_stored_shows_nothing_of_a_private_group(server):
    """A join whose write is in flight is no membership yet (as member_of says for every other read):
    group_info on the user's other connection meanwhile gives not_member, and when the store then
    refuses the join, they have read nothing members read. It gave them the announcement and the pins
    (found by a review of group governance)."""
    import asyncio

    from tests.e2e.harness import open_group
    from tests.e2e.store_hold import until_write_waits, writes_held
    from tests.e2e.test_races import refuse_rows

    owner, joiner = await server.user(), await server.user()
    other = await server.client()  # the joiner's second connection
    await other.login(joiner.username, "password123")
    gid = await open_group(owner)
    await owner.request("set_announcement", group_id=gid, text="members-only secret")
    uid = joiner.user_id
    refuse_rows(server, "no_joiner", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    async with writes_held(server, "members"):
        join = asyncio.ensure_future(joiner.call("join_group", group_id=gid))
        await until_write_waits(server, "members")
        info = await other.call("group_info", group_id=gid)
    assert not (await join)["ok"]  # the store refused the join: they never were a member
    assert info.get("code") == "not_member" and "members-only secret" not in json.dumps(info), info
    await close_all(owner, joiner, other)
