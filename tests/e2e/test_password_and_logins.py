"""A person's own control over their logins: a new password (the current one given again) ends every
other login, and ``logout`` with ``everywhere`` ends all of them (a phone lost, a shared computer left
logged in). Before, a stolen token stayed good for its 30 days unless the platform blacklisted the
account, and a password could not be changed at all."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.e2e.harness import ServerProcess, closed_by_server


async def _login(server: ServerProcess, username: str, password: str = "password123") -> Any:
    c = await server.client()
    await c.login(username, password)
    return c


async def test_a_new_password_ends_every_other_login_and_the_old_one_no_longer_opens(server: ServerProcess) -> None:
    alice = await server.user()
    phone = await _login(server, alice.username)
    stolen = phone.token
    same_tab = await server.client()  # another connection on this login's own token (a second tab)
    assert (await same_tab.call("auth", token=alice.token))["ok"]

    wrong = await alice.call("change_password", password="not-the-password", new_password="new-password-1")
    assert wrong["code"] == "unauthenticated"
    short = await alice.call("change_password", password="password123", new_password="short")
    assert (short["code"], short["field"]) == ("bad_request", "new_password")
    assert not phone.closed

    assert (await alice.call("change_password", password="password123", new_password="new-password-1"))["ok"]
    assert await closed_by_server(phone) == (1008, "the password was changed")
    assert (await alice.request("me"))["user_id"] == alice.user_id  # this login goes on
    assert (await same_tab.request("me"))["user_id"] == alice.user_id  # and so does its token
    again = await server.client()
    ended = await again.call("auth", token=stolen)  # (a device offline at the change hears why)
    assert (ended["code"], ended["cause"]) == ("unauthenticated", "password_changed"), ended
    # (the reason text of every bad token, the contract's; the cause tells why)
    assert ended["reason"] == "authentication failed: wrong username, password or token"
    failed = await again.call("login", username=alice.username, password="password123")
    assert failed["code"] == "unauthenticated" and "cause" not in failed  # (a wrong password: no cause)
    assert (await again.call("login", username=alice.username, password="new-password-1"))["ok"]
    kinds = [r[0] for r in server.db_rows("SELECT kind FROM netlog WHERE user_id = ? ORDER BY id", alice.user_id)]
    assert "change_password_failed" in kinds and "password_changed" in kinds


async def test_logout_everywhere_ends_every_login_of_the_account(server: ServerProcess) -> None:
    alice, bob = await server.user(), await server.user()
    phone = await _login(server, alice.username)
    laptop = await _login(server, alice.username)
    tokens = (alice.token, phone.token, laptop.token)
    assert (await phone.call("logout", everywhere=True))["ok"]
    for c in (alice, laptop):
        assert await closed_by_server(c) == (1008, "logged out on every device")
    assert (await phone.call("me"))["code"] == "unauthenticated"  # this one stays, logged out
    for token in tokens:
        ended = await phone.call("auth", token=token)
        assert (ended["code"], ended["cause"]) == ("unauthenticated", "logged_out"), ended
    assert (await bob.request("me"))["user_id"] == bob.user_id  # nobody else's
    assert (await phone.call("login", username=alice.username, password="password123"))["ok"]
    rows = server.db_rows("SELECT detail FROM netlog WHERE user_id = ? AND kind = 'logout'", alice.user_id)
    assert len(rows) == 1 and "everywhere" in str(rows[0][0])


async def test_two_changes_at_once_go_one_after_the_other(server: ServerProcess) -> None:
    """Both checked the old password and both stored theirs: the first was told its password was
    set, and both devices ended logged out under the second's."""
    alice = await server.user()
    phone = await _login(server, alice.username)
    first, second = await asyncio.gather(
        alice.call("change_password", password="password123", new_password="laptop-password"),
        phone.call("change_password", password="password123", new_password="phone-password"),
        return_exceptions=True)  # (the one that comes second may find its connection closed by the first)
    told = [r.get("ok") is True if isinstance(r, dict) else False for r in (first, second)]
    assert told.count(True) == 1, (first, second)
    winner, won_with, lost_with = ((alice, "laptop-password", "phone-password") if told[0]
                                   else (phone, "phone-password", "laptop-password"))
    assert (await winner.request("me"))["user_id"] == alice.user_id  # the one told it worked goes on
    again = await server.client()
    assert (await again.call("login", username=alice.username, password=lost_with))["code"] == "unauthenticated"
    assert (await again.call("login", username=alice.username, password=won_with))["ok"]


async def test_a_forgotten_password_is_reset_with_a_code_to_the_accounts_phone(server: ServerProcess) -> None:
    """Before, a person who forgot their password could never log in again."""
    alice = await server.user()
    phone = await _login(server, alice.username)
    c = await server.client()
    assert (await c.call("reset_password", phone=alice.phone, code="000000",
                         new_password="reset-password-1"))["code"] == "bad_code"
    await c.request("request_code", phone=alice.phone)
    code = server.last_code(alice.phone)
    short = await c.call("reset_password", phone=alice.phone, code=code, new_password="short")
    assert (short["code"], short["field"]) == ("bad_request", "new_password")
    assert (await c.call("reset_password", phone=alice.phone, code=code, new_password="reset-password-1"))["ok"]
    for other in (alice, phone):
        assert await closed_by_server(other) == (1008, "the password was changed")
    assert (await c.call("me"))["code"] == "unauthenticated"  # not logged in by it
    assert (await c.call("reset_password", phone=alice.phone, code=code,
                         new_password="reset-password-2"))["code"] == "bad_code"  # used up
    assert (await c.call("login", username=alice.username, password="password123"))["code"] == "unauthenticated"
    assert (await c.call("login", username=alice.username, password="reset-password-1"))["ok"]
    # A phone no account has: said so, but only to whoever holds its code.
    stranger = "13700001111"
    await c.request("request_code", phone=stranger)
    gone = await c.call("reset_password", phone=stranger, code=server.last_code(stranger),
                        new_password="reset-password-1")
    assert gone["code"] == "not_found"
    rows = server.db_rows("SELECT user_id FROM netlog WHERE kind = 'password_reset'")
    assert rows == [(alice.user_id,)]


async def test_a_person_sees_their_logins_and_ends_one_of_them(server: ServerProcess) -> None:
    """``my_logins`` lists the account's logins with the device each named; ``logout`` with one's
    ``login_id`` ends that login alone (a phone left somewhere), and this connection stays."""
    alice, bob = await server.user(), await server.user()
    phone = await server.client()
    await phone.login(alice.username, "password123", device="Redmi Note 12 · Android")
    laptop = await server.client()
    await laptop.login(alice.username, "password123", device="  Firefox · Linux  ")
    laptop_tab = await server.client()
    assert (await laptop_tab.call("auth", token=laptop.token))["ok"]

    logins = (await alice.request("my_logins"))["logins"]
    assert [x["device"] for x in logins] == ["Firefox · Linux", "Redmi Note 12 · Android", ""]  # newest first
    assert [(x["online"], x["current"]) for x in logins] == [(2, False), (1, False), (1, True)]
    assert all(len(x["login_id"]) == 16 and x["expires_at"] > x["created_at"] for x in logins)
    assert alice.token not in str(logins) and laptop.token not in str(logins)
    assert (await bob.request("my_logins"))["logins"][0]["device"] == ""  # each sees their own only
    assert len((await bob.request("my_logins"))["logins"]) == 1

    laptop_id = logins[0]["login_id"]
    assert (await bob.call("logout", login_id=laptop_id))["code"] == "not_found"  # not his
    assert not laptop.closed
    assert (await alice.request("logout", login_id=laptop_id)) is not None
    for c in (laptop, laptop_tab):
        assert await closed_by_server(c) == (1008, "logged out from another device")
    assert (await alice.request("me"))["user_id"] == alice.user_id  # this login goes on
    assert (await phone.request("me"))["user_id"] == alice.user_id  # and so does the phone
    again = await server.client()
    ended = await again.call("auth", token=laptop.token)
    assert (ended["code"], ended["cause"]) == ("unauthenticated", "logged_out"), ended
    assert [x["device"] for x in (await alice.request("my_logins"))["logins"]] == ["Redmi Note 12 · Android", ""]
    assert (await alice.call("logout", login_id=laptop_id))["code"] == "not_found"  # ended already
    rows = server.db_rows("SELECT detail FROM netlog WHERE user_id = ? AND kind = 'logout'", alice.user_id)
    assert len(rows) == 1 and laptop_id in str(rows[0][0])

    own = [x["login_id"] for x in (await phone.request("my_logins"))["logins"] if x["current"]]
    assert (await phone.call("logout", login_id=own[0]))["ok"]  # its own: as a plain logout
    assert (await phone.call("me"))["code"] == "unauthenticated"
    assert (await alice.request("me"))["user_id"] == alice.user_id


async def test_bad_device_names_and_login_ids_are_refused_with_their_field(server: ServerProcess) -> None:
    alice = await server.user()
    c = await server.client()
    for device in ("x" * 65, "phone\u202e", "\u200b\u200b"):
        refused = await c.call("login", username=alice.username, password="password123", device=device)
        assert (refused["code"], refused["field"]) == ("bad_request", "device"), device
    for wanted in ("", "ABCDEF0123456789", "0123", "g" * 16):
        refused = await alice.call("logout", login_id=wanted)
        assert (refused["code"], refused["field"]) == ("bad_request", "login_id"), wanted
    own = (await alice.request("my_logins"))["logins"][0]["login_id"]
    both = await alice.call("logout", login_id=own, everywhere=True)
    assert (both["code"], both["field"]) == ("bad_request", "login_id")
    assert (await alice.request("me"))["user_id"] == alice.user_id  # nothing ended


async def test_auth_says_why_a_login_ended_until_the_token_would_have_expired(server: ServerProcess) -> None:
    """A token ended before its expiry answers ``unauthenticated`` with the ``cause`` (the account
    cancelled, or pushed out by the 100 newer logins an account keeps); an unknown token, and one
    whose expiry has passed (the cause is purged with it), answer as before, with no cause."""
    alice, bob = await server.user(), await server.user()
    c = await server.client()
    unknown = await c.call("auth", token="not-a-token-anyone-had")
    assert unknown["code"] == "unauthenticated" and "cause" not in unknown
    first = alice.token
    for _ in range(100):  # (the 100 newest stay: the first goes)
        await (await _login(server, alice.username)).close()
    # (a new connection: 100 logins, an argon2 check each, can outlast the auth timeout of one that has
    # sent nothing meanwhile on a loaded machine; CI met it once)
    await c.close()
    c = await server.client()
    ended = await c.call("auth", token=first)
    assert (ended["code"], ended["cause"]) == ("unauthenticated", "too_many_logins"), ended
    # What is kept of why logins ended is capped per account (the newest 100): one that logs in again
    # and again does not grow it.
    soon = int(time.time() * 1000) + 60_000
    for i in range(150):
        server.db_rows("INSERT INTO ended_logins (token_hash, user_id, cause, expires_at) VALUES (?, ?, ?, ?)",
                       bytes([i]) * 32, alice.user_id, "too_many_logins", soon + i)
    await (await _login(server, alice.username)).close()
    assert server.db_rows("SELECT COUNT(*) FROM ended_logins WHERE user_id = ?", alice.user_id) == [(100,)]
    # (a new connection: the 150 writes above, one database connection each, can outlast the auth
    # timeout of one that has sent nothing meanwhile on a loaded machine)
    await c.close()
    c = await server.client()
    assert (await c.call("auth", token=first))["cause"] == "too_many_logins"  # (among the newest: kept)
    assert (await bob.request("delete_account", password="password123")) is not None
    cancelled = await c.call("auth", token=bob.token)
    assert (cancelled["code"], cancelled["cause"]) == ("unauthenticated", "account_deleted"), cancelled
    # Past the token's own expiry the cause goes, with the purge or without it.
    server.db_rows("UPDATE ended_logins SET expires_at = 1 WHERE user_id = ?", bob.user_id)
    assert "cause" not in await c.call("auth", token=bob.token)
    rc, out, err = await server.admin("purge")
    assert rc == 0, err
    assert "ended_logins: 1" in out.splitlines(), out
    assert server.db_rows("SELECT COUNT(*) FROM ended_logins WHERE user_id = ?", bob.user_id) == [(0,)]


async def test_a_login_hashes_a_password_again_under_new_argon2_settings(
        tmp_path, started, backend, monkeypatch) -> None:
    """A hash kept under the settings it was made with made that account's wrong passwords answer in
    another time than an unknown name's (a privacy review): a right login stores it again under
    today's settings, and the password still opens the account."""
    from tests.e2e.harness import restart

    srv = started(ServerProcess(tmp_path, backend=backend))  # (argon2 t=1, 1 MiB in the tests' config)
    alice = await srv.user("rehashed")
    [(before,)] = srv.db_rows("SELECT password_hash FROM users WHERE username = 'rehashed'")
    assert ",t=1," in before, before
    monkeypatch.setenv("QUNGUAN_IDENTITY_ARGON2_TIME_COST", "2")
    [alice] = await restart(srv, alice)  # (its login again: under t=2 now)
    [(after,)] = srv.db_rows("SELECT password_hash FROM users WHERE username = 'rehashed'")
    assert ",t=2," in after and after != before, after
    await alice.close()
    again = await srv.client()
    assert (await again.call("login", username="rehashed", password="password123"))["ok"]
    assert (await again.call("login", username="rehashed", password="wrong-one"))["code"] == "unauthenticated"
    await again.close()
