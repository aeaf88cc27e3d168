"""Regenerate docs/screens/*.png from the real app: ``python -m tests.web.screens``.

Starts a real server in a temporary folder, registers two users in two browser
contexts, chats, and photographs the login screen, the chat, the owner's panel
and the chat at phone width (360 px). Chinese text needs a CJK font in the
system (Debian: ``apt-get install fonts-wqy-microhei``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.e2e.harness import ROOT, ServerProcess
from tests.web.browser import close_dialogs, create_group, join_group, launch, new_page, register, send

OUT = ROOT / "docs" / "screens"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        srv = ServerProcess(Path(tmp)).start()
        try:
            browser = launch(pw)
            login = new_page(browser, srv, width=1100, height=720)
            login.wait_for_selector("#login-form")
            login.screenshot(path=str(OUT / "login.png"))

            alice = new_page(browser, srv, width=1100, height=720)
            register(alice, srv, "alice_screens", "王小明")
            bob = new_page(browser, srv, width=360, height=740)
            register(bob, srv, "bob_screens", "李华")
            carol = new_page(browser, srv, width=1100, height=720)
            register(carol, srv, "carol_screens", "Carol")
            gid = create_group(alice, "周末读书会")
            create_group(alice, "家庭群")
            for p in (bob, carol):
                join_group(p, gid)
                p.wait_for_selector("#chat-title:has-text('周末读书会')")
            alice.click(f'.group-item[data-gid="{gid}"]')
            alice.click("#btn-manage")
            alice.fill("#announcement-text", "本周读《活着》，周六晚上八点线上讨论。")
            alice.click("#announcement-save")
            close_dialogs(alice)
            send(alice, "大家好！这周我们读余华的《活着》。")
            send(bob, "好的，我已经读到一半了 📖")
            send(carol, "Count me in. Saturday 8 pm works for me.")
            send(alice, "周六见，记得准备一个问题。")
            alice.wait_for_selector("#messages .msg .text:has-text('周六见')")
            bob.wait_for_selector("#messages .msg .text:has-text('周六见')")
            for p in (alice, bob):
                p.evaluate("() => document.getElementById('toasts')?.remove()")
            alice.screenshot(path=str(OUT / "chat.png"))
            bob.screenshot(path=str(OUT / "phone.png"))
            alice.click("#btn-manage")
            alice.wait_for_selector("#member-list .member[data-role='member']")
            alice.locator("#member-list .member[data-role='member'] .act-mute").first.click()
            alice.wait_for_selector("#member-list .tag-muted")
            alice.evaluate("() => document.getElementById('toasts')?.remove()")
            alice.screenshot(path=str(OUT / "owner-panel.png"))
            browser.close()
        finally:
            srv.stop()
    for name in ("login", "chat", "owner-panel", "phone"):
        print(OUT / f"{name}.png")


if __name__ == "__main__":

    main()
