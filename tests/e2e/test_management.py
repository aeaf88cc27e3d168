"""Group governance end to end (Art. 8, 9): every row of the contract's Management table."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

from governance.audit import first_broken
from tests.e2e.harness import new_id_number, open_group, restart


async def group_with(server, n_members: int, **kw):
    owner = await server.user()
    gid = await open_group(owner, **kw)
    members = []
    for _ in range(n_members):
        c = await server.user()
        await c.request("join_group", group_id=gid)
        members.append(c)
    owner.drain_events()
    return owner, gid, members


async def close_all(*clients):
    for c in clients:
        await c.close()


def codes_of(reply):
    return reply.get("code") if not reply.get("ok") else "ok"


async def test_approval_policy(server):
    owner, gid, [admin] = await group_with(server, 1)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    await owner.request("update_group", group_id=gid, join_policy="approval")
    bob, carol, dave = await server.user(), await server.user(), await server.user()
    assert (await bob.request("join_group", group_id=gid))["status"] == "pending"
    ev = await owner.next_event("join_request")
    assert ev["user"]["user_id"] == bob.user_id
    assert (await admin.next_event("join_request"))["user"]["user_id"] == bob.user_id
    assert (await carol.request("join_group", group_id=gid))["status"] == "pending"
    reqs = (await admin.request("join_requests", group_id=gid))["requests"]
    assert [r["user_id"] for r in reqs] == [bob.user_id, carol.user_id]
    assert (await bob.call("send", group_id=gid, text="x"))["code"] == "not_member"

    await admin.request("approve_join", group_id=gid, user_id=bob.user_id)
    assert (await bob.next_event("join_result")) == {"ev": "join_result", "group_id": gid, "status": "approved",
                                                      "name": "tea room"}
    assert (await owner.next_event("member_joined"))["user"]["user_id"] == bob.user_id
    assert (await bob.send(gid, "thanks"))["seq"] > 0
    assert codes_of(await bob.call("approve_join", group_id=gid, user_id=carol.user_id)) == "forbidden"
    assert codes_of(await bob.call("join_requests", group_id=gid)) == "forbidden"
    await owner.request("reject_join", group_id=gid, user_id=carol.user_id)
    assert (await carol.next_event("join_result"))["status"] == "rejected"
    assert codes_of(await owner.call("approve_join", group_id=gid, user_id=carol.user_id)) == "not_found"
    assert codes_of(await owner.call("approve_join", group_id=gid, user_id=dave.user_id)) == "not_found"
    # A request made while the group took requests stands when it turns to invitations only: asking
    # again says it is pending (it was "forbidden: by invitation only" while the request was listed)
    assert (await dave.request("join_group", group_id=gid))["status"] == "pending"
    await owner.request("update_group", group_id=gid, join_policy="invite")
    assert (await dave.request("join_group", group_id=gid))["status"] == "pending"
    assert codes_of(await carol.call("join_group", group_id=gid)) == "forbidden"  # (no request of hers stands)
    await admin.request("approve_join", group_id=gid, user_id=dave.user_id)
    assert (await dave.next_event("join_result"))["status"] == "approved"
    await close_all(owner, admin, bob, carol, dave)


async def test_invite_policy(server):
    owner, gid, [member] = await group_with(server, 1)
    await owner.request("update_group", group_id=gid, join_policy="invite")
    outsider, guest = await server.user(), await server.user()
    assert codes_of(await outsider.call("join_group", group_id=gid)) == "forbidden"
    assert codes_of(await member.call("invite", group_id=gid, user_id=guest.user_id)) == "forbidden"
    await owner.request("invite", group_id=gid, user_id=guest.user_id)
    inv = await guest.next_event("invited")
    assert inv["group_id"] == gid and inv["by"]["role"] == "owner"
    assert (await guest.request("join_group", group_id=gid))["status"] == "joined"
    assert codes_of(await owner.call("invite", group_id=gid, user_id=guest.user_id)) == "conflict"
    assert codes_of(await owner.call("invite", group_id=gid, user_id="u0000000000000000")) == "not_found"
    # in an open group, members may invite
    await owner.request("update_group", group_id=gid, join_policy="open")
    assert codes_of(await member.call("invite", group_id=gid, user_id=outsider.user_id)) == "ok"
    await close_all(owner, member, outsider, guest)


async def test_a_blacklisted_or_cancelled_user_cannot_be_invited(server):
    """``invite`` naming a blacklisted or cancelled account is ``not_found``, as an unknown id is, and
    stores nothing: no invitation row and no record entry. An invitation of a closed account could
    never be used, yet would be kept and listed in the record as if it were an act on a user; and for
    a blacklisting later lifted it would let the user straight into an invite-only group on a stale
    invitation."""
    owner, gid, _ = await group_with(server, 0)
    await owner.request("update_group", group_id=gid, join_policy="invite")
    banned, gone = await server.user(), await server.user()
    rc, _, err = await server.admin("blacklist", banned.username, "--reason", "fraud")
    assert rc == 0, err
    await gone.request("delete_account", password="password123")
    for target in (banned, gone):
        refused = await owner.call("invite", group_id=gid, user_id=target.user_id)
        assert codes_of(refused) == "not_found", refused
    assert server.db_rows("SELECT COUNT(*) FROM invitations WHERE group_id = ?", gid) == [(0,)]
    assert server.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'invite'") == [(0,)]
    await close_all(owner, banned, gone)


async def test_an_approval_tells_the_managers_once(server):
    """Approving a join request sends each acting manager's connection exactly one
    ``join_request_decided`` (``status: approved``, ``by`` the approver), so their pending lists drop
    the request once; the admission itself must not announce it a second time as a request that
    ended by the user's coming in another way (``status: joined``), which is for joins by invitation,
    link or an open group."""
    owner, gid, [admin] = await group_with(server, 1)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    await owner.request("update_group", group_id=gid, join_policy="approval")
    bob = await server.user()
    assert (await bob.request("join_group", group_id=gid))["status"] == "pending"
    await admin.request("approve_join", group_id=gid, user_id=bob.user_id)
    assert (await bob.next_event("join_result"))["status"] == "approved"
    for manager in (owner, admin):
        await manager.request("my_groups")  # a round trip: any event for this connection came before its reply
        decided = [e for e in manager.drain_events() if e.get("ev") == "join_request_decided"]
        assert decided == [{"ev": "join_request_decided", "group_id": gid, "user_id": bob.user_id,
                            "status": "approved", "by": admin.user_id}], decided
    await close_all(owner, admin, bob)


async def test_asking_again_cannot_flood_the_managers(server):
    """`join_request` is sent once per pending request: asking again while it is pending answers
    `pending`, stores nothing new (the first request time is kept) and sends nothing; once the
    request is rejected, asking again waits for groups.join_request_cooldown_seconds (see
    test_a_rejected_request_is_not_made_again_until_the_cooldown_ends, where a new one is told again)."""
    owner, gid, [admin] = await group_with(server, 1)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    await owner.request("update_group", group_id=gid, join_policy="approval")
    asker = await server.user()
    assert (await asker.request("join_group", group_id=gid))["status"] == "pending"
    for manager in (owner, admin):
        assert (await manager.next_event("join_request"))["user"]["user_id"] == asker.user_id
    [first] = (await owner.request("join_requests", group_id=gid))["requests"]
    replies = await asyncio.gather(*(asker.call("join_group", group_id=gid) for _ in range(50)))
    assert [r.get("status") for r in replies] == ["pending"] * 50
    for manager in (owner, admin):
        await manager.request("me")  # a round trip: any event sent before it has arrived
        assert [e for e in manager.drain_events() if e.get("ev") == "join_request"] == []
    assert (await admin.request("join_requests", group_id=gid))["requests"] == [first]
    await admin.request("reject_join", group_id=gid, user_id=asker.user_id)
    assert (await asker.call("join_group", group_id=gid))["code"] == "rate_limited"
    for manager in (owner, admin):
        await manager.request("me")
        assert [e for e in manager.drain_events() if e.get("ev") == "join_request"] == []
    await close_all(owner, admin, asker)


async def test_joins_are_limited_per_minute(make_server):
    """Each join is announced to the group and each request to its managers, so `join_group`
    calls that join or ask to join are limited per user (rate_limits.joins_per_minute): by id, by
    invite link, or a new request alike. Answers that change nothing (already in, a request still
    pending) cost nothing; other users are not held back."""
    srv = make_server(joins_per_minute=3)
    owner = await srv.user()
    g1, g2, g3 = [await open_group(owner, name=f"room {i}") for i in range(3)]
    hopper = await srv.user()
    assert (await hopper.request("join_group", group_id=g1))["status"] == "joined"
    await hopper.request("leave_group", group_id=g1)
    assert (await hopper.request("join_group", group_id=g1))["status"] == "joined"
    assert (await hopper.request("join_group", group_id=g1))["status"] == "joined"  # already in: free
    assert (await hopper.request("join_group", group_id=g2))["status"] == "joined"
    refused = await hopper.call("join_group", group_id=g3)
    assert refused["code"] == "rate_limited" and 0 < refused["retry_after_ms"] <= 60_000
    members = (await owner.request("members", group_id=g3))["members"]
    assert hopper.user_id not in [m["user_id"] for m in members]
    assert [e for e in owner.drain_events() if e.get("ev") == "member_joined" and e["group_id"] == g3] == []
    other = await srv.user()
    assert (await other.request("join_group", group_id=g3))["status"] == "joined"

    # A request and an invite-link join count too; asking again while pending does not.
    asks = await open_group(owner, name="asks", join_policy="approval")
    link = (await owner.request("create_invite_link", group_id=g2))["code"]
    asker = await srv.user()
    assert (await asker.request("join_group", group_id=asks))["status"] == "pending"
    assert (await asker.request("join_group", group_id=asks))["status"] == "pending"
    assert (await asker.request("join_group", invite_code=link))["status"] == "joined"
    assert (await asker.request("join_group", group_id=g1))["status"] == "joined"
    assert (await asker.request("join_group", group_id=asks))["status"] == "pending"  # still pending: free
    assert codes_of(await asker.call("join_group", group_id=g3)) == "rate_limited"
    await close_all(owner, hopper, other, asker)


async def test_inviting_again_cannot_flood_the_invitee(server):
    """`invited` is sent once per standing invitation: re-invites (by the same or another member
    who may invite) answer ok and send nothing; once the invitation has lapsed, a new one is told."""
    owner, gid, [admin, member] = await group_with(server, 2)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    guest = await server.user()
    await member.request("invite", group_id=gid, user_id=guest.user_id)  # open group: members may
    assert (await guest.next_event("invited"))["by"]["user_id"] == member.user_id
    for inviter in (member, owner, member, admin) * 5:
        assert codes_of(await inviter.call("invite", group_id=gid, user_id=guest.user_id)) == "ok"
    await guest.request("me")  # a round trip: any event sent before it has arrived
    assert [e for e in guest.drain_events() if e.get("ev") == "invited"] == []
    # The last re-invite (the admin's) is the one kept: demoted, the admin's invitation lapses,
    # and the next invitation is new, so it is told.
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="member")
    await owner.request("update_group", group_id=gid, join_policy="invite")
    assert codes_of(await guest.call("join_group", group_id=gid)) == "forbidden"
    await owner.request("invite", group_id=gid, user_id=guest.user_id)
    assert (await guest.next_event("invited"))["by"]["role"] == "owner"
    assert (await guest.request("join_group", group_id=gid))["status"] == "joined"
    await close_all(owner, admin, member, guest)


async def test_an_invitation_lapses_when_its_inviter_may_no_longer_invite(server):
    """Nobody but the inviter can see or withdraw an invitation, so one from a manager since
    demoted or removed, from someone suspended by the platform, or from a member of a group that
    is no longer open, lets nobody in past the policy; the owner's own invitations outlive a
    policy change. A restart changes nothing (the inviter is stored with the invitation)."""
    owner, gid, [admin, member, other] = await group_with(server, 3)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    await owner.request("set_role", group_id=gid, user_id=other.user_id, role="admin")
    by_admin, by_member, by_owner, by_other = [await server.user() for _ in range(4)]
    await admin.request("invite", group_id=gid, user_id=by_admin.user_id)
    await member.request("invite", group_id=gid, user_id=by_member.user_id)  # open group: members may
    await owner.request("invite", group_id=gid, user_id=by_owner.user_id)
    await other.request("invite", group_id=gid, user_id=by_other.user_id)
    await owner.request("update_group", group_id=gid, join_policy="invite")
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="member")
    rc, _, err = await server.admin("suspend-admin", other.username, "--seconds", "600", "--reason", "abuse")
    assert rc == 0, err
    await server.stopped()
    server.start()
    for c in (by_admin, by_member, by_other):
        fresh = await server.client()
        await fresh.auth(c.token)
        assert codes_of(await fresh.call("join_group", group_id=gid)) == "forbidden"
    fresh = await server.client()
    await fresh.auth(by_owner.token)
    assert (await fresh.request("join_group", group_id=gid))["status"] == "joined"
    # invited again by someone who may: it stands
    boss = await server.client()
    await boss.auth(owner.token)
    await boss.request("invite", group_id=gid, user_id=by_admin.user_id)
    fresh = await server.client()
    await fresh.auth(by_admin.token)
    assert (await fresh.request("join_group", group_id=gid))["status"] == "joined"


async def test_kick_matrix(server):
    owner, gid, [a1, a2, m1, m2] = await group_with(server, 4)
    for a in (a1, a2):
        await owner.request("set_role", group_id=gid, user_id=a.user_id, role="admin")
    assert codes_of(await a1.call("kick", group_id=gid, user_id=owner.user_id)) == "forbidden"
    assert codes_of(await a1.call("kick", group_id=gid, user_id=a2.user_id)) == "forbidden"
    assert codes_of(await m1.call("kick", group_id=gid, user_id=m2.user_id)) == "forbidden"
    assert codes_of(await owner.call("kick", group_id=gid, user_id=owner.user_id)) == "forbidden"
    owner.drain_events()
    await a1.request("kick", group_id=gid, user_id=m1.user_id)
    ev = await owner.next_event("member_removed")
    assert ev == {"ev": "member_removed", "group_id": gid, "user_id": m1.user_id, "by": a1.user_id}
    assert (await m1.next_event("member_removed"))["user_id"] == m1.user_id
    assert codes_of(await m1.call("send", group_id=gid, text="x")) == "not_member"
    await owner.request("kick", group_id=gid, user_id=a2.user_id)
    assert codes_of(await a2.call("kick", group_id=gid, user_id=m2.user_id)) == "not_member"
    assert codes_of(await owner.call("kick", group_id=gid, user_id=m1.user_id)) == "not_found"
    await close_all(owner, a1, a2, m1, m2)


async def test_timed_mute_and_unmute(server):
    owner, gid, [admin, m1] = await group_with(server, 2)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    assert codes_of(await admin.call("mute", group_id=gid, user_id=owner.user_id, seconds=60)) == "forbidden"
    assert codes_of(await m1.call("mute", group_id=gid, user_id=admin.user_id, seconds=60)) == "forbidden"
    assert codes_of(await admin.call("mute", group_id=gid, user_id=m1.user_id, seconds=-1)) == "bad_request"
    month = 30 * 86400  # the longest mute (docs/governance.md)
    assert codes_of(await admin.call("mute", group_id=gid, user_id=m1.user_id, seconds=month + 1)) == "bad_request"
    await admin.request("mute", group_id=gid, user_id=m1.user_id, seconds=month)
    assert (await m1.next_event("member_muted"))["until"] > 0
    await admin.request("mute", group_id=gid, user_id=m1.user_id, seconds=60)
    ev = await m1.next_event("member_muted")
    assert ev["user_id"] == m1.user_id and ev["until"] > 0
    assert codes_of(await m1.call("send", group_id=gid, text="x")) == "muted"
    await admin.request("mute", group_id=gid, user_id=m1.user_id, seconds=0)
    assert (await m1.next_event("member_muted"))["until"] == 0
    assert codes_of(await m1.call("send", group_id=gid, text="back")) == "ok"
    await owner.request("mute", group_id=gid, user_id=admin.user_id, seconds=1)
    assert codes_of(await admin.call("send", group_id=gid, text="x")) == "muted"
    await asyncio.sleep(1.1)  # the mute runs out by itself (1 s: the shortest there is)
    assert codes_of(await admin.call("send", group_id=gid, text="free again")) == "ok"
    await close_all(owner, admin, m1)


async def test_a_timed_mute_lasts_the_seconds_asked(server):
    """A mute of N seconds ends N seconds from now: ``until`` (told in ``member_muted``, shown by
    ``members`` and stored) is now + N * 1000 ms. The other tests only saw ``until > 0`` and a 1 s
    mute run out, which a mute of a tenth of the time asked (N * 100 ms) also passes; a ten-minute
    mute that lapsed after a minute would let a muted raider back long before the manager meant."""
    owner, gid, [m1] = await group_with(server, 1)
    seconds = 600
    before = int(time.time() * 1000)
    await owner.request("mute", group_id=gid, user_id=m1.user_id, seconds=seconds)
    after = int(time.time() * 1000)
    until = (await m1.next_event("member_muted"))["until"]
    assert before + seconds * 1000 - 2000 <= until <= after + seconds * 1000 + 2000, (before, until, after)
    rows = {r["user_id"]: r for r in (await owner.request("members", group_id=gid))["members"]}
    assert rows[m1.user_id]["muted_until"] == until
    await close_all(owner, m1)


async def test_members_say_who_is_muted_until_when(server):
    """A manager who reconnects learns the mutes in force from `members`, not only from events."""
    owner, gid, [m1, m2] = await group_with(server, 2)
    await owner.request("mute", group_id=gid, user_id=m1.user_id, seconds=600)
    until = (await m1.next_event("member_muted"))["until"]
    await owner.request("mute", group_id=gid, user_id=m2.user_id, seconds=1)
    await asyncio.sleep(1.1)  # m2's mute is over: nothing to show
    for viewer in (owner, m2):
        rows = {m["user_id"]: m for m in (await viewer.request("members", group_id=gid))["members"]}
        assert rows[m1.user_id]["muted_until"] == until
        assert "muted_until" not in rows[m2.user_id] and "muted_until" not in rows[owner.user_id]
    await owner.request("mute", group_id=gid, user_id=m1.user_id, seconds=0)
    rows = {m["user_id"]: m for m in (await owner.request("members", group_id=gid))["members"]}
    assert "muted_until" not in rows[m1.user_id]
    await close_all(owner, m1, m2)


async def test_mute_all(server):
    owner, gid, [admin, m1] = await group_with(server, 2)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    assert codes_of(await m1.call("mute_all", group_id=gid, on=True)) == "forbidden"
    await admin.request("mute_all", group_id=gid, on=True)
    assert (await m1.next_event("group_updated")) == {"ev": "group_updated", "group_id": gid, "mute_all": True}
    assert codes_of(await m1.call("send", group_id=gid, text="x")) == "muted"
    assert codes_of(await admin.call("send", group_id=gid, text="admins speak")) == "ok"
    assert codes_of(await owner.call("send", group_id=gid, text="owner speaks")) == "ok"
    await owner.request("mute_all", group_id=gid, on=False)
    assert codes_of(await m1.call("send", group_id=gid, text="x")) == "ok"
    await close_all(owner, admin, m1)


async def test_set_role_and_role_tags(make_server):
    srv = make_server("[limits]\nmax_admins = 1\n")
    owner, gid, [a, b] = await group_with(srv, 2)
    assert codes_of(await a.call("set_role", group_id=gid, user_id=b.user_id, role="admin")) == "forbidden"
    assert codes_of(await owner.call("set_role", group_id=gid, user_id=a.user_id, role="owner")) == "bad_request"
    await owner.request("set_role", group_id=gid, user_id=a.user_id, role="admin")
    assert (await b.next_event("role_changed")) == {"ev": "role_changed", "group_id": gid,
                                                    "user_id": a.user_id, "role": "admin"}
    assert codes_of(await owner.call("set_role", group_id=gid, user_id=b.user_id, role="admin")) == "admin_cap_reached"
    as_admin = await a.send(gid, "as admin")
    await owner.request("set_role", group_id=gid, user_id=a.user_id, role="member")
    as_member = await a.send(gid, "as member")
    hist = {m["seq"]: m for m in (await owner.request("history", group_id=gid))["messages"]}
    assert hist[as_admin["seq"]]["sender"]["role"] == "admin"  # role at the time of sending
    assert hist[as_member["seq"]]["sender"]["role"] == "member"
    roles = {m["user_id"]: m["role"] for m in (await b.request("members", group_id=gid))["members"]}
    assert roles == {owner.user_id: "owner", a.user_id: "member", b.user_id: "member"}
    await close_all(owner, a, b)


async def test_setting_the_role_already_held_changes_nothing(make_server):
    """``set_role`` to the role the member already holds is a no-op answered ok: no record entry, no
    ``role_changed`` event, and the admin cap is not consulted (an admin made admin again at the cap
    is not ``admin_cap_reached``). A client that re-sends a role, or a manager clicking twice, would
    otherwise fill the group's log with changes that changed nothing and tell every member of them."""
    server = make_server("[limits]\nmax_admins = 1\n")
    owner, gid, [a, b] = await group_with(server, 2)
    await owner.request("set_role", group_id=gid, user_id=a.user_id, role="admin")  # the cap reached
    assert (await b.next_event("role_changed"))["role"] == "admin"
    entries = server.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'set_role'")
    assert entries == [(1,)]
    for target, role in ((b, "member"), (a, "admin")):
        assert codes_of(await owner.call("set_role", group_id=gid, user_id=target.user_id, role=role)) == "ok"
        await b.request("my_groups")  # a round trip: any event for this connection came before its reply
        assert [e for e in b.drain_events() if e.get("ev") == "role_changed"] == [], role
        assert server.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'set_role'") == entries, role
    assert [e["action"] for e in (await owner.request("group_log", group_id=gid))["entries"]].count("set_role") == 1
    await close_all(owner, a, b)


async def test_transfer_owner(server):
    owner, gid, [a, b] = await group_with(server, 2)
    assert codes_of(await a.call("transfer_owner", group_id=gid, user_id=b.user_id)) == "forbidden"
    await owner.request("transfer_owner", group_id=gid, user_id=a.user_id)
    changes = {(await b.next_event("role_changed"))["user_id"] for _ in range(2)}
    assert changes == {a.user_id, owner.user_id}
    info = await b.request("group_info", group_id=gid)
    assert info["owner"]["user_id"] == a.user_id
    assert codes_of(await a.call("leave_group", group_id=gid)) == "forbidden"
    assert codes_of(await owner.call("dissolve_group", group_id=gid)) == "forbidden"
    await owner.request("leave_group", group_id=gid)
    await close_all(owner, a, b)


async def test_a_muted_member_handed_the_group_is_unmuted_as_its_owner(server):
    """Nobody may mute the owner, so nobody could lift a mute the new owner kept: a reviewer had an
    owner hand the group to a member they had muted for an hour, who could then neither speak nor
    set an announcement in their own group. The transfer ends the mute, the group is told
    (``member_muted`` with ``until`` 0), and it holds across a restart. So does the handover of a
    blacklisted owner's group to a muted admin."""
    owner, gid, [a, b] = await group_with(server, 2)
    await owner.request("mute", group_id=gid, user_id=a.user_id, seconds=3600)
    assert codes_of(await a.call("send", group_id=gid, text="hi")) == "muted"
    b.drain_events()
    await owner.request("transfer_owner", group_id=gid, user_id=a.user_id)
    told = await b.next_event("member_muted")
    assert (told["user_id"], told["until"]) == (a.user_id, 0)
    assert (await a.call("send", group_id=gid, text="hi"))["ok"]
    [row] = [m for m in (await b.request("members", group_id=gid))["members"] if m["user_id"] == a.user_id]
    assert (row["role"], "muted_until" in row) == ("owner", False), row
    owner, a, b = await restart(server, owner, a, b)
    assert (await a.call("set_announcement", group_id=gid, text="欢迎"))["ok"]
    # Handed on again, left, and back after a restart: the mute the transfer ended stays ended (a
    # mute of someone who left is read back from the record at start, where the transfer ends it).
    await a.request("transfer_owner", group_id=gid, user_id=b.user_id)
    await a.request("leave_group", group_id=gid)
    owner, a, b = await restart(server, owner, a, b)
    await a.request("join_group", group_id=gid)
    assert (await a.call("send", group_id=gid, text="回来了"))["ok"]

    # the platform's handover of a blacklisted owner's group to its muted admin
    boss, heir = await server.user(verify_id=True), await server.user(verify_id=True)
    gid2 = await open_group(boss)
    await heir.request("join_group", group_id=gid2)
    await boss.request("set_role", group_id=gid2, user_id=heir.user_id, role="admin")
    await boss.request("mute", group_id=gid2, user_id=heir.user_id, seconds=3600)
    rc, _, err = await server.admin("blacklist", boss.username, "--reason", "fraud")
    assert rc == 0, err
    assert (await heir.request("group_info", group_id=gid2))["owner"]["user_id"] == heir.user_id
    assert (await heir.call("send", group_id=gid2, text="hi"))["ok"]
    await close_all(owner, a, b, heir)


async def test_a_group_is_never_handed_to_someone_without_a_verified_identity(make_server):
    """With ``identity.require_id_to_create`` (the default) an owner answers for the group with a
    verified identity (Art. 8): ``transfer_owner`` to a member without one is
    ``verification_required``, or a creator's accomplice could hand a group to an account that may
    not create one; and a blacklisted owner's group does not pass to such an admin (it closes)."""
    srv = make_server(require_id_to_create="true")
    owner = await srv.user(verify_id=True)
    gid = await open_group(owner)
    unverified, verified = await srv.user(), await srv.user(verify_id=True)
    for c in (unverified, verified):
        await c.request("join_group", group_id=gid)
    refused = await owner.call("transfer_owner", group_id=gid, user_id=unverified.user_id)
    assert refused["code"] == "verification_required" and "verified identity" in refused["reason"], refused
    info = await owner.request("group_info", group_id=gid)
    assert info["owner"]["user_id"] == owner.user_id  # nothing changed
    await owner.request("transfer_owner", group_id=gid, user_id=verified.user_id)
    assert (await verified.request("group_info", group_id=gid))["owner"]["user_id"] == verified.user_id
    # once verified, the member may receive it
    await unverified.request("verify_identity", legal_name="赵六", id_number=new_id_number())
    await verified.request("transfer_owner", group_id=gid, user_id=unverified.user_id)
    assert (await owner.request("group_info", group_id=gid))["owner"]["user_id"] == unverified.user_id

    # a blacklisted owner's only admin has no verified identity: the group closes, it does not pass
    boss = await srv.user(verify_id=True)
    gid2 = await open_group(boss, name="second")
    admin = await srv.user()
    await admin.request("join_group", group_id=gid2)
    await boss.request("set_role", group_id=gid2, user_id=admin.user_id, role="admin")
    rc, out, err = await srv.admin("blacklist", boss.username, "--reason", "fraud")
    assert rc == 0, err
    assert f"group {gid2} closed" in out, out
    assert (await admin.call("send", group_id=gid2, text="x"))["code"] == "group_closed"
    await close_all(owner, unverified, verified, admin)


async def test_announcement_and_update_group(server):
    owner, gid, [admin, m1] = await group_with(server, 2)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    assert codes_of(await m1.call("set_announcement", group_id=gid, text="x")) == "forbidden"
    await admin.request("set_announcement", group_id=gid, text="群规：友善交流")
    assert (await m1.next_event("group_updated"))["announcement"] == "群规：友善交流"
    assert (await m1.request("group_info", group_id=gid))["announcement"] == "群规：友善交流"
    assert codes_of(await admin.call("update_group", group_id=gid, name="x")) == "forbidden"
    assert codes_of(await owner.call("update_group", group_id=gid, category="casino")) == "bad_request"
    assert codes_of(await owner.call("update_group", group_id=gid)) == "bad_request"
    await owner.request("update_group", group_id=gid, name="新名字", category="study")
    ev = await m1.next_event("group_updated")
    assert ev == {"ev": "group_updated", "group_id": gid, "name": "新名字", "category": "study"}
    await close_all(owner, admin, m1)


async def test_delete_message_matrix(server):
    owner, gid, [admin, m1, m2] = await group_with(server, 3)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    s_owner = (await owner.send(gid, "owner says"))["seq"]
    s_admin = (await admin.send(gid, "admin says"))["seq"]
    s_m1 = (await m1.send(gid, "m1 says"))["seq"]
    s_m2 = (await m2.send(gid, "m2 says"))["seq"]
    assert codes_of(await m1.call("delete_message", group_id=gid, seq=s_m2)) == "forbidden"
    assert codes_of(await m1.call("delete_message", group_id=gid, seq=999)) == "not_found"
    m2.drain_events()
    await m1.request("delete_message", group_id=gid, seq=s_m1)  # own
    # [ext] members are told who hid it: its sender, or a manager (which one is not said)
    assert (await m2.next_event("message_deleted")) == {"ev": "message_deleted", "group_id": gid, "seq": s_m1,
                                                        "deleted_by": "sender"}
    m1.drain_events()
    await admin.request("delete_message", group_id=gid, seq=s_m2)
    assert (await m1.next_event("message_deleted")) == {"ev": "message_deleted", "group_id": gid, "seq": s_m2,
                                                        "deleted_by": "manager"}
    await owner.request("delete_message", group_id=gid, seq=s_admin)
    await admin.request("delete_message", group_id=gid, seq=s_owner)  # admins: anyone's message
    s_own_admin = (await admin.send(gid, "admin again"))["seq"]
    await admin.request("delete_message", group_id=gid, seq=s_own_admin)  # a manager's own: recalled
    hist = {m["seq"]: m for m in (await m2.request("history", group_id=gid))["messages"]}
    for seq, by in ((s_m1, "sender"), (s_m2, "manager"), (s_admin, "manager"), (s_owner, "manager"),
                    (s_own_admin, "sender")):
        assert hist[seq]["deleted"] is True and "text" not in hist[seq]
        assert hist[seq]["deleted_by"] == by and set(hist[seq]) == {"group_id", "seq", "ts", "sender", "deleted",
                                                                    "deleted_by"}, hist[seq]
    # the stored text is kept for the retention period
    kept = server.db_rows("SELECT text, deleted_at IS NOT NULL FROM messages WHERE group_id=? AND seq=?", gid, s_m2)
    assert kept == [("m2 says", 1)]
    audit = server.db_rows("SELECT id, ts, actor_type, actor_id, action, group_id, target_id, reason, detail,"
                           " prev_hash, hash FROM audit ORDER BY id")
    keys = ("id", "ts", "actor_type", "actor_id", "action", "group_id", "target_id", "reason", "detail",
            "prev_hash", "hash")
    entries = [dict(zip(keys, r, strict=True)) for r in audit]
    assert [e["action"] for e in entries].count("delete_message") == 5
    assert first_broken(entries) is None
    await close_all(owner, admin, m1, m2)


async def test_dissolve(server):
    owner, gid, [admin, m1] = await group_with(server, 2)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    assert codes_of(await admin.call("dissolve_group", group_id=gid)) == "forbidden"
    await owner.request("dissolve_group", group_id=gid)
    for c in (admin, m1):
        assert (await c.next_event("group_dissolved")) == {"ev": "group_dissolved", "group_id": gid,
                                                           "by": owner.user_id}
    assert codes_of(await m1.call("send", group_id=gid, text="x")) == "not_found"
    assert codes_of(await owner.call("group_info", group_id=gid)) == "not_found"
    assert codes_of(await m1.call("join_group", group_id=gid)) == "not_found"
    assert (await m1.request("my_groups"))["groups"] == []
    await close_all(owner, admin, m1)


async def test_a_dissolved_groups_messages_stay_reportable_by_its_members(server):
    """As the dissolved group itself may be reported, so may what its members saw in it; not by
    someone who was never a member."""
    owner, gid, [m1] = await group_with(server, 1)
    seq = (await owner.send(gid, "evidence"))["seq"]
    await owner.request("dissolve_group", group_id=gid)
    r = await m1.request("report", target_type="message", group_id=gid, seq=seq, reason="fraud")
    assert r["report_id"]
    stranger = await server.user()
    assert codes_of(await stranger.call("report", target_type="message", group_id=gid, seq=seq,
                                        reason="fraud")) == "not_member"
    await close_all(owner, m1, stranger)


async def test_a_former_member_may_report_what_they_were_shown_before_they_left(server):
    """An admin harasses a member, then kicks them: the message was refused ``not_member`` and a report
    about the admin lost the group as its context, so the complaint named no place. A former member
    (left, kicked, banned) may report a message sent while they were one, by the membership log; not
    one sent after, nor a message held from them; a user report keeps the group they were in."""
    owner, gid, [victim, bystander] = await group_with(server, 2)
    seq = (await owner.send(gid, "你给我滚"))["seq"]
    await owner.request("kick", group_id=gid, user_id=victim.user_id)
    later = (await owner.send(gid, "走了正好"))["seq"]
    r = await victim.request("report", target_type="message", group_id=gid, seq=seq, reason="辱骂")
    assert r["report_id"]
    assert codes_of(await victim.call("report", target_type="message", group_id=gid, seq=later,
                                      reason="辱骂")) == "not_found"
    about = await victim.request("report", target_type="user", user_id=owner.user_id, group_id=gid, reason="骚扰")
    rc, out, _ = await server.admin("reports", "--open")
    listed = {x["report_id"]: x for x in map(json.loads, out.splitlines())}
    assert (listed[r["report_id"]]["seq"], listed[r["report_id"]]["user_id"]) == (seq, owner.user_id)
    assert listed[about["report_id"]]["group_id"] == gid  # (the place kept, though they are out of it)
    # back in the group (invited again): what was said to them the first time is still theirs to report
    await owner.request("invite", group_id=gid, user_id=victim.user_id)
    await victim.request("join_group", group_id=gid)
    again = await victim.call("report", target_type="message", group_id=gid, seq=seq, reason="辱骂")
    assert again["ok"] and again["report_id"] == r["report_id"], again  # (the same report, still open)
    # one who left on their own, and came back: what was said while they were away is not theirs to report
    await bystander.request("leave_group", group_id=gid)
    await asyncio.sleep(0.01)  # (the log has milliseconds: one shared with the leave or the join counts as theirs)
    away = (await owner.send(gid, "趁他不在"))["seq"]
    await asyncio.sleep(0.01)
    await bystander.request("join_group", group_id=gid)
    assert codes_of(await bystander.call("report", target_type="message", group_id=gid, seq=away,
                                         reason="x")) == "not_found"
    stranger = await server.user()
    assert codes_of(await stranger.call("report", target_type="message", group_id=gid, seq=seq,
                                        reason="x")) == "not_member"
    plain = await stranger.request("report", target_type="user", user_id=owner.user_id, group_id=gid, reason="x")
    rc, out, _ = await server.admin("reports", "--open")
    assert {x["report_id"]: x for x in map(json.loads, out.splitlines())}[plain["report_id"]]["group_id"] is None
    await close_all(owner, victim, bystander, stranger)


async def test_caps(make_server):
    srv = make_server("[limits]\nmax_members = 3\nmax_groups_created = 1\nmax_groups_joined = 2\n")
    owner = await srv.user()
    gid = await open_group(owner)
    assert codes_of(await owner.call("create_group", name="2nd", category="work", join_policy="open")) \
        == "create_cap_reached"
    a, b, c = await srv.user(), await srv.user(), await srv.user()
    await a.request("join_group", group_id=gid)
    await b.request("join_group", group_id=gid)
    assert codes_of(await c.call("join_group", group_id=gid)) == "member_cap_reached"
    assert codes_of(await owner.call("invite", group_id=gid, user_id=c.user_id)) == "member_cap_reached"
    # join cap: a owns one group and is in gid: that is 2
    g2 = await open_group(a)
    assert codes_of(await b.call("join_group", group_id=g2)) == "ok"  # b: gid + g2
    g3 = await open_group(c)
    own = await b.call("join_group", group_id=g3)
    assert (own["code"], own["reason"]) == ("join_cap_reached", "you may be in at most 2 groups"), own
    # Inviting them, c is told only that b is full, not b's cap, which follows b's credit level.
    refused = await c.call("invite", group_id=g3, user_id=b.user_id)
    assert refused["code"] == "join_cap_reached" and "at most" not in refused["reason"], refused
    await close_all(owner, a, b, c)


async def test_concurrent_joins_never_overshoot_the_cap(make_server):
    srv = make_server("[limits]\nmax_members = 11\n")
    owner = await srv.user()
    gid = await open_group(owner)
    joiners = await asyncio.gather(*[srv.user() for _ in range(50)])
    replies = await asyncio.gather(*[j.call("join_group", group_id=gid) for j in joiners])
    outcomes = [codes_of(r) for r in replies]
    assert outcomes.count("ok") == 10 and outcomes.count("member_cap_reached") == 40
    info = await owner.request("group_info", group_id=gid)
    assert info["member_count"] == 11 and info["max_members"] == 11
    assert srv.db_rows("SELECT COUNT(*) FROM members WHERE group_id = ?", gid) == [(11,)]
    await close_all(owner, *joiners)


CREDIT_CONFIG = """
[credit]
initial_score = 50
[[credit.levels]]
min_score = 0
max_groups_created = 0
[[credit.levels]]
min_score = 40
max_groups_created = 1
max_members = 4
[[credit.levels]]
min_score = 100
[groups]
[[groups.size_classes]]
name = "small"
min_members = 0
[[groups.size_classes]]
name = "medium"
min_members = 3
require_id = true
[[groups.size_classes]]
name = "large"
min_members = 4
min_credit_level = 3
"""


async def test_credit_levels_and_size_classes(make_server):
    srv = make_server(CREDIT_CONFIG)
    owner = await srv.user()
    me = await owner.request("me")
    assert me["credit_level"] == 2
    gid = await open_group(owner)
    info = await owner.request("group_info", group_id=gid)
    assert info["max_members"] == 4 and info["size_class"] == "small"
    a, b = await srv.user(), await srv.user()
    await a.request("join_group", group_id=gid)
    # a third member makes the group "medium", which needs a verified owner
    assert codes_of(await b.call("join_group", group_id=gid)) == "verification_required"
    from tests.e2e.harness import new_id_number

    await owner.request("verify_identity", legal_name="钱七", id_number=new_id_number())
    await b.request("join_group", group_id=gid)
    assert (await owner.request("group_info", group_id=gid))["size_class"] == "medium"
    c = await srv.user()
    assert codes_of(await c.call("join_group", group_id=gid)) == "credit_too_low"  # "large" needs level 3
    await close_all(owner, a, b, c)


LOW_LEVEL_CAPS = """
[credit]
initial_score = 100
[[credit.levels]]
min_score = 0
max_members = 4
max_admins = 1
[[credit.levels]]
min_score = 100
"""


async def test_a_transfer_that_would_put_the_group_over_the_new_owners_caps_is_refused(make_server):
    """A group's member and admin caps follow its owner's credit level, so ownership never passes to a
    member whose level would leave the group over them at once: ``member_cap_reached`` or
    ``admin_cap_reached``, with nothing changed; once the group fits, the transfer goes through."""
    srv = make_server(LOW_LEVEL_CAPS)
    owner, gid, [low, a, b, c] = await group_with(srv, 4)
    rc, _, err = await srv.admin("credit", low.username, "--delta", "-50", "--reason", "violations")
    assert rc == 0, err
    assert (await low.request("me"))["credit_level"] == 1
    refused = await owner.call("transfer_owner", group_id=gid, user_id=low.user_id)
    assert refused["code"] == "member_cap_reached", refused
    assert "5 members" in refused["reason"] and "at most 4" in refused["reason"]
    info = await owner.request("group_info", group_id=gid)
    assert info["owner"]["user_id"] == owner.user_id and info["max_members"] == 500
    await c.request("leave_group", group_id=gid)
    for m in (a, b):
        await owner.request("set_role", group_id=gid, user_id=m.user_id, role="admin")
    refused = await owner.call("transfer_owner", group_id=gid, user_id=low.user_id)
    assert refused["code"] == "admin_cap_reached" and "2 admins" in refused["reason"], refused
    await owner.request("set_role", group_id=gid, user_id=b.user_id, role="member")
    await owner.request("transfer_owner", group_id=gid, user_id=low.user_id)
    info = await a.request("group_info", group_id=gid)
    assert info["owner"]["user_id"] == low.user_id and info["max_members"] == 4 and info["member_count"] == 4
    await close_all(owner, low, a, b, c)


async def test_a_blacklisted_owners_group_passes_over_an_admin_whose_caps_it_exceeds(make_server):
    """The heir of a blacklisted owner's group must fit it like a new owner by transfer: the
    longest-serving admin, whose level allows fewer members than the group has, is passed over
    for the next admin who fits."""
    srv = make_server(LOW_LEVEL_CAPS)
    boss, gid, [low, fine, a, b] = await group_with(srv, 4)
    for m in (low, fine):  # low joined first: the longest-serving admin
        await boss.request("set_role", group_id=gid, user_id=m.user_id, role="admin")
    rc, _, err = await srv.admin("credit", low.username, "--delta", "-50", "--reason", "violations")
    assert rc == 0, err
    rc, out, err = await srv.admin("blacklist", boss.username, "--reason", "fraud")
    assert rc == 0, err
    info = await a.request("group_info", group_id=gid)
    assert info["owner"]["user_id"] == fine.user_id, out
    await close_all(low, fine, a, b)


def _http(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def _http_headers(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.headers


async def test_info_page_for_large_groups_only(make_server):
    srv = make_server("[groups]\ninfo_page_min_members = 3\n")
    owner, big, _ = await group_with(srv, 2, name="<大群>", category="study")
    small_owner, small, _ = await group_with(srv, 1)
    status, body = await asyncio.to_thread(_http, f"http://127.0.0.1:{srv.port}/groups/{big}")
    assert status == 200 and "&lt;大群&gt;" in body and big in body and ">3<" in body
    assert "<dd>study</dd>" in body  # G8: its category, as the page shows it
    assert owner.username.title() in body
    # An HTML page of this origin showing names users chose: escaped, and locked down by its headers too
    # (no script, style, plugin, base, form or framing at all), like the web client's files.
    headers = await asyncio.to_thread(_http_headers, f"http://127.0.0.1:{srv.port}/groups/{big}")
    assert headers.get_all("Content-Type") == ["text/html; charset=utf-8"]  # once: not text/plain as well
    csp = [d.strip() for d in headers["Content-Security-Policy"].split(";")]
    for directive in ("default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"):
        assert directive in csp, csp
    assert not any(d.startswith(("script-src", "style-src", "object-src")) for d in csp)  # default-src 'none' holds
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    status, _ = await asyncio.to_thread(_http, f"http://127.0.0.1:{srv.port}/groups/{small}")
    assert status == 404
    outsider = await srv.user()
    info = await outsider.request("group_info", group_id=big)
    assert info["member_count"] == 3 and info["owner"]["display_name"] == owner.username.title()
    assert codes_of(await outsider.call("group_info", group_id=small)) == "not_member"
    # The announcement is the members': a stranger's group_info has none. The page is never cached stale.
    await owner.request("set_announcement", group_id=big, text="群规：只谈学习")
    assert (await outsider.request("group_info", group_id=big))["announcement"] == ""
    assert "群规" not in (await asyncio.to_thread(_http, f"http://127.0.0.1:{srv.port}/groups/{big}"))[1]
    assert "no-cache" in (await asyncio.to_thread(_http_headers, f"http://127.0.0.1:{srv.port}/groups/{big}"))[
        "Cache-Control"]
    # A group the platform closed, or its owner dissolved, has no page any more.
    third_owner, third, _ = await group_with(srv, 2)
    assert (await asyncio.to_thread(_http, f"http://127.0.0.1:{srv.port}/groups/{third}"))[0] == 200
    await third_owner.request("dissolve_group", group_id=third)
    assert (await asyncio.to_thread(_http, f"http://127.0.0.1:{srv.port}/groups/{third}"))[0] == 404
    rc, _, err = await srv.admin("close-group", big, "--reason", "违规")
    assert rc == 0, err
    assert (await asyncio.to_thread(_http, f"http://127.0.0.1:{srv.port}/groups/{big}"))[0] == 404
    await close_all(owner, small_owner, outsider, third_owner)


async def test_categories_are_configured(server):
    owner = await server.user()
    r = await owner.call("create_group", name="x", category="casino", join_policy="open")
    assert r["code"] == "bad_request" and "category" in r["reason"]
    r = await owner.call("create_group", name="x", category="work", join_policy="secret")
    assert r["code"] == "bad_request"
    await owner.close()


async def test_a_rejected_request_is_not_made_again_until_the_cooldown_ends(make_server):
    """groups.join_request_cooldown_seconds: a raid's accounts asked again at once after each rejection,
    each request an event to every manager. An invitation still lets the person in."""
    srv = make_server("[groups]\njoin_request_cooldown_seconds = 2\n")
    owner, asker = await srv.user(), await srv.user()
    gid = await open_group(owner, join_policy="approval")
    assert (await asker.request("join_group", group_id=gid))["status"] == "pending"
    await owner.request("reject_join", group_id=gid, user_id=asker.user_id)
    again = await asker.call("join_group", group_id=gid)
    assert again["code"] == "rate_limited" and 0 < again["retry_after_ms"] <= 2000, again
    assert again["cause"] == "request_rejected"
    assert (await owner.request("join_requests", group_id=gid))["requests"] == []
    await asyncio.sleep(again["retry_after_ms"] / 1000 + 0.1)
    owner.drain_events()
    assert (await asker.request("join_group", group_id=gid))["status"] == "pending"
    assert (await owner.next_event("join_request"))["user"]["user_id"] == asker.user_id  # told again
    await owner.request("reject_join", group_id=gid, user_id=asker.user_id)
    await owner.request("invite", group_id=gid, user_id=asker.user_id)  # (a manager may still let them in)
    assert (await asker.request("join_group", group_id=gid))["status"] == "joined"


async def test_a_groups_end_lets_its_pending_requests_and_invitations_lapse_and_tells_the_requesters(server):
    """A join request pending when its group was dissolved or closed was never decided: the requester's
    client showed it pending for good, and its row and an invitation's stayed stored for good. Each
    requester gets ``join_result`` rejected with the cause; the rows go in the same write."""
    owner = await server.user()
    dissolved = await open_group(owner, name="to dissolve", join_policy="approval")
    closed = await open_group(owner, name="to close", join_policy="approval")
    asker, invitee = await server.user(), await server.user()
    for gid in (dissolved, closed):
        assert (await asker.request("join_group", group_id=gid))["status"] == "pending"
        await owner.request("invite", group_id=gid, user_id=invitee.user_id)
    assert server.db_rows("SELECT COUNT(*) FROM join_requests WHERE user_id = ?", asker.user_id) == [(2,)]
    assert server.db_rows("SELECT COUNT(*) FROM invitations WHERE user_id = ?", invitee.user_id) == [(2,)]
    asker.drain_events()

    await owner.request("dissolve_group", group_id=dissolved)
    told = await asker.next_event("join_result")
    assert (told["group_id"], told["status"], told["cause"]) == (dissolved, "rejected", "group_dissolved")
    rc, _, err = await server.admin("close-group", closed, "--reason", "赌博")
    assert rc == 0, err
    told = await asker.next_event("join_result")
    assert (told["group_id"], told["status"], told["cause"]) == (closed, "rejected", "group_closed")
    for table, uid in (("join_requests", asker.user_id), ("invitations", invitee.user_id)):
        assert server.db_rows(f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", uid) == [(0,)], table
    assert (await invitee.call("join_group", group_id=dissolved))["code"] == "not_found"
    assert (await invitee.call("join_group", group_id=closed))["code"] == "group_closed"


async def test_a_group_its_owner_dissolved_after_a_warning_can_still_be_closed_and_the_owner_penalised(
        server, tmp_path):
    """Only a suspension holds a group from being dissolved: a warned owner dissolved first, and
    close-group then refused the dissolved group, so the platform had no measure left on it and the
    owner kept the credit a closing costs. It is closed for the record, the owner who dissolved it
    penalised; the group stays not_found to everyone."""
    owner, gid, [member] = await group_with(server, 1)
    rc, _, err = await server.admin("warn-group", gid, "--reason", "广告刷屏")
    assert rc == 0, err
    before = (await owner.request("me"))["credit_score"]
    await owner.request("dissolve_group", group_id=gid)
    owner.drain_events()
    rc, out, err = await server.admin("close-group", gid, "--reason", "屡次警告不改")
    assert rc == 0, err
    assert out.strip() == f"closed group {gid} (dissolved by its owner before)"
    penalty = await owner.next_event("notice")
    assert penalty["kind"] == "credit" and penalty["delta"] == -20
    assert (await owner.request("me"))["credit_score"] == before - 20
    rows = server.db_rows("SELECT kind FROM sanctions WHERE target_type = 'group' AND target_id = ? ORDER BY id", gid)
    assert rows == [("warning",), ("close_group",)]
    for c in (owner, member):
        assert (await c.call("history", group_id=gid))["code"] == "not_found"
        assert gid not in {g["group_id"] for g in (await c.request("my_groups"))["groups"]}
    rc, _, err = await server.admin("close-group", gid, "--reason", "again")
    assert rc == 2 and "already closed" in err
    rc, _, err = await server.admin("filing-report", "--out", str(tmp_path / "filing"))
    assert rc == 0, err
    groups = json.loads((tmp_path / "filing" / "filing-report.json").read_text(encoding="utf-8"))["groups"]
    assert (groups["dissolved"], groups["closed_by_platform"]) == (0, 1)  # (counted once, as closed)
    [again] = await restart(server, owner)  # memory as the store has it: still no group of theirs
    assert gid not in {g["group_id"] for g in (await again.request("my_groups"))["groups"]}
