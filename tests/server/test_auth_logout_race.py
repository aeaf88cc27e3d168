"""``auth`` against a ``logout`` of the same token that commits while auth's lookup is out."""

from __future__ import annotations

import asyncio

from client_demo.client import Client
from server.app import App
from server.security import token_hash
from server.state import Revocations
from tests.server.lookups import hold_answers, hold_token_lookups
from tests.server.test_group_ids import registered


async def test_a_lookup_answered_before_a_logout_does_not_bind_the_revoked_token(app: App, tmp_path,
                                                                               monkeypatch) -> None:
    owner = await registered(app, tmp_path)
    assert owner.token is not None
    real = app.store.token_owner
    answered, gate = hold_token_lookups(app, monkeypatch)
    late = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    pending = asyncio.create_task(late.call("auth", token=owner.token))
    await asyncio.wait_for(answered.wait(), 5)
    assert (await owner.call("logout"))["ok"]
    gate.set()
    reply = await asyncio.wait_for(pending, 5)
    assert reply["ok"] is False and reply["code"] == "unauthenticated"
    assert (await late.call("my_groups"))["code"] == "unauthenticated"
    # A lookup that no logout overtook binds as before.
    monkeypatch.setattr(app.store, "token_owner", real)
    again = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    fresh = await again.login("owner1", "password123")
    other = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    assert (await other.call("auth", token=fresh["token"]))["ok"]
    for c in (owner, late, again, other):
        await c.close()


def test_revocations_say_what_they_know_and_when_they_cannot_tell() -> None:
    r = Revocations()
    seen = r.count
    assert r.since(seen, b"a") is False
    r.add(b"a")
    assert r.since(seen, b"a") is True and r.since(seen, b"b") is False and r.since(r.count, b"a") is False
    r.add(b"a")  # revoked again (a retried logout): known by its newer number
    assert r.since(1, b"a") is True and r.since(2, b"a") is False
    for i in range(Revocations.KEEP):
        r.add(i.to_bytes(4, "big"))
    assert r.since(seen, b"zz") is None  # "a" (number 2) is no longer kept: cannot tell
    assert r.since(2, b"zz") is False and r.since(2, b"a") is False
    assert r.since(r.count - 1, (Revocations.KEEP - 1).to_bytes(4, "big")) is True


def test_a_users_revocation_covers_every_token_of_that_user_and_no_other() -> None:
    """A blacklisting's lift revokes every token of the account at once (``add_user``): a lookup
    made before it is told so for any token of that user, not for another user's."""
    r = Revocations()
    seen = r.count
    r.add_user("u1")
    assert r.since(seen, b"any-token", "u1") is True
    assert r.since(seen, b"any-token", "u2") is False
    assert r.since(seen, b"any-token") is False  # (no user given: the token alone)
    assert r.since(r.count, b"any-token", "u1") is False  # a lookup made after it: the database knows


async def test_a_login_checked_while_the_password_changes_is_refused_and_its_token_revoked(
        app: App, tmp_path, monkeypatch) -> None:
    """Its check read the old hash before the change and its token was stored after: the thief who
    knew the old password had a 30-day login the change was meant to end."""
    owner = await registered(app, tmp_path)
    answered, gate = hold_answers(app, monkeypatch, "password_hash", once=True)  # (the thief's check)
    thief = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    pending = asyncio.create_task(thief.call("login", username="owner1", password="password123"))
    await asyncio.wait_for(answered.wait(), 5)
    assert (await owner.call("change_password", password="password123", new_password="brand-new-pw"))["ok"]
    gate.set()
    reply = await asyncio.wait_for(pending, 5)
    assert reply["ok"] is False and reply["code"] == "unauthenticated", reply
    assert (await thief.call("my_groups"))["code"] == "unauthenticated"
    assert await app.store.token_owner(token_hash(owner.token or ""), app.now_ms()) is not None  # kept
    for c in (owner, thief):
        await c.close()


async def test_a_login_checked_while_the_account_logs_out_everywhere_is_refused(
        app: App, tmp_path, monkeypatch) -> None:
    """The other half of login's re-check (docs/protocol.md, ``login``: refused when "logged out while
    its check ran (another device's logout everywhere)"): the password stays the same, yet a login
    whose check started before a ``logout`` with ``everywhere`` and whose token was stored after it
    must not survive it. A logout everywhere is what a user does on losing a phone; a login racing it
    would otherwise keep the 30-day session it was meant to end, with no revocation left to catch it
    (the store's revoke-all ran before that token existed)."""
    owner = await registered(app, tmp_path)
    answered, gate = hold_answers(app, monkeypatch, "password_hash", once=True)  # (the other device's check)
    other = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    pending = asyncio.create_task(other.call("login", username="owner1", password="password123"))
    await asyncio.wait_for(answered.wait(), 5)
    assert (await owner.call("logout", everywhere=True))["ok"]
    gate.set()
    reply = await asyncio.wait_for(pending, 5)
    assert reply["ok"] is False and reply["code"] == "unauthenticated", reply
    assert (await other.call("my_groups"))["code"] == "unauthenticated"
    assert await app.store.token_owner(token_hash(owner.token or ""), app.now_ms()) is None  # (all of them went)
    # a login after it, with the same password, works as before
    again = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    assert (await again.call("login", username="owner1", password="password123"))["ok"]
    for c in (owner, other, again):
        await c.close()


async def test_an_auth_with_the_kept_token_in_flight_binds_after_a_password_change(
        app: App, tmp_path, monkeypatch) -> None:
    """The change revokes every token but the connection's own: a tab of that browser whose auth
    was being looked up meanwhile was refused, and logged out, as if its token had gone too."""
    owner = await registered(app, tmp_path)
    answered, gate = hold_token_lookups(app, monkeypatch)
    tab = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    pending = asyncio.create_task(tab.call("auth", token=owner.token))
    await asyncio.wait_for(answered.wait(), 5)
    assert (await owner.call("change_password", password="password123", new_password="brand-new-pw"))["ok"]
    gate.set()
    assert (await asyncio.wait_for(pending, 5))["ok"]
    me = await tab.call("me")  # the tab is bound to the account, not closed or left anonymous
    assert me["ok"] and me["username"] == (await owner.request("me"))["username"], me
    for c in (owner, tab):
        await c.close()


def test_a_users_revocation_may_spare_one_token() -> None:
    r = Revocations()
    seen = r.count
    r.add_user("u1", b"kept")
    assert r.since(seen, b"kept", "u1") is False and r.since(seen, b"other", "u1") is True
    r.add_user("u1")  # (everything, later: a logout everywhere)
    assert r.since(seen, b"kept", "u1") is True
