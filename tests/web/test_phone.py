"""The web client on a phone (a touch screen at 360–390 px, no mouse), from a reviewer's walk through
it: the message menu by a long press, the keyboard kept up after a send, user ids a phone's keyboard
capitalises, a long unbroken name, dialogs that do not raise the keyboard over themselves, tap
targets of a finger's size, and the view kept at the bottom when the last message grows."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import Background, login, message, new_page


def _phone(browser: Any, server: ServerProcess, username: str, gid: str, width: int = 390) -> Any:
    page = new_page(browser, server, width=width, height=844, touch=True)
    login(page, username)
    page.tap(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#composer-text:enabled")
    return page


def _group(bg: Background, server: ServerProcess) -> tuple[Any, Any, str]:
    owner, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="手机", category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("join_group", group_id=gid))
    return owner, bob, gid


def _long_press(page: Any, locator: Any) -> None:
    """A finger held on ``locator`` (touchstart, then nothing until the press counts as long)."""
    locator.evaluate("""n => { const r = n.getBoundingClientRect();
        const t = new Touch({ identifier: 1, target: n, clientX: r.x + 5, clientY: r.y + 5 });
        n.dispatchEvent(new TouchEvent("touchstart", { touches: [t], targetTouches: [t], changedTouches: [t],
                                                     bubbles: true, cancelable: true })); }""")
    page.wait_for_timeout(700)


def test_a_long_press_opens_the_message_menu_and_a_tap_on_send_keeps_the_keyboard(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = _group(bg, server)
    bg.run(bob.request("send", group_id=gid, text="鲍勃的消息"))
    page = _phone(browser, server, owner.username, gid)
    text = page.locator("#composer-text")
    assert text.get_attribute("enterkeyhint") == "send"
    text.tap()
    text.fill("第一条")
    page.tap("#send-btn")
    message(page, "第一条")
    # The focus stayed in the text box (it went to the button: a phone's keyboard closed at each send).
    assert page.evaluate("document.activeElement.id") == "composer-text"

    _long_press(page, message(page, "鲍勃的消息").locator(".bubble"))
    page.wait_for_selector("#message-actions")
    expect(page.locator("#message-actions #act-delete")).to_have_text("删除")
    page.locator("dialog[open] .modal-head button").tap()
    expect(page.locator("#message-actions")).to_have_count(0)
    # Android's long press comes as contextmenu: the same menu, and the browser's own is not shown.
    message(page, "第一条").locator(".bubble").dispatch_event("contextmenu")
    expect(page.locator("#message-actions #act-delete")).to_have_text("撤回")
    page.locator("dialog[open] .modal-head button").tap()
    # A finger's target: the ⋯, the send button and the attach button are about 40 px.
    for sel in ("#messages .msg .more", "#send-btn", "#chat-head .back"):
        box = page.locator(sel).last.bounding_box()
        assert box is not None and box["height"] >= 39 and box["width"] >= 39, (sel, box)
    assert page.errors == []


def test_a_user_id_the_keyboard_capitalised_still_invites(browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, _, gid = _group(bg, server)
    carol = bg.run(server.user())
    page = _phone(browser, server, owner.username, gid)
    page.tap("#btn-manage")
    field = page.locator("#invite-user")
    assert (field.get_attribute("autocapitalize"), field.get_attribute("autocorrect"),
            field.get_attribute("spellcheck")) == ("none", "off", "false")
    field.fill(carol.user_id.upper())  # (what a keyboard that capitalises the first letter, or all, sends)
    field.press("Enter")
    expect(page.locator("#toasts .toast").last).to_have_text("邀请已发送")
    assert bg.run(carol.next_event("invited", timeout=5))["group_id"] == gid
    assert page.errors == []


def test_a_long_unbroken_name_does_not_push_the_chat_sideways(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = _group(bg, server)
    bg.run(bob.request("set_profile", display_name="W" * 32))
    bg.run(bob.request("send", group_id=gid, text="长名字"))
    page = _phone(browser, server, owner.username, gid, width=360)
    meta = message(page, "长名字").locator(".meta")
    expect(meta.locator("time")).to_be_visible()
    assert page.evaluate("(() => { const s = document.getElementById('scroller');"
                         " return s.scrollWidth <= s.clientWidth; })()")
    box = meta.locator("time").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 360, box  # the time is on the screen
    assert page.errors == []


def test_a_dialog_on_a_phone_does_not_raise_the_keyboard_over_itself(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, _, gid = _group(bg, server)
    page = _phone(browser, server, owner.username, gid)
    page.tap("#chat-head .back")  # (at phone width the list, with the profile button, and the chat take turns)
    page.tap("#btn-profile")
    page.wait_for_selector("dialog[open] #profile-name")
    assert page.evaluate("document.activeElement.tagName") not in ("INPUT", "TEXTAREA")
    page.locator("dialog[open] .modal-head button").tap()
    page.tap(f"#group-list [data-gid='{gid}']")
    page.tap("#btn-search")
    page.wait_for_selector("#search-input")
    assert page.evaluate("document.activeElement.id") == "search-input"  # a search is what it is for
    assert page.errors == []


def test_the_view_stays_at_the_bottom_when_the_last_message_grows(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = _group(bg, server)
    for i in range(30):
        bg.run(bob.request("send", group_id=gid, text=f"填充 {i}"))
    last = bg.run(bob.request("send", group_id=gid, text="最后一条"))["seq"]
    page = _phone(browser, server, owner.username, gid)
    message(page, "最后一条")
    # (a function, not a bare expression: Playwright evaluates a bare one with eval() when it polls again,
    # which the page's Content-Security-Policy refuses; it passed only when the first check held)
    at_bottom = ("(() => { const s = document.getElementById('scroller');"
                 " return s.scrollHeight - s.scrollTop - s.clientHeight; })()")
    page.wait_for_function(f"() => {at_bottom} < 2")
    bg.run(bob.request("react", group_id=gid, seq=last, emoji="👍", on=True))
    expect(message(page, "最后一条").locator(".reaction")).to_have_count(1)
    page.wait_for_function(f"() => {at_bottom} < 2")
    assert page.errors == []


def test_a_tap_folds_the_announcement_to_one_line_and_a_new_one_unfolds(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """With the keyboard up a phone had 110 px left for messages under a long announcement that
    could not be folded."""
    owner, _, gid = _group(bg, server)
    bg.run(owner.request("set_announcement", group_id=gid, text="群规\n" + "第一条 友善交流\n" * 6))
    page = _phone(browser, server, owner.username, gid)
    ann = page.locator("#announce")
    # The group's announcement arrives after the composer opens (its own request): wait for it.
    expect(ann).to_contain_text("友善交流")
    tall = ann.bounding_box()
    assert tall is not None and tall["height"] > 60, tall
    ann.tap()
    expect(ann).to_have_attribute("aria-expanded", "false")
    short = ann.bounding_box()
    assert short is not None and short["height"] < 40, short
    bg.run(owner.request("set_announcement", group_id=gid, text="新公告\n" * 5))
    expect(ann).to_contain_text("新公告")
    expect(ann).to_have_attribute("aria-expanded", "true")
    ann.tap()
    ann.tap()  # (and back)
    expect(ann).to_have_attribute("aria-expanded", "true")
    assert page.errors == []


def test_the_message_menu_copies_the_text(browser: Any, server: ServerProcess, bg: Background) -> None:
    """No 复制 in the menu: on a phone selecting a bubble's text is fiddly. (127.0.0.1 may use the
    Clipboard API; a server reached over plain HTTP on a LAN may not, and dom.js copyText then uses
    the older copy command, which this test does not reach.)"""
    owner, bob, gid = _group(bg, server)
    bg.run(bob.request("send", group_id=gid, text="复制这段话 copy me"))
    page = _phone(browser, server, owner.username, gid)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    message(page, "复制这段话").locator(".more").tap()
    page.locator("#message-actions #act-copy").tap()
    expect(page.locator("#toasts .toast").last).to_have_text("已复制")
    assert page.evaluate("navigator.clipboard.readText()") == "复制这段话 copy me"
    assert page.errors == []


def test_web_addresses_in_a_message_are_links(browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = _group(bg, server)
    bg.run(bob.request("send", group_id=gid, text="看这个 https://example.com/a?b=1。还有(https://example.org/x). "
                                                  "javascript:alert(1) 不是链接 @没人"))
    page = _phone(browser, server, owner.username, gid)
    text = message(page, "看这个").locator(".text")
    links = text.locator("a.msg-link")
    expect(links).to_have_count(2)
    assert [links.nth(k).get_attribute("href") for k in range(2)] == ["https://example.com/a?b=1", "https://example.org/x"]
    assert links.first.get_attribute("target") == "_blank"
    assert "noopener" in (links.first.get_attribute("rel") or "")
    # The text reads as it was sent, links and all.
    assert text.inner_text() == ("看这个 https://example.com/a?b=1。还有(https://example.org/x). javascript:alert(1) "
                                 "不是链接 @没人")
    assert page.errors == []


def test_a_tap_outside_a_dialog_closes_it_unless_something_was_typed_in_it(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A phone reviewer: only the small ✕ far up the screen closed a dialog; a tap on the dimmed page
    did nothing. It closes it now, but never one holding text the user typed (a report's detail)."""
    owner, bob, gid = _group(bg, server)
    bg.run(bob.request("send", group_id=gid, text="鲍勃的消息"))
    page = _phone(browser, server, owner.username, gid)
    message(page, "鲍勃的消息").locator(".more").tap()
    page.wait_for_selector("#message-actions")
    page.mouse.click(8, 8)  # (the dimmed page, outside the dialog)
    expect(page.locator("#message-actions")).to_have_count(0)
    message(page, "鲍勃的消息").locator(".more").tap()
    page.locator("#act-report-message").tap()
    detail = page.locator("dialog[open] textarea").first
    detail.fill("他在发广告")
    page.mouse.click(8, 8)
    expect(page.locator("dialog[open] textarea").first).to_have_value("他在发广告")  # still open, text kept
    assert page.errors == []


def test_back_goes_from_the_chat_to_the_list_of_groups(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A phone's Back button left the app from a chat (the page had no history entries of its own),
    where ‹ goes back to the list of groups (the web review). The open chat is now an entry in the
    browser's history. A reload still opens no chat (one opened by itself would count its messages
    read), and Back after it stays in the app."""
    owner, bob, gid = _group(bg, server)
    other = bg.run(owner.request("create_group", name="另一个", category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("send", group_id=gid, text="在吗"))
    page = _phone(browser, server, owner.username, gid)
    app_url = page.url
    page.go_back()
    page.wait_for_selector("body:not(.show-chat) #group-list")
    assert page.url == app_url  # still the app, at its list of groups
    page.go_forward()
    page.wait_for_selector("body.show-chat #composer-text:enabled")
    message(page, "在吗")
    page.reload()
    page.wait_for_selector("#status.status-connected")
    page.wait_for_selector("body:not(.show-chat) #group-list")
    page.tap(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("body.show-chat #composer-text:enabled")
    # ‹ is Back too; and a chat switched to replaces the entry, so Back leaves the chats, not walks them.
    page.tap("#chat-head .back")
    page.wait_for_selector("body:not(.show-chat) #group-list")
    page.tap(f"#group-list [data-gid='{other}']")
    page.wait_for_selector("body.show-chat #composer-text:enabled")
    page.go_back()
    page.wait_for_selector("body:not(.show-chat) #group-list")
    assert page.url == app_url
    assert page.errors == []
