"""Group governance under concurrency through the real server (review rv-govern3)."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import close_all, gather, open_group


def code(reply) -> str:
    return "ok" if reply.get("ok") else reply["code"]


async def second(srv, c):
    o = await srv.client()
    await o.login(c.username, "password123")
    o.username = c.username
    return o


async def settle(*clients, wait: float = 0.4):
    await asyncio.sleep(wait)
    return [c.drain_events() for c in clients]


async def group_of(srv, n, **kw):
    owner = await srv.user()
    gid = await open_group(owner, **kw)
    ms = []
    for _ in range(n):
        c = await srv.user()
        await c.request("join_group", group_id=gid)
        ms.append(c)
    return owner, gid, ms


def log_actions(entries, action):
    return [e for e in entries if e["action"] == action]


async def test_promotions_racing_the_admin_cap(make_server):
    srv = make_server("[limits]\nmax_admins = 2\n")
    owner, gid, ms = await group_of(srv, 6)
    conns = [owner, await second(srv, owner), await second(srv, owner)]
    watcher = ms[-1]
    await settle(watcher)
    rs = await gather(*(conns[i % 3].call("set_role", group_id=gid, user_id=m.user_id, role="admin")
                        for i, m in enumerate(ms[:5])))
    [evs] = await settle(watcher)
    codes = [code(r) for r in rs]
    assert codes.count("ok") == 2, codes
    members = (await owner.request("members", group_id=gid))["members"]
    admins = {m["user_id"] for m in members if m["role"] == "admin"}
    told = {e["user_id"] for e in evs if e["ev"] == "role_changed" and e["role"] == "admin"}
    assert len(admins) == 2 and told == admins, (admins, told)
    log = (await owner.request("group_log", group_id=gid))["entries"]
    assert {e["target_user_id"] for e in log_actions(log, "set_role")} == admins
    await close_all(*conns, *ms)


async def test_transfer_racing_dissolve(make_server):
    srv = make_server()
    owner, gid, ms = await group_of(srv, 2)
    o2 = await second(srv, owner)
    b, watcher = ms
    await settle(watcher, b)
    t, d = await gather(owner.call("transfer_owner", group_id=gid, user_id=b.user_id),
                        o2.call("dissolve_group", group_id=gid))
    evs, bevs = await settle(watcher, b)
    info = await watcher.call("group_info", group_id=gid)
    assert (code(t), code(d)).count("ok") == 1, (t, d)
    if code(d) == "ok":
        assert code(info) == "not_found"
    else:
        assert info["owner"]["user_id"] == b.user_id
        assert b.user_id in {e["user_id"] for e in evs if e["ev"] == "role_changed" and e["role"] == "owner"}
    await close_all(owner, o2, *ms)


async def test_two_admins_kicking_one_member(make_server):
    srv = make_server()
    owner, gid, ms = await group_of(srv, 4)
    a1, a2, m, watcher = ms
    for a in (a1, a2):
        await owner.request("set_role", group_id=gid, user_id=a.user_id, role="admin")
    await settle(watcher)
    r1, r2, r3 = await gather(a1.call("kick", group_id=gid, user_id=m.user_id),
                              a2.call("kick", group_id=gid, user_id=m.user_id),
                              m.call("leave_group", group_id=gid))
    [evs] = await settle(watcher)
    assert [code(r1), code(r2), code(r3)].count("ok") == 1, (r1, r2, r3)
    gone = [e for e in evs if e["ev"] in ("member_removed", "member_left") and e["user_id"] == m.user_id]
    assert len(gone) == 1, evs
    log = (await owner.request("group_log", group_id=gid))["entries"]
    assert len(log_actions(log, "kick")) == [code(r1), code(r2)].count("ok")
    await close_all(owner, *ms)


async def test_approve_racing_reject_by_two_admins(make_server):
    srv = make_server()
    owner, gid, ms = await group_of(srv, 2, join_policy="open")
    a1, a2 = ms
    for a in (a1, a2):
        await owner.request("set_role", group_id=gid, user_id=a.user_id, role="admin")
    await owner.request("update_group", group_id=gid, join_policy="approval")
    x = await srv.user()
    assert (await x.request("join_group", group_id=gid))["status"] == "pending"
    await settle(x, a1, a2, owner)
    r1, r2 = await gather(a1.call("approve_join", group_id=gid, user_id=x.user_id),
                          a2.call("reject_join", group_id=gid, user_id=x.user_id))
    [xevs] = await settle(x)
    assert [code(r1), code(r2)].count("ok") == 1, (r1, r2)
    results = [e["status"] for e in xevs if e["ev"] == "join_result"]
    ids = [m["user_id"] for m in (await owner.request("members", group_id=gid))["members"]]
    assert results == (["approved"] if x.user_id in ids else ["rejected"]), (results, ids)
    await close_all(owner, x, *ms)


async def test_join_racing_ban(make_server):
    srv = make_server()
    owner, gid, ms = await group_of(srv, 2)
    a, watcher = ms
    await owner.request("set_role", group_id=gid, user_id=a.user_id, role="admin")
    x = await srv.user()
    await settle(watcher)
    j, b = await gather(x.call("join_group", group_id=gid), a.call("ban", group_id=gid, user_id=x.user_id))
    [evs, xevs] = await settle(watcher, x)
    ids = [m["user_id"] for m in (await owner.request("members", group_id=gid))["members"]]
    assert code(b) == "ok"
    assert x.user_id not in ids
    # (a join stored just before the ban is not announced, its removal is: watchers may see only the removal)
    told_removed = any(e["ev"] == "member_removed" for e in xevs)
    assert not (j.get("ok") and j.get("status") == "joined" and not told_removed), (j, xevs)
    await close_all(owner, x, *ms)


async def test_demotion_racing_admins_kick(make_server):
    srv = make_server()
    owner, gid, ms = await group_of(srv, 3)
    a, m, watcher = ms
    await owner.request("set_role", group_id=gid, user_id=a.user_id, role="admin")
    await settle(watcher)
    d, k = await gather(owner.call("set_role", group_id=gid, user_id=a.user_id, role="member"),
                        a.call("kick", group_id=gid, user_id=m.user_id))
    await settle(watcher)
    log = (await owner.request("group_log", group_id=gid))["entries"]
    ids = [x["user_id"] for x in (await owner.request("members", group_id=gid))["members"]]
    assert (m.user_id in ids) == (code(k) != "ok")
    assert len(log_actions(log, "kick")) == (code(k) == "ok")
    await close_all(owner, *ms)


async def test_owner_cancelling_while_transferring(make_server):
    srv = make_server()
    owner, gid, ms = await group_of(srv, 2)
    o2 = await second(srv, owner)
    b, watcher = ms
    t, d = await gather(owner.call("transfer_owner", group_id=gid, user_id=b.user_id),
                        o2.call("delete_account", password="password123"))
    await settle(watcher)
    info = await watcher.call("group_info", group_id=gid)
    ids = [x["user_id"] for x in (await watcher.request("members", group_id=gid))["members"]]
    assert info["owner"]["user_id"] in ids, (t, d, info)
    await close_all(owner, o2, *ms)


async def test_concurrent_renames_and_policies_end_as_members_were_told(make_server):
    srv = make_server()
    owner, gid, ms = await group_of(srv, 2)
    a, watcher = ms
    await owner.request("set_role", group_id=gid, user_id=a.user_id, role="admin")
    await settle(watcher)
    await gather(*(owner.call("update_group", group_id=gid, name=f"n{i}") for i in range(5)),
                 *(a.call("mute_all", group_id=gid, on=bool(i % 2)) for i in range(5)),
                 *(a.call("set_slow_mode", group_id=gid, seconds=i) for i in range(5)),
                 *(a.call("set_announcement", group_id=gid, text=f"ann{i}") for i in range(5)))
    [evs] = await settle(watcher)
    state = {}
    for e in evs:
        if e["ev"] == "group_updated":
            state.update({k: v for k, v in e.items() if k not in ("ev", "group_id", "by")})
    info = await watcher.request("group_info", group_id=gid)
    for k, v in state.items():
        if k in info:
            assert info[k] == v, (k, info[k], v)
    await close_all(owner, *ms)


async def test_leave_racing_transfer_and_kick_racing_promotion(make_server):
    srv = make_server()
    owner, gid, ms = await group_of(srv, 3)
    o2 = await second(srv, owner)
    b, c, watcher = ms
    await settle(watcher)
    t, lv, p, k = await gather(owner.call("transfer_owner", group_id=gid, user_id=b.user_id),
                               b.call("leave_group", group_id=gid),
                               o2.call("set_role", group_id=gid, user_id=c.user_id, role="admin"),
                               owner.call("kick", group_id=gid, user_id=c.user_id))
    [evs] = await settle(watcher)
    info = await watcher.request("group_info", group_id=gid)
    members = {m["user_id"]: m["role"] for m in (await watcher.request("members", group_id=gid))["members"]}
    owners = [u for u, r in members.items() if r == "owner"]
    assert owners == [info["owner"]["user_id"]], (members, info["owner"], t, lv, p, k)
    await close_all(owner, o2, *ms)


async def test_joined_cap_under_concurrent_joins_creates_and_approvals(make_server):
    srv = make_server("[limits]\nmax_groups_joined = 3\n")
    hosts = [await srv.user() for _ in range(4)]
    gids = [await open_group(h) for h in hosts]
    await hosts[3].request("update_group", group_id=gids[3], join_policy="approval")
    u = await srv.user()
    u2 = await second(srv, u)
    await u.request("join_group", group_id=gids[0])
    assert (await u.request("join_group", group_id=gids[3]))["status"] == "pending"
    rs = await gather(u.call("join_group", group_id=gids[1]), u2.call("join_group", group_id=gids[2]),
                      hosts[3].call("approve_join", group_id=gids[3], user_id=u.user_id),
                      u2.call("create_group", name="mine", category="friends", join_policy="open"))
    mine = (await u.request("my_groups"))["groups"]
    assert len(mine) <= 3, ([code(r) for r in rs], mine)
    assert len(mine) == 1 + [code(r) for r in rs].count("ok"), ([code(r) for r in rs], mine)
    await close_all(u, u2, *hosts)


async def test_member_cap_under_concurrent_admissions(make_server):
    srv = make_server("[limits]\nmax_members = 3\n")
    owner = await srv.user()
    gid = await open_group(owner, join_policy="approval")
    link = (await owner.request("create_invite_link", group_id=gid))["code"]
    w, y, z, v = [await srv.user() for _ in range(4)]
    assert (await y.request("join_group", group_id=gid))["status"] == "pending"
    await owner.request("invite", group_id=gid, user_id=w.user_id)
    o2 = await second(srv, owner)
    rs = await gather(w.call("join_group", group_id=gid), o2.call("approve_join", group_id=gid, user_id=y.user_id),
                      z.call("join_group", invite_code=link), v.call("join_group", invite_code=link),
                      owner.call("update_group", group_id=gid, join_policy="open"))
    info = await owner.request("group_info", group_id=gid)
    assert info["member_count"] <= 3, ([code(r) for r in rs], info)
    await close_all(owner, o2, w, y, z, v)


def replay(start, evs, gid):
    state = dict(start)
    for e in evs:
        if e.get("group_id") != gid:
            continue
        if e["ev"] == "member_joined":
            state[e["user"]["user_id"]] = e["user"]["role"]
        elif e["ev"] in ("member_left", "member_removed"):
            state.pop(e["user_id"], None)
        elif e["ev"] == "role_changed":
            if e["user_id"] in state:
                state[e["user_id"]] = e["role"]
            else:
                state[e["user_id"]] = "?" + e["role"]  # a role for someone the watcher holds out
    return state


async def test_a_flurry_of_management_leaves_watchers_with_the_servers_state(make_server):
    import random
    srv = make_server()
    owner, gid, ms = await group_of(srv, 9)
    o2 = await second(srv, owner)
    watcher, *others = ms
    admins = others[:3]
    for a in admins:
        await owner.request("set_role", group_id=gid, user_id=a.user_id, role="admin")
    everyone = [owner, o2, *others]
    for seed in range(4):
        rnd = random.Random(seed)
        await settle(watcher)
        start = {m["user_id"]: m["role"] for m in (await watcher.request("members", group_id=gid))["members"]}
        ops = []
        for _ in range(30):
            actor = rnd.choice(everyone)
            target = rnd.choice(others)
            op = rnd.choice(["kick", "promote", "demote", "mute", "transfer", "leave", "join", "ban", "unban"])
            if op == "kick":
                ops.append(actor.call("kick", group_id=gid, user_id=target.user_id))
            elif op == "promote":
                ops.append(actor.call("set_role", group_id=gid, user_id=target.user_id, role="admin"))
            elif op == "demote":
                ops.append(actor.call("set_role", group_id=gid, user_id=target.user_id, role="member"))
            elif op == "mute":
                ops.append(actor.call("mute", group_id=gid, user_id=target.user_id, seconds=rnd.choice([0, 60])))
            elif op == "transfer":
                ops.append(actor.call("transfer_owner", group_id=gid, user_id=target.user_id))
            elif op == "leave":
                ops.append(target.call("leave_group", group_id=gid))
            elif op == "join":
                ops.append(target.call("join_group", group_id=gid))
            elif op == "ban":
                ops.append(actor.call("ban", group_id=gid, user_id=target.user_id, seconds=1))
            else:
                ops.append(actor.call("unban", group_id=gid, user_id=target.user_id))
        await gather(*ops)
        [evs] = await settle(watcher, wait=0.6)
        final = {m["user_id"]: m["role"] for m in (await watcher.request("members", group_id=gid))["members"]}
        told = replay(start, evs, gid)
        assert told == final, (seed, {k: (told.get(k), final.get(k)) for k in set(told) | set(final)
                                      if told.get(k) != final.get(k)})
        assert list(final.values()).count("owner") == 1
    await close_all(owner, o2, *ms)


async def test_no_one_joins_on_an_invitation_its_inviters_demotion_lapsed(make_server):
    srv = make_server()
    owner = await srv.user()
    gid = await open_group(owner, join_policy="invite")
    a = await srv.user()
    await owner.request("invite", group_id=gid, user_id=a.user_id)
    await a.request("join_group", group_id=gid)
    for _ in range(4):
        await owner.request("set_role", group_id=gid, user_id=a.user_id, role="admin")
        x = await srv.user()
        await a.request("invite", group_id=gid, user_id=x.user_id)
        d, j = await gather(owner.call("set_role", group_id=gid, user_id=a.user_id, role="member"),
                            x.call("join_group", group_id=gid))
        rows = srv.db_rows("SELECT id, user_id, action FROM membership_log WHERE group_id = ? ORDER BY id", gid)
        demoted = max(r[0] for r in rows if r[1] == a.user_id and r[2] == "member")
        joined = [r[0] for r in rows if r[1] == x.user_id]
        assert code(d) == "ok"
        assert all(i < demoted for i in joined), (j, rows)
        await x.close()
    await close_all(owner, a)


async def test_a_new_owner_acting_on_a_transfer_in_flight(make_server):
    srv = make_server()
    owner, gid, ms = await group_of(srv, 3)
    b, c, watcher = ms
    await settle(watcher)
    t = asyncio.ensure_future(owner.call("transfer_owner", group_id=gid, user_id=b.user_id))
    await asyncio.sleep(0)
    back, prom = await gather(b.call("transfer_owner", group_id=gid, user_id=c.user_id),
                              b.call("set_role", group_id=gid, user_id=owner.user_id, role="admin"))
    t = await t
    [evs] = await settle(watcher)
    final = {m["user_id"]: m["role"] for m in (await watcher.request("members", group_id=gid))["members"]}
    start = {owner.user_id: "owner", b.user_id: "member", c.user_id: "member", watcher.user_id: "member"}
    assert replay(start, evs, gid) == final, (t, back, prom, evs, final)
    assert list(final.values()).count("owner") == 1
    await close_all(owner, *ms)
