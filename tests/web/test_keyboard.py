"""What a keyboard and screen-reader review of the web client found: a long announcement left no
room for the messages, the focus fell to the page's start after acting on a message or leaving a
group, dialogs opened on their close button, a chat opened from the keyboard left the focus in the
list, Space did not open an item, pictures could not be opened without a mouse, switching language
wiped the login and registration forms, new messages were not announced, a join's refusal showed
under the create form, and English times read "01:05 PM"."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess, open_group
from tests.web.browser import Background, create_group, login, message, new_page, register, send, tiny_png

ACTIVE = "() => { const a = document.activeElement; return a ? (a.id || a.className || a.tagName) : null; }"


def _focused_in_message(page: Any, seq: int) -> bool:
    return bool(page.evaluate(
        "(seq) => { const a = document.activeElement; const m = a && a.closest('.msg');"
        " return !!m && m.dataset.seq === String(seq) && a.classList.contains('more'); }", seq))


def test_a_long_announcement_leaves_the_messages_and_the_composer_their_room(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    rules = "\n".join(f"第{i}条群规：发言请友善，不发广告。" for i in range(1, 61))
    bg.run(owner.request("set_announcement", group_id=gid, text=rules))
    page = new_page(browser, server, width=360, height=640)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    expect(page.locator("#announce")).to_contain_text("第60条群规")
    heights = page.evaluate("() => [document.querySelector('#announce').getBoundingClientRect().height,"
                            " document.querySelector('#scroller').getBoundingClientRect().height,"
                            " document.querySelector('#composer-text').getBoundingClientRect().bottom]")
    announce, scroller, composer_bottom = heights
    assert announce <= 0.25 * 640 and scroller >= 250 and composer_bottom <= 640, heights
    # the whole of it is still there to read, in its own scrolling band
    assert page.evaluate("() => { const a = document.querySelector('#announce');"
                         " return a.scrollHeight > a.clientHeight; }")
    assert page.errors == []


def test_the_keyboard_keeps_its_place_after_acting_on_a_message(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    seq = bg.run(owner.request("send", group_id=gid, text="早上好"))["seq"]
    page = new_page(browser, server)
    login(page, owner.username)
    item = page.locator(f"#group-list [data-gid='{gid}']")
    item.focus()
    page.keyboard.press("Enter")  # opened from the keyboard: on to the composer
    expect(page.locator("#composer-text")).to_be_focused()
    more = message(page, "早上好").locator(".more")
    assert "的消息的操作" in (more.get_attribute("aria-label") or "")  # whose message, and when
    assert page.get_attribute("#messages", "role") == "feed"  # (not a live log: see test_accessibility)

    more.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#message-actions")
    # A menu of actions opens on its close button: the Enter that opened it, held, repeats, and on
    # its first action (👍) it would react for everyone to see (the diff review).
    assert page.evaluate("() => document.activeElement.closest('.modal-head') !== null")
    page.locator("#act-edit").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#edit-text")).to_be_focused()  # the field to type in
    page.fill("#edit-text", "早上好呀")
    page.locator("#edit-save").focus()
    page.keyboard.press("Enter")
    expect(message(page, "早上好呀").locator(".edited")).to_be_visible()
    page.wait_for_function("(seq) => { const a = document.activeElement; const m = a && a.closest('.msg');"
                           " return !!m && m.dataset.seq === String(seq); }", arg=seq)
    assert _focused_in_message(page, seq), page.evaluate(ACTIVE)

    # a reaction from the menu: the message is drawn anew, the focus stays with it
    more = message(page, "早上好呀").locator(".more")
    more.focus()
    page.keyboard.press("Enter")
    page.locator("#emoji-row .emoji").first.focus()
    page.keyboard.press("Enter")
    expect(message(page, "早上好呀").locator(".reaction")).to_have_count(1)
    page.wait_for_function("(seq) => { const a = document.activeElement; const m = a && a.closest('.msg');"
                           " return !!m && m.dataset.seq === String(seq); }", arg=seq)
    assert page.evaluate("() => document.activeElement !== document.body")
    assert page.errors == []


def test_space_opens_a_group_and_a_confirmation_opens_on_its_harmless_button(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(owner))
    bg.run(bob.request("join_group", group_id=gid))
    page = new_page(browser, server, width=360, height=640)
    login(page, bob.username)
    page.locator(f"#group-list [data-gid='{gid}']").focus()
    page.keyboard.press(" ")
    expect(page.locator("#composer-text")).to_be_focused()
    page.locator("#btn-back").focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"#group-list [data-gid='{gid}']")).to_be_focused()  # back where it came from
    page.keyboard.press("Enter")
    page.locator("#btn-manage").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#btn-leave")
    page.locator("#btn-leave").focus()
    page.keyboard.press("Enter")
    expect(page.locator("dialog[open] button.ghost").last).to_be_focused()  # 取消, not 退出
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # 退出群: the chat and its panel go
    expect(page.locator(f"#group-list [data-gid='{gid}']")).to_have_count(0)
    page.wait_for_function("() => document.activeElement && document.activeElement !== document.body")
    assert page.evaluate("() => document.activeElement.id") == "btn-new-group"
    assert page.errors == []


def test_a_picture_opens_from_the_keyboard(browser: Any, server: ServerProcess) -> None:
    page = new_page(browser, server)
    register(page, server)
    create_group(page, "相册")
    page.set_input_files("#file-input", files=[{"name": "猫.png", "mimeType": "image/png", "buffer": tiny_png(40, 30)}])
    page.wait_for_selector("#attach-tray .attach-item.done[data-name='猫.png']")
    assert page.get_attribute("#attach-tray .attach-item button", "aria-label") == "取消 猫.png"
    send(page, "看这张图")
    img = message(page, "看这张图").locator("img.media-img")
    img.focus()
    expect(img).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#image-viewer")).to_be_visible()
    assert page.errors == []


def test_switching_language_keeps_what_was_typed_and_the_code_wait(browser: Any, server: ServerProcess) -> None:
    page = new_page(browser, server)
    page.fill("#login-username", "alice")
    page.fill("#login-password", "secret-words")
    page.click("#lang-btn")
    expect(page.locator("#login-submit")).to_have_text("Log in")
    assert page.input_value("#login-username") == "alice" and page.input_value("#login-password") == "secret-words"
    expect(page.locator("#lang-btn")).to_be_focused()
    page.click("#to-register")
    page.fill("#reg-phone", "13800138000")
    page.click("#reg-get-code")
    expect(page.locator("#form-msg")).to_contain_text("13800138000")
    assert page.is_disabled("#reg-get-code")
    page.click("#lang-btn")  # back to Chinese
    assert page.input_value("#reg-phone") == "13800138000"
    expect(page.locator("#form-msg")).to_have_text("验证码已发送到 13800138000")
    assert page.is_disabled("#reg-get-code")  # still waiting its 30 s
    assert page.get_attribute("#reg-phone", "aria-label") == "手机号"
    assert page.errors == []


def test_a_join_refusal_shows_by_the_join_form_and_english_times_are_not_padded(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    alice = bg.run(server.user())
    page = new_page(browser, server)
    page.click("#lang-btn")  # English
    login(page, alice.username)
    page.click("#btn-new-group")
    page.fill("#join-id", "999999999")
    page.click("#join-btn")
    expect(page.locator("#join-msg")).not_to_be_empty()
    expect(page.locator("#create-msg")).to_be_empty()
    times = page.evaluate("() => { const d = new Date(); d.setHours(9, 5);"
                          " return import('/i18n.js').then((m) => m.fmtTime(d.getTime())); }")
    assert times == "9:05 AM", times
    assert page.errors == []


def test_an_enter_that_confirms_a_chinese_candidate_sends_nothing(browser: Any, server: ServerProcess) -> None:
    """Safari's Enter that picks a pinyin candidate comes with isComposing false and key code 229:
    it sent the half-typed text. Such an Enter (either sign) now sends nothing; a plain one sends."""
    page = new_page(browser, server)
    register(page, server)
    create_group(page, "输入法")
    page.fill("#composer-text", "nihao")
    for init in ("{key: 'Enter', keyCode: 229, bubbles: true, cancelable: true}",
                 "{key: 'Enter', isComposing: true, bubbles: true, cancelable: true}"):
        page.evaluate("() => document.querySelector('#composer-text')"
                      f".dispatchEvent(new KeyboardEvent('keydown', {init}))")
    page.wait_for_timeout(300)
    assert page.input_value("#composer-text") == "nihao"
    assert page.locator("#messages .msg").count() == 0 and page.locator("#outbox .msg").count() == 0
    page.fill("#composer-text", "你好")
    page.press("#composer-text", "Enter")
    message(page, "你好")
    assert page.errors == []


def test_the_edit_dialog_saves_on_enter_and_says_a_blank_text_is_no_edit(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """Enter made a new line in the edit dialog (the composer sends on Enter), and a text cleared to
    nothing closed the dialog as if saved, saying nothing."""
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    bg.run(owner.request("send", group_id=gid, text="午饭吃什么"))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    message(page, "午饭吃什么").locator(".more").click()
    page.click("#act-edit")
    page.fill("#edit-text", "   ")
    page.press("#edit-text", "Enter")
    expect(page.locator("#edit-msg")).to_have_text("消息不能没有文字；要收回这条消息，请用「撤回」。")
    page.fill("#edit-text", "晚饭吃什么")
    page.press("#edit-text", "Shift+Enter")  # a new line, not a save
    expect(page.locator("#edit-text")).to_have_value("晚饭吃什么\n")
    page.press("#edit-text", "Enter")
    expect(page.locator("#edit-text")).to_have_count(0)
    expect(message(page, "晚饭吃什么").locator(".edited")).to_be_visible()
    assert page.errors == []


def test_the_arrow_keys_home_and_end_walk_the_list_of_groups(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """With many groups, the list took one Tab stop per group and the arrows did nothing there (the web
    review). Up, Down, Home and End now move between the groups; Enter opens the one reached."""
    owner = bg.run(server.user())
    gids = [bg.run(open_group(owner, name=f"群{i}")) for i in range(4)]
    page = new_page(browser, server)
    login(page, owner.username)
    items = page.locator("#group-list .group-item")
    expect(items).to_have_count(4)
    order = [items.nth(i).get_attribute("data-gid") for i in range(4)]
    assert sorted(order) == sorted(gids)
    items.first.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(items.nth(2)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("End")
    expect(items.nth(3)).to_be_focused()
    page.keyboard.press("ArrowDown")  # (the last stays)
    expect(items.nth(3)).to_be_focused()
    page.keyboard.press("Home")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#chat-gid")).to_have_text(str(order[1]))
    assert page.errors == []
