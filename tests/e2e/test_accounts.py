"""Accounts (Art. 6): codes, registration, login, tokens, identity verification, privacy."""

from __future__ import annotations

import asyncio
import hashlib
import json

import msgpack

from tests.e2e.harness import ServerProcess, closed_by_server, new_id_number, new_phone, open_group


async def register(srv, c, name, phone=None, code=None, **kw):
    phone = phone or new_phone()
    if code is None:
        await c.request("request_code", phone=phone)
        code = srv.last_code(phone)
    return await c.call("register", username=name, password="password123", phone=phone, code=code, **kw)


async def test_code_is_single_use_and_wrong_code_refused(server):
    c = await server.client()
    phone = new_phone()
    await c.request("request_code", phone="+86 " + phone[:3] + " " + phone[3:7] + " " + phone[7:])
    code = server.last_code(phone)
    wrong = "000000" if code != "000000" else "111111"
    r = await c.call("register", username="carol", password="password123", phone=phone, code=wrong)
    assert r["code"] == "bad_code"
    r = await c.call("register", username="carol", password="password123", phone=phone, code=code)
    assert r["ok"], r
    r = await c.call("register", username="carol2", password="password123", phone=phone, code=code)
    assert r["code"] == "bad_code"  # single use
    await c.close()


async def test_register_conflicts_and_validation(server):
    c = await server.client()
    assert (await register(server, c, "dave"))["ok"]
    assert (await register(server, c, "DAVE"))["code"] == "conflict"
    phone = new_phone()
    assert (await register(server, c, "erin", phone=phone))["ok"]
    assert (await register(server, c, "erin2", phone=phone))["code"] == "conflict"
    assert (await c.call("request_code", phone="12345"))["code"] == "bad_request"
    assert (await register(server, c, "x"))["code"] == "bad_request"  # username too short
    r = await c.call("register", username="frank", password="short", phone=new_phone(), code="123456")
    assert r["code"] == "bad_request"
    await c.close()


async def test_register_tells_nothing_without_the_phones_code(server):
    """The code is checked before the username: a caller without a real code for a real phone
    learns nothing about which names are taken. A right code refused for a taken name is not used
    up but spends one of its attempts; two registers racing with one code make one account."""
    c = await server.client()
    assert (await register(server, c, "olga"))["ok"]
    phone = new_phone()
    for name in ("olga", "OLGA", "nobody_yet"):  # no code asked for this phone, or a wrong one
        r = await c.call("register", username=name, password="password123", phone=phone, code="000000")
        assert r["code"] == "bad_code", (name, r)
    await c.request("request_code", phone=phone)
    code = server.last_code(phone)
    wrong = "000000" if code != "000000" else "111111"
    assert (await register(server, c, "olga", phone=phone, code=wrong))["code"] == "bad_code"
    assert (await register(server, c, "olga", phone=phone, code=code))["code"] == "conflict"
    assert (await register(server, c, "Olga", phone=phone, code=code))["code"] == "conflict"
    assert (await register(server, c, "olga2", phone=phone, code=code))["ok"]  # the code was still good
    taken_phone = phone
    assert (await register(server, c, "olga3", phone=phone, code=code))["code"] == "bad_code"  # now used
    phone = new_phone()  # a taken name spends one of the code's 5 attempts: it tries 5 names at most
    await c.request("request_code", phone=phone)
    code = server.last_code(phone)
    for name in ("olga", "OLGA", "olga2", "Olga2", "OLGA2"):
        assert (await register(server, c, name, phone=phone, code=code))["code"] == "conflict"
    assert (await register(server, c, "olga4", phone=phone, code=code))["code"] == "bad_code"
    # A code for a phone that has an account tests no names: that is the answer whatever the name,
    # free or taken (free names cost nothing before, so one code tried them without end).
    await c.request("request_code", phone=taken_phone)
    code = server.last_code(taken_phone)
    for name in ("olga", "free_name_1", "free_name_2"):
        r = await register(server, c, name, phone=taken_phone, code=code)
        assert (r["code"], "phone" in r["reason"]) == ("conflict", True), (name, r)
    phone = new_phone()
    await c.request("request_code", phone=phone)
    code = server.last_code(phone)
    d = await server.client()
    results = await asyncio.gather(register(server, c, "petra", phone=phone, code=code),
                                   register(server, d, "quinn", phone=phone, code=code))
    assert sorted(bool(r["ok"]) for r in results) == [False, True], results
    assert [r["code"] for r in results if not r["ok"]][0] in ("bad_code", "conflict")
    for x in (c, d):
        await x.close()


async def test_register_does_not_authenticate(server):
    c = await server.client()
    assert (await register(server, c, "gina"))["ok"]
    assert (await c.call("me"))["code"] == "unauthenticated"
    await c.close()


async def test_login_failures_share_one_reason(server):
    await (await server.user("hank")).close()
    c = await server.client()
    wrong_pw = await c.call("login", username="hank", password="wrong-password")
    no_user = await c.call("login", username="nobody", password="password123")
    bad_token = await c.call("auth", token="not-a-token")
    assert wrong_pw["code"] == no_user["code"] == bad_token["code"] == "unauthenticated"
    assert wrong_pw["reason"] == no_user["reason"] == bad_token["reason"]
    ok = await c.login("HANK", "password123")  # usernames are case-insensitive
    assert ok["expires_at"] > 0 and len(ok["token"]) >= 22
    await c.close()


async def test_token_auth_on_a_new_connection(server):
    alice = await server.user("ivy")
    c = await server.client()
    assert (await c.auth(alice.token))["user_id"] == alice.user_id
    assert (await c.request("me"))["username"] == "ivy"
    for x in (alice, c):
        await x.close()


async def test_passwords_and_session_tokens_are_stored_only_as_hashes(server):
    """G5 security protection: the store keeps a login's token as its SHA-256 only, so a copy of the
    database opens no session; the token itself still authenticates. The password is an argon2id hash."""
    alice = await server.user()
    [(password_hash,)] = server.db_rows("SELECT password_hash FROM users WHERE user_id = ?", alice.user_id)
    assert password_hash.startswith("$argon2id$") and "password123" not in password_hash
    other = await server.client()
    await other.login(alice.username, "password123")  # a second login: a second token
    tokens = {alice.token, other.token}
    stored = {bytes(r[0]) for r in server.db_rows("SELECT token_hash FROM tokens WHERE user_id = ?", alice.user_id)}
    assert stored == {hashlib.sha256(t.encode()).digest() for t in tokens}
    if server.backend == "sqlite":  # nowhere in the database files, the WAL included
        files = b"".join(f.read_bytes() for f in server.dir.glob("qunguan.db*") if f.is_file())
        assert files and not any(t.encode() in files for t in tokens)
    c = await server.client()
    assert (await c.auth(alice.token))["user_id"] == alice.user_id
    for x in (alice, other, c):
        await x.close()


async def test_verify_identity(server):
    alice = await server.user("jack")
    bob = await server.user("kate")
    assert (await alice.call("verify_identity", legal_name="李四", id_number="110105199001010000"))[
        "code"
    ] == "bad_request"  # wrong check digit
    number = new_id_number()
    assert (await alice.request("verify_identity", legal_name="李四", id_number=number))["id_verified"]
    assert (await alice.request("me"))["id_verified"] is True
    assert (await alice.call("verify_identity", legal_name="李四", id_number=number))["code"] == "conflict"
    # max_accounts_per_id defaults to 1: the same number cannot verify a second account
    assert (await bob.call("verify_identity", legal_name="李四", id_number=number))["code"] == "conflict"
    assert (await bob.call("verify_identity", legal_name="李四", id_number=number.lower()))["code"] == "conflict"
    for x in (alice, bob):
        await x.close()


async def test_create_group_needs_identity_by_default(make_server):
    srv = make_server(require_id_to_create="true")
    alice = await srv.user()
    r = await alice.call("create_group", name="g", category="work", join_policy="open")
    assert r["code"] == "verification_required"
    await alice.request("verify_identity", legal_name="王五", id_number=new_id_number())
    assert (await alice.call("create_group", name="g", category="work", join_policy="open"))["ok"]
    await alice.close()


async def test_require_id_to_post_gates_sending_and_reacting_until_the_id_is_verified(make_server, monkeypatch):
    """``identity.require_id_to_post = true`` (Art. 6): a member with only a verified phone may read
    but not ``send`` or ``react`` (``verification_required``, with a reason) until ``verify_identity``."""
    monkeypatch.setenv("QUNGUAN_IDENTITY_REQUIRE_ID_TO_POST", "true")
    srv = make_server()
    owner = await srv.user(verify_id=True)
    gid = await open_group(owner)
    member = await srv.user()
    await member.request("join_group", group_id=gid)
    seq = (await owner.send(gid, "欢迎"))["seq"]
    refused = await member.call("send", group_id=gid, text="你好")
    assert refused["code"] == "verification_required" and refused["reason"], refused
    react = await member.call("react", group_id=gid, seq=seq, emoji="👍", on=True)
    assert react["code"] == "verification_required", react
    history = await member.request("history", group_id=gid)
    assert [m["text"] for m in history["messages"]] == ["欢迎"]  # reading is not posting
    await member.request("verify_identity", legal_name="赵六", id_number=new_id_number())
    assert (await member.call("send", group_id=gid, text="你好"))["ok"]
    assert (await member.call("react", group_id=gid, seq=seq, emoji="👍", on=True))["ok"]
    await owner.close()
    await member.close()


async def test_set_profile_changes_what_others_see(server):
    alice = await server.user("liam")
    bob = await server.user("mia")
    gid = await open_group(alice)
    await bob.request("join_group", group_id=gid)
    await bob.request("set_profile", display_name="米娅")
    members = (await alice.request("members", group_id=gid))["members"]
    assert {"user_id": bob.user_id, "display_name": "米娅", "role": "member"} in members
    assert (await bob.call("set_profile", display_name="  "))["code"] == "bad_request"
    for x in (alice, bob):
        await x.close()


async def test_no_user_sees_another_users_phone_or_id(server):
    """Everything alice can observe about bob, raw, must not contain bob's phone or ID number."""
    alice = await server.user("nora", verify_id=True)
    bob = await server.user("otto")
    bob_id = new_id_number("19851231")
    await bob.request("verify_identity", legal_name="赵六", id_number=bob_id)
    gid = await open_group(alice)
    await bob.request("join_group", group_id=gid)
    await bob.send(gid, "hello")
    seen = [
        await alice.request("members", group_id=gid),
        await alice.request("group_info", group_id=gid),
        await alice.request("history", group_id=gid),
        await bob.request("group_info", group_id=gid),
        *alice.drain_events(),
    ]
    blob = json.dumps(seen, ensure_ascii=False) + repr(msgpack.packb(seen))
    for secret in (bob.phone, bob_id, "赵六", bob.phone[-8:]):
        assert secret not in blob
    me = await bob.request("me")
    assert bob.phone not in json.dumps(me) and bob_id not in json.dumps(me)
    for x in (alice, bob):
        await x.close()


async def test_delete_account(server):
    from tests.e2e.harness import open_group

    owner = await server.user("pete")
    leaver = await server.user("quinn")
    gid = await open_group(owner)
    await leaver.request("join_group", group_id=gid)
    seq = (await leaver.send(gid, "bye all"))["seq"]
    assert (await leaver.call("delete_account", password="wrong-password"))["code"] == "unauthenticated"
    assert (await owner.call("delete_account", password="password123"))["code"] == "conflict"  # owns a group
    owner.drain_events()
    await leaver.request("delete_account", password="password123")
    assert (await owner.next_event("member_left"))["user_id"] == leaver.user_id
    assert (await leaver.call("me"))["code"] == "unauthenticated"
    c = await server.client()
    assert (await c.call("login", username="quinn", password="password123"))["code"] == "unauthenticated"
    assert (await c.call("auth", token=leaver.token))["code"] == "unauthenticated"
    hist = (await owner.request("history", group_id=gid))["messages"]
    kept = [m for m in hist if m["seq"] == seq][0]
    assert kept["text"] == "bye all" and kept["sender"]["display_name"] == "已注销用户"
    assert all(m["display_name"] != "Quinn" for m in (await owner.request("members", group_id=gid))["members"])
    # The phone stays the cancelled account's until its records go: register and reset_password say
    # the same thing (to whoever holds the phone's code).
    await c.request("request_code", phone=leaver.phone)
    taken = await c.call("register", username="quinn2", password="password123", phone=leaver.phone,
                         code=server.last_code(leaver.phone))
    assert taken["code"] == "conflict" and "cancelled account" in taken["reason"], taken
    await c.request("request_code", phone=leaver.phone)
    gone = await c.call("reset_password", phone=leaver.phone, code=server.last_code(leaver.phone),
                        new_password="password456")
    assert gone["code"] == "not_found" and "was cancelled" in gone["reason"], gone
    # blacklisted as well, it is never purged: the phone stays taken for good, and is not said to free
    rc, _, err = await server.admin("blacklist", "quinn", "--reason", "fraud")
    assert rc == 0, err
    await c.request("request_code", phone=leaver.phone)
    barred = await c.call("register", username="quinn3", password="password123", phone=leaver.phone,
                          code=server.last_code(leaver.phone))
    assert barred["code"] == "conflict" and "retention" not in barred["reason"], barred
    for x in (owner, c):
        await x.close()


async def test_delete_account_closes_the_accounts_other_connections(server):
    """A cancelled account keeps no live connection: the others (another device, another tab) are
    closed by the server (1008, "account cancelled"), while the one that asked stays open, signed
    out, to be told the result. Left open, another device would stay signed in to an account that
    no longer exists, showing it live, with nothing to tell it otherwise until it reconnected."""
    owner = await server.user()
    gid = await open_group(owner)
    leaver = await server.user()
    await leaver.request("join_group", group_id=gid)
    other = await server.client()
    await other.login(leaver.username, "password123")
    await leaver.request("delete_account", password="password123")
    assert await closed_by_server(other) == (1008, "account cancelled")
    assert not leaver.closed
    assert (await leaver.call("me"))["code"] == "unauthenticated"
    for x in (owner, leaver):
        await x.close()


def limited_server(tmp_path, backend) -> ServerProcess:
    """A server with 2 code requests per phone and 3 failed logins per address an hour (the
    harness turns both off)."""
    srv = ServerProcess(tmp_path, backend=backend)
    srv.config.write_text(srv.config.read_text()
                          .replace("code_requests_per_phone_per_hour = 0", "code_requests_per_phone_per_hour = 2")
                          .replace("failed_logins_per_ip_per_hour = 0", "failed_logins_per_ip_per_hour = 3"))
    return srv


async def test_code_requests_and_failed_logins_are_limited(tmp_path, started, backend):
    """Art. 5 security: SMS codes per phone and failed logins per address are rate-limited
    (the other tests run with these limits off)."""
    srv = started(limited_server(tmp_path, backend))
    c = await srv.client()
    phone = new_phone()
    for _ in range(2):
        assert (await c.call("request_code", phone=phone))["ok"]
    third = await c.call("request_code", phone=phone)
    assert third["code"] == "rate_limited" and third["retry_after_ms"] > 0
    assert (await c.call("request_code", phone=new_phone()))["ok"]  # per phone
    await c.request("register", username="limited1", password="password123", phone=phone, code=srv.last_code(phone))
    codes = [(await c.call("login", username="limited1", password=f"wrong{i}"))["code"] for i in range(4)]
    assert codes == ["unauthenticated"] * 3 + ["rate_limited"]
    right = await c.call("login", username="limited1", password="password123")
    assert right["code"] == "rate_limited"  # no oracle: the right password waits too
    await c.close()


async def test_codes_and_the_limits_windows_survive_a_restart(tmp_path, started, backend):
    """A code sent before a restart still registers after it; the failed logins and code requests
    of the last hour still count (rebuilt from the network log: server/limits.py)."""
    srv = started(limited_server(tmp_path, backend))
    c = await srv.client()
    phone, other = new_phone(), new_phone()
    await c.request("request_code", phone=other)
    await c.request("register", username="before1", password="password123", phone=other,
                    code=srv.last_code(other))
    for i in range(3):
        assert (await c.call("login", username="before1", password=f"wrong{i}"))["code"] == "unauthenticated"
    for _ in range(2):
        await c.request("request_code", phone=phone)
    code = srv.last_code(phone)
    assert srv.db_rows("SELECT COUNT(*) FROM sms_codes") == [(1,)]  # the used one is gone, the new one kept
    assert code not in repr(srv.db_rows("SELECT code_mac FROM sms_codes"))  # a MAC, not the code
    await c.close()
    await srv.stopped()
    srv.start()
    c = await srv.client()
    assert (await c.call("request_code", phone=phone))["code"] == "rate_limited"  # two this hour already
    assert (await c.call("login", username="before1", password="password123"))["code"] == "rate_limited"
    await c.request("register", username="after1", password="password123", phone=phone, code=code)
    assert srv.db_rows("SELECT COUNT(*) FROM sms_codes") == [(0,)]
    await c.close()


async def test_wrong_current_passwords_of_change_password_count_as_failed_logins_also_after_a_restart(
        tmp_path, started, backend):
    """A logged-in connection could otherwise guess its account's password without end (an unlocked
    device left behind); its misses count with failed logins, and a restart counts them again."""
    srv = started(limited_server(tmp_path, backend))
    c = await srv.user()
    for i in range(3):
        wrong = await c.call("change_password", password=f"wrong{i}", new_password="new-password-1")
        assert wrong["code"] == "unauthenticated", wrong
    limited = await c.call("change_password", password="password123", new_password="new-password-1")
    assert limited["code"] == "rate_limited", limited  # (the right one waits too: no oracle)
    name = c.username
    await c.close()
    await srv.stopped()
    srv.start()
    c = await srv.client()
    # (this address's three failures, rebuilt from the network log's change_password_failed rows)
    assert (await c.call("login", username=name, password="password123"))["code"] == "rate_limited"
    await c.close()


async def test_wrong_sms_codes_count_as_failed_logins_of_the_address_also_after_a_restart(
        tmp_path, started, backend):
    """A privacy review's find: a log showing seven of a phone's eleven digits with its code let one
    connection try the four hidden ones with reset_password, a thousand a second, each answered
    bad_code and none counted (a phone with no code outstanding has no guesses to spend). A wrong code
    is a failed login of the address now, at register and reset_password, counted after a restart."""
    srv = started(limited_server(tmp_path, backend))
    owner = await srv.user()  # (a phone with an account, whose code the guesses aim at)
    c = await srv.client()
    phones = [new_phone() for _ in range(3)]
    assert (await c.call("reset_password", phone=phones[0], code="123456",
                         new_password="attacker-pw1"))["code"] == "bad_code"
    assert (await c.call("register", username="guess1", password="password123", phone=phones[1],
                         code="123456"))["code"] == "bad_code"
    assert (await c.call("reset_password", phone=phones[2], code="654321",
                         new_password="attacker-pw1"))["code"] == "bad_code"
    refused = await c.call("reset_password", phone=new_phone(), code="111111", new_password="attacker-pw1")
    assert refused["code"] == "rate_limited" and refused["retry_after_ms"] > 0, refused
    # the address's limit: a right code from it waits too (no oracle); its logins have their own
    phone = new_phone()
    await c.request("request_code", phone=phone)
    right = await c.call("register", username="later1", password="password123", phone=phone, code=srv.last_code(phone))
    assert right["code"] == "rate_limited", right
    assert (await c.call("login", username=owner.username, password="password123"))["user_id"] == owner.user_id
    for _ in range(50):  # (each row is stored before its answer goes; the refusals' rows in a commit)
        if srv.db_rows("SELECT COUNT(*) FROM netlog WHERE kind = 'code_failed'") == [(3,)]:
            break
        await asyncio.sleep(0.1)
    assert srv.db_rows("SELECT COUNT(*) FROM netlog WHERE kind = 'code_failed' AND user_id IS NULL") == [(3,)]
    await c.close()
    await owner.close()
    await srv.stopped()
    srv.start()
    c = await srv.client()
    # (the three wrong codes, rebuilt from the network log's code_failed rows)
    assert (await c.call("reset_password", phone=phones[0], code="123456",
                         new_password="attacker-pw1"))["code"] == "rate_limited"
    await c.close()


async def test_a_failed_login_or_auth_leaves_the_connection_as_it_was(server):
    alice = await server.user()
    bob = await server.user()
    failures = [("login", {"username": bob.username, "password": "wrong-password"}), ("auth", {"token": "x" * 43})]
    for op, args in failures:
        assert (await alice.call(op, **args))["code"] == "unauthenticated"
        assert (await alice.request("me"))["user_id"] == alice.user_id  # still signed in as alice
    fresh = await server.client()
    assert (await fresh.call("login", username=bob.username, password="wrong-password"))["code"] == "unauthenticated"
    assert (await fresh.call("me"))["code"] == "unauthenticated"
    for c in (alice, bob, fresh):
        await c.close()


async def test_a_new_display_name_reaches_those_who_share_a_group_once(server):
    """set_profile announces the new name (user_renamed) to the user's own connections and to each
    connection online in the user's groups once, however many groups it shares; nobody else."""
    alice, bob, carol = await server.user(), await server.user(), await server.user()
    alice2 = await server.client()
    await alice2.request("auth", token=alice.token)
    g1 = await open_group(alice)
    g2 = await open_group(alice)
    for gid in (g1, g2):
        await bob.request("join_group", group_id=gid)
    for c in (alice, alice2, bob, carol):
        c.drain_events()
    await alice.request("set_profile", display_name="Alice Two")
    for c in (alice, alice2, bob):
        ev = await c.next_event("user_renamed")
        assert (ev["user_id"], ev["display_name"]) == (alice.user_id, "Alice Two")
    await bob.request("send", group_id=g1, text="sync")  # events after the rename are in by its reply
    await asyncio.sleep(0.2)
    assert [e for e in bob.drain_events() if e.get("ev") == "user_renamed"] == []  # once, not once per group
    assert [e for e in carol.drain_events() if e.get("ev") == "user_renamed"] == []
    await alice.request("set_profile", display_name="Alice Two")  # no change: nothing to announce
    await bob.request("send", group_id=g1, text="sync again")
    await asyncio.sleep(0.2)
    assert [e for e in bob.drain_events() if e.get("ev") == "user_renamed"] == []
    for c in (alice, alice2, bob, carol):
        await c.close()


async def test_me_tells_the_text_limit_so_clients_count_against_it(make_server):
    srv = make_server("[limits]\nmax_text_chars = 20\n")
    c = await srv.user()
    assert (await c.request("me"))["max_text_chars"] == 20
    await c.close()


async def test_new_display_names_are_limited_per_hour(make_server):
    """Each new name is announced to every connection in the user's groups, so renames are limited
    (rate_limits.renames_per_hour); the name already shown costs nothing."""
    srv = make_server("renames_per_hour = 2\n")  # the harness's config ends inside [rate_limits]
    c = await srv.user()
    await c.request("set_profile", display_name="One")
    await c.request("set_profile", display_name="One")  # no change: not counted
    await c.request("set_profile", display_name="Two")
    refused = await c.call("set_profile", display_name="Three")
    assert refused["code"] == "rate_limited" and refused["retry_after_ms"] > 0
    assert (await c.request("me"))["display_name"] == "Two"
    await c.close()


async def test_ping_is_answered_before_and_after_login(server):
    """**[ext]** ``ping``: a client that only reads asks it to tell a silently dead connection from a
    quiet group (the web client, after 25 s without a frame). Answered at once, with nothing, whether
    or not the connection has signed in."""
    c = await server.client()
    try:
        assert {k: v for k, v in (await c.call("ping")).items() if k != "re"} == {"ok": True}
        alice = await server.user("alice")
        assert {k: v for k, v in (await alice.call("ping")).items() if k != "re"} == {"ok": True}
        await alice.close()
    finally:
        await c.close()
