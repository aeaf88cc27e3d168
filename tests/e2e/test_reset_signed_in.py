"""reset_password asked on a connection logged in to the account signs that connection out too (a
review found it still logged in, with a revoked token, receiving the account's events). End to end,
on both backends."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import ServerProcess, open_group


async def test_reset_password_on_a_logged_in_connection_leaves_no_login_with_a_revoked_token(
        server: ServerProcess) -> None:
    """reset_password ends every login of the account; asked on a connection that is itself logged in
    to that account (a web client's "forgot password" while a tab is signed in), that connection's
    token is revoked, yet the connection stays authenticated and receives the account's events."""
    owner = await server.user(verify_id=True)
    alice = await server.user()
    gid = await open_group(owner)
    await alice.request("join_group", group_id=gid)
    token = alice.token
    await alice.request("request_code", phone=alice.phone)
    code = server.last_code(alice.phone)
    assert (await alice.call("reset_password", phone=alice.phone, code=code, new_password="brand-new-pw1"))["ok"]
    fresh = await server.client()
    ended = await fresh.call("auth", token=token)
    assert ended["code"] == "unauthenticated", ended  # the token is revoked...
    alice.drain_events()
    await owner.send(gid, "still listening?")
    await asyncio.sleep(0.4)
    got = [e for e in alice.drain_events() if e.get("ev") == "message"]
    me = await alice.call("me")
    # ...so the connection that used it must not stay signed in
    assert me.get("code") == "unauthenticated" and got == [], (me, got)
