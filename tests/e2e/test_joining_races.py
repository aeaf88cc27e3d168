"""Ways into a group while another change to it is being stored, and invitations that meet, on both
backends: a rejection's wait starts with the rejection, a second device's join by a link the first
device's join used up is told it joined, and a member's re-invite leaves a manager's invitation."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import close_all, open_group
from tests.e2e.store_hold import until_write_waits, writes_held


def code(reply) -> str:
    return "ok" if reply.get("ok") else reply["code"]


async def test_a_request_asked_again_while_its_rejection_is_stored_meets_the_wait(server):
    """reject_join took the request out of memory and remembered the rejection only once stored: a
    join_group meanwhile found neither and stored a new request, past the cooldown."""
    owner = await server.user()
    gid = await open_group(owner, join_policy="approval")
    bob = await server.user()
    assert (await bob.request("join_group", group_id=gid))["status"] == "pending"
    async with writes_held(server, "join_requests"):
        rejected = asyncio.ensure_future(owner.call("reject_join", group_id=gid, user_id=bob.user_id))
        await until_write_waits(server, "join_requests")
        again = await bob.call("join_group", group_id=gid)
    assert code(await rejected) == "ok"
    assert code(again) == "rate_limited" and again["cause"] == "request_rejected", again
    assert (await owner.request("join_requests", group_id=gid))["requests"] == []
    await close_all(owner, bob)


async def test_a_second_device_joining_by_a_link_the_first_used_up_is_told_it_joined(server):
    owner = await server.user()
    gid = await open_group(owner, join_policy="invite")
    link = (await owner.request("create_invite_link", group_id=gid, max_uses=1))["code"]
    alice = await server.user()
    phone = await server.client()
    await phone.auth(alice.token)
    async with writes_held(server, "members"):
        first = asyncio.ensure_future(alice.call("join_group", invite_code=link))
        await until_write_waits(server, "members")
        second = asyncio.ensure_future(phone.call("join_group", invite_code=link))
        await asyncio.sleep(0.3)
    assert await first == {**await first, "ok": True, "status": "joined", "group_id": gid}
    told = await second
    assert code(told) == "ok" and (told["status"], told["group_id"]) == ("joined", gid), told
    await close_all(owner, alice, phone)


async def test_a_members_re_invite_leaves_a_managers_invitation_standing(server):
    owner = await server.user()
    gid = await open_group(owner, join_policy="open")
    member, guest = await server.user(), await server.user()
    await member.request("join_group", group_id=gid)
    await owner.request("invite", group_id=gid, user_id=guest.user_id)
    assert code(await member.call("invite", group_id=gid, user_id=guest.user_id)) == "ok"
    await owner.request("update_group", group_id=gid, join_policy="invite")
    assert (await guest.request("join_group", group_id=gid))["status"] == "joined"
    [(inviter,)] = server.db_rows("SELECT actor_id FROM audit WHERE action = 'invite' ORDER BY id DESC LIMIT 1")
    assert inviter == owner.user_id  # (the member's re-invite stored nothing)
    await close_all(owner, member, guest)
