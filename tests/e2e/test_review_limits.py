"""Review of the rate limits (a reviewer's findings, each test failing on the code it was written against)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.e2e.fake_provider import Answer, FakeProvider
from tests.e2e.harness import ServerProcess, close_all, new_phone, open_group


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


def _server(tmp_path, started, backend, extra: str = ""):
    d = tmp_path / "srv"
    d.mkdir()
    return started(ServerProcess(d, extra, backend=backend))


async def test_logins_refused_before_their_password_check_do_not_use_up_the_accounts_logins(
        tmp_path, started, backend, monkeypatch):
    """``logins_per_account_per_hour`` guards what a login costs: a password hash, and a right one's
    token and network-log row. A login refused at once by ``password_checks_per_ip`` (another check of
    its address still running) costs neither, and "counts no failed login" (protocol.md), yet it used up
    one of the account's logins of the hour: one address firing logins in parallel at someone's username
    locked its owner out of logging in with the right password for an hour, with hardly any wrong
    password on record (none of the refused ones leaves a network-log row, so the operator sees an
    account refused its own right password and nothing aimed at it)."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_SPARE_LOOPBACK", "false")  # (the test's clients are on 127.0.0.1)
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_PASSWORD_CHECKS_PER_IP", "1")
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_LOGINS_PER_ACCOUNT_PER_HOUR", "10")
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_FAILED_LOGINS_PER_ACCOUNT", "10")
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_FAILED_LOGINS_PER_IP_PER_HOUR", "30")
    monkeypatch.setenv("QUNGUAN_IDENTITY_ARGON2_TIME_COST", "3")  # (a check that takes a while)
    monkeypatch.setenv("QUNGUAN_IDENTITY_ARGON2_MEMORY_KIB", "32768")
    srv = _server(tmp_path, started, backend)
    victim = await srv.user("victim")  # (its registration's login: one of the ten)
    attackers = [await srv.client() for _ in range(4)]
    replies = await asyncio.gather(*(a.call("login", username="victim", password=f"guess-{i}-{j}")
                                     for i, a in enumerate(attackers) for j in range(5)))
    codes = [code(r) for r in replies]
    wrong = codes.count("unauthenticated")
    assert "rate_limited" in codes, codes  # (refused at once: another check of the address was running)
    assert wrong < 9, codes  # (the account's own limit of wrong passwords was not reached)
    owner = await srv.client()
    reply = await owner.call("login", username="victim", password="password123")
    refused = codes.count("rate_limited")
    why = f"after {wrong} wrong passwords and {refused} logins refused before their password was checked"
    assert reply.get("ok"), (reply, why)
    await close_all(victim, owner, *attackers)


async def test_a_valid_token_still_signs_in_from_an_address_past_its_failed_logins(
        tmp_path, started, backend, monkeypatch):
    """protocol.md, login: the failed-login limits (per address among them) "are checked before the
    password, so even a correct one waits; a connection that has a token can still `auth`". But `auth`
    is gated by the same per-address window before its token is looked at: once anyone behind the
    user's address (a carrier-grade NAT, a campus, the same IPv6 /64) has sent
    ``failed_logins_per_ip_per_hour`` wrong passwords, for any name, every user there with a valid
    token is refused too and cannot reconnect for up to an hour. A 43-character random token cannot be
    guessed, so refusing a right one protects nothing."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_FAILED_LOGINS_PER_IP_PER_HOUR", "3")
    srv = _server(tmp_path, started, backend)
    victim = await srv.user("neighbour")
    token = victim.token
    await victim.close()
    attacker = await srv.client()  # (same address: both on 127.0.0.1, as two phones behind one NAT)
    for i in range(3):
        assert code(await attacker.call("login", username="somebody", password=f"wrong-{i}-pw")) == "unauthenticated"
    reconnect = await srv.client()
    reply = await reconnect.call("auth", token=token)
    assert reply.get("ok"), reply
    await close_all(attacker, reconnect)


async def test_send_checks_run_in_the_documented_order_and_a_blocked_text_costs_its_token(
        tmp_path, started, backend, monkeypatch):
    """protocol.md, send, "Checks, in this order": it put the content filter (8) before `rate_limited`
    (9) and said "a refused send (any step above) costs no token", while the server takes the token
    before the word lists (config.md and tests/e2e/test_abuse_limits.py say so, on purpose: a blocked
    text writes a penalty and a record entry). The document now has the server's order."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_MESSAGES_PER_SECOND", "0.05")  # (no token back within the test)
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_MESSAGE_BURST", "2")
    d = tmp_path / "srv"
    d.mkdir()
    (d / "block.txt").write_text("赌场\n", encoding="utf-8")
    srv = started(ServerProcess(d, '\n[[content.lists]]\ncategory = "gambling"\npath = "block.txt"\n'
                                   'action = "block"\n', backend=backend))
    owner = await srv.user()
    gid = await open_group(owner)
    # The order the code has, and protocol.md now says: the rate (step 8) before the content filter
    # (step 9), so a blocked text costs its token (its refusal writes a penalty and a record entry)
    # and a sender past the rate is answered `rate_limited` before the filter reads the text.
    blocked = [code(await owner.call("send", group_id=gid, text=f"来赌场 {i}")) for i in range(2)]
    assert blocked == ["content_blocked"] * 2, blocked
    assert code(await owner.call("send", group_id=gid, text="又来赌场")) == "rate_limited"
    assert code(await owner.call("send", group_id=gid, text="大家好")) == "rate_limited"
    text = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    rate = text.index("8. `rate_limited` with `retry_after_ms` (more than `rate_limits.message_burst`")
    assert rate < text.index("9. **Content filter** (Art. 10)", rate)
    await close_all(owner)


async def test_an_appeal_refused_as_a_second_open_one_does_not_count_against_the_days_appeals(
        tmp_path, started, backend, monkeypatch):
    """protocol.md, appeal: `conflict` when "the caller already has an open appeal against it", and
    `rate_limited` past `rate_limits.appeals_per_day` appeals "(one refused for another reason does not
    count)"; config.md says the same. The server counts the appeal before the store refuses the second
    open one: an owner whose appeal was sent twice (a double click, a retry after a lost answer) loses one of
    the day's appeals for each copy, and with ``appeals_per_day`` of them cannot appeal the next sanction
    for a day, with only one appeal on file (after a restart, which counts the stored ones, the same owner
    could)."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_APPEALS_PER_DAY", "2")
    srv = _server(tmp_path, started, backend)
    owner = await srv.user()
    gid = await open_group(owner)
    rc, out, err = await srv.admin("--json", "suspend-group", gid, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    rc, out, err = await srv.admin("sanctions", "--group", gid)
    [first] = [json.loads(line) for line in out.splitlines()]
    assert (await owner.call("appeal", sanction_id=first["id"], text="不公平"))["ok"]
    again = await owner.call("appeal", sanction_id=first["id"], text="不公平")
    assert again["code"] == "conflict", again  # (already open: refused for another reason)
    rc, _, err = await srv.admin("warn-group", gid, "--reason", "请整改")
    assert rc == 0, err
    rc, out, err = await srv.admin("sanctions", "--group", gid)
    [second] = [r for r in map(json.loads, out.splitlines()) if r["kind"] == "warning"]
    reply = await owner.call("appeal", sanction_id=second["id"], text="已整改")
    assert reply.get("ok"), (reply, "one appeal on file, appeals_per_day = 2")
    await close_all(owner)


async def test_the_error_table_names_every_op_that_answers_rate_limited(tmp_path, started, backend, monkeypatch):
    """protocol.md's table of error codes says which ops return each code "(this build)". Its
    `rate_limited` row leaves out `set_profile` (`rate_limits.renames_per_hour`), `reset_password` (wrong
    codes per address, password checks per address) and `appeal` (`rate_limits.appeals_per_day`), which
    answer it (and whose own sections say so): a client written from the table treats it as
    unexpected there."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_RENAMES_PER_HOUR", "1")
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_FAILED_LOGINS_PER_IP_PER_HOUR", "1")
    srv = _server(tmp_path, started, backend)
    me = await srv.user()
    assert (await me.call("set_profile", display_name="新名字"))["ok"]
    assert code(await me.call("set_profile", display_name="又一个名字")) == "rate_limited"
    anon = await srv.client()
    args = {"phone": me.phone, "code": "000000", "new_password": "new-password-1"}
    await anon.call("request_code", phone=me.phone)
    first = code(await anon.call("reset_password", **args))
    assert first in ("bad_code", "ok"), first
    assert code(await anon.call("reset_password", **args)) == "rate_limited"
    text = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    [row] = [line for line in text.splitlines() if line.startswith("| `rate_limited` |")]
    missing = [op for op in ("set_profile", "reset_password", "appeal") if f"`{op}`" not in row]
    assert not missing, f"protocol.md's rate_limited row does not name {missing}"
    await close_all(me, anon)


async def test_codes_the_sms_provider_never_sent_do_not_use_up_the_phones_or_the_services_budget(
        tmp_path, monkeypatch):
    """protocol.md, request_code: `internal` when the SMS provider could not take the code — "no code
    was sent, ask again later". config.md: `code_requests_per_hour` is the "SMS codes the whole service
    sends in any hour ... set it to the SMS budget". Every request was counted before the provider was
    asked and stays counted when it failed: a provider outage of a minute, with users asking again as
    they are told, uses up each phone's hour and the whole service's SMS budget with codes nobody was
    sent (nor paid for), and once the provider is back nobody can register or reset a password for up to
    an hour (the counts are read back from the network log at a restart, so restarting does not help)."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_CODE_REQUESTS_PER_PHONE_PER_HOUR", "2")
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_CODE_REQUESTS_PER_HOUR", "3")
    fake = FakeProvider(tmp_path / "provider").start()
    d = tmp_path / "srv"
    d.mkdir()
    srv = ServerProcess(d)
    text = srv.config.read_text(encoding="utf-8").replace('sms_provider = "file"\n', "")
    srv.config.write_text(text.replace("[identity]\n", "[identity]\n" + fake.config(sms=True, retries=0), 1),
                          encoding="utf-8")
    srv.start()
    try:
        fake.default = Answer(503)  # the provider is down for a moment
        c = await srv.client()
        phone, other = new_phone(), new_phone()
        outage = [code(await c.call("request_code", phone=p)) for p in (phone, phone, other)]
        assert outage == ["internal"] * 3, outage
        fake.default = Answer()  # and back
        fake.seen.clear()
        after = {p: await c.call("request_code", phone=p) for p in (phone, new_phone())}
        assert all(r.get("ok") for r in after.values()), (
            [(r.get("code"), r.get("reason")) for r in after.values()],
            f"{len(fake.seen)} codes sent since the provider came back; none was sent before")
        await c.close()
    finally:
        await srv.stopped()
        fake.stop()
