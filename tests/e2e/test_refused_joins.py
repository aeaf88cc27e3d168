"""A join the store refuses changes nothing: the invitation it would have used up still stands, and it
costs nothing of ``rate_limits.joins_per_minute`` (which counts joins and new requests). Both backends."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import close_all, open_group
from tests.e2e.store_hold import writes_held
from tests.e2e.test_races import mend_rows, refuse_rows


async def test_an_invitation_stored_while_a_refused_join_was_in_flight_still_stands(make_server):
    """The owner invites X to an invite-only group, and before that invitation is stored X joins by an
    invite link (X had both); the store keeps the invitation and refuses the join (a failing write).
    The database holds the invitation (the join that would have dropped it was never stored), but
    memory skipped it (invite's ``stored`` saw X a member by the join's claim, not yet refused): once
    the write failure is gone, X's join by the group's id was refused as invitation-only until a
    restart."""
    srv = make_server()
    owner, x = await srv.user(), await srv.user()
    gid = await open_group(owner, join_policy="invite")
    code = (await owner.request("create_invite_link", group_id=gid))["code"]
    uid = x.user_id
    refuse_rows(srv, "no_x", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    async with writes_held(srv, "invitations"):
        invited = asyncio.create_task(owner.call("invite", group_id=gid, user_id=uid))
        await asyncio.sleep(0.5)
        joined = asyncio.create_task(x.call("join_group", invite_code=code))
        await asyncio.sleep(0.5)
    inv, join = await invited, await joined
    assert inv.get("ok"), inv
    assert join.get("ok") is False, join  # refused by the store
    rows = srv.db_rows(f"SELECT inviter_id FROM invitations WHERE group_id = '{gid}' AND user_id = '{uid}'")
    assert rows == [(owner.user_id,)], rows  # stored; the join that would have dropped it was not
    mend_rows(srv, "no_x", "members")
    again = await x.call("join_group", group_id=gid)
    assert again.get("status") == "joined", f"invited in the database, but join_group answered {again}"
    assert srv.db_rows(f"SELECT count(*) FROM invitations WHERE group_id = '{gid}' AND user_id = '{uid}'") == [(0,)]
    await close_all(owner, x)


async def test_an_invitation_survives_a_join_on_it_the_store_refused(make_server):
    """X holds an invitation to an invite-only group; their join on it is refused by the store (and a
    join on it that passes is not answered before the store): X joins on it once the failure is gone."""
    srv = make_server()
    owner, x = await srv.user(), await srv.user()
    gid = await open_group(owner, join_policy="invite")
    uid = x.user_id
    await owner.request("invite", group_id=gid, user_id=uid)
    refuse_rows(srv, "no_x", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    refused = await x.call("join_group", group_id=gid)
    assert refused.get("ok") is False, refused
    mend_rows(srv, "no_x", "members")
    assert (await x.call("join_group", group_id=gid)).get("status") == "joined"
    await close_all(owner, x)


async def test_an_invitation_survives_a_join_refused_at_the_join_cap(make_server):
    """X, invited to an invite-only group, has since reached their joined-groups cap: the join is
    refused (``join_cap_reached``) and the invitation stands; after leaving another group, X joins on it."""
    srv = make_server("[limits]\nmax_groups_joined = 1\n")
    owner, other, x = await srv.user(), await srv.user(), await srv.user()
    gid = await open_group(owner, join_policy="invite")
    elsewhere = await open_group(other, name="elsewhere")
    await owner.request("invite", group_id=gid, user_id=x.user_id)
    assert (await x.call("join_group", group_id=elsewhere)).get("status") == "joined"
    assert (await x.call("join_group", group_id=gid)).get("code") == "join_cap_reached"
    await x.request("leave_group", group_id=elsewhere)
    assert (await x.call("join_group", group_id=gid)).get("status") == "joined"
    await close_all(owner, other, x)


async def test_a_join_or_request_the_store_refuses_costs_no_join(make_server):
    """``rate_limits.joins_per_minute`` counts the calls that join a group or store a new request: a
    join or a request the store refused did neither (nothing announced, nothing stored), as a refused
    display name costs no rename. It was counted, so after one failed write a user at
    ``joins_per_minute = 1`` could join nothing for a minute."""
    srv = make_server(joins_per_minute=1)
    owner, x = await srv.user(), await srv.user()
    open_one = await open_group(owner, name="open room")
    asks = await open_group(owner, name="asks", join_policy="approval")
    uid = x.user_id
    refuse_rows(srv, "no_x", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    refuse_rows(srv, "no_x_ask", "join_requests", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    for gid in (open_one, asks):
        refused = await x.call("join_group", group_id=gid)
        assert refused.get("ok") is False and refused.get("code") != "rate_limited", refused
    mend_rows(srv, "no_x", "members")
    mend_rows(srv, "no_x_ask", "join_requests")
    assert (await x.call("join_group", group_id=open_one)).get("status") == "joined"
    # (the one join counted now: the next is limited, as before)
    assert (await x.call("join_group", group_id=asks)).get("code") == "rate_limited"
    await close_all(owner, x)


async def test_an_invitation_survives_a_join_on_it_and_a_ban_both_refused(make_server):
    """X's join on their invitation is in flight when a manager bans X; the store refuses both. Nothing
    of it was stored, so the invitation stands in the database; but the join had taken it out of
    memory, its undo did not put it back (X banned, by the ban's claim then) and the ban's undo had
    none to put back: X was refused as invitation-only until a restart."""
    srv = make_server()
    owner, x = await srv.user(), await srv.user()
    other = await srv.client()  # the owner's second connection (a connection answers in order)
    await other.login(owner.username, "password123")
    gid = await open_group(owner, join_policy="invite")
    uid = x.user_id
    await owner.request("invite", group_id=gid, user_id=uid)
    refuse_rows(srv, "no_x", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    refuse_rows(srv, "no_ban_of_x", "bans", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    async with writes_held(srv, "members"):
        joined = asyncio.create_task(x.call("join_group", group_id=gid))
        await asyncio.sleep(0.5)
        banned = asyncio.create_task(other.call("ban", group_id=gid, user_id=uid, reason="刷屏"))
        await asyncio.sleep(0.5)
    join, ban = await joined, await banned
    assert join.get("ok") is False and ban.get("ok") is False, (join, ban)
    rows = srv.db_rows(f"SELECT inviter_id FROM invitations WHERE group_id = '{gid}' AND user_id = '{uid}'")
    assert rows == [(owner.user_id,)], rows
    mend_rows(srv, "no_x", "members")
    again = await x.call("join_group", group_id=gid)
    assert again.get("status") == "joined", f"invited in the database, but join_group answered {again}"
    await close_all(owner, other, x)


async def requests_listed(manager, gid: str) -> list[str]:
    return [r["user_id"] for r in (await manager.request("join_requests", group_id=gid))["requests"]]


def request_rows(srv, gid: str, uid: str) -> int:
    [(n,)] = srv.db_rows(f"SELECT count(*) FROM join_requests WHERE group_id = '{gid}' AND user_id = '{uid}'")
    return int(n)


async def test_a_join_request_survives_a_join_and_a_ban_both_refused(make_server):
    """X's request to join an approval group is pending when X joins by an invite link, and a manager
    bans X while that join is in flight; the store refuses both. The request stands in the database
    (neither AddMember nor PutBan was stored to drop it), but the join had taken it out of memory, its
    undo did not put it back (X banned, by the ban's claim then) and the ban had taken none to put back:
    the managers' list no longer showed it and approve_join answered not_found, until a restart."""
    srv = make_server()
    owner, x = await srv.user(), await srv.user()
    other = await srv.client()  # the owner's second connection (a connection answers in order)
    await other.login(owner.username, "password123")
    gid = await open_group(owner, join_policy="approval")
    code = (await owner.request("create_invite_link", group_id=gid))["code"]
    uid = x.user_id
    assert (await x.call("join_group", group_id=gid)).get("status") == "pending"
    refuse_rows(srv, "no_x", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    refuse_rows(srv, "no_ban_of_x", "bans", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    async with writes_held(srv, "members"):
        joined = asyncio.create_task(x.call("join_group", invite_code=code))
        await asyncio.sleep(0.5)
        banned = asyncio.create_task(other.call("ban", group_id=gid, user_id=uid, reason="刷屏"))
        await asyncio.sleep(0.5)
    join, ban = await joined, await banned
    assert join.get("ok") is False and ban.get("ok") is False, (join, ban)
    assert request_rows(srv, gid, uid) == 1  # stored, and dropped by neither refused write
    assert await requests_listed(owner, gid) == [uid], "the request the store holds is not listed"
    mend_rows(srv, "no_x", "members")
    assert (await owner.call("approve_join", group_id=gid, user_id=uid)).get("ok") is not False
    assert (await x.request("group_info", group_id=gid))["group_id"] == gid
    await close_all(owner, other, x)


async def test_a_join_request_survives_an_approval_and_a_ban_both_refused(make_server):
    """As above, with the manager's approval as the join: refused together with a ban, the request
    stands (in the database and in the managers' list), and a later approval lets X in."""
    srv = make_server()
    owner, x = await srv.user(), await srv.user()
    other = await srv.client()  # the owner's second connection
    await other.login(owner.username, "password123")
    gid = await open_group(owner, join_policy="approval")
    uid = x.user_id
    assert (await x.call("join_group", group_id=gid)).get("status") == "pending"
    refuse_rows(srv, "no_x", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    refuse_rows(srv, "no_ban_of_x", "bans", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    async with writes_held(srv, "members"):
        approved = asyncio.create_task(owner.call("approve_join", group_id=gid, user_id=uid))
        await asyncio.sleep(0.5)
        banned = asyncio.create_task(other.call("ban", group_id=gid, user_id=uid, reason="刷屏"))
        await asyncio.sleep(0.5)
    approval, ban = await approved, await banned
    assert approval.get("ok") is False and ban.get("ok") is False, (approval, ban)
    assert request_rows(srv, gid, uid) == 1
    assert await requests_listed(owner, gid) == [uid], "the request the store holds is not listed"
    mend_rows(srv, "no_x", "members")
    assert (await owner.call("approve_join", group_id=gid, user_id=uid)).get("ok") is not False
    assert (await x.request("group_info", group_id=gid))["group_id"] == gid
    await close_all(owner, other, x)


async def test_a_join_request_the_store_refused_while_a_join_was_in_flight_is_gone(make_server):
    """X asks to join an approval group and, before the request is stored, joins by an invite link on
    another connection; the store refuses both. The join had taken the request (still in flight) out
    of memory, so the request's refusal found none to take out, and the join's undo put it back: the
    managers were shown, and could approve, a request the store never held, and X's next join_group
    answered ``pending`` with nothing stored."""
    srv = make_server()
    owner, x = await srv.user(), await srv.user()
    second = await srv.client()  # X's second connection
    await second.login(x.username, "password123")
    gid = await open_group(owner, join_policy="approval")
    code = (await owner.request("create_invite_link", group_id=gid))["code"]
    uid = x.user_id
    refuse_rows(srv, "no_x", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    refuse_rows(srv, "no_x_ask", "join_requests", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    async with writes_held(srv, "join_requests"):
        asked = asyncio.create_task(x.call("join_group", group_id=gid))
        await asyncio.sleep(0.5)
        joined = asyncio.create_task(second.call("join_group", invite_code=code))
        await asyncio.sleep(0.5)
    ask, join = await asked, await joined
    assert ask.get("ok") is False and join.get("ok") is False, (ask, join)
    assert request_rows(srv, gid, uid) == 0
    assert await requests_listed(owner, gid) == [], "a request the store refused is listed"
    mend_rows(srv, "no_x_ask", "join_requests")
    assert (await x.call("join_group", group_id=gid)).get("status") == "pending"
    assert request_rows(srv, gid, uid) == 1, "join_group answered pending with no request stored"
    await close_all(owner, second, x)


async def test_a_stored_join_uses_up_the_request_and_invitation_a_refused_ban_took(make_server):
    """X, invited to an approval group and asking to join it, joins by an invite link; a manager bans X
    while the join is in flight; the join is stored (dropping the request and the invitation from the
    database) and the ban refused. The ban's undo must not put back what the stored join used up: a
    request listed to the managers for a member, and an invitation that let X back in once the group
    took invitations only, though the database held none."""
    srv = make_server()
    owner, x = await srv.user(), await srv.user()
    other = await srv.client()  # the owner's second connection
    await other.login(owner.username, "password123")
    gid = await open_group(owner, join_policy="approval")
    code = (await owner.request("create_invite_link", group_id=gid))["code"]
    uid = x.user_id
    assert (await x.call("join_group", group_id=gid)).get("status") == "pending"
    await owner.request("invite", group_id=gid, user_id=uid)
    refuse_rows(srv, "no_ban_of_x", "bans", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    async with writes_held(srv, "members"):
        joined = asyncio.create_task(x.call("join_group", invite_code=code))
        await asyncio.sleep(0.5)
        banned = asyncio.create_task(other.call("ban", group_id=gid, user_id=uid, reason="刷屏"))
        await asyncio.sleep(0.5)
    join, ban = await joined, await banned
    assert join.get("status") == "joined" and ban.get("ok") is False, (join, ban)
    assert request_rows(srv, gid, uid) == 0
    assert srv.db_rows(f"SELECT count(*) FROM invitations WHERE group_id = '{gid}' AND user_id = '{uid}'") == [(0,)]
    assert await requests_listed(owner, gid) == [], "a member's used-up request is listed"
    await owner.request("update_group", group_id=gid, join_policy="invite")
    await x.request("leave_group", group_id=gid)
    again = await x.call("join_group", group_id=gid)
    assert again.get("code") == "forbidden", f"no invitation in the database, but join_group answered {again}"
    await close_all(owner, other, x)
