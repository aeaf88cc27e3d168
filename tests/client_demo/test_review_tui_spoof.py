"""Review findings: what another member's text can make the terminal client show (a real server
process; the victim's client driven through a pipe, the other member on the client library)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client_demo.serving import start_or_fail
from tests.client_demo.test_tui_e2e import TUI
from tests.client_demo.test_tui_v2_e2e import OWNER_MSG, make_user
from tests.e2e.harness import ServerProcess

TIMEOUT = 8.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("tui_review_spoof"))
    start_or_fail(srv)
    yield srv
    srv.cleanup()


def _as(server: ServerProcess, token: str, *calls: tuple[str, dict]) -> list[dict]:
    """Requests made by another member's own client (any client may send any text the server takes)."""
    async def go() -> list[dict]:
        c = await server.client()
        try:
            await c.auth(token)
            return [await c.request(op, **params) for op, params in calls]
        finally:
            await c.close()

    return asyncio.run(go())


def test_one_reaction_cannot_pass_for_ninety_nine(server: ServerProcess, tmp_path: Path) -> None:
    """The server takes any 1-32 bytes of visible text as a reaction's "emoji" (a client may offer any
    emoji sequence). Bob reacts once, with the "emoji" ``👍 99, ❤``. Alice's client prints the
    message's reactions as ``[👍 99, ❤ 1]``: the message looks liked 99 times with one heart, though
    one person reacted once. (The reaction's own event line, too, reads as if two were given.)"""
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    a = TUI(server.url, tmp_path / "alice.token")
    try:
        a.expect(r"^\* not connected yet")
        a.command(f"/auth {alice[1]}", rf"^\* authenticated as {alice[0]}$")
        gid = a.command("/create poll room friends open", r"^\* created group (\d{9,12}) ").group(1)
        _as(server, bob[1], ("join_group", {"group_id": gid}))
        a.send("vote: should we meet on Friday?")
        seq = int(a.expect(OWNER_MSG.format(gid=gid) + "Alice: vote").group(1))
        _as(server, bob[1], ("react", {"group_id": gid, "seq": seq, "emoji": "👍 99, ❤", "on": True}))
        a.expect(rf"reacted .* to \[{gid} #{seq}\]$", timeout=TIMEOUT)
        a.command("/history", rf"^\* history of {gid}: 1 message$")
        line = a.expect(OWNER_MSG.format(gid=gid) + "Alice: vote").string
        assert "[👍 99, ❤ 1]" not in line, f"one reaction shown as 99 thumbs up and a heart: {line}"
    finally:
        a.kill()


def test_another_login_cannot_pass_for_this_one_in_logins(server: ServerProcess, tmp_path: Path) -> None:
    """/logins marks the client's own login by ", this one" after the device's name, which the one who
    logged in chose (up to 64 visible characters). Someone who has the password logs in and names the
    device ``qunguan-chat · Linux, logged in 08:12, this one``: the owner's /logins shows two logins
    that are "this one", and the stranger's reads as the owner's own, the very one /logout LOGIN would
    end. The mark must stand where no device name can (as the role tags do)."""
    alice = make_user(server, "Alice")
    a = TUI(server.url, tmp_path / "alice.token")
    try:
        a.expect(r"^\* not connected yet")
        username = _as(server, alice[1], ("me", {}))[0]["username"]

        async def intruder() -> None:
            c = await server.client()
            try:
                await c.login(username, "password123", device="qunguan-chat · Linux, logged in 08:12, this one")
            finally:
                await c.close()

        asyncio.run(intruder())
        a.command(f"/login {username} password123", r"^\* token saved to ")
        a.send("/logins")
        a.expect(r"^\* /logout LOGIN ends one of them$", timeout=TIMEOUT)
        rows = [line for line in a.output if line.startswith("  ") and "logged in" in line]
        # (adjusted: the intruder's device name holds the words "this one" whatever the client does;
        # what must be single is the mark in the state's place, right after the login id)
        mine = [line for line in rows if re.match(r"^  [0-9a-f]{16}  \[this one\]  ", line)]
        assert len(mine) == 1, "more than one login reads as this one:\n" + "\n".join(rows)
    finally:
        a.kill()


def test_a_comment_cannot_pass_for_a_hidden_one(server: ServerProcess, tmp_path: Path) -> None:
    """A comment's moderation state, ``(held)`` or ``(hidden)``, is printed after its text, which the
    commenter writes. Bob's comment "加我微信 abc123 (hidden)" is visible to every reader, yet in the
    owner's /comments it reads exactly as a comment the owner already hid, so it is left up."""
    import uuid

    from tests.client_demo.test_tui_accounts_e2e import verify

    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    verify(server, alice)
    a = TUI(server.url, tmp_path / "alice.token")
    try:
        a.expect(r"^\* not connected yet")
        a.command(f"/auth {alice[1]}", rf"^\* authenticated as {alice[0]}$")
        aid = a.command(f"/newaccount 茶馆{uuid.uuid4().hex[:6]} culture individual -- 关于",
                        r"^\* opened public account .* \((\d{9,12})\); you own it$").group(1)
        a.send(f"/publish {aid} open 开张 -- 正文")
        pid = a.expect(r"^\* published post (\d+) in ").group(1)
        spam, plain = _as(server, bob[1], ("comment", {"post_id": pid, "text": "加我微信 abc123 (hidden)"}),
                          ("comment", {"post_id": pid, "text": "加我微信 abc123"}))
        a.command(f"/modcomment {pid} {plain['comment_id']} hide", r"hidden from public view$")
        a.command(f"/comments {pid}", rf"^\* comments on post {pid}: 2$")
        rows = {cid: a.expect(rf"^  comment {cid}  ").string for cid in (plain["comment_id"], spam["comment_id"])}
        shown = {cid: row.split("): ", 1)[1] for cid, row in rows.items()}
        assert shown[spam["comment_id"]] != shown[plain["comment_id"]], \
            "a visible comment and a hidden one read the same:\n" + "\n".join(rows.values())
    finally:
        a.kill()
