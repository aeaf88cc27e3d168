"""The server is killed mid-chat and restarted: both pages reconnect and resume with no gap."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from tests.e2e.harness import ServerProcess
from tests.web.browser import create_group, join_group, message_texts, new_page, register, run_async, send, seqs


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
