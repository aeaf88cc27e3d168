"""Review (rv-join): every way into a group, and what an outsider learns of it, end to end.

No defect was found in this area; these tests are kept as cheap regressions of what holds (both backends):
invite links (one-use races, expiry, revocation, uses across a restart, caps and bans), approvals over the
member cap, bans withdrawing invitations and requests for good, closed and dissolved groups (the operator's
reason for members only, also after a restart), the public page and group_info for outsiders, and
not_member for every member-only op."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

from tests.e2e.harness import close_all, new_id_number, open_group, restart


def code(reply):
    return reply.get("code") if not reply.get("ok") else "ok"


def _http(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def test_holds_links_basic(make_server):
    srv = make_server("[limits]\nmax_members = 3\n")
    owner = await srv.user()
    gid = await open_group(owner, join_policy="invite")
    a, b, c = await srv.user(), await srv.user(), await srv.user()
    one = (await owner.request("create_invite_link", group_id=gid, max_uses=1))["code"]
    ra, rb = await asyncio.gather(a.call("join_group", invite_code=one), b.call("join_group", invite_code=one))
    assert sorted([code(ra), code(rb)]) == ["not_found", "ok"], (ra, rb)
    # banned user with a link
    link = (await owner.request("create_invite_link", group_id=gid))["code"]
    await owner.request("ban", group_id=gid, user_id=c.user_id)
    r = await c.call("join_group", invite_code=link)
    assert code(r) == "forbidden" and "banned_until" in r, r
    # full group via link: use not counted
    await owner.request("unban", group_id=gid, user_id=c.user_id)
    loser = b if code(rb) == "not_found" else a
    assert code(await loser.call("join_group", invite_code=link)) == "ok"
    r = await c.call("join_group", invite_code=link)
    assert code(r) == "member_cap_reached", r
    links = (await owner.request("invite_links", group_id=gid))["links"]
    assert [x["uses"] for x in links] == [1], links
    await close_all(owner, a, b, c)


async def test_holds_expiry_revoke_restart(make_server):
    srv = make_server()
    owner = await srv.user()
    gid = await open_group(owner, join_policy="approval")
    a, b, c = await srv.user(), await srv.user(), await srv.user()
    short = (await owner.request("create_invite_link", group_id=gid, expires_in_seconds=1))["code"]
    two = (await owner.request("create_invite_link", group_id=gid, max_uses=2))["code"]
    revoked = (await owner.request("create_invite_link", group_id=gid))["code"]
    await owner.request("revoke_invite_link", group_id=gid, code=revoked)
    assert code(await a.call("join_group", invite_code=two)) == "ok"
    await asyncio.sleep(1.2)
    owner, a, b, c = await restart(srv, owner, a, b, c)
    assert code(await b.call("join_group", invite_code=short)) == "not_found"
    assert code(await b.call("invite_info", invite_code=short)) == "not_found"
    assert code(await b.call("join_group", invite_code=revoked)) == "not_found"
    assert code(await b.call("join_group", invite_code=two)) == "ok"
    assert code(await c.call("join_group", invite_code=two)) == "not_found"
    await close_all(owner, a, b, c)


async def test_holds_closed_and_dissolved(make_server):
    srv = make_server()
    owner = await srv.user()
    gid = await open_group(owner, join_policy="approval")
    g2 = await open_group(owner, join_policy="approval")
    out = await srv.user()
    l1 = (await owner.request("create_invite_link", group_id=gid))["code"]
    l2 = (await owner.request("create_invite_link", group_id=g2))["code"]
    rc, _, err = await srv.admin("close-group", gid, "--reason", "SECRETREASON")
    assert rc == 0, err
    await owner.request("dissolve_group", group_id=g2)
    for r in (await out.call("join_group", invite_code=l1), await out.call("invite_info", invite_code=l1),
              await out.call("join_group", group_id=gid), await out.call("group_info", group_id=gid)):
        assert code(r) == "group_closed" and "SECRETREASON" not in r["reason"], r
    assert code(await out.call("join_group", invite_code=l2)) == "not_found"
    assert code(await out.call("join_group", group_id=g2)) == "not_found"
    await close_all(owner, out)


async def test_holds_bad_inputs(server):
    u = await server.user()
    for args in ({"group_id": "abc"}, {"group_id": "1" * 40}, {"invite_code": ""}, {"invite_code": "x" * 5000},
                 {}, {"group_id": 123456789}, {"invite_code": 5}, {"group_id": "123456789", "invite_code": "x"}):
        r = await u.call("join_group", **args)
        assert code(r) in ("bad_request", "not_found"), (args, r)
    for args in ({"invite_code": ""}, {"invite_code": "x" * 5000}, {"invite_code": None}):
        r = await u.call("invite_info", **args)
        assert code(r) in ("bad_request", "not_found"), (args, r)
    for args in ({"group_id": "abc"}, {"group_id": "000000000"}):
        r = await u.call("group_info", **args)
        assert code(r) in ("bad_request", "not_found"), (args, r)
    await u.close()


async def test_holds_ban_withdraws_invitation_and_request_across_restart(make_server):
    srv = make_server()
    owner = await srv.user()
    inv = await open_group(owner, join_policy="invite")
    app = await open_group(owner, join_policy="approval")
    x = await srv.user()
    await owner.request("invite", group_id=inv, user_id=x.user_id)
    assert (await x.request("join_group", group_id=app))["status"] == "pending"
    await owner.request("ban", group_id=inv, user_id=x.user_id)
    await owner.request("ban", group_id=app, user_id=x.user_id)
    await owner.request("unban", group_id=inv, user_id=x.user_id)
    await owner.request("unban", group_id=app, user_id=x.user_id)
    assert code(await x.call("join_group", group_id=inv)) == "forbidden"
    assert (await owner.request("join_requests", group_id=app))["requests"] == []
    owner, x = await restart(srv, owner, x)
    assert code(await x.call("join_group", group_id=inv)) == "forbidden"
    assert (await owner.request("join_requests", group_id=app))["requests"] == []
    await close_all(owner, x)


async def test_holds_approval_over_cap(make_server):
    srv = make_server("[limits]\nmax_members = 2\nmax_groups_joined = 2\n")
    owner = await srv.user()
    gid = await open_group(owner, join_policy="approval")
    a, b = await srv.user(), await srv.user()
    assert (await a.request("join_group", group_id=gid))["status"] == "pending"
    assert (await b.request("join_group", group_id=gid))["status"] == "pending"
    await owner.request("approve_join", group_id=gid, user_id=a.user_id)
    r = await owner.call("approve_join", group_id=gid, user_id=b.user_id)
    assert code(r) == "member_cap_reached", r
    reqs = (await owner.request("join_requests", group_id=gid))["requests"]
    assert [q["user_id"] for q in reqs] == [b.user_id]
    await close_all(owner, a, b)


async def test_holds_info_page(make_server):
    srv = make_server("[groups]\ninfo_page_min_members = 2\n")
    owner = await srv.user()
    await owner.request("verify_identity", legal_name="王大锤", id_number=new_id_number())
    gid = await open_group(owner, join_policy="approval")
    a = await srv.user()
    await owner.request("invite", group_id=gid, user_id=a.user_id)
    await a.request("join_group", group_id=gid)
    status, body = await asyncio.to_thread(_http, f"http://127.0.0.1:{srv.port}/groups/{gid}")
    assert status == 200
    assert "王大锤" not in body and owner.phone not in body
    out = await srv.user()
    info = await out.request("group_info", group_id=gid)
    assert info["announcement"] == "" and info["pinned"] == []
    assert code(await out.call("members", group_id=gid)) == "not_member"
    assert code(await out.call("history", group_id=gid)) == "not_member"
    # suspended group: page still there
    rc, _, err = await srv.admin("suspend-group", gid, "--seconds", "60", "--reason", "x")
    assert rc == 0, err
    status, body = await asyncio.to_thread(_http, f"http://127.0.0.1:{srv.port}/groups/{gid}")
    assert status == 200
    await close_all(owner, a, out)


async def test_holds_link_args(make_server):
    srv = make_server()
    owner = await srv.user()
    gid = await open_group(owner, join_policy="invite")
    bad = [{"max_uses": 0}, {"max_uses": -1}, {"max_uses": 100001}, {"max_uses": 2**63 - 1},
           {"expires_in_seconds": 0}, {"expires_in_seconds": -5}, {"expires_in_seconds": 31622401},
           {"expires_in_seconds": 2**63 - 1}, {"max_uses": 1.5}, {"max_uses": "3"}, {"max_uses": True}]
    for args in bad:
        r = await owner.call("create_invite_link", group_id=gid, **args)
        assert code(r) == "bad_request", (args, r)
    r = await owner.call("create_invite_link", group_id=gid, note="x" * 201)
    assert code(r) == "too_large", r
    r = await owner.call("create_invite_link", group_id=gid, note="")
    assert code(r) == "ok", r
    for args in ({"code": ""}, {"link_id": ""}, {"code": "a", "link_id": "b"}, {}, {"code": "x" * 10000}):
        r = await owner.call("revoke_invite_link", group_id=gid, **args)
        assert code(r) in ("bad_request", "not_found"), (args, r)
    await owner.close()


async def test_holds_http_paths(make_server):
    srv = make_server("[groups]\ninfo_page_min_members = 1\n")
    owner = await srv.user()
    gid = await open_group(owner)
    base = f"http://127.0.0.1:{srv.port}"
    for p in ("/groups/", "/groups/" + gid + "/", "/groups/%00", "/groups/" + "9" * 3000, "/groups/" + gid + "?x=1",
              "/groups/%E4%B8%AD", "/groups//" + gid, "/groups/" + gid + "%20"):
        status, body = await asyncio.to_thread(_http, base + p)
        assert status in (200, 404), (p, status, body[:200])
    await owner.close()


async def test_holds_many_uses_at_once(make_server):
    srv = make_server()
    owner = await srv.user()
    gid = await open_group(owner, join_policy="approval")
    link = (await owner.request("create_invite_link", group_id=gid, max_uses=3))["code"]
    users = await asyncio.gather(*[srv.user() for _ in range(12)])
    replies = await asyncio.gather(*[u.call("join_group", invite_code=link) for u in users])
    outcomes = [code(r) for r in replies]
    assert outcomes.count("ok") == 3, outcomes
    assert srv.db_rows("SELECT COUNT(*) FROM members WHERE group_id = ?", gid) == [(4,)]
    await close_all(owner, *users)


async def test_holds_closed_link_after_restart(make_server):
    srv = make_server()
    owner = await srv.user()
    gid = await open_group(owner, join_policy="approval")
    m = await srv.user()
    out = await srv.user()
    link = (await owner.request("create_invite_link", group_id=gid))["code"]
    assert code(await m.call("join_group", invite_code=link)) == "ok"
    rc, _, err = await srv.admin("close-group", gid, "--reason", "SECRETREASON")
    assert rc == 0, err
    owner, m, out = await restart(srv, owner, m, out)
    for who in (out, m):
        for op in ("join_group", "invite_info"):
            r = await who.call(op, invite_code=link)
            assert code(r) == "group_closed", (op, r)
    r = await out.call("join_group", group_id=gid)
    assert code(r) == "group_closed" and "SECRETREASON" not in r["reason"], r
    r = await m.call("group_info", group_id=gid)
    assert code(r) == "group_closed" and "SECRETREASON" in r["reason"], r
    await close_all(owner, m, out)


async def test_holds_non_member_ops(make_server):
    srv = make_server("[groups]\ninfo_page_min_members = 1\n")
    owner = await srv.user()
    gid = await open_group(owner, join_policy="approval")
    out = await srv.user()
    assert (await out.request("join_group", group_id=gid))["status"] == "pending"
    x = await srv.user()
    ops = [("join_requests", {}), ("approve_join", {"user_id": x.user_id}), ("reject_join", {"user_id": x.user_id}),
           ("invite", {"user_id": x.user_id}), ("create_invite_link", {}), ("revoke_invite_link", {"link_id": "ab"}),
           ("invite_links", {}), ("bans", {}), ("ban", {"user_id": x.user_id}), ("unban", {"user_id": x.user_id}),
           ("group_log", {}), ("members", {}), ("history", {}), ("send", {"text": "hi"}), ("leave_group", {}),
           ("mark_read", {"seq": 0}), ("search", {"query": "hello"}), ("set_slow_mode", {"seconds": 5}),
           ("mute_all", {"on": True}), ("pin_message", {"seq": 1, "on": True}), ("set_announcement", {"text": "x"}),
           ("update_group", {"name": "y"}), ("dissolve_group", {}), ("kick", {"user_id": owner.user_id}),
           ("mute", {"user_id": owner.user_id, "seconds": 5}),
           ("set_role", {"user_id": owner.user_id, "role": "admin"}),
           ("transfer_owner", {"user_id": out.user_id}), ("delete_message", {"seq": 1}),
           ("delete_user_messages", {"user_id": owner.user_id}), ("react", {"seq": 1, "emoji": "x", "on": True}),
           ("edit_message", {"seq": 1, "text": "x"})]
    bad = []
    for op, args in ops:
        r = await out.call(op, group_id=gid, **args)
        if code(r) != "not_member":
            bad.append((op, r))
    assert not bad, bad
    await close_all(owner, out, x)


async def test_holds_races_with_ban(make_server):
    srv = make_server()
    owner = await srv.user()
    gid = await open_group(owner, join_policy="approval")
    link = (await owner.request("create_invite_link", group_id=gid))["code"]
    users = [await srv.user() for _ in range(8)]
    for i, u in enumerate(users):
        if i % 2:
            assert (await u.request("join_group", group_id=gid))["status"] == "pending"
            op = owner.call("approve_join", group_id=gid, user_id=u.user_id)
        else:
            op = u.call("join_group", invite_code=link)
        r1, r2 = await asyncio.gather(op, owner.call("ban", group_id=gid, user_id=u.user_id))
        assert code(r2) == "ok", r2
    owner, *users = await restart(srv, owner, *users)
    members = {m["user_id"] for m in (await owner.request("members", group_id=gid))["members"]}
    assert members == {owner.user_id}, members
    for u in users:
        assert code(await u.call("join_group", invite_code=link)) == "forbidden"
    await close_all(owner, *users)
