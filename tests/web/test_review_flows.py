"""Flows a demanding user walks, from a review of the web client: a language switch mid-session
(buttons of notices, the group list's last line, the reader's place in the chat, a comment being
written), a message recalled while its menu is open, a group gone under a confirmation it opened,
namesakes in the @ list on a phone, and the keyboard's focus after a button that hides itself."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess, open_group
from tests.web.browser import Background, login, message, new_page, open_actions, send, tea_room


def test_an_invitations_join_button_follows_the_language(browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, alice = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(owner, name="茶话会"))
    page = new_page(browser, server)
    login(page, alice.username)
    bg.run(owner.request("invite", group_id=gid, user_id=alice.user_id))
    page.wait_for_selector("#notice-count:visible")
    page.click("#lang-btn")
    page.click("#btn-notices")
    item = page.locator("#notice-list li", has_text="茶话会").first
    expect(item).to_contain_text("invited you")
    expect(item.locator("button")).to_have_text("Join")
    assert page.errors == []


def test_the_group_lists_preview_of_a_recalled_message_follows_the_language(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, alice, gid = tea_room(bg, server)
    page = new_page(browser, server)
    login(page, alice.username)
    r = bg.run(owner.request("send", group_id=gid, text="说错了"))
    item = page.locator(f"#group-list [data-gid='{gid}'] .preview")
    expect(item).to_contain_text("说错了")
    bg.run(owner.request("delete_message", group_id=gid, seq=r["seq"]))
    expect(item).to_contain_text("撤回")
    page.click("#lang-btn")
    expect(page.locator("#tab-groups")).to_have_text("Groups")
    expect(item).not_to_contain_text("撤回")
    assert page.errors == []




def test_a_message_recalled_while_its_menu_is_open_is_not_quoted_by_a_reply(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = tea_room(bg, server)
    r = bg.run(bob.request("send", group_id=gid, text="发错了的秘密"))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    open_actions(page, "发错了的秘密")
    bg.run(bob.request("delete_message", group_id=gid, seq=r["seq"]))   # Bob recalls it
    expect(message(page, "撤回")).to_be_visible()                          # (the chat shows the recall)
    page.wait_for_timeout(500)
    menu = page.locator("#message-actions").inner_text() if page.locator("#message-actions").count() else ""
    reply_bar = ""
    if menu:   # the menu stayed open over the recalled message: its Reply is still offered
        page.click("#act-reply")
        reply_bar = page.locator("#reply-bar").inner_text()
    assert "发错了的秘密" not in reply_bar, reply_bar
    assert "发错了的秘密" not in menu, menu
    assert page.errors == []


def test_namesakes_are_told_apart_in_the_mention_picker_at_phone_width(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, w1, w2 = bg.run(server.user()), bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="手机", category="friends", join_policy="open"))["group_id"]
    for c in (w1, w2):
        bg.run(c.request("join_group", group_id=gid))
        bg.run(c.request("set_profile", display_name="W" * 32))
    page = new_page(browser, server, width=360, height=740, touch=True)
    login(page, owner.username)
    page.tap(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#composer-text:enabled")
    page.fill("#composer-text", "@W")
    opts = page.locator("#mention-picker .pick")
    expect(opts).to_have_count(2)
    picker = page.locator("#mention-picker").bounding_box()
    assert picker is not None
    for i in range(2):
        tail = opts.nth(i).locator("small.mono")   # "…" and the end of the user id: which W is which
        expect(tail).to_have_text("…" + str(opts.nth(i).get_attribute("data-uid"))[-6:])
        box = tail.bounding_box()
        assert box is not None and box["x"] + box["width"] <= picker["x"] + picker["width"], (box, picker)
    assert page.evaluate("(() => { const p = document.getElementById('mention-picker');"
                         " return p.scrollWidth <= p.clientWidth; })()")
    assert page.errors == []





def test_a_comment_being_written_survives_a_language_switch(browser: Any, server: ServerProcess) -> None:
    from tests.web.browser import create_account, open_post, publish, register, verify_identity
    page = new_page(browser, server)
    register(page, server, display="Alice")
    verify_identity(page)
    create_account(page, "读书笔记")
    publish(page, "第一篇", "正文")
    open_post(page, "第一篇")
    page.fill("#comment-text", "写了一半的评论")
    page.click("#lang-btn")
    expect(page.locator("#tab-groups")).to_have_text("Groups")
    expect(page.locator("#post-title")).to_have_text("第一篇")
    expect(page.locator("#comment-text")).to_have_value("写了一半的评论")
    assert page.errors == []


def test_a_language_switch_keeps_the_readers_place_in_the_chat(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = tea_room(bg, server)
    for i in range(60):
        bg.run(bob.request("send", group_id=gid, text=f"第 {i} 条"))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    message(page, "第 59 条")
    # The reader scrolls up to read message 20 (all 60 are held: no older page to load).
    message(page, "第 20 条").evaluate("n => n.scrollIntoView({ block: 'start' })")
    page.wait_for_timeout(300)
    gap = ("(() => { const s = document.getElementById('scroller');"
           " return s.scrollHeight - s.scrollTop - s.clientHeight; })()")
    assert page.evaluate(gap) > 500   # far from the bottom
    page.click("#lang-btn")
    expect(page.locator("#tab-groups")).to_have_text("Groups")
    page.wait_for_timeout(300)
    assert page.evaluate(gap) > 500, "the language switch threw the reader to the newest message"
    assert page.errors == []



def test_a_group_gone_closes_the_recall_confirmation_opened_from_its_message(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = tea_room(bg, server)
    page = new_page(browser, server)
    login(page, bob.username)
    page.click(f"#group-list [data-gid='{gid}']")
    send(page, "我的话")
    page.wait_for_selector("#messages .msg:not(.pending) .text:has-text('我的话')")
    open_actions(page, "我的话")
    page.click("#act-delete")
    page.wait_for_selector("#confirm-ok")
    bg.run(owner.request("kick", group_id=gid, user_id=bob.user_id))
    expect(page.locator(f"#group-list [data-gid='{gid}']")).to_have_count(0)
    # The group's dialogs close with it (its panel, the message's menu...): not this one, whose
    # 撤回 then answers 你不是该群成员.
    expect(page.locator("#confirm-ok")).to_have_count(0)
    assert page.errors == []


def test_cancelling_a_reply_from_the_keyboard_keeps_the_focus(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = tea_room(bg, server)
    bg.run(bob.request("send", group_id=gid, text="问个问题"))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    open_actions(page, "问个问题")
    page.click("#act-reply")
    expect(page.locator("#composer-text")).to_be_focused()
    page.focus("#reply-cancel")                 # (Tab to the reply bar's ✕)
    page.keyboard.press("Enter")
    expect(page.locator("#reply-bar")).to_be_hidden()
    assert page.evaluate("document.activeElement !== document.body"), "the focus fell onto the page"
    assert page.errors == []


def test_the_new_messages_below_button_keeps_the_focus(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = tea_room(bg, server)
    for i in range(40):
        bg.run(bob.request("send", group_id=gid, text=f"第 {i} 条"))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    message(page, "第 39 条")
    page.evaluate("document.getElementById('scroller').scrollTop = 0")
    bg.run(bob.request("send", group_id=gid, text="新来的"))
    page.wait_for_selector("#new-below:visible")
    page.focus("#new-below")
    page.keyboard.press("Enter")                 # ↓ 1 条新消息, from the keyboard
    expect(page.locator("#new-below")).to_be_hidden()
    assert page.evaluate("document.activeElement !== document.body"), "the focus fell onto the page"
    assert page.errors == []
