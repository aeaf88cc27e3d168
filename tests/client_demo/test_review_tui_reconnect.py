"""Review findings: what the terminal client shows after it logs in again by itself (a relay between
the client and a real server goes down and comes back, as a lost mobile connection would)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client_demo.serving import start_or_fail
from tests.client_demo.test_tui_e2e import TUI
from tests.client_demo.test_tui_retry import CuttingRelay, _in_a_group
from tests.client_demo.test_tui_v2_e2e import make_user
from tests.e2e.harness import ServerProcess

TIMEOUT = 8.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("tui_review"))
    start_or_fail(srv)
    yield srv
    srv.cleanup()


@pytest.fixture
def relay(server: ServerProcess) -> Iterator[CuttingRelay]:
    r = CuttingRelay(server.port)
    yield r
    r.stop()


def test_a_message_sent_while_away_in_the_current_group_is_shown_after_the_return(
        server: ServerProcess, relay: CuttingRelay, tmp_path: Path) -> None:
    """Alice joined Bob's group (her current group) and no message was shown yet. Her connection
    drops; Bob writes while she is away; she is logged in again by herself. Her client reads only the
    groups whose messages it had shown, so Bob's message is never printed: the user sees
    "reading what you missed" and nothing, and her next message answers one she never saw."""
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    a = TUI(relay.url, tmp_path / "alice.token")
    b = TUI(server.url, tmp_path / "bob.token")
    try:
        gid = _in_a_group(b, a, bob, alice)  # bob owns it, alice joined: her current group
        relay.go_down()
        a.expect(r"^\* disconnected: the connection closed.*; reconnecting$", timeout=TIMEOUT)
        b.command(f"/use {gid}", rf"^\* current group: {gid}")
        b.command("are you there? answer yes or no", r"owner\] Bob: are you there\? answer yes or no$")
        relay.come_back()
        a.expect(rf"^\* authenticated again as {alice[0]}; reading what you missed$", timeout=TIMEOUT)
        a.command("/me", r"^\* user_id=")  # (a round trip: the catch-up, if any, has printed by now)
        a.send("/me")
        a.expect(r"^\* user_id=")
        assert any("Bob: are you there? answer yes or no" in line for line in a.output), \
            "the message sent while away in the current group was never shown:\n" + "\n".join(a.output)
    finally:
        for t in (a, b):
            t.kill()


def test_being_removed_while_away_is_said_after_the_return(
        server: ServerProcess, relay: CuttingRelay, tmp_path: Path) -> None:
    """Alice had read Bob's group, her current one. While her connection is down, Bob removes her.
    After the return the catch-up gets not_member and forgets the group without a word: her current
    group is gone, and the next line she types is refused with "no current group" and no reason."""
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    a = TUI(relay.url, tmp_path / "alice.token")
    b = TUI(server.url, tmp_path / "bob.token")
    try:
        gid = _in_a_group(b, a, bob, alice)
        b.command(f"/use {gid}", rf"^\* current group: {gid}")
        b.send("welcome")
        a.expect(r"owner\] Bob: welcome$", timeout=TIMEOUT)
        relay.go_down()
        a.expect(r"^\* disconnected: the connection closed.*; reconnecting$", timeout=TIMEOUT)
        b.command(f"/kick {alice[0]}", r"^\* kicked")
        relay.come_back()
        a.expect(rf"^\* authenticated again as {alice[0]}; reading what you missed$", timeout=TIMEOUT)
        a.command("/me", r"^\* user_id=")  # (a round trip: the catch-up has run by now)
        a.send("still here?")
        a.expect(r"^! ", timeout=TIMEOUT)
        said = [line for line in a.output if gid in line and re.search(r"removed|no longer|not a member", line)]
        assert said, "removed while away, and never told so:\n" + "\n".join(a.output)
    finally:
        for t in (a, b):
            t.kill()


def test_a_followed_account_renamed_is_not_shown_under_its_old_name(server: ServerProcess, tmp_path: Path) -> None:
    """Bob follows Alice's public account, so his client learns its name. Alice renames it; her next
    post reaches Bob's client, which names the account by the name it had, not the one it has: the
    line says the post is "in" an account name the server no longer gives it (the platform may also
    have taken that name down). Her own second device, told by ``self_changed`` (what=accounts) that
    the account changed, keeps the old name too."""
    import uuid

    from tests.client_demo.test_tui_accounts_e2e import verify

    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    verify(server, alice)
    a = TUI(server.url, tmp_path / "alice.token")
    a2 = TUI(server.url, tmp_path / "alice2.token")
    b = TUI(server.url, tmp_path / "bob.token")
    try:
        for t, (uid, token) in ((a, alice), (a2, alice), (b, bob)):
            t.expect(r"^\* not connected yet")
            t.command(f"/auth {token}", rf"^\* authenticated as {uid}$")
        old, new = f"旧名{uuid.uuid4().hex[:6]}", f"新名{uuid.uuid4().hex[:6]}"
        aid = a.command(f"/newaccount {old} culture individual -- 关于",
                        r"^\* opened public account .* \((\d{9,12})\); you own it$").group(1)
        b.command(f"/follow {aid}", rf"^\* following {old} \({aid}\)")
        a2.command("/accounts", rf"^  {aid}  \[owner\]  {old}$")
        a.command(f"/editaccount {aid} name {new}", rf"^\* updated {new} \({aid}\)$")
        a2.expect(rf"^\* opened or changed public account {aid}", timeout=TIMEOUT)  # self_changed
        a.send(f"/publish {aid} open 开张 -- 正文")
        pid = a.expect(r"^\* published post (\d+) in ").group(1)
        line = b.expect(rf"\[{aid} post {pid}\] new post", timeout=TIMEOUT).string
        a2.send(f"/posts {aid}")
        line2 = a2.expect(r"^\* posts of ", timeout=TIMEOUT).string
        assert old not in line and old not in line2, \
            f"the renamed account is named by its old name:\n  bob: {line}\n  alice's other device: {line2}"
    finally:
        for t in (a, a2, b):
            t.kill()


def test_a_platform_notice_sent_while_away_is_shown_after_the_return(
        server: ServerProcess, relay: CuttingRelay, tmp_path: Path) -> None:
    """Events are not queued: a platform notice (``qunguan admin notice``: an emergency, a
    maintenance window) that went out while the connection was down is read with
    ``platform_notices`` (``after``: the newest shown). The client logs in again by itself and says
    it reads "what you missed", but never asks: the notice is not shown unless the user happens to
    type /notices."""
    import asyncio

    alice = make_user(server, "Alice")
    a = TUI(relay.url, tmp_path / "alice.token")
    try:
        a.expect(r"^\* not connected yet")
        a.command(f"/auth {alice[1]}", rf"^\* authenticated as {alice[0]}$")
        relay.go_down()
        a.expect(r"^\* disconnected: the connection closed.*; reconnecting$", timeout=TIMEOUT)
        rc, _, err = asyncio.run(server.admin("notice", "--text", "今晚22:00系统维护，请保存工作"))
        assert rc == 0, err
        relay.come_back()
        a.expect(rf"^\* authenticated again as {alice[0]}; reading what you missed$", timeout=TIMEOUT)
        a.command("/me", r"^\* user_id=")
        a.send("/me")
        a.expect(r"^\* user_id=")
        assert any("今晚22:00系统维护" in line for line in a.output), \
            "the platform's notice sent while away was never shown:\n" + "\n".join(a.output)
    finally:
        a.kill()
