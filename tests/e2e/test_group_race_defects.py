"""Group management under concurrency: answers given on a claim still in flight (review findings)."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import close_all, open_group, restart
from tests.e2e.store_hold import until, until_write_waits, writes_held
from tests.e2e.test_races import mend_rows, refuse_rows


def code(reply) -> str:
    return "ok" if reply.get("ok") else reply["code"]


async def test_a_second_device_is_not_told_pending_for_a_request_whose_write_is_refused(make_server):
    """Bob asks to join an approval group; while his request's write is in flight the owner turns the
    group to invitations only, and Bob's second device asks again. join_group's ``invite`` branch
    answered ``pending`` from the claim in memory (``uid in g.join_requests``) without waiting for the
    write, as request_to_join does: the store then refused the request, and the second device was
    told of a pending request that never existed (nobody can ever decide it)."""
    srv = make_server()
    owner, bob = await srv.user(), await srv.user()
    other = await srv.client()
    await other.login(bob.username, "password123")
    watcher = await srv.client()  # the owner's second connection: a connection answers in order
    await watcher.login(owner.username, "password123")
    gid = await open_group(owner, join_policy="approval")
    uid = bob.user_id
    refuse_rows(srv, "no_bob_request", "join_requests", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")

    async def invite_only() -> bool:
        r = await watcher.call("group_info", group_id=gid)
        return r["ok"] and r["join_policy"] == "invite"

    async with writes_held(srv, "join_requests"):
        first = asyncio.ensure_future(bob.call("join_group", group_id=gid))
        await until_write_waits(srv, "join_requests")
        policy = asyncio.ensure_future(owner.call("update_group", group_id=gid, join_policy="invite"))
        await until(invite_only, timeout=2)
        # (since the fix it waits for the first request's write, held here: answered once it is decided)
        asked = asyncio.ensure_future(other.call("join_group", group_id=gid))
        await asyncio.sleep(0.3)
    first_r, policy_r, second = await first, await policy, await asked
    mend_rows(srv, "no_bob_request", "join_requests")
    stored = srv.db_rows("SELECT COUNT(*) FROM join_requests WHERE group_id = ? AND user_id = ?", gid, uid)
    listed = [r["user_id"] for r in (await owner.request("join_requests", group_id=gid))["requests"]]
    assert code(first_r) == "internal", first_r  # the request was refused by the store
    assert code(policy_r) == "ok", policy_r
    assert stored == [(0,)] and listed == []
    # The second device must not be told its request stands: nothing was stored.
    assert not (second.get("ok") and second.get("status") == "pending"), (
        f"told 'pending' for a request the store refused: {second}")
    assert second["code"] == "forbidden", second  # (invitation only, and no request stands)
    await close_all(owner, bob, other, watcher)


async def test_a_join_on_an_invitation_whose_write_is_refused_is_refused_too(make_server):
    """The owner invites Bob into an invitation-only group; while the invitation's write is in flight
    Bob calls join_group. invitation_stands() reads the invitation claimed in memory, so Bob is let
    in at once; the store then refuses the invitation (the owner is told ``internal``), yet Bob's
    admission, queued after it, is stored: an invitation the store refused let a stranger into an
    invitation-only group. (Approvals wait for a join request's write in flight: _decidable.)"""
    srv = make_server()
    owner, bob = await srv.user(), await srv.user()
    watcher = await srv.client()  # the owner's second connection: a connection answers in order
    await watcher.login(owner.username, "password123")
    gid = await open_group(owner, join_policy="invite")
    uid = bob.user_id
    refuse_rows(srv, "no_bob_invite", "invitations", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    async with writes_held(srv, "invitations"):
        invited = asyncio.ensure_future(owner.call("invite", group_id=gid, user_id=uid))
        await until_write_waits(srv, "invitations")
        joined = asyncio.ensure_future(bob.call("join_group", group_id=gid))
        await asyncio.sleep(0.3)
    invite_r, join_r = await invited, await joined
    mend_rows(srv, "no_bob_invite", "invitations")
    assert code(invite_r) == "internal", invite_r  # the store refused the invitation
    in_store = srv.db_rows("SELECT COUNT(*) FROM members WHERE group_id = ? AND user_id = ?", gid, uid)
    members = [m["user_id"] for m in (await watcher.request("members", group_id=gid))["members"]]
    assert (join_r.get("ok"), in_store, uid in members) == (False, [(0,)], False), (
        f"joined on a refused invitation: join_group answered {join_r}, members row {in_store}, "
        f"listed {uid in members}")
    await close_all(owner, bob, watcher)


async def test_a_join_while_the_groups_opening_is_refused_is_refused_too(make_server):
    """The owner turns an approval group ``open``; while that write is in flight Carol calls
    join_group and is let in at once (the policy claimed in memory). The store refuses the opening
    (the owner is told ``internal``, the group stays ``approval``), yet Carol's admission is stored:
    she is in an approval group nobody approved her for."""
    srv = make_server()
    owner, carol = await srv.user(), await srv.user()
    watcher = await srv.client()
    await watcher.login(owner.username, "password123")
    gid = await open_group(owner, join_policy="approval")
    refuse_rows(srv, "no_opening", "audit", "NEW.action = 'update_group'", "action <> 'update_group'")

    async def opened() -> bool:
        return (await watcher.request("group_info", group_id=gid))["join_policy"] == "open"

    async with writes_held(srv, "groups"):
        opening = asyncio.ensure_future(owner.call("update_group", group_id=gid, join_policy="open"))
        await until_write_waits(srv, "groups")
        assert not await opened()  # (since the fix: shown once stored)
        joined = asyncio.ensure_future(carol.call("join_group", group_id=gid))
        await asyncio.sleep(0.3)
    opening_r, join_r = await opening, await joined
    mend_rows(srv, "no_opening", "audit")
    assert code(opening_r) == "internal", opening_r
    [(policy,)] = srv.db_rows("SELECT join_policy FROM groups WHERE group_id = ?", gid)
    assert policy == "approval"
    in_store = srv.db_rows("SELECT COUNT(*) FROM members WHERE group_id = ? AND user_id = ?", gid, carol.user_id)
    assert (join_r.get("status"), in_store) != ("joined", [(1,)]), (
        f"joined an approval group through an opening the store refused: {join_r}, members row {in_store}")
    await close_all(owner, carol, watcher)


async def test_a_join_while_an_unban_is_refused_is_refused_too(make_server):
    """The owner unbans Dave; while the unban's write is in flight Dave joins (the ban taken out of
    memory at the claim). The store refuses the unban (the ban stands there, the owner is told
    ``internal``), yet Dave's admission is stored: a banned user is a member, and after a restart the
    ban (still in force) and the membership are both loaded."""
    srv = make_server()
    owner, dave = await srv.user(), await srv.user()
    watcher = await srv.client()
    await watcher.login(owner.username, "password123")
    watcher.username = owner.username
    gid = await open_group(owner)
    await dave.request("join_group", group_id=gid)
    await owner.request("ban", group_id=gid, user_id=dave.user_id, seconds=3600)
    refuse_rows(srv, "no_unban", "audit", "NEW.action = 'unban'", "action <> 'unban'")

    async def unbanned() -> bool:
        return (await watcher.request("bans", group_id=gid))["bans"] == []

    async with writes_held(srv, "bans"):
        unban = asyncio.ensure_future(owner.call("unban", group_id=gid, user_id=dave.user_id))
        await until_write_waits(srv, "bans")
        assert not await unbanned()  # (since the fix: shown once stored)
        joined = asyncio.ensure_future(dave.call("join_group", group_id=gid))
        await asyncio.sleep(0.3)
    unban_r, join_r = await unban, await joined
    mend_rows(srv, "no_unban", "audit")
    assert code(unban_r) == "internal", unban_r
    assert srv.db_rows("SELECT COUNT(*) FROM bans WHERE group_id = ? AND user_id = ?", gid, dave.user_id) == [(1,)]
    in_store = srv.db_rows("SELECT COUNT(*) FROM members WHERE group_id = ? AND user_id = ?", gid, dave.user_id)
    (watcher,) = await restart(srv, watcher)
    members = [m["user_id"] for m in (await watcher.request("members", group_id=gid))["members"]]
    banned = [b["user_id"] for b in (await watcher.request("bans", group_id=gid))["bans"]]
    assert (join_r.get("ok"), in_store, dave.user_id in members and dave.user_id in banned) == (False, [(0,)], False), (
        f"a banned user joined while the store refused the unban: {join_r}, members row {in_store}; after a "
        f"restart member: {dave.user_id in members}, banned: {dave.user_id in banned}")
    await close_all(owner, dave, watcher)


async def test_a_message_sent_while_an_unmute_is_refused_is_not_stored(make_server):
    """The owner lifts Erin's mute (``mute`` with 0); while that write is in flight Erin sends, and the
    send goes through on the lift claimed in memory. The store refuses the lift (Erin stays muted
    there, the owner is told ``internal``), yet her message is stored and delivered: a muted member
    posted."""
    srv = make_server()
    owner, erin = await srv.user(), await srv.user()
    watcher = await srv.client()
    await watcher.login(owner.username, "password123")
    gid = await open_group(owner)
    await erin.request("join_group", group_id=gid)
    await owner.request("mute", group_id=gid, user_id=erin.user_id, seconds=3600)
    refuse_rows(srv, "no_unmute", "audit", "NEW.action = 'mute'", "action <> 'mute'")

    async def lifted() -> bool:
        ms = (await watcher.request("members", group_id=gid))["members"]
        return not any(m["user_id"] == erin.user_id and m.get("muted_until") for m in ms)

    async with writes_held(srv, "members"):
        unmute = asyncio.ensure_future(owner.call("mute", group_id=gid, user_id=erin.user_id, seconds=0))
        await until_write_waits(srv, "members")
        assert not await lifted()  # (since the fix: shown once stored)
        sent = asyncio.ensure_future(erin.call("send", group_id=gid, text="我又能说话了"))
        await asyncio.sleep(0.3)
    unmute_r, send_r = await unmute, await sent
    mend_rows(srv, "no_unmute", "audit")
    assert code(unmute_r) == "internal", unmute_r
    [(muted_until,)] = srv.db_rows("SELECT muted_until FROM members WHERE group_id = ? AND user_id = ?",
                                   gid, erin.user_id)
    assert muted_until > 0  # the store kept the mute
    stored = srv.db_rows("SELECT COUNT(*) FROM messages WHERE group_id = ? AND sender_id = ?", gid, erin.user_id)
    assert (code(send_r), stored) != ("ok", [(1,)]), (
        f"a muted member's message was stored while the store refused the unmute: {send_r}")
    await close_all(owner, erin, watcher)


async def test_a_join_still_being_stored_is_not_listed_nor_counted(make_server):
    """``members`` listed, and ``group_info`` and ``invite_info`` counted, a join whose write was still in
    flight (a member the store may yet refuse, of whom nobody had been told with ``member_joined``)."""
    srv = make_server()
    owner, carol = await srv.user(), await srv.user()
    gid = await open_group(owner)
    link = (await owner.request("create_invite_link", group_id=gid))["code"]
    async with writes_held(srv, "members"):
        joined = asyncio.ensure_future(carol.call("join_group", group_id=gid))
        await until_write_waits(srv, "members")
        listed = [m["user_id"] for m in (await owner.request("members", group_id=gid))["members"]]
        counted = (await owner.request("group_info", group_id=gid))["member_count"]
        by_link = (await owner.request("invite_info", invite_code=link))["member_count"]
    assert code(await joined) == "ok"
    assert (listed, counted, by_link) == ([owner.user_id], 1, 1)
    after = [m["user_id"] for m in (await owner.request("members", group_id=gid))["members"]]
    assert sorted(after) == sorted([owner.user_id, carol.user_id])
    assert (await owner.request("group_info", group_id=gid))["member_count"] == 2
    await close_all(owner, carol)


async def test_a_join_request_still_being_stored_is_not_listed(make_server):
    """``join_requests`` listed a request whose write was in flight: a manager could see (and the
    request's refusal then take away) a request never stored."""
    srv = make_server()
    owner, carol = await srv.user(), await srv.user()
    gid = await open_group(owner, join_policy="approval")
    async with writes_held(srv, "join_requests"):
        asked = asyncio.ensure_future(carol.call("join_group", group_id=gid))
        await until_write_waits(srv, "join_requests")
        listed = (await owner.request("join_requests", group_id=gid))["requests"]
    assert (await asked)["status"] == "pending"
    assert listed == []
    after = [r["user_id"] for r in (await owner.request("join_requests", group_id=gid))["requests"]]
    assert after == [carol.user_id]
    await close_all(owner, carol)


async def test_my_groups_leaves_out_a_join_still_being_stored(make_server):
    """The joiner's other connection listed the group in ``my_groups`` while the join's write was in
    flight (``group_info`` and ``send`` there said not a member): a join the store then refused left
    a group in the list that was never theirs."""
    srv = make_server()
    owner, carol = await srv.user(), await srv.user()
    other = await srv.client()
    await other.login(carol.username, "password123")
    gid = await open_group(owner)
    async with writes_held(srv, "members"):
        joined = asyncio.ensure_future(carol.call("join_group", group_id=gid))
        await until_write_waits(srv, "members")
        listed = [g["group_id"] for g in (await other.request("my_groups"))["groups"]]
    assert code(await joined) == "ok"
    assert listed == []
    assert [g["group_id"] for g in (await other.request("my_groups"))["groups"]] == [gid]
    await close_all(owner, carol, other)


async def test_an_invitation_waits_for_a_join_still_being_stored(make_server):
    """``invite`` answered ``conflict`` ("already a member") for someone whose join was still being
    written: when the store then refused the join, they were no member and had no invitation."""
    srv = make_server()
    owner, dave = await srv.user(), await srv.user()
    gid = await open_group(owner, join_policy="approval")
    link = (await owner.request("create_invite_link", group_id=gid))["code"]
    uid = dave.user_id
    refuse_rows(srv, "no_dave", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    async with writes_held(srv, "members"):
        joined = asyncio.ensure_future(dave.call("join_group", invite_code=link))
        await until_write_waits(srv, "members")
        invited = asyncio.ensure_future(owner.call("invite", group_id=gid, user_id=uid))
        await asyncio.sleep(0.3)
        assert not invited.done()  # (waiting for the join's outcome)
    assert code(await joined) == "internal"
    assert code(await invited) == "ok", invited.result()
    mend_rows(srv, "no_dave", "members")
    assert (await dave.request("join_group", group_id=gid))["status"] == "joined"  # on the invitation
    await close_all(owner, dave)
