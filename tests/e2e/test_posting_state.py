"""What a client reads again after a reconnect to show whether it may post, and the categories it
offers: ``my_groups``' posting state (``muted_until``, ``mute_all``, ``suspended_until``,
``suspension_cause``) and the ``categories`` op, end to end against a real server on both backends.

The events that announce a mute, mute-all or a suspension (and their lifting) are not queued for
connections that were not there: a member who reloaded used to learn of a mute only from a refused
``send``, and of a suspension lifted while away not at all."""

from __future__ import annotations

import asyncio
import json
import time

from tests.e2e.harness import open_group

WITHIN = 2.0


async def setup_group(server):
    owner = await server.user()
    gid = await open_group(owner)
    member = await server.user()
    await member.request("join_group", group_id=gid)
    owner.drain_events()
    return owner, gid, member


async def fresh_login(server, c):
    """The same user on a new connection (a reload): it saw none of the events the old one got."""
    n = await server.client()
    await n.login(c.username, "password123")
    return n


async def entry(c, gid):
    [g] = [g for g in (await c.request("my_groups"))["groups"] if g["group_id"] == gid]
    return g


async def test_my_groups_gives_the_callers_mute_in_force_and_mute_all(server):
    owner, gid, member = await setup_group(server)
    g = await entry(member, gid)
    assert (g["muted_until"], g["mute_all"], g["suspended_until"]) == (0, False, 0)
    assert "suspension_cause" not in g

    await owner.request("mute", group_id=gid, user_id=member.user_id, seconds=3600)
    until = (await member.next_event("member_muted", timeout=WITHIN))["until"]
    again = await fresh_login(server, member)
    assert (await entry(again, gid))["muted_until"] == until
    assert (await again.call("send", group_id=gid, text="x"))["until"] == until  # what send says too
    assert (await entry(owner, gid))["muted_until"] == 0  # one's own mute only

    await owner.request("mute", group_id=gid, user_id=member.user_id, seconds=0)  # lifted
    assert (await entry(again, gid))["muted_until"] == 0

    await owner.request("mute", group_id=gid, user_id=member.user_id, seconds=1)  # ends by itself
    until = (await entry(again, gid))["muted_until"]
    assert until > 0
    await asyncio.sleep(max(0.0, until / 1000 - time.time()) + 0.1)
    assert (await entry(again, gid))["muted_until"] == 0
    assert (await again.call("send", group_id=gid, text="free"))["ok"]

    await owner.request("mute_all", group_id=gid, on=True)
    assert (await entry(again, gid))["mute_all"] is True
    assert (await entry(owner, gid))["mute_all"] is True
    await owner.request("mute_all", group_id=gid, on=False)
    assert (await entry(again, gid))["mute_all"] is False
    for c in (owner, member, again):
        await c.close()


async def test_my_groups_gives_the_groups_suspension_in_force_and_forgets_a_lifted_one(server):
    owner, gid, member = await setup_group(server)
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    ev = await member.next_event("group_suspended", timeout=WITHIN)
    again = await fresh_login(server, member)
    g = await entry(again, gid)
    assert (g["suspended_until"], g["suspension_cause"]) == (ev["until"], "sanction")
    refused = await again.call("send", group_id=gid, text="x")
    assert (refused["code"], refused["until"], refused["cause"]) == ("group_suspended", ev["until"], "sanction")

    rows = [json.loads(line) for line in (await server.admin("sanctions", "--group", gid))[1].splitlines()]
    [sid] = [r["id"] for r in rows if r["kind"] == "suspend_group"]
    rc, _, err = await server.admin("lift", str(sid), "--reason", "rectified")
    assert rc == 0, err
    g = await entry(await fresh_login(server, member), gid)
    assert g["suspended_until"] == 0 and "suspension_cause" not in g

    # A freeze of the group's category suspends it too, through no fault of its own.
    rc, _, err = await server.admin("freeze-category", "friends", "--seconds", "60", "--reason", "emergency")
    assert rc == 0, err
    g = await entry(again, gid)
    assert g["suspended_until"] > 0 and g["suspension_cause"] == "category_freeze"
    for c in (owner, member, again):
        await c.close()


async def test_my_groups_forgets_a_suspension_that_ran_out_by_itself(server):
    """A group's suspension ends at its ``until`` without anyone lifting it (nothing announces that: no
    event is sent), so ``my_groups`` must compare ``suspended_until`` with the time: once it has passed
    it reports 0 and no ``suspension_cause``, as ``send`` finds the group open again. A client that
    reloaded after the end would otherwise keep its composer disabled with a stale "suspended until".
    The lift case above clears the stored field; this one only the clock does."""
    owner, gid, member = await setup_group(server)
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "1", "--reason", "spam")
    assert rc == 0, err
    until = (await member.next_event("group_suspended", timeout=WITHIN))["until"]
    g = await entry(member, gid)
    assert (g["suspended_until"], g["suspension_cause"]) == (until, "sanction")
    await asyncio.sleep(max(0.0, until / 1000 - time.time()) + 0.2)
    again = await fresh_login(server, member)
    g = await entry(again, gid)
    assert g["suspended_until"] == 0 and "suspension_cause" not in g, g
    assert (await again.call("send", group_id=gid, text="open again"))["ok"]
    for c in (owner, member, again):
        await c.close()


async def test_categories_lists_what_the_server_accepts(make_server):
    srv = make_server('\n[groups]\ncategories = ["sports", "family", "other"]\n'
                      '[public_accounts]\ncategories = ["weather", "other"]\n')
    anon = await srv.client()
    assert (await anon.call("categories"))["code"] == "unauthenticated"
    owner = await srv.user()
    r = await owner.request("categories")
    assert (r["groups"], r["accounts"]) == (["sports", "family", "other"], ["weather", "other"])
    for category in r["groups"]:
        assert (await owner.call("create_group", name=f"g {category}", category=category, join_policy="open"))["ok"]
    assert (await owner.call("create_group", name="x", category="work", join_policy="open"))["code"] == "bad_request"
    for c in (anon, owner):
        await c.close()


async def test_categories_are_the_defaults_unless_configured(server):
    c = await server.user()
    r = await c.request("categories")
    assert r["groups"] == ["family", "friends", "work", "study", "interest", "business", "public_affairs", "other"]
    assert r["accounts"] == ["news", "government", "education", "culture", "lifestyle", "business", "technology",
                             "other"]
    await c.close()
