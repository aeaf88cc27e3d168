"""The end of a login in the terminal client, against a real server (a reviewer's cases): there was
no /logout nor /deleteaccount, a token revoked elsewhere stayed saved (the next /auth failed with a
confusing reason), and logging in as another account kept the one before's current group."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client_demo.serving import start_or_fail
from tests.client_demo.test_tui_e2e import TUI
from tests.e2e.harness import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path)
    start_or_fail(srv)
    yield srv
    srv.stop()


def _account(server: ServerProcess) -> tuple[str, str]:
    """(username, user_id) of a new account whose password is password123."""
    async def go() -> tuple[str, str]:
        c = await server.user()
        try:
            return c.username, c.user_id  # type: ignore[attr-defined]
        finally:
            await c.close()

    return asyncio.run(go())


def test_logout_deleteaccount_and_a_token_revoked_elsewhere(server: ServerProcess, tmp_path: Path) -> None:
    (alice, alice_id), (bob, _) = _account(server), _account(server)
    token_file = tmp_path / "token"
    a, other = TUI(server.url, token_file), TUI(server.url, tmp_path / "other.token")
    try:
        for t in (a, other):
            t.expect(r"^\* not connected yet")
        a.command(f"/login {alice} password123", rf"^\* logged in as {alice} ")
        token = token_file.read_text(encoding="utf-8").strip()
        a.command("/create tea room friends open", r"^\* created group (\d{9,12}) ")
        other.command(f"/auth {token}", rf"^\* authenticated as {alice_id}$")

        a.command("/logout", rf"^\* logged out: the token is revoked \(the saved token in {token_file} removed\)$")
        assert not token_file.exists()
        # the other connection that used the token is closed: said, and no reconnecting with it
        other.expect(r"^\* disconnected: you logged out with this token elsewhere; logged out - /login or /auth")
        other.command("/groups", r"^! unauthenticated: ")
        assert not [x for x in other.output if "reconnecting" in x]
        a.command(f"/auth {token}", r"^! unauthenticated: .* - this login was logged out \(on another device")

        # another account: nothing of alice's session carries over (her current group included)
        a.command(f"/login {bob} password123", rf"^\* logged in as {bob} ")
        a.command("hello", r"^! no_group: ")
        # a new password ends bob's other login, and so does a logout on every device
        other.command(f"/login {bob} password123", rf"^\* logged in as {bob} ")
        a.command("/password password123 new-password-1", r"^\* password changed: every other login")
        other.expect(r"^\* disconnected: the password was changed on another device: /login again with the new one")
        other.command(f"/login {bob} new-password-1", rf"^\* logged in as {bob} ")
        # one login ended from another's list (/logins names each by its device)
        a.send("/logins")
        theirs = a.expect(r"^ *([0-9a-f]{16})  \[online \(1\)\]  qunguan-chat · \w+, logged in [^,]+$").group(1)
        a.expect(r"^ *[0-9a-f]{16}  \[this one\]  qunguan-chat · \w+, logged in [^,]+$")
        a.command(f"/logout {theirs}", rf"^\* login {theirs} logged out: that device must log in again$")
        other.expect(r"^\* disconnected: you logged this device out from another one \(its /logins\)")
        a.command("/logins", r"  \[this one\]  ")
        other.command(f"/login {bob} new-password-1", rf"^\* logged in as {bob} ")
        a.command("/logout all", r"^\* logged out on every device: every token of this account is revoked")
        other.expect(r"^\* disconnected: this account was logged out on every device")
        a.command(f"/login {bob} new-password-1", rf"^\* logged in as {bob} ")
        a.command("/deleteaccount new-password-1", r"^\* cancel your account for good\?")
        a.command("no", r"^\* /deleteaccount not done$")  # (the password is not printed back)
        a.command("/deleteaccount new-password-1", r"^\* cancel your account for good\?")
        a.command("yes", rf"^\* your account is cancelled; logged out \(the saved token in {token_file} removed\)$")
        assert not token_file.exists()
        a.command(f"/login {bob} new-password-1", r"^! unauthenticated: ")
        assert not [x for x in a.output if "password123" in x and not x.startswith(">")]
        assert not [x for x in a.output if "new-password-1" in x and not x.startswith(">")]
    finally:
        for t in (a, other):
            t.kill()
