"""Regenerate docs/screens/*.png from the real app: ``python -m tests.web.screens``.

Starts a real server in a temporary folder, registers three users in browser
contexts, chats, and photographs the login screen, the chat, the owner's panel,
the chat at phone width (360 px), richer messages (a reply, mentions, reactions,
a picture, a pinned message), the panel's invite links with QR codes, slow
mode and bans, and a public account's page and one of its posts with comments.
``python -m tests.web.screens accounts`` makes only the public-account ones.
Chinese text needs a CJK font in the system (Debian:
``apt-get install fonts-wqy-microhei``).
"""

from __future__ import annotations

import struct
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.e2e.harness import ROOT, ServerProcess
from tests.web.browser import (
    close_dialogs,
    create_account,
    create_group,
    find_account,
    join_group,
    launch,
    message,
    new_page,
    open_actions,
    open_post,
    publish,
    register,
    send,
    verify_identity,
)

OUT = ROOT / "docs" / "screens"
NAMES = ("login", "chat", "owner-panel", "phone", "rich", "invite-qr", "accounts", "account-post")
ACCOUNT_NAMES = ("accounts", "account-post")


def picture(width: int = 240, height: int = 150) -> bytes:
    """A small landscape (sky, hills, sun) as a PNG, for the screenshot of a picture message."""
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            hill = height * 0.62 + 14 * ((x / width * 6.3) % 3.1 - 1.5) ** 2
            if (x - width * 0.75) ** 2 + (y - height * 0.3) ** 2 < (height * 0.12) ** 2:
                row += bytes((250, 204, 80))
            elif y > hill:
                row += bytes((40, 120 + (y * 60) // height, 80))
            else:
                row += bytes((150 + y // 3, 200 + y // 6, 245))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def no_toasts(*pages: Any) -> None:
    """Clear the toasts shown so far off the pictures. Emptied, not removed: the page shows the next
    toast in that container (a removed one left the next action's toast, and what followed it in the
    same handler, failing: a new invite link never showed its URL and QR code)."""
    for p in pages:
        p.evaluate("() => document.getElementById('toasts')?.replaceChildren()")


def main(only_accounts: bool = False) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        srv = ServerProcess(Path(tmp)).start()
        try:
            browser = launch(pw)
            if only_accounts:
                accounts(browser, srv)
                browser.close()
                return

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
            no_toasts(alice, bob)
            alice.screenshot(path=str(OUT / "chat.png"))
            bob.screenshot(path=str(OUT / "phone.png"))
            alice.click("#btn-manage")
            alice.wait_for_selector("#member-list .member[data-role='member']")
            alice.locator("#member-list .member[data-role='member'] .act-mute").first.click()
            alice.wait_for_selector("#member-list .tag-muted")
            no_toasts(alice)
            alice.screenshot(path=str(OUT / "owner-panel.png"))
            alice.locator("#member-list .member[data-role='member'] .act-unmute").first.click()
            close_dialogs(alice)
            rich(alice, bob, carol)
            panel(alice)
            accounts(browser, srv)
            browser.close()
        finally:
            srv.stop()
    for name in NAMES:
        print(OUT / f"{name}.png")


def rich(a: Any, b: Any, c: Any) -> None:
    """A reply with a mention, reactions, a picture and a pinned message, seen by the owner (a)."""
    open_actions(b, "周六见")
    b.click("#act-reply")
    b.locator("#composer-text").press_sequentially("@王")
    b.click("#mention-picker .pick")
    b.locator("#composer-text").press_sequentially("我想问：福贵为什么能活下来？")
    b.press("#composer-text", "Enter")
    message(a, "福贵为什么")
    c.set_input_files("#file-input", files=[{"name": "颐和园.png", "mimeType": "image/png", "buffer": picture()}])
    c.wait_for_selector("#attach-tray .attach-item.done")
    c.fill("#composer-text", "上周拍的，读书会可以在这里办 🌄")
    c.press("#composer-text", "Enter")
    a.wait_for_function("() => [...document.querySelectorAll('#messages img.media-img')]"
                        ".some(i => i.complete && i.naturalWidth)")
    for page, emoji in ((a, "👍"), (c, "👍"), (a, "❤️")):
        open_actions(page, "福贵为什么")
        page.click(f"#emoji-row .emoji[data-emoji='{emoji}']")
    open_actions(a, "余华")
    a.click("#act-pin")
    a.wait_for_selector("#pin-bar:visible")
    open_actions(a, "福贵为什么")
    a.click("#act-reply")
    a.fill("#composer-text", "好问题，周六一起聊")
    a.evaluate("() => { const s = document.getElementById('scroller'); s.scrollTop = s.scrollHeight; }")
    a.wait_for_timeout(300)
    no_toasts(a)
    a.screenshot(path=str(OUT / "rich.png"))
    a.click("#reply-cancel")
    a.fill("#composer-text", "")


def panel(a: Any) -> None:
    """The owner's panel: slow mode, the ban list, invite links with their QR codes."""
    a.click("#btn-manage")
    a.select_option("#slow-mode", "30")
    a.wait_for_selector("#messages .sys:has-text('慢速模式')")
    a.fill("#ban-user-id", "u0123456789abcdef")
    a.select_option("#invite-max-uses", "10")
    a.click("#invite-link-create")
    a.wait_for_function("() => { const i = document.querySelector('#invite-links img.qr');"
                        " return i && i.complete && i.naturalWidth; }")
    a.evaluate("() => document.getElementById('invite-link-section').scrollIntoView({block: 'end'})")
    no_toasts(a)
    a.screenshot(path=str(OUT / "invite-qr.png"))


def accounts(browser: Any, srv: ServerProcess) -> None:
    """A public account: its page as a follower sees it (information, posts), and a post with its
    picture and comments as the owner sees it (one held for review, with the moderation buttons)."""
    owner = new_page(browser, srv, width=1100, height=760)
    register(owner, srv, "tea_owner", "陈老师")
    reader = new_page(browser, srv, width=1100, height=760)
    register(reader, srv, "tea_reader", "小周")
    verify_identity(owner)
    aid = create_account(owner, "茶馆日报", intro="每天一杯茶，一篇短文：茶的产地、冲泡和故事。")
    body = "水温 80 度左右，先温杯，再投茶。\n第一泡 30 秒，之后每泡加 10 秒。\n玻璃杯最好，能看到茶叶舒展。"
    publish(owner, "明前龙井怎么泡", body, images=[{"name": "龙井.png", "mimeType": "image/png", "buffer": picture()}])
    publish(owner, "普洱的生与熟", "生普清苦回甘，熟普醇厚温和。存放得当，越陈越香。", mode="review")
    publish(owner, "茶馆开张啦", "欢迎关注，每天更新。")
    find_account(reader, aid)
    reader.click("#btn-follow")
    reader.wait_for_selector("#btn-unfollow")
    open_post(reader, "明前龙井")
    reader.fill("#comment-text", "照着泡了，确实香！")
    reader.click("#comment-submit")
    reader.wait_for_selector("#comment-list .comment")
    reader.click("#btn-post-back")
    no_toasts(reader)
    reader.screenshot(path=str(OUT / "accounts.png"))

    owner.click(f"#my-accounts .account-item[data-aid='{aid}']")
    open_post(owner, "普洱的生与熟")
    for text in ("请问熟普适合晚上喝吗？", "存了五年的生普，味道变甜了"):
        reader.click("#post-list .post-item:has-text('普洱')")
        reader.wait_for_selector("#comment-text")
        reader.fill("#comment-text", text)
        reader.click("#comment-submit")
        reader.wait_for_selector("#comment-list .comment")
        reader.click("#btn-post-back")
    owner.wait_for_selector("#comment-list .comment:nth-child(2)")
    owner.locator("#comment-list .comment .act-approve-comment").last.click()
    owner.wait_for_selector("#comment-list .comment[data-state='visible']")
    no_toasts(owner)
    owner.screenshot(path=str(OUT / "account-post.png"))


if __name__ == "__main__":

    main(only_accounts=sys.argv[1:] == ["accounts"])
