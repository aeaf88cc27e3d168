"""Sending from the web client: a refused message is never lost (too fast: sent again by itself, in
order; refused for good: kept, failed, with Retry, Edit and Discard), lengths are counted in
characters and never cut, the reader at the bottom stays there, new messages below are pointed at,
and a user's new name reaches what the page already shows."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess, open_group
from tests.web.browser import (
    Background,
    create_group,
    login,
    message,
    message_texts,
    new_page,
    open_actions,
    send,
    submit_registration,
    three_in_a_group,
)

BLOCK_WORDS = """
[[content.lists]]
category = "prohibited"
path = "blocked.txt"
action = "block"
"""


def _at_bottom(page: Any) -> bool:
    gap: float = page.evaluate("() => { const s = document.querySelector('#scroller');"
                               " return s.scrollHeight - s.scrollTop - s.clientHeight; }")
    return gap <= 1


def _comes_to_bottom(page: Any) -> None:
    """Waits for the view to be at the bottom: what brings it there may be the chat's ResizeObserver,
    at the next frame a loaded renderer may be late with."""
    page.wait_for_function("() => { const s = document.querySelector('#scroller');"
                           " return s.scrollHeight - s.scrollTop - s.clientHeight <= 1; }")


def _hint_fits(page: Any) -> bool:
    """Whether the composer's placeholder fits its box on one line."""
    fits: bool = page.evaluate("""() => {
        const box = document.querySelector('#composer-text'), cs = getComputedStyle(box);
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = cs.font;
        const room = box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
        return ctx.measureText(box.placeholder).width <= room;
    }""")
    return fits


def _open(page: Any, gid: str) -> None:
    page.click(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#composer-text")


def test_refused_messages_stay_and_too_fast_ones_go_again_in_order(
        browser: Any, tmp_path: Path, bg: Background) -> None:
    (tmp_path / "blocked.txt").write_text("违禁词\n", encoding="utf-8")
    srv = ServerProcess(tmp_path, BLOCK_WORDS)
    # 3 messages at once, then 2 a second: a burst of 8 is refused as too fast 5 times.
    srv.config.write_text(srv.config.read_text().replace(
        "messages_per_second = 0", "messages_per_second = 2\nmessage_burst = 3", 1))
    srv.start()
    try:
        owner = bg.run(srv.user())
        gid = bg.run(open_group(owner))
        page = new_page(browser, srv)
        login(page, owner.username)
        _open(page, gid)

        burst = [f"第{i}条" for i in range(1, 9)]
        for text in burst:
            send(page, text)
        expect(page.locator("#messages .msg")).to_have_count(8, timeout=15000)
        expect(page.locator("#outbox .pending")).to_have_count(0)
        assert message_texts(page) == burst  # none lost, none overtaken by a later one
        stored = bg.run(owner.request("history", group_id=gid, limit=50))["messages"]
        assert [m["text"] for m in stored] == burst  # stored in the order typed
        assert page.input_value("#composer-text") == ""

        # Refused for good: each stays in the chat, failed, with the reason; later messages still go.
        for text in ("甲违禁词", "乙违禁词", "丙违禁词"):
            send(page, text)
        expect(page.locator("#outbox .pending.failed")).to_have_count(3)
        send(page, "之后的消息")
        message(page, "之后的消息")
        first = page.locator("#outbox .pending", has_text="甲违禁词")
        expect(first.locator(".send-error")).to_contain_text("内容包含违规信息")
        page.locator("#outbox .pending", has_text="乙违禁词").locator(".send-discard").click()
        expect(page.locator("#outbox .pending")).to_have_count(2)
        # The focus was on the bubble that went: it goes to the next failed message's Retry, never the page.
        focused = "() => [document.activeElement.className, document.activeElement.closest('.pending')?.textContent]"
        cls, bubble = page.evaluate(focused)
        assert "send-retry" in cls and "甲违禁词" in bubble, (cls, bubble)
        # Edit puts the text back after what is being typed, never over it.
        page.fill("#composer-text", "草稿")
        page.locator("#outbox .pending", has_text="丙违禁词").locator(".send-edit").click()
        assert page.input_value("#composer-text") == "草稿\n丙违禁词"
        expect(page.locator("#outbox .pending")).to_have_count(1)

        # Once the word is allowed again, Retry sends the kept message (same client_msg_id).
        (tmp_path / "blocked.txt").write_text("", encoding="utf-8")
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGHUP)
        assert bg.run(srv.logged("config reloaded"))
        first.locator(".send-retry").click()
        assert page.evaluate("() => document.activeElement.id") == "composer-text"  # (no failed one left)
        message(page, "甲违禁词")
        expect(page.locator("#outbox .pending")).to_have_count(0)
        assert message_texts(page)[-2:] == ["之后的消息", "甲违禁词"]
        assert page.input_value("#composer-text") == "草稿\n丙违禁词"
        assert page.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))


def test_messages_not_yet_stored_survive_a_reload_and_are_stored_once(
        browser: Any, tmp_path: Path, bg: Background) -> None:
    """The outbox is kept in the browser: messages still queued behind a too-fast one when the page
    reloads are sent by the next page, in order, and one stored just before it is not stored twice."""
    srv = ServerProcess(tmp_path)
    srv.config.write_text(srv.config.read_text().replace(
        "messages_per_second = 0", "messages_per_second = 1\nmessage_burst = 2", 1))
    srv.start()
    try:
        owner = bg.run(srv.user())
        gid = bg.run(open_group(owner))
        page = new_page(browser, srv)
        login(page, owner.username)
        _open(page, gid)
        burst = [f"重载前{i}" for i in range(1, 7)]
        for text in burst:
            send(page, text)
        expect(page.locator("#outbox .pending")).not_to_have_count(0)  # some wait their turn
        saved = page.evaluate("k => localStorage.getItem(k)", f"qg.outbox.{owner.user_id}")
        assert saved and "重载前6" in saved
        page.reload()
        page.wait_for_selector("#status.status-connected")
        _open(page, gid)
        expect(page.locator("#outbox .pending")).to_have_count(0, timeout=20000)
        stored = bg.run(owner.request("history", group_id=gid, limit=50))["messages"]
        assert [m["text"] for m in stored] == burst  # all of them, once each, in the order typed
        assert page.evaluate("k => localStorage.getItem(k)", f"qg.outbox.{owner.user_id}") is None
        assert page.errors == []
    finally:
        srv.stop()


def test_a_saved_outbox_older_than_a_day_waits_for_the_user_and_other_tabs_items_are_kept(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """Restored after more than a day, a message the server may no longer know by its client_msg_id
    is not sent again by itself but shown failed; and a tab saving its own outbox keeps another tab's."""
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, server)
    key = f"qg.outbox.{owner.user_id}"
    day_old = [{"gid": gid, "text": "昨天没发出去", "cmid": "old-1", "files": [], "extras": {},
                "at": 1, "failed": None}]
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, json.dumps(day_old)])
    login(page, owner.username)
    _open(page, gid)
    stale = page.locator("#outbox .pending.failed", has_text="昨天没发出去")
    expect(stale.locator(".send-error")).to_contain_text("超过一天")
    other_tab = {"gid": gid, "text": "另一个标签页的", "cmid": "tab-2", "files": [], "extras": {},
                 "at": 1, "failed": "x"}
    page.evaluate("([k, x]) => { const v = JSON.parse(localStorage.getItem(k) || '[]'); v.push(x);"
                  " localStorage.setItem(k, JSON.stringify(v)); }", [key, other_tab])
    send(page, "这一条会发出")
    message(page, "这一条会发出")
    stale.locator(".send-discard").click()
    expect(page.locator("#outbox .pending")).to_have_count(0)
    saved = json.loads(page.evaluate("k => localStorage.getItem(k)", key) or "[]")
    assert [x["cmid"] for x in saved] == ["tab-2"]  # this tab's are gone, the other tab's stays
    stored = bg.run(owner.request("history", group_id=gid, limit=10))["messages"]
    assert [m["text"] for m in stored] == ["这一条会发出"]  # the day-old one was not sent by itself
    assert page.errors == []


def test_lengths_are_counted_in_characters_and_never_cut(browser: Any, server: ServerProcess) -> None:
    page = new_page(browser, server)
    # A display name over 32 characters is refused with the rule, not cut.
    submit_registration(page, server, "longname1", "名" * 33)
    expect(page.locator("#form-msg")).to_have_text("昵称太长：33 个字，最多 32 个字。")
    expect(page.locator("#reg-display-count")).to_be_visible()
    assert page.input_value("#reg-display") == "名" * 33
    # 32 characters pass, though 16 of them are emoji (two UTF-16 units each).
    name = "😀" * 16 + "名" * 16
    page.fill("#reg-display", name)
    expect(page.locator("#reg-display-count")).to_be_hidden()
    page.click("#reg-submit")
    page.wait_for_selector("#status.status-connected")
    expect(page.locator("#me-name")).to_have_text(name)
    # In the sidebar a long name is cut on one line, short of the icons, and whole on hover.
    box, bell = page.locator("#me-name").bounding_box(), page.locator("#btn-notices").bounding_box()
    line = page.eval_on_selector("#me-name", "n => parseFloat(getComputedStyle(n).lineHeight)")
    assert box is not None and bell is not None
    assert box["height"] < 1.5 * line and box["x"] + box["width"] <= bell["x"]
    expect(page.locator("#me-name")).to_have_attribute("title", name)

    create_group(page, "长文")
    assert "Shift+Enter" in (page.get_attribute("#composer-text", "placeholder") or "") and _hint_fits(page)
    longest = "a" * 3998 + "😀😀"  # 4,000 characters, 4,002 UTF-16 units
    page.fill("#composer-text", longest)
    expect(page.locator("#composer-count")).to_have_text("4000 / 4000 字")
    page.press("#composer-text", "Enter")
    message(page, "aaaa")
    expect(page.locator("#outbox .pending")).to_have_count(0)
    assert message_texts(page) == [longest]

    too_long = "b" * 4001
    page.fill("#composer-text", too_long)
    expect(page.locator("#composer-count.count-over")).to_have_text("消息太长：4001 字，最多 4000 字。请删减后再发送。")
    page.press("#composer-text", "Enter")
    page.wait_for_selector("#toasts .toast:has-text('消息太长')")
    assert page.input_value("#composer-text") == too_long  # kept whole, not sent
    assert page.locator("#outbox .pending").count() == 0 and len(message_texts(page)) == 1
    assert page.errors == []


def test_the_servers_own_text_limit_is_the_one_counted(browser: Any, tmp_path: Path, bg: Background) -> None:
    """`me` tells `limits.max_text_chars`: the composer and the edit dialog count against it, so a
    text over a limit set lower than the default is refused on the page, whole, before it is sent."""
    srv = ServerProcess(tmp_path, "[limits]\nmax_text_chars = 20\n").start()
    try:
        owner = bg.run(srv.user())
        gid = bg.run(open_group(owner))
        page = new_page(browser, srv)
        login(page, owner.username)
        _open(page, gid)
        page.fill("#composer-text", "字" * 21)
        expect(page.locator("#composer-count.count-over")).to_have_text("消息太长：21 字，最多 20 字。请删减后再发送。")
        page.press("#composer-text", "Enter")
        page.wait_for_selector("#toasts .toast:has-text('消息太长')")
        assert page.locator("#outbox .pending").count() == 0  # not sent to fail: refused on the page
        page.fill("#composer-text", "短")
        page.press("#composer-text", "Enter")
        message(page, "短")
        open_actions(page, "短")
        page.click("#act-edit")
        page.fill("#edit-text", "改" * 21)
        page.click("#edit-save")
        expect(page.locator("#edit-msg")).to_have_text("文字有 21 个字，超过了上限 20 个字。请删减后再保存。")
        expect(page.locator("#edit-text")).to_have_value("改" * 21)
        assert page.errors == []
    finally:
        srv.stop()


def test_the_reader_stays_at_the_bottom_and_is_shown_new_messages_below(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner = bg.run(server.user())
    member = bg.run(server.user())
    gid = bg.run(open_group(owner))
    bg.run(member.request("join_group", group_id=gid))
    for i in range(40):
        bg.run(owner.send(gid, f"line {i}"))
    page = new_page(browser, server, width=390, height=844)  # a phone: the group list is out of sight
    page.click("#lang-btn")
    login(page, member.username)
    _open(page, gid)
    message(page, "line 39")
    # The composer's hint fits the box (the keyboard hint is for desktops) and is on one line.
    assert _hint_fits(page)
    assert page.eval_on_selector("#composer-text", "t => getComputedStyle(t, '::placeholder').whiteSpace") == "nowrap"
    assert _at_bottom(page)

    # Muted: the note above the composer takes room, and the last line is still in view.
    bg.run(owner.request("mute", group_id=gid, user_id=member.user_id, seconds=600))
    page.wait_for_selector("#composer-note:visible")
    # why, said once: in the note (the closed box's hint said it again)
    assert page.get_attribute("#composer-text", "placeholder") == "You cannot post here now"
    page.wait_for_selector("#messages .sys:has-text('muted')")
    _comes_to_bottom(page)

    # Scrolled up: new messages are pointed at, with how many; a click goes to the newest.
    page.evaluate("() => { document.querySelector('#scroller').scrollTop = 0; }")
    bg.run(owner.send(gid, "new one"))
    expect(page.locator("#new-below")).to_have_text("↓ 1 new message")
    bg.run(owner.send(gid, "new two"))
    expect(page.locator("#new-below")).to_have_text("↓ 2 new messages")
    assert not _at_bottom(page)
    page.click("#new-below")
    expect(page.locator("#new-below")).to_be_hidden()
    _comes_to_bottom(page)
    bg.run(owner.send(gid, "new three"))  # at the bottom: followed, no hint
    message(page, "new three")
    _comes_to_bottom(page)
    assert page.locator("#new-below").is_hidden()
    assert page.errors == []


def test_a_new_name_reaches_the_names_already_shown(browser: Any, server: ServerProcess, bg: Background) -> None:
    gid, alice, bob, carol = three_in_a_group(bg, server)
    seq = bg.run(bob.send(gid, "hello from bob"))["seq"]
    bg.run(alice.send(gid, "welcome", reply_to=seq))
    page = new_page(browser, server)
    login(page, carol.username)
    _open(page, gid)
    old = bob.username.title()
    expect(message(page, "hello from bob").locator(".who")).to_have_text(old)
    quote = message(page, "welcome").locator(".reply-quote strong")
    expect(quote).to_have_text(old + "：")
    page.click("#btn-manage")
    page.wait_for_selector(f"#member-list .member:has-text('{old}')")

    bg.run(bob.request("set_profile", display_name="Robert"))
    expect(message(page, "hello from bob").locator(".who")).to_have_text("Robert")
    expect(quote).to_have_text("Robert：")
    page.wait_for_selector("#member-list .member:has-text('Robert')")
    assert page.locator(f"#member-list .member:has-text('{old}')").count() == 0

    # One's own new name, from another device: the sidebar follows.
    bg.run(carol.request("set_profile", display_name="Caroline"))
    expect(page.locator("#me-name")).to_have_text("Caroline")
    assert page.errors == []


def test_a_saved_message_whose_file_was_not_uploaded_comes_back_failed_asking_for_the_file(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The file of a message failed for it cannot be kept in localStorage: the next page shows the
    message failed with the file named, Retry does not send it without the file, and Edit puts the
    text back for the file to be attached again."""
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, server)
    key = f"qg.outbox.{owner.user_id}"
    saved = [{"gid": gid, "text": "带附件的消息", "cmid": "upl-1", "files": ["合同.pdf"], "extras": {},
              "at": 1, "failed": "x", "unsent": ["合同.pdf"]}]
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, json.dumps(saved)])
    login(page, owner.username)
    _open(page, gid)
    failed = page.locator("#outbox .pending.failed", has_text="带附件的消息")
    expect(failed.locator(".send-error")).to_contain_text("「合同.pdf」上传失败：页面重新打开后文件已不在")
    failed.locator(".send-retry").click()
    page.wait_for_selector("#toasts .toast-error:has-text('合同.pdf')")
    expect(failed).to_have_count(1)  # not sent without its file
    failed.locator(".send-edit").click()
    assert page.input_value("#composer-text") == "带附件的消息"
    expect(page.locator("#outbox .pending")).to_have_count(0)
    assert bg.run(owner.request("history", group_id=gid, limit=10))["messages"] == []
    assert page.errors == []


def test_why_a_message_failed_follows_the_language_and_edit_sends_it_unchanged_as_the_same_message(
        browser: Any, tmp_path: Path, bg: Background) -> None:
    """A failed message's reason used to be kept as the words of the language it failed in ("Not sent:
    内容包含违规信息…" after switching to English, also after a reload): the code is kept and worded
    when drawn. And a failed message taken back with Edit and sent unchanged keeps its client_msg_id
    (one the server stored after all is not stored twice); changed, it is a new message."""
    (tmp_path / "blocked.txt").write_text("违禁词\n", encoding="utf-8")
    srv = ServerProcess(tmp_path, BLOCK_WORDS).start()
    try:
        owner = bg.run(srv.user())
        gid = bg.run(open_group(owner))
        page = new_page(browser, srv)
        login(page, owner.username)
        _open(page, gid)
        for text in ("原样再发违禁词", "改过再发违禁词"):
            send(page, text)
        failed = page.locator("#outbox .pending.failed")
        expect(failed).to_have_count(2)
        expect(failed.first.locator(".send-error")).to_have_text("发送失败：内容包含违规信息，未发送")

        page.click("#lang-btn")
        _open(page, gid)
        english = "Not sent: The text contains prohibited content; not sent"
        expect(failed.first.locator(".send-error")).to_have_text(english)
        page.reload()
        page.wait_for_selector("#status.status-connected")
        _open(page, gid)
        expect(failed).to_have_count(2)
        expect(failed.first.locator(".send-error")).to_have_text(english)
        expect(failed.last.locator(".send-error")).to_have_text(english)

        (tmp_path / "blocked.txt").write_text("", encoding="utf-8")
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGHUP)
        assert bg.run(srv.logged("config reloaded"))
        same = failed.first.get_attribute("data-cmid")
        changed = failed.last.get_attribute("data-cmid")
        failed.first.locator(".send-edit").click()
        page.press("#composer-text", "Enter")
        message(page, "原样再发违禁词")
        failed.first.locator(".send-edit").click()
        page.press("#composer-text", "End")
        page.keyboard.type("！")
        page.press("#composer-text", "Enter")
        message(page, "改过再发违禁词！")
        expect(page.locator("#outbox .pending")).to_have_count(0)
        rows = dict(srv.db_rows("SELECT text, client_msg_id FROM messages WHERE group_id = ?", gid))
        assert rows["原样再发违禁词"] == same  # the same message: a copy stored before would answer
        assert rows["改过再发违禁词！"] not in (same, changed)
        assert page.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))


def test_what_is_typed_stays_with_its_group_across_switches_and_a_reload(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A multi-device reviewer: text half typed was gone after a reload, and (found with it) gone too
    on switching to another chat and back, while the reply being written stayed with the group."""
    alice = bg.run(server.user())
    first = bg.run(open_group(alice, name="读书会"))
    second = bg.run(open_group(alice, name="茶室"))
    bg.run(alice.send(first, "上一条"))
    page = new_page(browser, server)
    login(page, alice.username)
    page.click(f"#group-list [data-gid='{first}']")
    page.fill("#composer-text", "写了一半的")
    page.click(f"#group-list [data-gid='{second}']")
    expect(page.locator("#composer-text")).to_have_value("")
    item = page.locator(f"#group-list [data-gid='{first}'] .preview")
    expect(item).to_have_text("[草稿] 写了一半的")
    page.click(f"#group-list [data-gid='{first}']")
    expect(page.locator("#composer-text")).to_have_value("写了一半的")

    page.reload()
    page.wait_for_selector("body[data-synced]")
    expect(item).to_have_text("[草稿] 写了一半的")
    page.click(f"#group-list [data-gid='{first}']")
    expect(page.locator("#composer-text")).to_have_value("写了一半的")
    page.press("#composer-text", "Enter")
    page.wait_for_selector("#messages .msg .text:has-text('写了一半的')")
    page.click(f"#group-list [data-gid='{second}']")
    expect(item).to_have_text("你：写了一半的")  # the message sent, no draft left
    assert page.evaluate(f"() => localStorage.getItem('qg.drafts.{alice.user_id}')") is None

    page.click(f"#group-list [data-gid='{first}']")
    page.fill("#composer-text", "走之前写的")
    page.click("#btn-profile")
    page.click("#btn-logout")
    page.wait_for_selector("#login-form")
    assert page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('qg.drafts.'))") == []
    assert page.errors == []
