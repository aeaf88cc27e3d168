"""Review of invite's ``then=`` (an invitation lets in once stored): memory and database disagree
once an invitation and a ban the store refuses settle. Both backends."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import close_all, open_group
from tests.e2e.store_hold import writes_held
from tests.e2e.test_races import refuse_rows


async def test_an_invitation_stored_while_a_refused_ban_was_in_flight_lets_the_invitee_in(make_server):
    """The owner invites X to an invite-only group while (on another connection) a manager's ban of X
    is in flight; the invitation is stored, the ban refused. The database holds the invitation (the
    ban that would have dropped it was never stored), and X joins after a restart; but memory skipped
    it (invite's ``stored`` saw X banned by the claim not yet refused), so X's join is refused until
    the server restarts."""
    srv = make_server()
    owner, x = await srv.user(), await srv.user()
    other = await srv.client()  # the owner's second connection (a connection answers in order)
    await other.login(owner.username, "password123")
    gid = await open_group(owner, join_policy="invite")
    uid = x.user_id
    refuse_rows(srv, "no_ban_of_x", "bans", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    async with writes_held(srv, "invitations" if srv.backend == "postgresql" else "bans"):
        invited = asyncio.create_task(owner.call("invite", group_id=gid, user_id=uid))
        await asyncio.sleep(0.5)
        banned = asyncio.create_task(other.call("ban", group_id=gid, user_id=uid, reason="刷屏"))
        await asyncio.sleep(0.5)
    inv, ban = await invited, await banned
    assert inv.get("ok"), inv
    assert ban.get("ok") is False, ban  # refused by the store
    rows = srv.db_rows(f"SELECT inviter_id FROM invitations WHERE group_id = '{gid}' AND user_id = '{uid}'")
    assert rows == [(owner.user_id,)], rows  # stored: the ban that would have dropped it was not
    joined = await x.call("join_group", group_id=gid)
    assert joined.get("status") == "joined", f"invited in the database, but join_group answered {joined}"
    await close_all(owner, other, x)
