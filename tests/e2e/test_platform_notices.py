"""The platform's notices (``qunguan admin notice``, Art. 5 emergency handling) reach the users who
were not connected when they went out: ``platform_notices`` gives those addressed to the caller, made
after a point they name, for 30 days, across a restart. The live notice carries the same ``at``."""

from __future__ import annotations

from tests.e2e.admin_helpers import admin_ok, notice
from tests.e2e.harness import open_group, restart


async def test_a_notice_sent_while_away_is_read_at_the_next_login(server):
    online, away, elsewhere = await server.user(), await server.user(), await server.user()
    await open_group(away, category="work")
    await open_group(elsewhere, category="friends")
    await away.close()
    await elsewhere.close()
    await admin_ok(server, "notice", "--text", "系统将于 22:00 维护")
    await admin_ok(server, "notice", "--text", "工作群请勿转发未经证实的消息", "--category", "work")
    live = await notice(online, "platform")
    assert live["text"] == "系统将于 22:00 维护" and live["by"]

    # Back after both (and a restart): each notice addressed to them, oldest first, as the live one said it.
    [away] = await restart(server, away)
    listed = (await away.request("platform_notices"))["notices"]
    assert [(n["text"], n.get("category")) for n in listed] == [("系统将于 22:00 维护", None),
                                                                 ("工作群请勿转发未经证实的消息", "work")]
    assert listed[0]["at"] == live["at"] and listed[0]["by"] == live["by"]
    assert listed[0]["at"] <= listed[1]["at"]
    # Only what came after the point the client has seen.
    later = (await away.request("platform_notices", after=listed[0]["at"]))["notices"]
    assert [n["text"] for n in later] == ["工作群请勿转发未经证实的消息"]
    assert (await away.request("platform_notices", after=listed[1]["at"]))["notices"] == []

    # The category's notice is not for a user in no group of it; a user who registered after both has none.
    other = await server.client()
    await other.login(elsewhere.username, "password123")
    assert [n["text"] for n in (await other.request("platform_notices"))["notices"]] == ["系统将于 22:00 维护"]
    newcomer = await server.user()
    assert (await newcomer.request("platform_notices"))["notices"] == []


async def test_platform_notices_refuses_a_bad_point(server):
    c = await server.user()
    for bad in ("yesterday", 1.5, 2**63):
        r = await c.call("platform_notices", after=bad)
        assert r["code"] == "bad_request" and r["reason"], (bad, r)
    assert (await c.call("platform_notices", after=-5))["ok"]
