"""The platform's measures as the terminal client shows them: a refusal that lasts says until when
(a suspended group's owner may not dissolve it or open another), and a person's blacklisting ends
every login of theirs without the client trying to reconnect with a revoked token."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.client_demo.test_tui_e2e import TUI
from tests.client_demo.test_tui_v2_e2e import group_with, make_user
from tests.e2e.harness import ServerProcess, new_id_number

T = r"(?:\d{4}-\d\d-\d\d )?\d\d:\d\d"  # a date when the end is not today (near midnight)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    monkeypatch.setenv("QUNGUAN_IDENTITY_MAX_ACCOUNTS_PER_ID", "2")  # two logins of one person
    srv = ServerProcess(tmp_path).start()
    yield srv
    srv.stop()


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


def verify(server: ServerProcess, token: str, number: str) -> None:
    async def go() -> None:
        c = await server.client()
        try:
            await c.auth(token)
            await c.request("verify_identity", legal_name="张三", id_number=number)
        finally:
            await c.close()

    asyncio.run(go())


def test_a_suspended_groups_owner_is_told_until_when(server: ServerProcess, tui: Callable[..., TUI]) -> None:
    alice, bob = make_user(server, "Alice"), make_user(server, "Bob")
    gid, a, _ = group_with(server, tui, alice, bob)
    admin(server, "suspend-group", gid, "--seconds", "7200", "--reason", "整顿")
    until = a.expect(rf"^\* group {gid} is suspended until ({T}) \(it cannot be renamed, dissolved or handed "
                     r"on meanwhile\): 整顿 \(sanction \d+; the group's owner may contest it with /appeal \d+ "
                     r"REASON\)$").group(1)
    a.command(f"/dissolve {gid}", r"^! group_suspended: the platform has suspended this group; it cannot be "
              rf"dissolved until the suspension ends \(until {until}\)$")
    a.command(f"/transfer {bob[0]}", rf"^! group_suspended: .*cannot be handed on.* \(until {until}\)$")
    a.command("/rename new name", rf"^! group_suspended: .*cannot be renamed.* \(until {until}\)$")
    a.command("/create another friends", r"^! forbidden: the platform has suspended a group you own; "
              rf"you cannot create another until that suspension ends \(until {until}\)$")


def test_a_blacklisting_logs_out_every_login_of_the_person(server: ServerProcess, tui: Callable[..., TUI]) -> None:
    bad, twin = make_user(server, "Bad"), make_user(server, "Twin")
    number = new_id_number()
    verify(server, bad[1], number)
    verify(server, twin[1], number)
    b, t = tui(bad), tui(twin)
    name = b.command("/me", r"^\* user_id=\S+, username=([^,]+),").group(1)
    admin(server, "blacklist", name, "--reason", "诈骗")
    b.expect(r"^\* notice \[blacklisted\]: 诈骗$")
    t.expect(rf"^\* notice \[blacklisted\]: 诈骗 \(the same verified identity as {name}\)$")
    for c in (b, t):
        c.expect(r"^\* disconnected: the platform closed your account \(see the notice above\); logged out")
    # no reconnecting with the revoked token: the next command connects afresh, logged out
    t.command("/groups", r"^! unauthenticated: ")
    tried = [x for x in b.output + t.output if "reconnecting" in x or "authenticated again" in x]
    assert tried == []
