"""Group moderation end to end: ban / unban / bans, slow mode, invite links, the group log."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time

from tests.e2e.harness import close_all, open_group

BLOCKED_WORDS = """
[[content.lists]]
category = "pyramid_gambling"
path = "gambling.txt"
action = "block"
"""


def code(reply):
    return reply.get("code") if not reply.get("ok") else "ok"


def joined(reply):
    """The group a ``join_group`` reply says one joined."""
    assert reply["status"] == "joined"
    return reply["group_id"]


async def crowd(srv, n_members: int, **kw):
    """A group with its owner, one admin and ``n_members`` plain members (events drained)."""
    owner = await srv.user()
    gid = await open_group(owner, **kw)
    admin = await srv.user()
    members = []
    for c in (admin, *[await srv.user() for _ in range(n_members)]):
        await owner.request("invite", group_id=gid, user_id=c.user_id)
        await c.request("join_group", group_id=gid)
        if c is not admin:
            members.append(c)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    for c in (owner, admin, *members):
        c.drain_events()
    return gid, owner, admin, members



async def again(srv, *clients):
    """The same users on fresh connections (after a restart), by their tokens."""
    out = []
    for c in clients:
        fresh = await srv.client()
        await fresh.auth(c.token)
        out.append(fresh)
    return out


def word_server(make_server, tmp_path, extra: str = ""):
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "gambling.txt").write_text("赌博\n", encoding="utf-8")
    return make_server(BLOCKED_WORDS + extra)


# -- bans --------------------------------------------------------------------------------------
async def test_ban_removes_and_keeps_out(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    gid, owner, admin, [m1, m2, admin2] = await crowd(srv, 3)
    await owner.request("set_role", group_id=gid, user_id=admin2.user_id, role="admin")
    outsider = await srv.user()
    for c in (owner, admin, m1, m2):
        c.drain_events()

    # who may ban whom, and bad arguments
    assert code(await m2.call("ban", group_id=gid, user_id=m1.user_id)) == "forbidden"
    assert code(await admin.call("ban", group_id=gid, user_id=admin2.user_id)) == "forbidden"
    assert code(await admin.call("ban", group_id=gid, user_id=owner.user_id)) == "forbidden"
    assert code(await owner.call("ban", group_id=gid, user_id=owner.user_id)) == "forbidden"
    assert code(await outsider.call("ban", group_id=gid, user_id=m1.user_id)) == "not_member"
    assert code(await admin.call("ban", group_id=gid, user_id="u0000000000000000")) == "not_found"
    assert code(await admin.call("ban", group_id=gid, user_id=m1.user_id, seconds=-1)) == "bad_request"
    assert code(await admin.call("ban", group_id=gid, user_id=m1.user_id, reason="去赌博")) == "content_blocked"
    assert (await m1.call("send", group_id=gid, text="still here"))["ok"]  # nothing changed
    for c in (owner, admin, m1, m2):
        c.drain_events()

    # an admin bans a member: removed like a kick, with banned: true
    await admin.request("ban", group_id=gid, user_id=m1.user_id, reason="刷屏")
    removed = {"ev": "member_removed", "group_id": gid, "user_id": m1.user_id, "by": admin.user_id, "banned": True}
    assert await m1.next_event("member_removed") == removed
    assert await m2.next_event("member_removed") == removed
    assert code(await m1.call("send", group_id=gid, text="x")) == "not_member"
    members = (await owner.request("members", group_id=gid))["members"]
    assert m1.user_id not in {m["user_id"] for m in members}

    # banned: joining by id, by invitation and by invite link are all forbidden
    refused = await m1.call("join_group", group_id=gid)
    assert (refused["code"], refused["banned_until"]) == ("forbidden", 0)  # until unbanned: 0
    assert code(await owner.call("invite", group_id=gid, user_id=m1.user_id)) == "forbidden"
    link = (await owner.request("create_invite_link", group_id=gid))["code"]
    assert code(await m1.call("join_group", invite_code=link)) == "forbidden"
    # the owner may ban an admin; a user who never joined may be banned too
    await owner.request("ban", group_id=gid, user_id=admin2.user_id)
    assert (await admin2.next_event("member_removed"))["banned"] is True
    await admin.request("ban", group_id=gid, user_id=outsider.user_id, seconds=3600)
    refused = await outsider.call("join_group", group_id=gid)
    assert refused["code"] == "forbidden" and refused["banned_until"] > time.time() * 1000
    assert code(await outsider.call("join_group", invite_code=link)) == "forbidden"

    listed = {b["user_id"]: b for b in (await admin.request("bans", group_id=gid))["bans"]}
    assert set(listed) == {m1.user_id, admin2.user_id, outsider.user_id}
    assert listed[m1.user_id] == {"user_id": m1.user_id, "until": 0, "by": admin.user_id, "reason": "刷屏",
                                 "of_admin": False}
    assert listed[admin2.user_id]["by"] == owner.user_id and listed[admin2.user_id]["reason"] is None
    assert listed[outsider.user_id]["until"] > time.time() * 1000 + 3500_000
    assert code(await m2.call("bans", group_id=gid)) == "forbidden"
    assert code(await m1.call("bans", group_id=gid)) == "not_member"
    assert code(await m2.call("unban", group_id=gid, user_id=m1.user_id)) == "forbidden"

    # bans survive a restart (loaded from the store)
    await srv.stopped()
    srv.start()
    owner, admin, m1, outsider = await again(srv, owner, admin, m1, outsider)
    assert code(await m1.call("join_group", group_id=gid)) == "forbidden"
    assert len((await owner.request("bans", group_id=gid))["bans"]) == 3

    # unban: they may join again; a second unban finds nothing
    await admin.request("unban", group_id=gid, user_id=m1.user_id)
    assert code(await admin.call("unban", group_id=gid, user_id=m1.user_id)) == "not_found"
    assert (await m1.request("join_group", group_id=gid))["status"] == "joined"
    assert {b["user_id"] for b in (await owner.request("bans", group_id=gid))["bans"]} == {
        admin2.user_id, outsider.user_id}
    await close_all(owner, admin, m1, m2, admin2, outsider)


async def test_ban_drops_a_pending_request_and_blocks_approval(server):
    gid, owner, admin, [] = await crowd(server, 0)
    await owner.request("update_group", group_id=gid, join_policy="approval")
    asker = await server.user()
    assert (await asker.request("join_group", group_id=gid))["status"] == "pending"
    await admin.request("ban", group_id=gid, user_id=asker.user_id)
    assert (await asker.next_event("join_result")) == {"ev": "join_result", "group_id": gid,
                                                        "status": "rejected"}
    assert (await owner.request("join_requests", group_id=gid))["requests"] == []
    assert code(await owner.call("approve_join", group_id=gid, user_id=asker.user_id)) == "forbidden"
    assert code(await asker.call("join_group", group_id=gid)) == "forbidden"  # cannot even ask
    assert (await owner.request("join_requests", group_id=gid))["requests"] == []
    assert server.db_rows("SELECT COUNT(*) FROM join_requests WHERE group_id = ?", gid) == [(0,)]
    await close_all(owner, admin, asker)


async def test_timed_ban_ends_by_itself(server):
    gid, owner, admin, [m1] = await crowd(server, 1)
    await admin.request("ban", group_id=gid, user_id=m1.user_id, seconds=1)
    [ban] = (await owner.request("bans", group_id=gid))["bans"]
    assert code(await m1.call("join_group", group_id=gid)) == "forbidden"
    await asyncio.sleep(max(0.0, ban["until"] / 1000 - time.time()) + 0.1)  # it ends by itself
    assert (await owner.request("bans", group_id=gid))["bans"] == []
    assert (await m1.request("join_group", group_id=gid))["status"] == "joined"
    assert (await m1.send(gid, "back"))["seq"] > 0
    await close_all(owner, admin, m1)


async def test_a_ban_withdraws_an_invitation_for_good(server):
    """"An invitation they had is withdrawn" (docs/protocol.md, ``ban``): withdrawn, not merely
    blocked while the ban lasts. Once the ban ends, by ``unban`` or by running out, the old
    invitation must not let the user into an invite-only group: the managers banned them, and
    lifting the ban is not inviting them again. (Kept in memory, it let them straight back in.)"""
    for timed in (False, True):
        gid, owner, admin, [] = await crowd(server, 0, join_policy="invite")
        guest = await server.user()
        await owner.request("invite", group_id=gid, user_id=guest.user_id)
        await admin.request("ban", group_id=gid, user_id=guest.user_id, **({"seconds": 1} if timed else {}))
        assert code(await guest.call("join_group", group_id=gid)) == "forbidden"
        if timed:
            [ban] = (await owner.request("bans", group_id=gid))["bans"]
            await asyncio.sleep(max(0.0, ban["until"] / 1000 - time.time()) + 0.1)  # it ends by itself
        else:
            await admin.request("unban", group_id=gid, user_id=guest.user_id)
        assert (await owner.request("bans", group_id=gid))["bans"] == []
        assert code(await guest.call("join_group", group_id=gid)) == "forbidden", timed  # invite only, no invitation
        assert server.db_rows("SELECT COUNT(*) FROM invitations WHERE user_id = ?", guest.user_id) == [(0,)]
        await owner.request("invite", group_id=gid, user_id=guest.user_id)  # invited again: in
        assert (await guest.request("join_group", group_id=gid))["status"] == "joined"
        await close_all(owner, admin, guest)


async def test_an_admin_cannot_lift_or_shorten_the_owners_ban(server):
    """Admins may not act on the owner or on another admin, yet once the owner had banned an admin
    (then no longer a member), any other admin could ``unban`` them, or ban them again for a second,
    which replaced the owner's permanent ban. The ban of someone who was an admin is the owner's to
    lift, a ban the owner made the owner's to replace; any other ban any manager lifts, the owner's of
    a plain member included (the wire contract has ``unban``: owner, admin)."""
    gid, owner, admin, [other, m1, m2] = await crowd(server, 3)
    await owner.request("set_role", group_id=gid, user_id=other.user_id, role="admin")
    await owner.request("ban", group_id=gid, user_id=other.user_id, reason="滥用管理权限")
    assert code(await admin.call("unban", group_id=gid, user_id=other.user_id)) == "forbidden"
    assert code(await admin.call("ban", group_id=gid, user_id=other.user_id, seconds=1)) == "forbidden"
    [standing] = (await owner.request("bans", group_id=gid))["bans"]
    assert (standing["user_id"], standing["by"], standing["until"], standing["of_admin"]) == (
        other.user_id, owner.user_id, 0, True)
    await owner.request("ban", group_id=gid, user_id=m2.user_id, reason="刷屏")  # a plain member
    assert code(await admin.call("ban", group_id=gid, user_id=m2.user_id, seconds=1)) == "forbidden"
    assert code(await admin.call("unban", group_id=gid, user_id=m2.user_id)) == "ok"
    assert code(await other.call("join_group", group_id=gid)) == "forbidden"
    # an admin's ban of a member: another manager may lift it, the owner too
    await admin.request("ban", group_id=gid, user_id=m1.user_id, seconds=3600)
    await admin.request("ban", group_id=gid, user_id=m1.user_id, seconds=60)  # (shortened by its own kind)
    await admin.request("unban", group_id=gid, user_id=m1.user_id)
    assert (await m1.request("join_group", group_id=gid))["status"] == "joined"
    await owner.request("unban", group_id=gid, user_id=other.user_id)  # the owner's to lift
    assert (await other.request("join_group", group_id=gid))["status"] == "joined"
    await close_all(owner, admin, other, m1)


# -- slow mode ----------------------------------------------------------------------------------
async def test_slow_mode(server):
    gid, owner, admin, [m1, m2] = await crowd(server, 2)
    assert code(await m1.call("set_slow_mode", group_id=gid, seconds=5)) == "forbidden"
    assert code(await admin.call("set_slow_mode", group_id=gid, seconds=3601)) == "bad_request"
    assert code(await admin.call("set_slow_mode", group_id=gid, seconds=-1)) == "bad_request"
    assert (await m1.request("group_info", group_id=gid))["slow_mode_seconds"] == 0

    await admin.request("set_slow_mode", group_id=gid, seconds=2)
    assert await m2.next_event("group_updated") == {"ev": "group_updated", "group_id": gid, "slow_mode_seconds": 2}
    assert (await m1.request("group_info", group_id=gid))["slow_mode_seconds"] == 2

    assert (await m1.send(gid, "one"))["seq"] > 0
    refused = await m1.call("send", group_id=gid, text="two")
    assert code(refused) == "rate_limited" and 0 < refused["retry_after_ms"] <= 2000
    assert (await m2.send(gid, "m2 is counted apart"))["seq"] > 0
    for _ in range(3):  # owner and admins are exempt
        await owner.send(gid, "owner")
        await admin.send(gid, "admin")
    await asyncio.sleep(refused["retry_after_ms"] / 1000 + 0.1)
    assert (await m1.send(gid, "two, later"))["seq"] > 0
    assert code(await m1.call("send", group_id=gid, text="three")) == "rate_limited"

    # kept across a restart; 0 turns it off
    await server.stopped()
    server.start()
    owner, m1 = await again(server, owner, m1)
    assert (await m1.request("group_info", group_id=gid))["slow_mode_seconds"] == 2
    await owner.request("set_slow_mode", group_id=gid, seconds=0)
    for i in range(3):
        assert (await m1.send(gid, f"free {i}"))["seq"] > 0
    await close_all(owner, admin, m1, m2)


# -- invite links --------------------------------------------------------------------------------
async def test_invite_links(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1, join_policy="approval")
    u1, u2, u3 = await srv.user(), await srv.user(), await srv.user()

    assert code(await m1.call("create_invite_link", group_id=gid)) == "forbidden"
    assert code(await u1.call("create_invite_link", group_id=gid)) == "not_member"
    assert code(await admin.call("create_invite_link", group_id=gid, max_uses=0)) == "bad_request"
    assert code(await admin.call("create_invite_link", group_id=gid, expires_in_seconds=0)) == "bad_request"
    assert code(await admin.call("create_invite_link", group_id=gid, note="赌博群")) == "content_blocked"

    # one use: passes the approval policy, then it is used up
    once = await admin.request("create_invite_link", group_id=gid, max_uses=1, note="for the new colleague")
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", once["code"]) and "expires_at" not in once
    assert joined(await u1.request("join_group", invite_code=once["code"])) == gid
    assert (await owner.next_event("member_joined"))["user"]["user_id"] == u1.user_id
    assert (await u1.send(gid, "hello"))["seq"] > 0
    # used up: not_found for everyone but a member, who is told they are in (their other device may
    # have used the last use)
    assert joined(await u1.request("join_group", invite_code=once["code"])) == gid
    assert code(await u2.call("join_group", invite_code=once["code"])) == "not_found"

    # unknown codes, codes that expired, revoked codes
    assert code(await u2.call("join_group", invite_code="x" * 24)) == "not_found"
    assert code(await u2.call("join_group")) == "bad_request"
    before = int(time.time() * 1000)
    brief = await owner.request("create_invite_link", group_id=gid, expires_in_seconds=1)
    assert before + 1000 <= brief["expires_at"] <= int(time.time() * 1000) + 1000
    revoked = (await owner.request("create_invite_link", group_id=gid))["code"]
    await admin.request("revoke_invite_link", group_id=gid, code=revoked)
    assert code(await u2.call("join_group", invite_code=revoked)) == "not_found"
    assert code(await admin.call("revoke_invite_link", group_id=gid, code=revoked)) == "not_found"
    assert code(await admin.call("revoke_invite_link", group_id=gid, code="nope" * 6)) == "not_found"
    assert code(await m1.call("revoke_invite_link", group_id=gid, code=brief["code"])) == "forbidden"
    await asyncio.sleep(max(0.0, brief["expires_at"] / 1000 - time.time()) + 0.1)
    assert code(await u2.call("join_group", invite_code=brief["code"])) == "not_found"  # expired

    # a link of another group cannot be revoked from this one; an invite-only group is joined too
    other = await open_group(u3, join_policy="invite")
    foreign = (await u3.request("create_invite_link", group_id=other))["code"]
    assert code(await owner.call("revoke_invite_link", group_id=gid, code=foreign)) == "not_found"
    assert code(await u2.call("join_group", group_id=other)) == "forbidden"
    assert (await u2.request("join_group", invite_code=foreign))["group_id"] == other

    # the code is never stored, only its hash; a link outlives a restart
    lasting = (await owner.request("create_invite_link", group_id=gid, max_uses=3))["code"]
    stored = {row[0] for row in srv.db_rows("SELECT code_hash FROM invite_links")}
    assert len(stored) == 5 and hashlib.sha256(lasting.encode()).hexdigest() in stored
    await srv.stopped()
    srv.start()
    (u2,) = await again(srv, u2)
    assert (await u2.request("join_group", invite_code=lasting))["group_id"] == gid
    assert set(srv.db_rows("SELECT uses, max_uses FROM invite_links WHERE uses > 0")) == {
        (1, 1), (1, None), (1, 3)}
    await close_all(owner, admin, m1, u1, u2, u3)


async def test_expired_and_used_up_links_do_not_count_against_the_cap(make_server):
    """``limits.max_invite_links`` caps the links "not revoked, expired or used up": a link that expired
    or was used up must make room by itself, without a revoke (which answers ``not_found`` for it) or a
    listing (``invite_links`` forgets dead links too, so none is asked for here). Else a group whose
    managers made one-use or short-lived links would find itself unable to make any more, with no way
    to free the slots short of a restart."""
    srv = make_server("[limits]\nmax_invite_links = 2\n")
    gid, owner, admin, [] = await crowd(srv, 0, join_policy="approval")
    once = (await owner.request("create_invite_link", group_id=gid, max_uses=1))["code"]
    brief = await admin.request("create_invite_link", group_id=gid, expires_in_seconds=1)
    assert code(await owner.call("create_invite_link", group_id=gid)) == "conflict"  # two in force: the cap
    guest = await srv.user()
    assert joined(await guest.request("join_group", invite_code=once)) == gid  # used up now
    assert code(await owner.call("create_invite_link", group_id=gid)) == "ok"  # its slot is free
    assert code(await owner.call("create_invite_link", group_id=gid)) == "conflict"  # (the brief one still counts)
    await asyncio.sleep(max(0.0, brief["expires_at"] / 1000 - time.time()) + 0.1)
    assert code(await admin.call("create_invite_link", group_id=gid)) == "ok"  # the expired one's slot too
    assert code(await owner.call("create_invite_link", group_id=gid)) == "conflict"
    await close_all(owner, admin, guest)


async def test_invite_info_names_what_a_link_joins_without_using_it(server):
    """The web client asked "join this group?" without naming it: one click on a planted link put a user
    into a group they never saw described. ``invite_info`` names the group behind a usable link, counts
    no use, and answers a dead link not_found, as using it would."""
    gid, owner, admin, [m1] = await crowd(server, 1, name="读书会")
    link = (await admin.request("create_invite_link", group_id=gid, max_uses=1))["code"]
    guest = await server.user()
    info = await guest.request("invite_info", invite_code=link)
    assert (info["group_id"], info["name"], info["member_count"], info["member"]) == (gid, "读书会", 3, False)
    assert info["category"] == (await owner.request("group_info", group_id=gid))["category"]
    assert (await m1.request("invite_info", invite_code=link))["member"] is True
    assert joined(await guest.request("join_group", invite_code=link)) == gid  # the one use was still there
    assert code(await guest.call("invite_info", invite_code=link)) == "not_found"  # used up now
    assert code(await guest.call("invite_info", invite_code="nonsense")) == "not_found"
    await close_all(owner, admin, m1, guest)


async def test_invite_link_respects_the_member_cap(make_server):
    srv = make_server("[limits]\nmax_members = 3\n")
    gid, owner, admin, [m1] = await crowd(srv, 1)
    link = (await owner.request("create_invite_link", group_id=gid, max_uses=1))["code"]
    late = await srv.user()
    assert code(await late.call("join_group", invite_code=link)) == "member_cap_reached"
    # the refused join did not use the link up
    await m1.request("leave_group", group_id=gid)
    assert (await late.request("join_group", invite_code=link))["status"] == "joined"
    assert srv.db_rows("SELECT uses FROM invite_links") == [(1,)]
    await close_all(owner, admin, m1, late)


async def test_a_link_stops_working_once_its_creator_no_longer_manages_the_group(make_server):
    """Only its creator ever sees a code: an admin demoted or removed (say for abusing the group)
    must not keep a working way in past the group's approval policy until another manager notices
    and revokes it (``invite_links``, by link_id). Their links stop working; they still count towards
    ``limits.max_invite_links`` until revoked, since they work again if their creator manages the
    group again (a reviewer had a demoted admin's link come back past the cap). A link the owner made
    stops when they pass the group on."""
    srv = make_server("[limits]\nmax_invite_links = 1\n")
    gid, owner, admin, [m1] = await crowd(srv, 1, join_policy="approval")
    u1, u2, u3 = await srv.user(), await srv.user(), await srv.user()
    made = await admin.request("create_invite_link", group_id=gid)
    rogue = made["code"]
    assert code(await owner.call("create_invite_link", group_id=gid)) == "conflict"  # the cap: one link
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="member")
    assert code(await u1.call("join_group", invite_code=rogue)) == "not_found"
    # the demoted admin's link still counts, as it would work again were they made admin again
    refused = await owner.call("create_invite_link", group_id=gid)
    assert code(refused) == "conflict" and "former managers" in refused["reason"], refused
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    assert joined(await u1.request("join_group", invite_code=rogue)) == gid  # back, and alone under the cap
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="member")
    await owner.request("revoke_invite_link", group_id=gid, link_id=made["link_id"])  # the owner makes room
    own = (await owner.request("create_invite_link", group_id=gid))["code"]
    # removed altogether: the link stays dead
    await owner.request("kick", group_id=gid, user_id=admin.user_id)
    assert code(await u1.call("join_group", invite_code=rogue)) == "not_found"
    assert (await owner.request("group_info", group_id=gid))["member_count"] == 3
    # the owner's own link works until ownership passes on
    assert joined(await u2.request("join_group", invite_code=own)) == gid
    await owner.request("transfer_owner", group_id=gid, user_id=m1.user_id)
    assert code(await u3.call("join_group", invite_code=own)) == "not_found"
    assert srv.db_rows("SELECT uses FROM invite_links ORDER BY created_at") == [(1,), (1,)]
    await close_all(owner, admin, m1, u1, u2, u3)


async def test_a_link_admits_nobody_while_the_platform_suspends_its_creators_powers(make_server):
    """A join by a link is its creator's management act: refused like every other one while the
    platform suspends their powers (``suspend-admin``), and working again once it is lifted.
    Meanwhile the link still counts towards ``limits.max_invite_links``."""
    srv = make_server("[limits]\nmax_invite_links = 1\n")
    gid, owner, admin, [] = await crowd(srv, 0, join_policy="approval")
    u1 = await srv.user()
    link = (await admin.request("create_invite_link", group_id=gid))["code"]
    rc, _, err = await srv.admin("suspend-admin", admin.username, "--seconds", "600", "--reason", "abuse")
    assert rc == 0, err
    assert code(await u1.call("join_group", invite_code=link)) == "not_found"
    assert code(await owner.call("create_invite_link", group_id=gid)) == "conflict"
    rc, out, err = await srv.admin("sanctions", "--user", admin.username)
    assert rc == 0, err
    [row] = [json.loads(line) for line in out.splitlines()]
    rc, _, err = await srv.admin("lift", row["id"], "--reason", "appeal upheld")
    assert rc == 0, err
    assert joined(await u1.request("join_group", invite_code=link)) == gid
    await close_all(owner, admin, u1)


async def test_a_blacklisted_admin_lets_nobody_in(server):
    """``blacklist`` closes an account; its memberships (and an admin's role) stay for the record,
    but its invite links and its invitations admit nobody any more."""
    gid, owner, admin, [] = await crowd(server, 0, join_policy="approval")
    by_link, invited = await server.user(), await server.user()
    link = (await admin.request("create_invite_link", group_id=gid))["code"]
    await admin.request("invite", group_id=gid, user_id=invited.user_id)
    rc, _, err = await server.admin("blacklist", admin.username, "--reason", "fraud ring")
    assert rc == 0, err
    assert code(await by_link.call("join_group", invite_code=link)) == "not_found"
    assert (await invited.request("join_group", group_id=gid))["status"] == "pending"
    members = (await owner.request("members", group_id=gid))["members"]
    assert {(m["user_id"], m["role"]) for m in members} == {(owner.user_id, "owner"), (admin.user_id, "admin")}
    await close_all(owner, by_link, invited)


async def test_concurrent_joins_never_pass_max_uses(server):
    gid, owner, admin, [] = await crowd(server, 0)
    link = (await owner.request("create_invite_link", group_id=gid, max_uses=5))["code"]
    users = [await server.user() for _ in range(20)]
    replies = await asyncio.gather(*(u.call("join_group", invite_code=link) for u in users))
    assert sorted(code(r) for r in replies) == ["not_found"] * 15 + ["ok"] * 5
    assert (await owner.request("group_info", group_id=gid))["member_count"] == 2 + 5
    assert server.db_rows("SELECT uses FROM invite_links") == [(5,)]
    await close_all(owner, admin, *users)


async def test_leaving_and_rejoining_lifts_neither_a_mute_nor_slow_mode(server):
    """A mute binds until it ends, and slow mode counts one's last message, whether or not the
    member left (or was kicked) and came back in between; a restart while they are out changes
    nothing (the mute is read back from the record). An unmute given after the rejoin holds."""
    gid, owner, admin, [m1, m2] = await crowd(server, 2)
    await admin.request("mute", group_id=gid, user_id=m1.user_id, seconds=3600)
    until = (await m1.call("send", group_id=gid, text="x"))["until"]
    await admin.request("set_slow_mode", group_id=gid, seconds=3600)
    await m2.send(gid, "one message an hour")

    await m1.request("leave_group", group_id=gid)
    await m1.request("join_group", group_id=gid)
    r = await m1.call("send", group_id=gid, text="x")
    assert r["code"] == "muted" and r["until"] == until
    await m2.request("leave_group", group_id=gid)
    await m2.request("join_group", group_id=gid)
    assert code(await m2.call("send", group_id=gid, text="again")) == "rate_limited"

    await admin.request("kick", group_id=gid, user_id=m1.user_id)
    await admin.request("kick", group_id=gid, user_id=m2.user_id)
    await server.stopped()
    server.start()
    owner, admin, m1, m2 = await again(server, owner, admin, m1, m2)
    await m1.request("join_group", group_id=gid)
    r = await m1.call("send", group_id=gid, text="x")
    assert r["code"] == "muted" and r["until"] == until
    await m2.request("join_group", group_id=gid)
    assert code(await m2.call("send", group_id=gid, text="again")) == "rate_limited"

    await admin.request("mute", group_id=gid, user_id=m1.user_id, seconds=0)
    await m1.request("leave_group", group_id=gid)
    await server.stopped()
    server.start()
    owner, admin, m1, m2 = await again(server, owner, admin, m1, m2)
    await m1.request("join_group", group_id=gid)
    assert (await m1.send(gid, "free again"))["seq"] > 0
    await close_all(owner, admin, m1, m2)


# -- the group log --------------------------------------------------------------------------------
async def test_group_log(server):
    gid, owner, admin, [m1, m2, m3] = await crowd(server, 3)
    verified = await server.user(verify_id=True)
    await owner.request("invite", group_id=gid, user_id=verified.user_id)
    await verified.request("join_group", group_id=gid)
    seq = (await m1.send(gid, "pin me"))["seq"]

    await admin.request("mute", group_id=gid, user_id=m2.user_id, seconds=60)
    await admin.request("kick", group_id=gid, user_id=m3.user_id)
    await owner.request("ban", group_id=gid, user_id=m1.user_id, reason="spam from 13912345678")
    await admin.request("pin_message", group_id=gid, seq=seq, on=True)
    await admin.request("set_slow_mode", group_id=gid, seconds=30)
    await admin.request("create_invite_link", group_id=gid, max_uses=2)
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "60", "--reason", "整改")
    assert rc == 0, err
    rc, out, err = await server.admin("hold", "--group", gid, "--reason", "case 17")
    assert rc == 0, err
    rc, _, err = await server.admin("release-hold", out.split()[1], "--reason", "case closed")
    assert rc == 0, err
    rc, _, err = await server.admin("export", "--group", gid, "--out", str(server.config.parent / "exported"))
    assert rc == 0, err

    page = await admin.request("group_log", group_id=gid)
    entries = page["entries"]
    # [ext] the names of those the page names, the kicked and banned (no members now) too
    named = {e["actor"] for e in entries} | {e["target_user_id"] for e in entries if "target_user_id" in e}
    assert set(page["users"]) == named - {"platform"}
    assert {c.user_id: c.username.title() for c in (owner, admin, m1, m3)}.items() <= page["users"].items()
    actions = [e["action"] for e in entries]
    assert actions[:7] == ["suspend_group", "create_invite_link", "set_slow_mode", "pin_message", "ban", "kick",
                           "mute"]
    # keeping records, and handing them to the authorities, is not shown to the group
    assert not {"legal_hold", "release_hold", "export"} & set(actions)
    assert all(type(e["id"]) is str for e in entries)  # ids are strings on the wire
    assert [int(e["id"]) for e in entries] == sorted((int(e["id"]) for e in entries), reverse=True)
    by = {e["action"]: e for e in entries}
    assert by["suspend_group"]["actor"] == "platform"
    detail = dict(by["suspend_group"]["detail"])
    sid = detail.pop("sanction_id")  # (what the owner appeals it by: a string)
    assert detail == {"seconds": 60, "reason": "整改"} and sid.isdigit()
    assert by["kick"]["actor"] == admin.user_id and by["kick"]["target_user_id"] == m3.user_id
    assert by["mute"]["detail"]["seconds"] == 60 and by["mute"]["detail"]["until"] > by["mute"]["ts"]
    assert by["ban"]["actor"] == owner.user_id and by["ban"]["target_user_id"] == m1.user_id
    assert by["ban"]["detail"]["reason"] == "spam from [redacted]" and by["ban"]["detail"]["until"] == 0
    assert by["pin_message"]["actor"] == admin.user_id
    assert by["set_slow_mode"]["detail"] == {"slow_mode_seconds": 30}
    assert by["create_invite_link"]["detail"]["max_uses"] == 2
    assert "target_user_id" not in by["suspend_group"]
    text = json.dumps(entries, ensure_ascii=False)
    for secret in (verified.phone, m1.phone, "13912345678", "张三", "operator"):
        assert secret not in text

    # paging
    page = (await owner.request("group_log", group_id=gid, limit=2))["entries"]
    assert page == entries[:2]
    rest = (await owner.request("group_log", group_id=gid, before_id=page[-1]["id"], limit=200))["entries"]
    assert rest == entries[2:]
    as_int = (await owner.request("group_log", group_id=gid, before_id=int(page[-1]["id"]), limit=200))["entries"]
    assert as_int == rest  # the integer form a client kept from an older server still pages
    assert code(await owner.call("group_log", group_id=gid, before_id="12a")) == "bad_request"
    assert (await owner.request("group_log", group_id=gid, limit=0))["entries"] == entries[:1]  # clamped

    assert code(await m2.call("group_log", group_id=gid)) == "forbidden"
    assert code(await m3.call("group_log", group_id=gid)) == "not_member"
    await close_all(owner, admin, m1, m2, m3, verified)



# -- fixes from review ------------------------------------------------------------------------------
async def test_slow_mode_counts_sends_from_before_it_and_slows_suspended_managers(server):
    gid, owner, admin, [m1, m2] = await crowd(server, 2)
    await m1.send(gid, "said before slow mode")
    await admin.request("set_slow_mode", group_id=gid, seconds=30)
    refused = await m1.call("send", group_id=gid, text="and again")
    assert code(refused) == "rate_limited" and 25_000 < refused["retry_after_ms"] <= 30_000
    assert (await m2.send(gid, "first word"))["seq"] > 0  # never sent: free to speak once
    assert code(await m2.call("send", group_id=gid, text="second word")) == "rate_limited"
    for _ in range(3):
        await owner.send(gid, "the owner is not slowed")

    # an admin whose powers the platform suspended posts as a member
    rc, _, err = await server.admin("suspend-admin", admin.username, "--seconds", "600", "--reason", "abuse")
    assert rc == 0, err
    assert (await admin.send(gid, "once"))["seq"] > 0
    assert code(await admin.call("send", group_id=gid, text="twice")) == "rate_limited"

    # after a restart the last sends are known again (loaded from the messages of the last hour)
    await server.stopped()
    server.start()
    owner, m1, m2 = await again(server, owner, m1, m2)
    for c in (m1, m2):
        assert code(await c.call("send", group_id=gid, text="after the restart")) == "rate_limited"
    assert (await owner.send(gid, "still free"))["seq"] > 0
    await close_all(owner, admin, m1, m2)


async def test_revoking_an_expired_or_used_up_link_is_not_found(server):
    gid, owner, admin, [] = await crowd(server, 0)
    newcomer = await server.user()
    once = (await owner.request("create_invite_link", group_id=gid, max_uses=1))["code"]
    assert joined(await newcomer.request("join_group", invite_code=once)) == gid
    assert code(await admin.call("revoke_invite_link", group_id=gid, code=once)) == "not_found"
    brief = await owner.request("create_invite_link", group_id=gid, expires_in_seconds=1)
    await asyncio.sleep(max(0.0, brief["expires_at"] / 1000 - time.time()) + 0.1)
    assert code(await admin.call("revoke_invite_link", group_id=gid, code=brief["code"])) == "not_found"
    usable = (await owner.request("create_invite_link", group_id=gid))["code"]
    assert code(await admin.call("revoke_invite_link", group_id=gid, code=usable)) == "ok"
    assert server.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'revoke_invite_link'") == [(1,)]
    await close_all(owner, admin, newcomer)


def link_id(code: str) -> str:
    """A link's ``link_id``: the start of its code's SHA-256 (as the record and the group log name it)."""
    return hashlib.sha256(code.encode()).hexdigest()[:10]


async def test_invite_links_lists_the_usable_links_with_their_uses(server):
    """Every manager sees the group's links that still work, whoever made them and on whichever
    page, with their uses; never a code. Used-up, expired and revoked links are not listed; a
    note's phone and ID numbers are masked; the listing outlives a restart."""
    gid, owner, admin, [m1] = await crowd(server, 1, join_policy="approval")
    u1, u2, u3, outsider = await server.user(), await server.user(), await server.user(), await server.user()
    assert code(await m1.call("invite_links", group_id=gid)) == "forbidden"
    assert code(await outsider.call("invite_links", group_id=gid)) == "not_member"
    assert (await owner.request("invite_links", group_id=gid))["links"] == []

    before = int(time.time() * 1000)
    first = await owner.request("create_invite_link", group_id=gid, max_uses=2, note="新同事 电话 13912345678")
    assert first["link_id"] == link_id(first["code"])  # so a client matches the codes it holds to the listing
    brief = await admin.request("create_invite_link", group_id=gid, expires_in_seconds=1)
    once = await admin.request("create_invite_link", group_id=gid, max_uses=1)
    revoked = await owner.request("create_invite_link", group_id=gid)
    lasting = await admin.request("create_invite_link", group_id=gid, expires_in_seconds=3600, note="  ")
    assert brief["link_id"] == link_id(brief["code"]) and lasting["link_id"] == link_id(lasting["code"])
    await owner.request("revoke_invite_link", group_id=gid, code=revoked["code"])
    assert joined(await u1.request("join_group", invite_code=first["code"])) == gid
    assert joined(await u2.request("join_group", invite_code=once["code"])) == gid  # used up
    await asyncio.sleep(max(0.0, brief["expires_at"] / 1000 - time.time()) + 0.1)  # brief expired

    listed = (await admin.request("invite_links", group_id=gid))["links"]
    assert [x["link_id"] for x in listed] == [first["link_id"], lasting["link_id"]]  # oldest first
    [a, b] = listed
    assert before <= a["created_at"] <= b["created_at"] <= int(time.time() * 1000)
    assert a == {"link_id": first["link_id"], "created_by": owner.user_id, "created_at": a["created_at"],
                 "expires_at": None, "max_uses": 2, "uses": 1, "note": "新同事 电话 [redacted]"}
    assert b == {"link_id": lasting["link_id"], "created_by": admin.user_id, "created_at": b["created_at"],
                 "expires_at": lasting["expires_at"], "max_uses": None, "uses": 0, "note": None}
    assert first["code"] not in json.dumps(listed) and lasting["code"] not in json.dumps(listed)
    assert (await owner.request("invite_links", group_id=gid))["links"] == listed  # the owner sees the same

    # uses, the note and the links themselves survive a restart; a second use is counted
    owner, admin, m1, u3 = await again_after_restart(server, owner, admin, m1, u3)
    assert (await admin.request("invite_links", group_id=gid))["links"] == listed
    assert joined(await u3.request("join_group", invite_code=first["code"])) == gid
    assert [x["link_id"] for x in (await owner.request("invite_links", group_id=gid))["links"]] == [
        lasting["link_id"]]  # used up now
    assert code(await m1.call("invite_links", group_id=gid)) == "forbidden"
    await close_all(owner, admin, m1, u1, u2, u3, outsider)


async def again_after_restart(srv, *clients):
    await srv.stopped()
    srv.start()
    return await again(srv, *clients)


async def test_any_manager_revokes_a_link_by_its_link_id(server):
    """``revoke_invite_link {link_id}``: an admin ends the owner's link without ever having seen its
    code; exactly one of ``code`` and ``link_id``; unknown ids, links of other groups and links
    already ended are ``not_found``."""
    gid, owner, admin, [m1] = await crowd(server, 1, join_policy="invite")
    newcomer, stranger = await server.user(), await server.user()
    made = await owner.request("create_invite_link", group_id=gid)
    kept = await owner.request("create_invite_link", group_id=gid)
    other = await open_group(stranger)
    foreign = await stranger.request("create_invite_link", group_id=other)

    neither = await admin.call("revoke_invite_link", group_id=gid)
    assert code(neither) == "bad_request" and "code" in neither["reason"] and "link_id" in neither["reason"]
    both = await admin.call("revoke_invite_link", group_id=gid, code=made["code"], link_id=made["link_id"])
    assert code(both) == "bad_request" and "both" in both["reason"]
    assert code(await m1.call("revoke_invite_link", group_id=gid, link_id=made["link_id"])) == "forbidden"
    assert code(await admin.call("revoke_invite_link", group_id=gid, link_id="0123456789")) == "not_found"
    assert code(await admin.call("revoke_invite_link", group_id=gid, link_id=foreign["link_id"])) == "not_found"
    assert code(await admin.call("revoke_invite_link", group_id=gid, link_id=made["code"])) == "not_found"

    await admin.request("revoke_invite_link", group_id=gid, link_id=made["link_id"])
    assert code(await newcomer.call("join_group", invite_code=made["code"])) == "not_found"
    assert code(await admin.call("revoke_invite_link", group_id=gid, link_id=made["link_id"])) == "not_found"
    assert code(await owner.call("revoke_invite_link", group_id=gid, code=made["code"])) == "not_found"
    assert [x["link_id"] for x in (await owner.request("invite_links", group_id=gid))["links"]] == [kept["link_id"]]
    [entry] = [e for e in (await owner.request("group_log", group_id=gid))["entries"]
               if e["action"] == "revoke_invite_link"]
    assert (entry["actor"], entry["detail"]) == (admin.user_id, {"link": made["link_id"]})
    assert server.db_rows("SELECT revoked_by FROM invite_links WHERE revoked_at IS NOT NULL") == [(admin.user_id,)]
    # the stranger's own link is untouched, and used by link_id in its own group it goes
    assert joined(await newcomer.request("join_group", invite_code=foreign["code"])) == other
    await stranger.request("revoke_invite_link", group_id=other, link_id=foreign["link_id"])
    assert joined(await newcomer.request("join_group", invite_code=kept["code"])) == gid
    await close_all(owner, admin, m1, newcomer, stranger)


async def test_two_links_sharing_a_link_id_are_revoked_by_code(server):
    """A ``link_id`` is the first 40 bits of a code's hash: should two usable links of one group
    ever share it, revoking by it would pick one at random, so it is refused."""
    gid, owner, admin, [] = await crowd(server, 0)
    made = await owner.request("create_invite_link", group_id=gid)
    twin = hashlib.sha256(made["code"].encode()).hexdigest()[:10] + "0" * 54  # the hash of no code given out
    server.db_rows("INSERT INTO invite_links (code_hash, group_id, created_by, created_at) VALUES (?, ?, ?, ?)",
                   twin, gid, admin.user_id, int(time.time() * 1000))
    owner, admin = await again_after_restart(server, owner, admin)
    assert [x["link_id"] for x in (await owner.request("invite_links", group_id=gid))["links"]] == [made["link_id"]] * 2
    refused = await admin.call("revoke_invite_link", group_id=gid, link_id=made["link_id"])
    assert code(refused) == "conflict" and "code" in refused["reason"]
    await admin.request("revoke_invite_link", group_id=gid, code=made["code"])
    await admin.request("revoke_invite_link", group_id=gid, link_id=made["link_id"])  # the one left
    assert (await owner.request("invite_links", group_id=gid))["links"] == []
    await close_all(owner, admin)


async def test_bans_mask_phone_and_id_numbers_in_reasons(server):
    gid, owner, admin, [m1] = await crowd(server, 1)
    await owner.request("ban", group_id=gid, user_id=m1.user_id,
                        reason="骚扰, 电话 13912345678, 身份证 11010519900101123X")
    [shown] = (await admin.request("bans", group_id=gid))["bans"]
    assert shown["reason"] == "骚扰, 电话 [redacted], 身份证 [redacted]"
    [entry] = [e for e in (await admin.request("group_log", group_id=gid))["entries"] if e["action"] == "ban"]
    assert entry["detail"]["reason"] == shown["reason"]  # the same masking as the group log
    await close_all(owner, admin, m1)


async def test_join_group_takes_a_group_id_or_an_invite_code_not_both(server):
    gid, owner, admin, [] = await crowd(server, 0, join_policy="invite")
    link = (await owner.request("create_invite_link", group_id=gid))["code"]
    newcomer = await server.user()
    for named in (gid, "9" * 11):
        refused = await newcomer.call("join_group", group_id=named, invite_code=link)
        assert code(refused) == "bad_request" and "both" in refused["reason"]
    assert code(await newcomer.call("members", group_id=gid)) == "not_member"
    assert joined(await newcomer.request("join_group", invite_code=link)) == gid
    await close_all(owner, admin, newcomer)


async def test_long_texts_are_too_large_as_documented(server):
    """A ban's reason and a link's note (200 characters) and a file's name (255) are text, not
    256-character strings: past their own limit, also past 256, they are ``too_large``."""
    gid, owner, admin, members = await crowd(server, 1)
    for n in (201, 300):
        r = await owner.call("ban", group_id=gid, user_id=members[0].user_id, reason="x" * n)
        assert code(r) == "too_large" and (r["field"], r["max_chars"]) == ("reason", 200), (n, r)  # [ext]
        r = await owner.call("create_invite_link", group_id=gid, note="y" * n)
        assert code(r) == "too_large" and (r["field"], r["max_chars"]) == ("note", 200), (n, r)
    # [ext] `field` is the argument's name: set_announcement's is `text`
    r = await owner.call("set_announcement", group_id=gid, text="公" * 4001)
    assert code(r) == "too_large" and (r["field"], r["max_chars"]) == ("text", 4000), r
    for n in (256, 300):
        r = await owner.call("upload_begin", mime="image/png", size=10, name="z" * n)
        assert code(r) == "too_large", (n, r)
    assert code(await owner.call("ban", group_id=gid, user_id=members[0].user_id, reason="r" * 200)) == "ok"
    assert code(await owner.call("create_invite_link", group_id=gid, note="n" * 200)) == "ok"
    await close_all(owner, admin, *members)


MANAGERS_ONLY = {"ban_changed", "join_request_decided", "invite_link_changed"}


async def test_the_managers_alone_hear_of_bans_requests_and_links(server):
    """**[ext]** ``ban_changed``, ``join_request_decided`` and ``invite_link_changed`` go to every
    connection of the owner and admins (the actor's own included), with what ``bans``,
    ``join_requests`` and ``invite_links`` would show: never to a plain member, the requester or
    the banned, nor to an admin whose powers the platform suspends (who may read none of it)."""
    gid, owner, admin, [m1, idle] = await crowd(server, 2, join_policy="approval")
    await owner.request("set_role", group_id=gid, user_id=idle.user_id, role="admin")
    rc, _, err = await server.admin("suspend-admin", idle.username, "--seconds", "600", "--reason", "abuse")
    assert rc == 0, err
    owner2 = await server.client()
    await owner2.auth(owner.token)  # the owner's second device
    r1, r2, r3 = await server.user(), await server.user(), await server.user()
    for r in (r1, r2, r3):
        assert (await r.request("join_group", group_id=gid))["status"] == "pending"
        await owner.next_event("join_request")
    for c in (owner, owner2, admin, m1, idle):
        c.drain_events()

    def decided(uid, status, by):
        return {"ev": "join_request_decided", "group_id": gid, "user_id": uid, "status": status, "by": by}

    await admin.request("reject_join", group_id=gid, user_id=r1.user_id)
    for c in (owner, owner2, admin):
        assert await c.next_event("join_request_decided") == decided(r1.user_id, "rejected", admin.user_id)
    await owner.request("approve_join", group_id=gid, user_id=r2.user_id)
    for c in (owner, owner2, admin):
        assert await c.next_event("join_request_decided") == decided(r2.user_id, "approved", owner.user_id)

    # a ban (of someone who asked to join): the ban as `bans` lists it, its reason masked; the request goes
    await admin.request("ban", group_id=gid, user_id=r3.user_id, seconds=3600, reason="刷屏 13912345678")
    [listed] = (await owner.request("bans", group_id=gid))["bans"]
    assert listed["reason"] == "刷屏 [redacted]"
    for c in (owner, owner2, admin):
        assert await c.next_event("ban_changed") == {"ev": "ban_changed", "group_id": gid, "user_id": r3.user_id,
                                                      "by": admin.user_id, "ban": listed}
        assert await c.next_event("join_request_decided") == decided(r3.user_id, "rejected", admin.user_id)
    assert (await owner.request("join_requests", group_id=gid))["requests"] == []
    await owner.request("unban", group_id=gid, user_id=r3.user_id)
    for c in (owner, owner2, admin):
        assert await c.next_event("ban_changed") == {"ev": "ban_changed", "group_id": gid, "user_id": r3.user_id,
                                                      "by": owner.user_id}

    # a link made: as `invite_links` lists it, never its code; revoked by another manager
    made = await owner.request("create_invite_link", group_id=gid, max_uses=5, note="新人 13912345678")
    [link] = (await admin.request("invite_links", group_id=gid))["links"]
    for c in (owner, owner2, admin):
        got = await c.next_event("invite_link_changed")
        assert got == {"ev": "invite_link_changed", "group_id": gid, "link_id": made["link_id"],
                       "by": owner.user_id, "link": link}
        assert made["code"] not in json.dumps(got) and got["link"]["note"] == "新人 [redacted]"
    await admin.request("revoke_invite_link", group_id=gid, link_id=made["link_id"])
    for c in (owner, owner2, admin):
        assert await c.next_event("invite_link_changed") == {"ev": "invite_link_changed", "group_id": gid,
                                                              "link_id": made["link_id"], "by": admin.user_id}

    # nobody else heard any of it (a reply comes after every event queued before it)
    for c in (m1, idle, r1, r2, r3):
        await c.request("me")
        assert [e for e in c.drain_events() if e.get("ev") in MANAGERS_ONLY] == [], c.user_id
    assert [e["ev"] for e in r1.drain_events()] == []
    await close_all(owner, owner2, admin, m1, idle, r1, r2, r3)


async def test_a_request_ended_by_the_requester_is_told_to_the_managers(server):
    """A pending request also ends when its requester comes in by an invite link or an invitation
    (``joined``) or cancels their account (``dropped``): the managers' request lists were left
    showing it (no ``join_request_decided``) until they were loaded again. The requester is ``by``."""
    gid, owner, admin, [m1] = await crowd(server, 1, join_policy="approval")
    by_link, by_invite, leaving = await server.user(), await server.user(), await server.user()
    for r in (by_link, by_invite, leaving):
        assert (await r.request("join_group", group_id=gid))["status"] == "pending"
        await owner.next_event("join_request")
    for c in (owner, admin, m1):
        c.drain_events()

    def decided(uid, status):
        return {"ev": "join_request_decided", "group_id": gid, "user_id": uid, "status": status, "by": uid}

    link = (await owner.request("create_invite_link", group_id=gid))["code"]
    await by_link.request("join_group", invite_code=link)
    await owner.request("invite", group_id=gid, user_id=by_invite.user_id)
    await by_invite.request("join_group", group_id=gid)
    await leaving.request("delete_account", password="password123")
    for c in (owner, admin):
        assert await c.next_event("join_request_decided") == decided(by_link.user_id, "joined")
        assert await c.next_event("join_request_decided") == decided(by_invite.user_id, "joined")
        assert await c.next_event("join_request_decided") == decided(leaving.user_id, "dropped")
    assert (await owner.request("join_requests", group_id=gid))["requests"] == []
    await m1.request("me")
    assert [e for e in m1.drain_events() if e.get("ev") in MANAGERS_ONLY] == []
    await close_all(owner, admin, m1, by_link, by_invite, leaving)


async def test_a_blacklisted_requesters_request_is_dropped_and_a_suspended_admin_is_not_told(server):
    """Blacklisting a requester ends their pending requests (``dropped``, ``by`` the requester, as at a
    cancelled account), in the store too: they were listed until a manager tried to approve them.
    An admin whose powers the platform suspends hears of no request: they may not read the list."""
    gid, owner, admin, [m1] = await crowd(server, 1, join_policy="approval")
    rc, _, err = await server.admin("suspend-admin", admin.username, "--seconds", "600", "--reason", "abuse")
    assert rc == 0, err
    bad, good = await server.user(), await server.user()
    for r in (bad, good):
        assert (await r.request("join_group", group_id=gid))["status"] == "pending"
        assert (await owner.next_event("join_request"))["user"]["user_id"] == r.user_id
    rc, _, err = await server.admin("blacklist", bad.username, "--reason", "fraud ring")
    assert rc == 0, err
    assert await owner.next_event("join_request_decided") == {
        "ev": "join_request_decided", "group_id": gid, "user_id": bad.user_id, "status": "dropped",
        "by": bad.user_id}
    listed = [r["user_id"] for r in (await owner.request("join_requests", group_id=gid))["requests"]]
    assert listed == [good.user_id]
    await admin.request("me")
    assert [e["ev"] for e in admin.drain_events() if e.get("ev") in {"join_request", *MANAGERS_ONLY}] == []

    await server.stopped()  # dropped in the store, not in memory alone
    server.start()
    [owner] = await again(server, owner)
    listed = [r["user_id"] for r in (await owner.request("join_requests", group_id=gid))["requests"]]
    assert listed == [good.user_id]
    await close_all(owner, admin, m1, bad, good)


async def test_ban_errors_come_in_the_contracts_order(server):
    """``not_found`` (no such user) before ``forbidden``, also when the platform suspended the caller's
    management powers (that ``forbidden`` came first)."""
    gid, owner, admin, [m1] = await crowd(server, 1)
    rc, _, err = await server.admin("suspend-admin", admin.username, "--seconds", "600", "--reason", "abuse")
    assert rc == 0, err
    assert code(await admin.call("ban", group_id=gid, user_id="u" + "0" * 15)) == "not_found"
    refused = await admin.call("ban", group_id=gid, user_id=m1.user_id)
    assert (code(refused), refused.get("cause")) == ("forbidden", "powers_suspended")
    await close_all(owner, admin, m1)


async def test_a_manager_deletes_a_raiders_messages_at_once_after_banning_them(server):
    """[ext] delete_user_messages: one person's delivered messages, newest first, a page (500) a request,
    each told as delete_message tells one, in one record entry; managers only, as delete_message is."""
    gid, owner, admin, [raider, member] = await crowd(server, 2)
    ham = (await member.send(gid, "hello"))["seq"]
    spam = [r["seq"] for r in await asyncio.gather(*(raider.send(gid, f"buy now {i}") for i in range(502)))]
    assert code(await member.call("delete_user_messages", group_id=gid, user_id=raider.user_id)) == "forbidden"
    await owner.request("ban", group_id=gid, user_id=raider.user_id)  # (no longer a member: still allowed)
    member.drain_events()
    async def clean(by, uid) -> tuple[int, bool]:
        r = await by.request("delete_user_messages", group_id=gid, user_id=uid)
        return r["deleted"], r["more"]

    assert await clean(admin, raider.user_id) == (500, True)
    assert await clean(admin, raider.user_id) == (2, False)
    assert await clean(admin, raider.user_id) == (0, False)
    told = []
    while len(told) < 502:
        e = await member.next_event("message_deleted", timeout=5)
        told.append(e)
    assert sorted(e["seq"] for e in told) == sorted(spam) and {e["deleted_by"] for e in told} == {"manager"}
    messages = (await member.request("history", group_id=gid, after_seq=0, limit=3))["messages"]
    first_two = [(seq, True) for seq in sorted(spam)[:2]]
    assert [(m["seq"], bool(m.get("deleted"))) for m in messages] == [(ham, False), *first_two]
    log = (await owner.request("group_log", group_id=gid))["entries"]
    cleaned = [e for e in log if e["action"] == "delete_user_messages"]
    assert [len(e["detail"]["seqs"]) for e in cleaned] == [2, 500]
    assert {e["actor"] for e in cleaned} == {admin.user_id}
    assert {e["target_user_id"] for e in cleaned} == {raider.user_id}
    # One's own: anyone may; another's, or an unknown person's, by a member: refused.
    mine = (await member.send(gid, "oops"))["seq"]
    assert await clean(member, member.user_id) == (2, False)
    assert mine > ham
    assert code(await admin.call("delete_user_messages", group_id=gid, user_id="u0000000000000000")) == "not_found"
    outsider = await server.user()
    assert code(await outsider.call("delete_user_messages", group_id=gid, user_id=raider.user_id)) == "not_member"
