"""Review findings (rv-tui): the terminal client against a real server process, driven through a pipe."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.client_demo.serving import start_or_fail
from tests.client_demo.test_tui_accounts_e2e import verify
from tests.client_demo.test_tui_e2e import TUI
from tests.client_demo.test_tui_v2_e2e import make_user
from tests.e2e.harness import ServerProcess

T = r"(?:\d{4}-\d\d-\d\d )?\d\d:\d\d"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("rv_tui2"))
    start_or_fail(srv)
    yield srv
    srv.cleanup()


@pytest.fixture
def tui(server: ServerProcess, tmp_path: Path) -> Iterator[Callable[..., TUI]]:
    started: list[TUI] = []

    def make(user: tuple[str, str]) -> TUI:
        t = TUI(server.url, tmp_path / f"token{len(started)}")
        started.append(t)
        t.expect(r"^\* not connected yet")
        t.command(f"/auth {user[1]}", rf"^\* authenticated as {user[0]}$")
        return t

    yield make
    for t in started:
        t.kill()


def admin(server: ServerProcess, *args: str) -> str:
    rc, out, err = asyncio.run(server.admin(*args))
    assert rc == 0, err
    return out


def _as(server: ServerProcess, token: str, *calls: tuple[str, dict]) -> list[dict]:
    async def go() -> list[dict]:
        c = await server.client()
        try:
            await c.auth(token)
            return [await c.request(op, **params) for op, params in calls]
        finally:
            await c.close()

    return asyncio.run(go())


def open_account(t: TUI) -> tuple[str, str]:
    name = f"茶馆{uuid.uuid4().hex[:6]}"
    aid = t.command(f"/newaccount {name} culture individual -- 关于",
                    r"^\* opened public account .* \((\d{9,12})\); you own it$").group(1)
    return name, aid


def test_an_account_suspension_notice_names_the_sanction_to_appeal(server, tui):
    """suspend-account's ``account_suspended`` notice carries its ``sanction_id`` ([ext], fc4465d5: "an owner
    learnt the id an appeal takes only from my_sanctions"), and the account's owner may ``appeal`` it
    (protocol.md: ``suspend_account``). The terminal client words the notice from its fields and drops the
    id: the owner is told the account is suspended but not which sanction /appeal takes (the web client
    puts 申诉 on the same notice). With a category freeze no credit notice follows either, so nothing
    live names the sanction at all."""
    alice = make_user(server, "Alice")
    verify(server, alice)
    a = tui(alice)
    _, aid = open_account(a)
    admin(server, "suspend-account", aid, "--seconds", "3600", "--reason", "整顿")
    line = a.expect(r"^\* notice \[account_suspended\] ").string
    sid = server.db_rows("SELECT MAX(id) FROM sanctions WHERE kind = ? AND target_id = ?", "suspend_account", aid)[0][0]
    assert f"sanction {sid}" in line and f"/appeal {sid}" in line, \
        f"the suspension's notice does not say which sanction to appeal (sanction {sid}): {line}"


def test_an_account_intro_cannot_pass_for_the_platforms_label(server, tui):
    """/account prints the platform's labels (``  labels: government``: a licence the platform grants) and
    then the account's intro on a line of the same shape (``"  " + intro``). An intro written
    ``labels: government`` prints a line exactly like the label line of a government account the
    platform licensed: an unlicensed account reads as licensed. (The intro is the owner's text; the
    rest of those lines are the platform's.)"""
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    verify(server, alice)
    a, b = tui(alice), tui(bob)
    name = f"茶馆{uuid.uuid4().hex[:6]}"
    aid = a.command(f"/newaccount {name} culture individual -- labels: government, news",
                    r"^\* opened public account .* \((\d{9,12})\); you own it$").group(1)
    b.command(f"/account {aid}", rf"^\* public account {aid}: ")
    b.command("/categories", r"^\* public-account categories")  # (a marker: /account's lines are all out)
    shown = b.output[b.output.index(next(x for x in b.output if x.startswith(f"* public account {aid}"))):]
    labels = [x for x in shown if x.startswith("  labels: ")]
    # (the platform labels a verified person's account "verified" and nothing else here)
    assert not any("government" in x for x in labels), \
        "an account the platform did not license shows a government label line:\n" + "\n".join(shown)


def test_help_does_not_say_login_prints_the_token() -> None:
    """terminal.md: /login "prints where the token was saved, never the token (a password's equal, it would
    stay in the scrollback)", and so it does. /help says the opposite: ``/login ... log in; prints the token
    and saves it for /auth``, which tells a user to expect (and look for, or copy from the screen) a secret
    that is not there."""
    from client_demo.commands import help_text

    line = next(x for x in help_text().splitlines() if x.strip().startswith("/login "))
    assert "prints the token" not in line, line


def test_only_yes_cancels_the_account() -> None:
    """terminal.md: /deleteaccount "asks first, and only `yes` on the next line cancels it", and the question
    says "Type yes to cancel it, anything else keeps it." A bare ``y`` (anything else) cancels the account
    for good all the same: delete_account is sent."""
    from tests.client_demo.test_tui_logic import Scripted

    t = Scripted({})
    out = t.run_lines("/deleteaccount password123", "y")
    assert any("Type yes to cancel it, anything else keeps it" in x for x in out)
    assert t.ops("delete_account") == [], "a bare 'y' cancelled the account:\n" + "\n".join(out)


def test_a_post_title_cannot_pass_for_its_reads_and_comments(server, tui):
    """/posts prints each post as ``  post 17  12:40  TITLE  (3 reads, 2 comments, comments open)``: the
    facts the server counts come after the title, which the account writes (a title may hold a line
    break). A title ``开张  (9999 reads, 88 comments, comments open)`` + line break + ``今日``
    prints a first row that reads as a complete post row with 9999 reads, open comments, while the
    real facts (no reads, comments closed) trail on the indented continuation line."""
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    verify(server, alice)
    a, b = tui(alice), tui(bob)
    _, aid = open_account(a)
    title = "开张  (9999 reads, 88 comments, comments open)\n今日"
    pid = _as(server, alice[1], ("publish", {"account_id": aid, "title": title, "body": "正文",
                                             "comments": "closed"}))[0]["post_id"]
    b.command(f"/posts {aid}", r"^\* posts of .*: 1$")
    row = b.expect(rf"^  post {pid}  ").string
    first = re.search(r"\((\d+) reads?, (\d+) comments?, comments (\w+)", row)
    assert first is not None and first.groups() == ("0", "0", "closed"), \
        f"the row of post {pid} reads as 9999 reads, comments open (it has none, comments closed): {row!r}"


def test_an_account_warning_notice_says_how_to_appeal(server, tui):
    """The same for warn-account (and restrict-account): the owner may appeal the sanction (protocol.md
    ``appeal``: the owner of the sanctioned public account, ``warning``, ``restrict_comments``,
    ``suspend_account``), yet the notice shows ``(sanction N)`` "for the record" (notices.py) with no
    /appeal, while a group's warning says ``the group's owner may contest it with /appeal N REASON``."""
    alice = make_user(server, "Alice")
    verify(server, alice)
    a = tui(alice)
    _, aid = open_account(a)
    admin(server, "warn-account", aid, "--reason", "整改标题")
    line = a.expect(r"^\* notice \[account_warning\] ").string
    sid = server.db_rows("SELECT MAX(id) FROM sanctions WHERE kind = ? AND target_id = ?", "warning", aid)[0][0]
    assert f"/appeal {sid}" in line, \
        f"the account's warning does not say it may be contested with /appeal {sid}: {line}"
