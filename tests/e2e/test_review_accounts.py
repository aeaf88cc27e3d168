"""Review (rv-accounts): a person's account across its life, through the real server."""

from __future__ import annotations

import asyncio

from client_demo.client import Client
from tests.e2e.harness import ServerProcess, new_id_number, open_group


def _limited(tmp_path, backend: str, extra: str = "", **limits: int) -> ServerProcess:
    srv = ServerProcess(tmp_path, extra, backend=backend)
    text = srv.config.read_text().replace("[server]\n", '[server]\ntrusted_proxies = ["127.0.0.1"]\n', 1)
    for key, value in limits.items():
        assert f"{key} = 0\n" in text, key
        text = text.replace(f"{key} = 0\n", f"{key} = {value}\n")
    srv.config.write_text(text)
    return srv


async def _once(srv: ServerProcess, ip: str, op: str, **args) -> dict:
    c = await Client.connect(srv.url, additional_headers={"X-Forwarded-For": ip})
    try:
        return await c.call(op, **args)
    finally:
        await c.close()


async def test_unlock_login_by_user_id_lets_the_owner_in(tmp_path, started, backend):
    """(holds) docs/operator.md: unlock-login names the account by username or user id."""
    srv = started(_limited(tmp_path, backend, failed_logins_per_account=3))
    victim = await srv.user()
    for i in range(4):
        await _once(srv, f"192.0.2.{i + 1}", "login", username=victim.username, password=f"wrong-{i:04d}")
    assert (await _once(srv, "192.0.2.50", "login", username=victim.username, password="password123"))["code"] == \
        "rate_limited"
    rc, out, err = await srv.admin("unlock-login", victim.user_id, "--reason", "本人来电核实")
    assert rc == 0, (rc, out, err)
    assert (await _once(srv, "192.0.2.51", "login", username=victim.username, password="password123"))["ok"]


async def test_unlock_login_lets_the_owner_in_however_many_guesses_came_before(tmp_path, started, backend):
    """DEFECT. docs/operator.md, unlock-login: "the account logs in again at once", and the command
    prints "it logs in with its password now". Someone guessing the account's password from many
    addresses locks it (failed_logins_per_account); the operator unlocks it; the guesser goes on and
    locks it again; the operator unlocks it again. By then every guess also counted against
    rate_limits.logins_per_account_per_hour, which unlock-login does not forget: the owner's right
    password is still refused (rate_limited, "too many logins for this account") for up to an hour,
    after the operator told them they could log in. (Defaults: 10 wrong in 15 minutes, 60 logins an
    hour: six unlocks in an hour reach it; here 3 and 6.)"""
    srv = started(_limited(tmp_path, backend, failed_logins_per_account=3, logins_per_account_per_hour=6))
    victim = await srv.user()
    for round_ in range(2):
        for i in range(3):  # the guesser, from addresses of its own
            await _once(srv, f"198.51.100.{10 * round_ + i + 1}", "login", username=victim.username,
                        password=f"guess-{round_}-{i:04d}")
        locked = await _once(srv, "192.0.2.50", "login", username=victim.username, password="password123")
        assert locked["code"] == "rate_limited", locked
        rc, out, err = await srv.admin("unlock-login", victim.username, "--reason", "本人来电核实")
        assert rc == 0 and "it logs in with its password now" in out, (rc, out, err)
    owner = await _once(srv, "192.0.2.60", "login", username=victim.username, password="password123")
    assert owner.get("ok"), owner


async def test_acknowledged_account_changes_survive_kill9(server):
    alice = await server.user(verify_id=False)
    bob = await server.user()
    carol = await server.user()
    gid = await open_group(bob)
    await carol.request("join_group", group_id=gid)
    await alice.request("set_profile", display_name="Alice Two")
    await alice.request("verify_identity", legal_name="张三", id_number=new_id_number())
    await alice.request("change_password", password="password123", new_password="new-password-9")
    other = await server.client()
    await other.login(bob.username, "password123")
    tok = other.token
    await other.request("logout")
    await carol.request("delete_account", password="password123")
    server.kill9()
    server.start()
    c = await server.client()
    r = await c.call("login", username=alice.username, password="new-password-9")
    assert r["ok"], r
    me = await c.request("me")
    assert (me["display_name"], me["id_verified"]) == ("Alice Two", True)
    r = await c.call("auth", token=tok)
    assert r["code"] == "unauthenticated", r
    r = await c.call("login", username=carol.username, password="password123")
    assert r["code"] == "unauthenticated", r


async def test_a_login_racing_a_cancellation_never_stays_signed_in(server):
    for _ in range(5):
        alice = await server.user()
        other = await server.client()
        a, b = await asyncio.gather(alice.call("delete_account", password="password123"),
                                    other.call("login", username=alice.username, password="password123"))
        assert a["ok"], a
        if b.get("ok"):
            # signed in to a cancelled account?
            try:
                r = await other.call("me")
                assert r.get("code") == "unauthenticated", r
            except Exception:
                pass
            c = await server.client()
            r = await c.call("auth", token=b["token"])
            assert r["code"] == "unauthenticated", r
            await c.close()
        await other.close()
        await alice.close()


async def test_two_device_races_on_one_account(make_server):
    srv = make_server(require_id_to_create="false\nmax_accounts_per_id = 2")
    bad = []
    # two deletes at once on two devices
    for _ in range(3):
        a = await srv.user()
        b = await srv.client()
        await b.login(a.username, "password123")
        r = await asyncio.gather(a.call("delete_account", password="password123"),
                                 b.call("delete_account", password="password123"), return_exceptions=True)
        codes = [x.get("code") if isinstance(x, dict) else type(x).__name__ for x in r]
        if "internal" in codes or codes.count(None) != 1:
            bad.append(("two deletes", codes))
    # delete vs change_password
    for _ in range(3):
        a = await srv.user()
        b = await srv.client()
        await b.login(a.username, "password123")
        r = await asyncio.gather(a.call("delete_account", password="password123"),
                                 b.call("change_password", password="password123", new_password="another-pass-1"),
                                 return_exceptions=True)
        codes = [x.get("code") if isinstance(x, dict) else type(x).__name__ for x in r]
        if "internal" in codes:
            bad.append(("delete vs change", codes))
    # delete vs reset
    for _ in range(3):
        a = await srv.user()
        c = await srv.client()
        await c.request("request_code", phone=a.phone)
        code = srv.last_code(a.phone)
        r = await asyncio.gather(a.call("delete_account", password="password123"),
                                 c.call("reset_password", phone=a.phone, code=code, new_password="another-pass-1"),
                                 return_exceptions=True)
        codes = [x.get("code") if isinstance(x, dict) else type(x).__name__ for x in r]
        if "internal" in codes:
            bad.append(("delete vs reset", codes))
        d = await srv.client()
        x = await d.call("login", username=a.username, password="another-pass-1")
        if x.get("ok"):
            bad.append(("cancelled logs in after reset", codes))
    # three verify at once, max 2
    for _ in range(3):
        us = [await srv.user() for _ in range(3)]
        num = new_id_number()
        r = await asyncio.gather(*[u.call("verify_identity", legal_name="张三", id_number=num) for u in us])
        oks = sum(1 for x in r if x.get("ok"))
        if oks != 2:
            bad.append(("verify", [x.get("code") for x in r]))
    # delete vs verify
    for _ in range(3):
        a = await srv.user()
        b = await srv.client()
        await b.login(a.username, "password123")
        num = new_id_number()
        r = await asyncio.gather(a.call("delete_account", password="password123"),
                                 b.call("verify_identity", legal_name="张三", id_number=num), return_exceptions=True)
        codes = [x.get("code") if isinstance(x, dict) else type(x).__name__ for x in r]
        if "internal" in codes:
            bad.append(("delete vs verify", codes))
    # delete vs set_profile
    for _ in range(3):
        a = await srv.user()
        b = await srv.client()
        await b.login(a.username, "password123")
        r = await asyncio.gather(a.call("delete_account", password="password123"),
                                 b.call("set_profile", display_name="Still Here"), return_exceptions=True)
        codes = [x.get("code") if isinstance(x, dict) else type(x).__name__ for x in r]
        name = srv.db_rows("SELECT display_name FROM users WHERE user_id = ?", a.user_id)[0][0]
        if "internal" in codes or (r[0].get("ok") and name != "已注销用户"):
            bad.append(("delete vs set_profile", codes, name))
    assert not bad, bad


async def test_phone_and_id_number_are_free_again_after_the_purge(server):
    c = await server.user()
    num = new_id_number("19920704")
    await c.request("verify_identity", legal_name="王芳", id_number=num)
    await c.request("delete_account", password="password123")
    server.db_rows("UPDATE users SET deleted_at = deleted_at - ? WHERE user_id = ?", 200 * 86400000, c.user_id)
    rc, out, _ = await server.admin("purge")
    assert "accounts_erased: 1" in out, out
    fresh = await server.client()
    await fresh.request("request_code", phone=c.phone)
    r = await fresh.call("register", username="returner", password="password123", phone=c.phone,
                         code=server.last_code(c.phone))
    assert r["ok"], r
    await fresh.login("returner", "password123")
    r = await fresh.call("verify_identity", legal_name="王芳", id_number=num)
    assert r["ok"], r


async def test_names_refused_by_the_word_lists_do_not_use_up_the_hours_renames(make_server, tmp_path):
    """DEFECT. docs/config.md: renames_per_hour counts "set_profile calls that change the user's display
    name"; docs/protocol.md: "past rate_limits.renames_per_hour new names in an hour". A name refused with
    content_blocked changes nothing (and is charged credit already), yet set_profile takes the hour's
    rename before the word lists run (server/handlers/accounts.py: take_window before screening.screen)
    and never gives it back: two blocked attempts, and the user may not take any name for an hour.
    (A refused send's and a refused report's hit are given back: 901f803c.)"""
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "gambling.txt").write_text("赌博\n", encoding="utf-8")
    srv = make_server('renames_per_hour = 2\n[[content.lists]]\ncategory = "pyramid_gambling"\n'
                      'path = "gambling.txt"\naction = "block"\n')
    c = await srv.user()
    for _ in range(2):
        assert (await c.call("set_profile", display_name="赌博大王"))["code"] == "content_blocked"
    r = await c.call("set_profile", display_name="A Fine Name")
    assert r["ok"], r


async def test_others_never_see_a_cancelled_users_old_name(server):
    bob = await server.user(verify_id=True)
    q = await server.user()
    await q.request("set_profile", display_name="Quinnie")
    m = await server.user()
    gid = await open_group(bob)
    await q.request("join_group", group_id=gid)
    await m.request("join_group", group_id=gid)
    await bob.request("set_role", group_id=gid, user_id=q.user_id, role="admin")
    s1 = (await q.send(gid, "hello quinnie here"))["seq"]
    s2 = (await bob.send(gid, "reply", reply_to=s1, mentions=[q.user_id]))["seq"]
    await q.request("react", group_id=gid, seq=s2, emoji="👍", on=True)
    await q.request("pin_message", group_id=gid, seq=s1, on=True)
    await q.request("mute", group_id=gid, user_id=m.user_id, seconds=60)
    await q.request("ban", group_id=gid, user_id=(await server.user()).user_id, seconds=0, reason="spam")
    await q.request("set_announcement", group_id=gid, text="from quinnie")
    cur = (await bob.request("message_changes", group_id=gid))["cursor"]
    await q.request("edit_message", group_id=gid, seq=s1, text="hello edited")
    aid = (await bob.request("create_account", name="bob news", category="lifestyle", intro="x",
                             subject_type="individual"))["account_id"]
    pid = (await bob.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    await q.request("subscribe", account_id=aid)
    await q.request("comment", post_id=pid, text="nice post")
    await q.request("delete_account", password="password123")
    await asyncio.sleep(0.3)
    seen = []
    for c in (bob, m):
        seen.append(await c.request("history", group_id=gid))
        seen.append(await c.request("members", group_id=gid))
        seen.append(await c.request("message_changes", group_id=gid, since=cur))
        seen.append(await c.request("search", group_id=gid, query="hello"))
        seen.append(await c.request("group_info", group_id=gid))
        seen.append(await c.request("comments", post_id=pid))
        seen.append(await c.request("posts", account_id=aid))
    seen.append(await bob.request("group_log", group_id=gid))
    seen.append(await bob.request("bans", group_id=gid))
    seen.append(bob.drain_events())
    seen.append(m.drain_events())
    late = await server.user()
    await late.request("join_group", group_id=gid)
    seen.append(await late.request("history", group_id=gid))
    after = repr(seen[:-3]) + repr(seen[-1])
    assert "Quinnie" not in after, [x for x in seen if "Quinnie" in repr(x)]
