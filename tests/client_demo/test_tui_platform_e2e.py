"""The platform's rules and agreement, messages held for review and the operator's notices, as the
terminal client shows them: a real server process on each storage backend (with word lists), the
operator's commands run as the operator runs them, the TUI driven through a pipe.

A terminal user must be able to read and accept a published agreement (without it every message is
refused), must learn that a message of theirs waits for review (no event says so), and must get from
a notice what it takes to act on it (the sanction id to appeal, until when)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import pgtools
from tests.client_demo.serving import start_or_fail
from tests.client_demo.test_tui_e2e import TUI
from tests.client_demo.test_tui_v2_e2e import MSG, group_with, make_user, say
from tests.e2e.harness import ServerProcess

T = r"(?:\d{4}-\d\d-\d\d )?\d\d:\d\d"  # a time as the client shows it (with the date when not today)

WORDS = """
[[content.lists]]
category = "rumour_fraud"
path = "fraud.txt"
action = "review"
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per backend for the module, with a `review` word list (every test makes its own
    users and groups; the agreement published by one test is accepted by the users of the others)."""
    if request.param == "postgresql":
        reason = pgtools.unavailable()
        if reason is not None:
            pytest.skip(reason)
    work = tmp_path_factory.mktemp(f"tui_platform_{request.param}")
    (work / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    srv = ServerProcess(work, extra_config=WORDS, backend=request.param)
    start_or_fail(srv)
    yield srv
    srv.cleanup()


@pytest.fixture
def tui(server: ServerProcess, tmp_path: Path) -> Iterator[Callable[..., TUI]]:
    started: list[TUI] = []

    def make(user: tuple[str, str] | None = None) -> TUI:
        t = TUI(server.url, tmp_path / f"token{len(started)}")
        started.append(t)
        t.expect(r"^\* not connected yet")
        if user is not None:
            t.command(f"/auth {user[1]}", rf"^\* authenticated as {user[0]}$")
        return t

    yield make
    for t in started:
        t.kill()


def admin(server: ServerProcess, *args: str) -> str:
    rc, out, err = asyncio.run(server.admin(*args))
    assert rc == 0, err
    return out


def user(server: ServerProcess, display: str) -> tuple[str, str]:
    """A new user who has accepted whatever agreement is in force (so the tests need no order)."""
    uid, token = make_user(server, display)

    async def accept() -> None:
        c = await server.client()
        try:
            await c.auth(token)
            a = await c.request("agreement")
            if a["version"] is not None:
                await c.request("accept_agreement", version=a["version"])
        finally:
            await c.close()

    asyncio.run(accept())
    return uid, token


def test_a_held_message_is_said_to_wait_and_shows_once_released(server: ServerProcess, tui: Callable[..., TUI]) -> None:
    alice, bob = user(server, "Alice"), user(server, "Bob")
    gid, a, [b] = group_with(server, tui, alice, bob)
    held = r"is held for the platform's review: nobody sees it \(you neither\) until an operator releases it"
    b.send("加我 刷单返利")
    seq = b.expect(rf"^\* your message #(\d+) to {gid} {held}: 加我 刷单返利$").group(1)
    first = say(b, gid, "hello", "Bob")
    b.send(f"/reply {first} 刷单返利 真的")
    b.expect(rf"^\* your message #\d+ to {gid} {held}: 刷单返利 真的$")
    say(a, gid, "after", "Alice", owner=True)  # alice's events are in order: nothing held came before this
    assert not any("刷单" in line for line in a.output)

    items = [json.loads(x) for x in admin(server, "review-queue", "--open").splitlines()]
    [item] = [i for i in items if i.get("group_id") == gid and str(i.get("seq")) == seq]
    admin(server, "decide", str(item["item_id"]), "--decision", "release", "--note", "ok")
    for t, who in ((a, "Bob"), (b, "Bob")):
        t.expect(MSG.format(gid=gid).replace(r"(\d+)", seq) + rf"{who}: 加我 刷单返利$")


def test_the_rules_and_agreement_can_be_read_and_accepted(server: ServerProcess, tui: Callable[..., TUI],
                                                          tmp_path: Path) -> None:
    alice, bob = user(server, "Alice"), user(server, "Bob")
    gid, a, _ = group_with(server, tui, alice)
    rules, agreement = tmp_path / "r.txt", tmp_path / "a.txt"
    rules.write_text("一、不得发布违法信息\r\n二、不得刷单\n", encoding="utf-8")
    agreement.write_text("服务协议正文\n", encoding="utf-8")
    version = f"v{gid[-4:]}"
    admin(server, "set-agreement", "--version", version, "--rules-file", str(rules),
          "--agreement-file", str(agreement))

    # told as it happens, and when refused: which command shows it and which accepts it
    a.expect(rf"^\* notice \[agreement\]: the platform published its rules and service agreement, version "
             rf"{version}: read them with /agreement, then /accept {version} ")
    a.command("hello", rf"^! forbidden: accept the platform rules and service agreement \(version {version}\) "
              rf"first - read them with /agreement, then accept them with /accept {version}$")
    a.command("/accept", r"^! usage: read the rules and agreement first: /agreement")
    # a login finds out at once (neither login nor me says so)
    b = tui()
    b.send(f"/auth {bob[1]}")
    b.expect(rf"^\* the platform's rules and service agreement \(version {version}\) wait for your acceptance: "
             rf"read them with /agreement, then /accept {version}; ")

    a.command("/agreement", rf"^\* the platform's rules and service agreement, version {version} \(not accepted yet\)$")
    shown = [a.expect(r".*").group(0) for _ in range(6)]
    assert shown == ["  -- rules --", "    一、不得发布违法信息", "    二、不得刷单",
                     "  -- service agreement --", "    服务协议正文", f"* /accept {version} accepts them"]
    a.command("/accept", rf"^\* you accepted the platform's rules and service agreement \(version {version}\); "
              "you may send again$")
    say(a, gid, "hello", "Alice", owner=True)
    a.command("/agreement", rf"^\* the platform's rules and service agreement, version {version} "
              r"\(you accepted it\)$")

    b.command("/accept v0", r"^! conflict: that is not the current version")
    b.command(f"/accept {version}", rf"^\* you accepted .*\(version {version}\)")
    b2 = tui(bob)  # accepted: nothing more to say at login
    b2.command("/me", r"^\* user_id=")
    assert not any("wait for your acceptance" in line for line in b2.output)


def test_operator_measures_say_what_to_appeal_and_until_when(server: ServerProcess, tui: Callable[..., TUI]) -> None:
    alice, bob = user(server, "Alice"), user(server, "Bob")
    gid, a, [b] = group_with(server, tui, alice, bob)
    deadline = (dt.datetime.now(dt.timezone(dt.timedelta(hours=8))) + dt.timedelta(days=2)).replace(microsecond=0)
    admin(server, "warn-group", gid, "--reason", "整改广告", "--deadline", deadline.isoformat())
    warned = (rf"^\* notice \[warning\] {gid}: 整改广告; rectify by {T} \(sanction (\d+); the group's owner may "
              r"contest it with /appeal (\d+) REASON\)$")
    for t in (a, b):
        m = t.expect(warned)
        assert m.group(1) == m.group(2)
    a.command(f"/appeal {m.group(1)} 已整改", r"^\* appeal filed \(id \d+\)")  # the id shown is the one to appeal

    # revoke-create: the sanction with its id, then the points it took: taken, not "given back"
    name = b.command("/me", r"^\* user_id=\S+, username=([^,]+),").group(1)
    admin(server, "revoke-create", name, "--reason", "x")
    m = b.expect(r"^\* notice \[sanction\]: the platform revoked your right to create groups: x "
                 r"\(sanction (\d+); contest it with /appeal (\d+) REASON\)$")
    sid = m.group(1)
    assert m.group(2) == sid
    b.expect(rf"^\* notice \[credit\]: sanction {sid} took \d+ credit points: your score is now \d+ "
             r"\(level \d+\): x$")
    assert not any("given back" in x for x in b.output)

    admin(server, "suspend-group", gid, "--seconds", "7200", "--reason", "整顿")
    m = b.expect(rf"^\* group {gid} is suspended until {T} \(it cannot be renamed, dissolved or handed on "
                 r"meanwhile\): 整顿 \(sanction (\d+); the group's owner may contest it with /appeal (\d+) REASON\)$")
    assert m.group(1) == m.group(2)


def test_notices_lists_the_platforms_notices_sent_while_away(server: ServerProcess, tui: Callable[..., TUI]) -> None:
    """The operator's notice reaches only the connections open at the moment: ``/notices`` lists the
    ones sent to the user, also while no terminal of theirs was connected."""
    carol = user(server, "Carol")
    a = tui(carol)
    a.command("/create 工作群 work open", r"^\* created group (\d{9,12}) ")
    a.kill()
    admin(server, "notice", "--text", "工作群请核实消息来源", "--category", "work")
    b = tui(carol)
    b.command("/notices", r"^\* the platform's notices to you: \d+$")
    b.expect(rf"^  {T} 工作群请核实消息来源 \(to the groups of category work\)$")
