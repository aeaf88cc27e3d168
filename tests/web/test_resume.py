"""The server is killed mid-chat and restarted: both pages reconnect and resume with no gap."""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess, open_group
from tests.web.browser import (
    Background,
    Cable,
    create_group,
    join_group,
    late_answers,
    load_all_earlier,
    login,
    message,
    message_texts,
    new_page,
    register,
    run_async,
    send,
    seqs,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _member(srv: ServerProcess, gid: str) -> str:
    c = await srv.user()
    try:
        await c.request("join_group", group_id=gid)
        return str(c.username)  # type: ignore[attr-defined]
    finally:
        await c.close()


async def _send_as(srv: ServerProcess, username: str, gid: str, texts: list[str]) -> None:
    c = await srv.client()
    try:
        await c.login(username, "password123")
        for text in texts:
            await c.request("send", group_id=gid, text=text)
    finally:
        await c.close()


def _open_through(page: Any, through: Any, srv: ServerProcess, sender: str, gid: str, text: str) -> None:
    """The page reloaded with its WebSocket through the route ``through``, the group open and showing
    ``text``, just sent by ``sender``."""
    page.route_web_socket("**/ws", through)
    page.reload()
    page.wait_for_selector("#status.status-connected")
    page.click(f"#group-list [data-gid='{gid}']")
    run_async(_send_as(srv, sender, gid, [text]))
    page.wait_for_selector(f"#messages .msg .text:has-text('{text}')")


def test_server_restart_mid_chat_resumes_without_gap(browser: Any, tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path)
    # The pages reconnect to the host they were served from: the restarted server must keep its port.
    srv.config.write_text(srv.config.read_text().replace("port = 0", f"port = {_free_port()}", 1))
    srv.start()
    try:
        alice = new_page(browser, srv)
        bob = new_page(browser, srv)
        register(alice, srv, display="Alice")
        register(bob, srv, display="Bob")
        gid = create_group(alice, "断线重连")
        join_group(bob, gid)
        bob.wait_for_selector("#composer-text:enabled")
        carol = run_async(_member(srv, gid))
        send(alice, "before 1")
        send(bob, "before 2")
        alice.wait_for_selector("#messages .msg .text:has-text('before 2')")
        bob.wait_for_selector("#messages .msg .text:has-text('before 2')")

        srv.kill9()
        alice.wait_for_selector("#status.status-reconnecting")
        bob.wait_for_selector("#status.status-reconnecting")
        send(alice, "typed while offline")  # kept in the page's outbox and sent after the reconnect
        alice.wait_for_selector("#outbox .pending")

        srv.start()
        # Messages the pages cannot have seen live: sent the moment the server is back.
        run_async(_send_as(srv, carol, gid, ["after 1", "after 2", "after 3"]))

        for page in (alice, bob):
            page.wait_for_selector("#status.status-connected", timeout=20_000)
            page.wait_for_selector("#messages .msg .text:has-text('typed while offline')")
            page.wait_for_selector("#messages .msg .text:has-text('after 3')")
        assert alice.locator("#outbox .pending").count() == 0
        send(bob, "after reconnect")
        alice.wait_for_selector("#messages .msg .text:has-text('after reconnect')")
        bob.wait_for_selector("#messages .msg .text:has-text('after reconnect')")

        expected = {"before 1", "before 2", "typed while offline", "after 1", "after 2", "after 3", "after reconnect"}
        for page in (alice, bob):
            assert seqs(page) == list(range(1, 8)), "a gap or a duplicate in the resumed chat"
            assert set(message_texts(page)) == expected
        assert message_texts(alice) == message_texts(bob)
        assert alice.errors == [] and bob.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))  # shown by pytest when the test failed


REVIEW = """
[[content.lists]]
category = "fraud"
path = "review.txt"
action = "review"
"""


def test_a_held_message_released_while_away_shows_after_the_reconnect(browser: Any, tmp_path: Path) -> None:
    """A released held message keeps its lower seq, so the catch-up after `after_seq` alone missed it."""
    (tmp_path / "review.txt").write_text("刷单\n", encoding="utf-8")
    srv = ServerProcess(tmp_path, REVIEW).start()
    try:
        alice = new_page(browser, srv)
        register(alice, srv, display="Alice")
        gid = create_group(alice, "审核")
        carol = run_async(_member(srv, gid))
        # From here the page's WebSocket goes through a route the test can cut and hold.
        routes: list[Any] = []
        away = {"on": False}

        def through(ws: Any) -> None:
            if away["on"]:
                ws.close(code=1001)
                return
            routes.append(ws)
            ws.connect_to_server()

        alice.route_web_socket("**/ws", through)
        alice.reload()
        alice.wait_for_selector("#status.status-connected")
        alice.click(f"#group-list [data-gid='{gid}']")
        run_async(_send_as(srv, carol, gid, ["刷单 held", "after it"]))
        alice.wait_for_selector("#messages .msg .text:has-text('after it')")
        held_seq = seqs(alice)[-1] - 1
        assert held_seq not in seqs(alice)  # held: nobody sees it yet

        away["on"] = True
        routes[-1].close(code=1001)  # the page's connection drops; its reconnects are refused
        alice.wait_for_selector("#status.status-reconnecting")
        rc, out, err = run_async(srv.admin("review-queue", "--open"))
        item = json.loads(out.splitlines()[0])["item_id"]
        rc, _, err = run_async(srv.admin("decide", str(item), "--decision", "release", "--note", "ok"))
        assert rc == 0, err
        away["on"] = False
        alice.wait_for_selector("#status.status-connected", timeout=20_000)
        alice.wait_for_selector("#messages .msg .text:has-text('刷单 held')", timeout=10_000)
        assert message_texts(alice)[-2:] == ["刷单 held", "after it"]
        assert alice.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))


def test_a_catch_up_not_served_after_a_reconnect_is_asked_again_and_leaves_no_gap(
        browser: Any, tmp_path: Path) -> None:
    """After a reconnect the group's catch-up (`history` from the last seq held) is answered
    `internal` twice (a busy store, a cluster's home being replaced). The page used to drop it: what
    came while away never showed (scrolling back loads only below the first message shown) and the
    live gap fill stayed off. It asks again, and shows everything in seq order."""
    srv = ServerProcess(tmp_path).start()
    try:
        alice = new_page(browser, srv)
        register(alice, srv, display="Alice")
        gid = create_group(alice, "补读")
        carol = run_async(_member(srv, gid))
        routes: list[Any] = []
        away = {"on": False}
        refused: list[int] = []

        def through(ws: Any) -> None:
            if away["on"]:
                ws.close(code=1001)
                return
            number = len(routes)
            routes.append(ws)
            server = ws.connect_to_server()
            to_refuse: set[int] = set()

            def from_page(frame: str | bytes) -> None:
                f = json.loads(frame) if isinstance(frame, str) else None
                if number > 0 and isinstance(f, dict) and f.get("op") == "history" and len(refused) < 2:
                    refused.append(f["rid"])
                    to_refuse.add(f["rid"])
                server.send(frame)

            def from_server(frame: str | bytes) -> None:
                f = json.loads(frame) if isinstance(frame, str) else None
                if isinstance(f, dict) and f.get("re") in to_refuse:
                    to_refuse.discard(f["re"])
                    ws.send(json.dumps({"re": f["re"], "ok": False, "code": "internal", "reason": "cannot serve now"}))
                    return
                ws.send(frame)

            ws.on_message(from_page)
            server.on_message(from_server)

        _open_through(alice, through, srv, carol, gid, "before")

        away["on"] = True
        routes[-1].close(code=1001)
        alice.wait_for_selector("#status.status-reconnecting")
        run_async(_send_as(srv, carol, gid, ["while away 1", "while away 2"]))
        away["on"] = False
        alice.wait_for_selector("#status.status-connected", timeout=20_000)
        alice.wait_for_selector("#messages .msg .text:has-text('while away 2')", timeout=15_000)
        run_async(_send_as(srv, carol, gid, ["after"]))
        alice.wait_for_selector("#messages .msg .text:has-text('after')")
        assert len(refused) == 2
        assert message_texts(alice)[-4:] == ["before", "while away 1", "while away 2", "after"]
        assert seqs(alice) == sorted(seqs(alice))
        assert len(routes) == 2  # asked again on the same connection
        assert alice.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))


def test_a_live_message_that_never_arrived_is_read_again_when_the_next_one_skips_its_seq(
        browser: Any, tmp_path: Path) -> None:
    """A node of a cluster cut off from its broker for a moment loses the events published meanwhile,
    and the page's connection stays open. The next message's seq skips the lost one: the page reads
    the skipped span with `history`, so the chat has no hole."""
    srv = ServerProcess(tmp_path).start()
    try:
        alice = new_page(browser, srv)
        register(alice, srv, display="Alice")
        gid = create_group(alice, "丢包")
        carol = run_async(_member(srv, gid))
        dropped: list[str] = []

        def through(ws: Any) -> None:
            server = ws.connect_to_server()

            def from_server(message: str | bytes) -> None:
                raw = message.encode() if isinstance(message, str) else message
                if b"lost live" in raw and not dropped:
                    dropped.append("lost live")  # the one event this connection never gets
                    return
                ws.send(message)

            server.on_message(from_server)

        _open_through(alice, through, srv, carol, gid, "first")
        run_async(_send_as(srv, carol, gid, ["lost live", "next one"]))
        alice.wait_for_selector("#messages .msg .text:has-text('next one')")
        alice.wait_for_selector("#messages .msg .text:has-text('lost live')", timeout=10_000)
        assert dropped == ["lost live"]
        assert message_texts(alice) == ["first", "lost live", "next one"]
        assert seqs(alice) == sorted(seqs(alice)) and len(set(seqs(alice))) == 3
        assert alice.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))


def _page_of(browser: Any, srv: ServerProcess, username: str) -> tuple[Any, Cable]:
    """A page logged in as ``username`` whose connection the test can cut."""
    page = new_page(browser, srv)
    cable = Cable(page)
    login(page, username)
    return page, cable


def _away(page: Any, cable: Cable) -> None:
    cable.cut()
    page.wait_for_selector("#status.status-reconnecting")


def _back(page: Any, cable: Cable) -> None:
    cable.mend()
    page.wait_for_selector("#status.status-connected", timeout=20_000)


# A server from before message_changes, as the page sees it: the op is unknown there.
WITHOUT_CHANGES = """
(() => {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) {
    return send.call(this, d.replace('"op":"message_changes"', '"op":"message_changes_unknown"'));
  };
})();
"""


@pytest.mark.parametrize("changes_op", [True, False], ids=["message_changes", "older_server"])
def test_what_changed_while_away_in_the_messages_shown_shows_after_the_reconnect(
        browser: Any, server: ServerProcess, bg: Background, changes_op: bool) -> None:
    """The catch-up used to read only after the last seq held: a recall, an edit or a reaction made
    meanwhile to a message already on screen stayed unseen until a reload, and so did the quote of
    a reply to it and the pin bar. From a server without [ext] message_changes the page reads the
    messages it holds again instead."""
    owner, carol, alice = (bg.run(server.user()) for _ in range(3))
    gid = bg.run(owner.request("create_group", name="回来", category="friends", join_policy="open"))["group_id"]
    for c in (carol, alice):
        bg.run(c.request("join_group", group_id=gid))
    one = bg.run(carol.request("send", group_id=gid, text="原文一"))["seq"]
    two = bg.run(carol.request("send", group_id=gid, text="原文二"))["seq"]
    three = bg.run(carol.request("send", group_id=gid, text="回复一", reply_to=one))["seq"]
    bg.run(owner.request("pin_message", group_id=gid, seq=one, on=True))

    page = new_page(browser, server)
    if not changes_op:
        page.context.add_init_script(WITHOUT_CHANGES)
    cable = Cable(page)
    page.reload()
    login(page, alice.username)
    page.click(f"#group-list [data-gid='{gid}']")
    reply = page.locator(f"#messages .msg[data-seq='{three}']")
    expect(reply.locator(".reply-quote")).to_contain_text("原文一")
    expect(page.locator("#pin-bar")).to_contain_text("原文一")

    _away(page, cable)
    bg.run(carol.request("edit_message", group_id=gid, seq=one, text="原文一 改过"))
    bg.run(carol.request("delete_message", group_id=gid, seq=two))
    bg.run(owner.request("react", group_id=gid, seq=three, emoji="👍", on=True))
    bg.run(carol.request("send", group_id=gid, text="离线时的新消息"))
    _back(page, cable)

    page.wait_for_selector("#messages .msg .text:has-text('离线时的新消息')")
    first = page.locator(f"#messages .msg[data-seq='{one}']")
    expect(first.locator(".text")).to_have_text("原文一 改过")
    expect(first.locator(".edited")).to_have_count(1)
    expect(page.locator(f"#messages .msg.is-deleted[data-seq='{two}']")).to_have_count(1)
    assert "原文二" not in page.inner_text("#messages")
    expect(reply.locator(".reaction[data-emoji='👍'] .count")).to_have_text("1")
    expect(reply.locator(".reply-quote")).to_contain_text("原文一 改过")
    expect(page.locator("#pin-bar")).to_contain_text("原文一 改过")
    assert seqs(page) == sorted(seqs(page)) and len(set(seqs(page))) == len(seqs(page))
    assert page.errors == []


def test_an_edit_that_overtakes_the_catch_ups_answer_is_not_undone_by_it(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The catch-up after a reconnect reads the messages shown again. An edit made after the server
    read them comes as an event before that answer: the answer's older copy used to replace the
    edited one, which then showed the old text until a reload. Now such a message is read again."""
    owner, carol, alice = (bg.run(server.user()) for _ in range(3))
    gid = bg.run(owner.request("create_group", name="追赶", category="friends", join_policy="open"))["group_id"]
    for c in (carol, alice):
        bg.run(c.request("join_group", group_id=gid))
    one = bg.run(carol.request("send", group_id=gid, text="原来的话"))["seq"]
    page = new_page(browser, server)
    page.context.add_init_script(late_answers("history", 1500))
    cable = Cable(page)
    page.reload()
    login(page, alice.username)
    page.click(f"#group-list [data-gid='{gid}']")
    first = page.locator(f"#messages .msg[data-seq='{one}'] .text")
    expect(first).to_have_text("原来的话")

    _away(page, cable)
    page.evaluate("() => { window.__slow = true; }")
    _back(page, cable)
    page.wait_for_function("() => window.__held > 0")   # read before the edit, not yet taken
    page.evaluate("() => { window.__slow = false; }")
    bg.run(carol.request("edit_message", group_id=gid, seq=one, text="改过的话"))
    expect(first).to_have_text("改过的话")   # the event
    page.wait_for_timeout(2000)   # the held answer has been taken by now
    expect(first).to_have_text("改过的话")
    assert page.errors == []


def test_a_message_released_below_the_window_leaves_no_gap_when_scrolling_back(
        browser: Any, tmp_path: Path, bg: Background) -> None:
    """A released held message keeps its old seq, far below the page the client loaded first: "load
    earlier" used to page from that seq, and everything between it and the page was never shown."""
    (tmp_path / "review.txt").write_text("刷单\n", encoding="utf-8")
    srv = ServerProcess(tmp_path, REVIEW).start()
    try:
        owner, carol = bg.run(srv.user()), bg.run(srv.user())
        gid = bg.run(owner.request("create_group", name="放行", category="friends", join_policy="open"))["group_id"]
        bg.run(carol.request("join_group", group_id=gid))
        for i in range(5):
            bg.run(carol.request("send", group_id=gid, text=f"早 {i}"))
        held = bg.run(carol.request("send", group_id=gid, text="刷单 等审核"))["seq"]
        for i in range(70):
            bg.run(carol.request("send", group_id=gid, text=f"后 {i}"))
        page = new_page(browser, srv)
        login(page, owner.username)
        page.click(f"#group-list [data-gid='{gid}']")
        page.wait_for_selector("#messages .msg .text:has-text('后 69')")
        assert min(seqs(page)) > held + 1  # the first page starts well above the held message

        item = json.loads(bg.run(srv.admin("review-queue", "--open"))[1].splitlines()[0])["item_id"]
        assert bg.run(srv.admin("decide", str(item), "--decision", "release", "--note", "ok"))[0] == 0
        page.wait_for_selector("#messages .msg .text:has-text('刷单 等审核')")
        load_all_earlier(page, rounds=5)
        expect(page.locator("#load-earlier")).to_be_disabled()
        shown = seqs(page)
        last = max(shown)
        assert shown == list(range(min(shown), last + 1)), "a gap in the history scrolled back"
        assert len(shown) == 76 and page.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))


def test_the_posting_state_changed_while_away_shows_after_the_reconnect_and_a_reload(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The events that mute, unmute, suspend and lift are not queued: a page that was away used to open
    its composer after the reconnect (or a reload) while a mute held, learning it only from the refused
    send, and kept a group suspended that the platform had lifted meanwhile. my_groups now says."""
    owner, alice = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="禁言", category="friends", join_policy="open"))["group_id"]
    bg.run(alice.request("join_group", group_id=gid))
    page, cable = _page_of(browser, server, alice.username)
    page.click(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#composer-text:enabled")
    note = page.locator("#composer-note")

    # An unmute while away frees the composer.
    bg.run(owner.request("mute", group_id=gid, user_id=alice.user_id, seconds=2_592_000))
    page.wait_for_selector("#composer-text:disabled")
    _away(page, cable)
    bg.run(owner.request("mute", group_id=gid, user_id=alice.user_id, seconds=0))
    _back(page, cable)
    page.wait_for_selector("#composer-text:enabled")
    assert note.is_hidden()
    send(page, "又能说话了")
    page.wait_for_selector("#messages .msg.mine .text:has-text('又能说话了')")

    # A mute given while away, and one still in force, keep it closed with its end: no send needed.
    _away(page, cable)
    bg.run(owner.request("mute", group_id=gid, user_id=alice.user_id, seconds=3600))
    _back(page, cable)
    expect(note).to_contain_text("你已被禁言")
    expect(page.locator("#composer-text")).to_be_disabled()
    _away(page, cable)
    _back(page, cable)
    page.wait_for_function("() => !!document.querySelector('#composer-text')")
    expect(note).to_contain_text("你已被禁言")
    expect(page.locator("#composer-text")).to_be_disabled()
    page.reload()
    page.wait_for_selector("#status.status-connected")
    page.click(f"#group-list [data-gid='{gid}']")
    expect(note).to_contain_text("你已被禁言")
    expect(page.locator("#composer-text")).to_be_disabled()
    bg.run(owner.request("mute", group_id=gid, user_id=alice.user_id, seconds=0))
    page.wait_for_selector("#composer-text:enabled")

    # The platform suspends the group while the page is away, then lifts the suspension while it is
    # away again: the composer shows each after the reconnect.
    _away(page, cable)
    rc, _, err = bg.run(server.admin("suspend-group", gid, "--seconds", "7200", "--reason", "spam"))
    assert rc == 0, err
    _back(page, cable)
    expect(note).to_contain_text("本群已被平台暂停发言")
    expect(page.locator("#composer-text")).to_be_disabled()
    _away(page, cable)
    rows = [json.loads(line) for line in bg.run(server.admin("sanctions", "--group", gid))[1].splitlines()]
    [sid] = [r["id"] for r in rows if r["kind"] == "suspend_group"]
    rc, _, err = bg.run(server.admin("lift", str(sid), "--reason", "rectified"))
    assert rc == 0, err
    _back(page, cable)
    page.wait_for_selector("#composer-text:enabled")
    assert note.is_hidden()
    send(page, "恢复了")
    page.wait_for_selector("#messages .msg.mine .text:has-text('恢复了')")
    assert page.errors == []


def test_a_reconnect_keeps_the_readers_place_draft_and_focus_and_reads_nothing_unseen(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A reconnect used to redraw the chat: the reader was thrown to the bottom, everything was
    marked read, and the composer lost its focus."""
    owner, alice = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="读者", category="friends", join_policy="open"))["group_id"]
    bg.run(alice.request("join_group", group_id=gid))
    for i in range(60):
        bg.run(owner.request("send", group_id=gid, text=f"第 {i} 行\n第二行"))
    page, cable = _page_of(browser, server, alice.username)
    page.click(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#messages .msg .text:has-text('第 59 行')")
    page.evaluate("() => { document.querySelector('#scroller').scrollTop = 400; }")
    page.wait_for_timeout(300)
    page.fill("#composer-text", "写了一半")
    page.focus("#composer-text")
    top = page.evaluate("() => document.querySelector('#scroller').scrollTop")
    shown_first = page.evaluate("() => { const s = document.querySelector('#scroller').getBoundingClientRect().top;"
                                " return [...document.querySelectorAll('#messages .msg')].find("
                                "n => n.getBoundingClientRect().bottom > s).dataset.seq; }")

    _away(page, cable)
    bg.run(owner.request("send", group_id=gid, text="你不在的时候"))
    _back(page, cable)
    page.wait_for_selector("#messages .msg .text:has-text('你不在的时候')")
    page.wait_for_timeout(500)
    assert abs(page.evaluate("() => document.querySelector('#scroller').scrollTop") - top) < 2
    assert page.evaluate("() => { const s = document.querySelector('#scroller').getBoundingClientRect().top;"
                         " return [...document.querySelectorAll('#messages .msg')].find("
                         "n => n.getBoundingClientRect().bottom > s).dataset.seq; }") == shown_first
    assert page.input_value("#composer-text") == "写了一半"
    assert page.evaluate("() => document.activeElement && document.activeElement.id") == "composer-text"
    badge = page.locator(f"#group-list [data-gid='{gid}'] .badge.unread")
    expect(badge).to_have_text("1")  # the message that came meanwhile is not on screen: unread
    assert bg.run(alice.request("my_groups"))["groups"][0]["unread"] == 1

    page.evaluate("() => { const s = document.querySelector('#scroller'); s.scrollTop = s.scrollHeight; }")
    expect(badge).to_have_count(0)  # read once scrolled to
    assert page.errors == []


def test_a_resync_notice_reads_the_messages_shown_again(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """notice {kind: resync} (a cluster's home was lost): events of its last moments, such as an edit
    or a recall, may never come. The page reads its groups again as after a reconnect, the messages
    it shows included."""
    owner, carol = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="重读", category="friends", join_policy="open"))["group_id"]
    bg.run(carol.request("join_group", group_id=gid))
    one = bg.run(carol.request("send", group_id=gid, text="会被改的"))["seq"]
    two = bg.run(carol.request("send", group_id=gid, text="会被撤回的"))["seq"]
    page = new_page(browser, server)
    routes: list[Any] = []
    lost: list[str] = []

    def through(ws: Any) -> None:
        upstream = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if '"message_edited"' in text or '"message_deleted"' in text:
                lost.append(text)  # the events the lost home published last: never delivered
                return
            ws.send(message)

        upstream.on_message(from_server)
        routes.append(ws)

    page.route_web_socket("**/ws", through)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    message_one = page.locator(f"#messages .msg[data-seq='{one}'] .text")
    expect(message_one).to_have_text("会被改的")
    bg.run(carol.request("edit_message", group_id=gid, seq=one, text="改过了"))
    bg.run(carol.request("delete_message", group_id=gid, seq=two))
    for _ in range(200):  # (the frames come to from_server while the page is waited on)
        if len(lost) == 2:
            break
        page.wait_for_timeout(50)
    assert len(lost) == 2 and page.inner_text(f"#messages .msg[data-seq='{one}'] .text") == "会被改的"

    routes[-1].send(json.dumps({"ev": "notice", "kind": "resync"}))
    expect(message_one).to_have_text("改过了", timeout=10_000)
    expect(page.locator(f"#messages .msg.is-deleted[data-seq='{two}']")).to_have_count(1)
    assert "会被撤回的" not in page.inner_text("#messages")
    assert page.errors == []


def test_a_request_unanswered_on_a_silent_connection_reconnects_and_the_message_is_stored_once(
        browser: Any, any_server: ServerProcess, bg: Background) -> None:
    """A connection can die with no close event (a network that drops packets, a frozen host): the
    page's requests waited on it for good and the message showed "sending" for ever. Here the server
    process is frozen (SIGSTOP): its sockets stay open, nothing answers. The page gives the request
    15 s, drops the connection and reconnects; once the server runs again, both the first try (still
    in the old socket) and the retry reach it, and the one client_msg_id makes them one message."""
    srv = any_server
    owner = bg.run(srv.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, srv)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    send(page, "冻结前")
    page.wait_for_selector("#messages .msg .text:has-text('冻结前')")
    assert srv.proc is not None
    srv.proc.send_signal(signal.SIGSTOP)
    try:
        send(page, "没有回音")
        pending = page.locator("#outbox .pending", has_text="没有回音")
        expect(pending).to_contain_text("发送中")
        # No close event comes: the page itself gives up on the connection (15 s without an answer).
        page.wait_for_selector("#status.status-reconnecting", timeout=25_000)
        expect(pending).to_contain_text("发送中")  # kept, to go again
    finally:
        srv.proc.send_signal(signal.SIGCONT)
    page.wait_for_selector("#status.status-connected", timeout=30_000)
    message(page, "没有回音")
    expect(page.locator("#outbox .pending")).to_have_count(0)
    assert message_texts(page) == ["冻结前", "没有回音"]

    async def stored() -> list[str]:
        c = await srv.client()
        try:
            await c.login(owner.username, "password123")  # type: ignore[attr-defined]
            return [m["text"] for m in (await c.request("history", group_id=gid, limit=10))["messages"]]
        finally:
            await c.close()

    assert bg.run(stored()) == ["冻结前", "没有回音"]  # stored once, though sent twice
    assert page.errors == []


RECORD_SENT = """
(() => {
  window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) {
    try { window.__sent.push(JSON.parse(d)); } catch {}
    return send.call(this, d);
  };
})();
"""


def test_the_catch_up_asks_what_changed_and_reads_no_page_it_holds_again(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """[ext] message_changes: after a reconnect the page asks what changed since the cursor it took
    before reading the group, and then only what is new. It used to read again every message of the
    window it held (up to 500 a group, 5,000 in the open one) to find the few that changed."""
    owner, carol, alice = (bg.run(server.user()) for _ in range(3))
    gid = bg.run(owner.request("create_group", name="只读变化", category="friends", join_policy="open"))["group_id"]
    for c in (carol, alice):
        bg.run(c.request("join_group", group_id=gid))
    sent = [bg.run(carol.request("send", group_id=gid, text=f"早 {i}"))["seq"] for i in range(60)]

    page = new_page(browser, server)
    page.context.add_init_script(RECORD_SENT)
    cable = Cable(page)
    page.reload()
    login(page, alice.username)
    page.click(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#messages .msg .text:has-text('早 59')")
    load_all_earlier(page)
    assert seqs(page) == sent
    asked = page.evaluate("() => window.__sent.filter((f) => f.op === 'message_changes').length")
    assert asked >= 1   # the cursor, taken before the group's first page

    _away(page, cable)
    page.evaluate("() => { window.__sent = []; }")
    bg.run(carol.request("edit_message", group_id=gid, seq=sent[0], text="早 0 改过"))
    bg.run(owner.request("react", group_id=gid, seq=sent[1], emoji="👍", on=True))
    bg.run(carol.request("delete_message", group_id=gid, seq=sent[2]))
    new = bg.run(carol.request("send", group_id=gid, text="离开时的新消息"))["seq"]
    _back(page, cable)

    page.wait_for_selector("#messages .msg .text:has-text('离开时的新消息')")
    expect(page.locator(f"#messages .msg[data-seq='{sent[0]}'] .text")).to_have_text("早 0 改过")
    expect(page.locator(f"#messages .msg[data-seq='{sent[1]}'] .reaction[data-emoji='👍'] .count")).to_have_text("1")
    expect(page.locator(f"#messages .msg.is-deleted[data-seq='{sent[2]}']")).to_have_count(1)
    assert seqs(page) == [*sent, new]   # what was scrolled back to stays
    frames = page.evaluate(f"() => window.__sent.filter((f) => f.group_id === {json.dumps(gid)})")
    changes = [f for f in frames if f["op"] == "message_changes"]
    assert changes and all(isinstance(f.get("since"), int) for f in changes), frames
    reads = [f for f in frames if f["op"] == "history"]
    assert reads and all(f.get("after_seq", 0) >= sent[-1] for f in reads), reads
    assert page.errors == []


def test_a_page_drops_what_a_membership_left_and_joined_again_meanwhile_no_longer_shows(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """[ext] message_changes says the reader's join point: alice left the group on her phone while
    this page was away and joined it again, so the messages from before the new join are not hers to
    see any more (history starts there), and the page takes them away."""
    owner, alice = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="又回来", category="friends", join_policy="open"))["group_id"]
    bg.run(alice.request("join_group", group_id=gid))
    before = [bg.run(owner.request("send", group_id=gid, text=f"加入前 {i}"))["seq"] for i in range(3)]
    page, cable = _page_of(browser, server, alice.username)
    page.click(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#messages .msg .text:has-text('加入前 2')")

    _away(page, cable)
    bg.run(alice.request("leave_group", group_id=gid))
    bg.run(alice.request("join_group", group_id=gid))
    bg.run(owner.request("send", group_id=gid, text="重新加入后"))
    _back(page, cable)

    page.wait_for_selector("#messages .msg .text:has-text('重新加入后')")
    expect(page.locator("#messages .msg .text:has-text('加入前')")).to_have_count(0)
    assert not set(seqs(page)) & set(before)
    assert page.errors == []


class Silent:
    """The page's WebSocket through a route that, once ``quiet``, passes nothing either way and
    closes nothing: a network that stopped carrying packets (a phone between cells, a NAT that forgot
    the flow). New connections made after ``quiet`` is unset pass again."""

    def __init__(self, page: Any) -> None:
        self.quiet = False
        self.opened = 0
        self.lost: list[str | bytes] = []   # what the page sent while quiet
        page.route_web_socket("**/ws", self._through)

    def _through(self, ws: Any) -> None:
        self.opened += 1
        if self.quiet:
            return  # (never answered: the page's handshake waits, as on a dead network)
        to_server = ws.connect_to_server()
        ws.on_message(self._from_page(to_server))
        to_server.on_message(lambda m: None if self.quiet else ws.send(m))

    def _from_page(self, to_server: Any) -> Any:
        def passed(m: str | bytes) -> None:
            if self.quiet:
                self.lost.append(m)
            else:
                to_server.send(m)
        return passed

    def wait_lost(self, page: Any, needle: str) -> None:
        """Until the page has sent, into the silence, a frame containing ``needle``."""
        for _ in range(100):
            if any(needle in (m if isinstance(m, str) else m.decode("utf-8", "replace")) for m in self.lost):
                return
            page.wait_for_timeout(100)
        raise AssertionError(f"the page sent no {needle!r} while quiet: {self.lost!r}")


def test_an_idle_page_notices_a_silent_connection_and_catches_up(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A page that only reads sent nothing, so a connection that died silently showed "connected"
    for good and the messages sent meanwhile never came (a reviewer's case: 90 s and counting). Idle
    for 25 s, it now asks the server something cheap (`ping`) and drops the connection when no
    answer comes in 15 s; the new one catches up. (The page's clock is moved on over the silence.)"""
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    member = run_async(_member(server, gid))
    page = new_page(browser, server, clock=True)
    login(page, owner.username)
    line = Silent(page)
    page.reload()
    page.wait_for_selector("#status.status-connected")
    page.click(f"#group-list [data-gid='{gid}']")
    run_async(_send_as(server, member, gid, ["线路正常"]))
    page.wait_for_selector("#messages .msg .text:has-text('线路正常')")
    page.wait_for_timeout(3_000)  # (its mark_read answered: from here the page only reads)
    line.quiet = True
    run_async(_send_as(server, member, gid, ["静默期间"]))
    page.clock.fast_forward(20_000)
    page.wait_for_timeout(500)
    assert line.lost == []  # (20 s idle: nothing asked yet)
    page.clock.fast_forward(6_000)   # idle past 25 s
    line.wait_lost(page, '"ping"')
    page.clock.fast_forward(10_000)
    page.wait_for_timeout(500)
    expect(page.locator("#status")).to_have_class(re.compile(r"\bstatus-connected\b"))  # (10 s unanswered)
    page.clock.fast_forward(6_000)   # unanswered past 15 s
    page.wait_for_selector("#status.status-reconnecting", timeout=5_000)
    line.quiet = False
    page.wait_for_selector("#status.status-connected", timeout=30_000)
    message(page, "静默期间")
    assert message_texts(page) == ["线路正常", "静默期间"]
    assert page.errors == []


def test_the_browser_going_offline_and_back_reconnects_at_once(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The browser says the network went away: the page stopped trusting a socket that kept showing
    "connected" while a message waited as "sending". It now drops it at once, keeps the message in
    the outbox, and connects again as soon as the browser says the network is back."""
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#status.status-connected")
    page.context.set_offline(True)
    page.wait_for_selector("#status.status-reconnecting", timeout=5_000)
    send(page, "离线时写的")
    expect(page.locator("#outbox .pending", has_text="离线时写的")).to_contain_text("发送中")
    page.context.set_offline(False)
    page.wait_for_selector("#status.status-connected", timeout=10_000)
    message(page, "离线时写的")
    expect(page.locator("#outbox .pending")).to_have_count(0)
    assert page.errors == []
