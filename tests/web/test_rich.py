"""Richer messages in the browser: reply, @mention, reactions, editing, pins and search, live between two users."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import (
    Background,
    close_dialogs,
    create_group,
    join_group,
    late_answers,
    login,
    message,
    new_page,
    open_actions,
    register,
    run_async,
    send,
    three_in_a_group,
)


def _count(page: Any, text: str, emoji: str) -> Any:
    return message(page, text).locator(f".reaction[data-emoji='{emoji}'] .count")


def test_reply_mention_reaction_and_edit_live(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server)
    bob = new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "富消息")
    join_group(bob, gid)
    bob.wait_for_selector("#composer-text:enabled")
    send(alice, "今晚几点开会？")

    # Bob replies to it and mentions Alice through the member picker ("@" opens it).
    open_actions(bob, "今晚几点开会")
    bob.click("#act-reply")
    assert "今晚几点开会" in bob.inner_text("#reply-bar")
    bob.locator("#composer-text").press_sequentially("@Al")
    bob.wait_for_selector("#mention-picker .pick")
    assert bob.locator("#mention-picker .pick[data-uid='all']").count() == 0  # a member: no @所有人
    bob.click("#mention-picker .pick:has-text('Alice')")
    assert bob.input_value("#composer-text") == "@Alice "
    bob.locator("#composer-text").press_sequentially("八点")
    bob.press("#composer-text", "Enter")

    got = message(alice, "八点")
    assert got.locator(".reply-quote").inner_text() == "Alice：今晚几点开会？"
    assert got.locator(".mention.me").inner_text() == "@Alice"
    assert "mention-me" in (got.get_attribute("class") or "")
    got.locator(".reply-quote").click()  # jumps to the quoted message, which flashes
    alice.wait_for_selector("#messages .msg.flash:has-text('今晚几点开会')")

    # Reactions: counts live on both sides; one's own chip toggles.
    open_actions(alice, "八点")
    alice.click("#emoji-row .emoji[data-emoji='👍']")
    for p in (alice, bob):
        expect(_count(p, "八点", "👍")).to_have_text("1")
    expect(message(alice, "八点").locator(".reaction")).to_have_class("reaction mine")
    expect(message(bob, "八点").locator(".reaction")).to_have_class("reaction")
    message(bob, "八点").locator(".reaction[data-emoji='👍']").click()
    for p in (alice, bob):
        expect(_count(p, "八点", "👍")).to_have_text("2")
    expect(message(bob, "八点").locator(".reaction")).to_have_class("reaction mine")
    message(bob, "八点").locator(".reaction[data-emoji='👍']").click()
    for p in (alice, bob):
        expect(_count(p, "八点", "👍")).to_have_text("1")

    # Bob edits his message: both see the new text and 已编辑; Alice has no edit button on it.
    open_actions(alice, "八点")
    assert alice.locator("#act-edit").count() == 0
    close_dialogs(alice)
    open_actions(bob, "八点")
    bob.click("#act-edit")
    bob.fill("#edit-text", "@Alice 改成九点")
    bob.click("#edit-save")
    for p in (alice, bob):
        msg = message(p, "改成九点")
        expect(msg.locator(".edited")).to_have_text("已编辑")
        assert msg.locator(".reply-quote").count() == 1  # still a reply
        assert p.locator("#messages .msg .text:has-text('八点')").count() == 0

    # The owner may mention everyone; the member is told.
    alice.locator("#composer-text").press_sequentially("@")
    alice.click("#mention-picker .pick[data-uid='all']")
    alice.locator("#composer-text").press_sequentially("明天放假")
    alice.press("#composer-text", "Enter")
    notice = message(bob, "明天放假")
    assert notice.locator(".mention.me").inner_text() == "@所有人"
    assert "mention-me" in (notice.get_attribute("class") or "")
    assert alice.errors == [] and bob.errors == []


async def _fill(srv: ServerProcess, gid: str, texts: list[str]) -> None:
    c = await srv.user()
    try:
        await c.request("join_group", group_id=gid)
        for text in texts:
            await c.request("send", group_id=gid, text=text)
    finally:
        await c.close()


def test_search_finds_chinese_and_jumps_back_through_history(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    gid = create_group(alice, "搜索群")
    # An old message far above the page the client loads first (50), then a lot of chatter.
    chatter = [f"闲聊 {i}" for i in range(120)]
    run_async(_fill(server, gid, ["周六去颐和园划船，谁去？", *chatter, "Rowing on Saturday?"]))
    alice.reload()
    alice.wait_for_selector("#status.status-connected")
    alice.click(f'.group-item[data-gid="{gid}"]')
    message(alice, "Rowing on Saturday")
    assert alice.locator("#messages .msg:has-text('颐和园')").count() == 0

    alice.click("#btn-search")
    alice.fill("#search-input", "颐")  # one character is too short: said, not sent
    alice.click("#search-go")
    alice.wait_for_selector("#search-dialog .form-msg.error")
    alice.fill("#search-input", "颐和园")
    alice.click("#search-go")
    hit = alice.locator("#search-results .search-hit")
    hit.first.wait_for()
    assert hit.count() == 1 and "周六去颐和园划船" in hit.inner_text()
    alice.fill("#search-input", "颐")  # too short again: the last results go with it
    alice.click("#search-go")
    alice.wait_for_selector("#search-dialog .form-msg.error")
    assert hit.count() == 0 and alice.locator("#search-more").is_hidden()
    alice.fill("#search-input", "颐和园")
    alice.click("#search-go")
    hit.first.wait_for()
    hit.locator(".hit-main").click()
    alice.wait_for_selector("#messages .msg.flash:has-text('颐和园')")  # loaded back through history
    assert alice.locator("#search-dialog").count() == 0

    alice.click("#btn-search")
    alice.fill("#search-input", "rowing")  # case-insensitive
    alice.click("#search-go")
    alice.wait_for_selector("#search-results .search-hit:has-text('Rowing on Saturday?')")
    close_dialogs(alice)

    # Pin the old message: the bar shows it, and it survives a reload (group_info.pinned).
    open_actions(alice, "颐和园")
    alice.click("#act-pin")
    alice.wait_for_selector("#pin-bar:has-text('颐和园')")
    alice.reload()
    alice.wait_for_selector("#status.status-connected")
    alice.click(f'.group-item[data-gid="{gid}"]')
    alice.wait_for_selector("#pin-bar:has-text('颐和园')")
    alice.click("#pin-open")
    alice.wait_for_selector("#messages .msg.flash.is-pinned:has-text('颐和园')")
    assert alice.errors == []


def _kept(page: Any) -> list[str]:
    """The web client's keys in the page's localStorage."""
    keys: list[str] = page.evaluate("() => Object.keys(localStorage)")
    return sorted(k for k in keys if k.startswith("qg."))


def test_logout_forgets_which_messages_the_user_reacted_to(browser: Any, server: ServerProcess) -> None:
    """The browser remembers a user's own reactions while they are logged in; whoever uses it after
    they log out finds none of that (only the device's language choice stays). Logged in again, the
    user's own reactions come from the server (``my_reactions`` in history), not from the browser."""
    alice = new_page(browser, server)
    name = register(alice, server, display="Alice")
    gid = create_group(alice, "表情")
    send(alice, "早上好")
    open_actions(alice, "早上好")
    alice.click("#emoji-row .emoji[data-emoji='👍']")
    expect(message(alice, "早上好").locator(".reaction")).to_have_class("reaction mine")
    alice.evaluate("() => localStorage.setItem('qg.lang', 'zh-CN')")  # the device's language
    kept = _kept(alice)
    assert "qg.token" in kept and [k for k in kept if k.startswith("qg.react.")], kept

    alice.click("#btn-profile")
    alice.click("#btn-logout")
    alice.wait_for_selector("#login-username")
    assert _kept(alice) == ["qg.lang"]
    alice.reload()  # nothing left that logs anyone in
    alice.wait_for_selector("#login-username")
    login(alice, name)  # the same user again: the count and whose it is come from the server
    alice.click(f'.group-item[data-gid="{gid}"]')
    expect(_count(alice, "早上好", "👍")).to_have_text("1")
    expect(message(alice, "早上好").locator(".reaction")).to_have_class("reaction mine")
    assert alice.errors == []


def test_a_recalled_or_edited_message_leaves_reply_quotes_and_the_pin_bar(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """An edit or a recall redrew the message only: the quote of a reply to it and the pin bar kept
    the old text, a recalled message readable on every screen that had it quoted."""
    owner, carol = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="撤回", category="friends", join_policy="open"))["group_id"]
    bg.run(carol.request("join_group", group_id=gid))
    far = bg.run(carol.request("send", group_id=gid, text="远处原话"))["seq"]
    for i in range(55):  # far above the first page the client loads: quoted from a copy
        bg.run(carol.request("send", group_id=gid, text=f"填充 {i}"))
    near = bg.run(carol.request("send", group_id=gid, text="近处原话"))["seq"]
    bg.run(owner.request("send", group_id=gid, text="回远处", reply_to=far))
    bg.run(owner.request("send", group_id=gid, text="回近处", reply_to=near))
    bg.run(owner.request("pin_message", group_id=gid, seq=far, on=True))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    far_quote = message(page, "回远处").locator(".reply-quote")
    expect(far_quote).to_contain_text("远处原话")
    expect(page.locator("#pin-bar")).to_contain_text("远处原话")
    assert page.locator(f"#messages .msg[data-seq='{far}']").count() == 0

    bg.run(carol.request("edit_message", group_id=gid, seq=far, text="远处改过"))
    expect(far_quote).to_contain_text("远处改过")
    expect(page.locator("#pin-bar")).to_contain_text("远处改过")
    bg.run(carol.request("delete_message", group_id=gid, seq=far))
    expect(far_quote).to_contain_text("撤回了一条消息")
    expect(page.locator("#pin-bar")).to_contain_text("撤回了一条消息")
    assert "远处" not in far_quote.inner_text() and "远处" not in page.inner_text("#pin-bar")

    # A message the page holds: its quotes follow too.
    assert page.locator(f"#messages .msg[data-seq='{near}']").count() == 1
    near_quote = message(page, "回近处").locator(".reply-quote")
    expect(near_quote).to_contain_text("近处原话")
    bg.run(carol.request("delete_message", group_id=gid, seq=near))
    expect(near_quote).to_contain_text("撤回了一条消息")
    assert "近处原话" not in page.inner_text("#chat")
    assert page.errors == []


def test_the_message_menu_is_reached_with_the_keyboard(browser: Any, server: ServerProcess) -> None:
    """The ⋯ button was visibility:hidden until hovered, so Tab never reached it: reply, react,
    edit, pin, report and delete were mouse-only."""
    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    create_group(alice, "键盘")
    send(alice, "用键盘操作")
    message(alice, "用键盘操作")
    alice.focus("#composer-text")
    for _ in range(10):
        alice.keyboard.press("Shift+Tab")
        if alice.evaluate("() => document.activeElement.classList.contains('more')"):
            break
    assert alice.evaluate("() => document.activeElement.classList.contains('more')"), "Tab never reached ⋯"
    assert alice.evaluate("() => getComputedStyle(document.activeElement).opacity") == "1"
    label = alice.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert label.startswith("Alice ") and label.endswith(" 的消息的操作"), label  # whose message, and when
    alice.keyboard.press("Enter")
    alice.wait_for_selector("#message-actions #act-reply")
    alice.keyboard.press("Escape")
    expect(alice.locator("#message-actions")).to_have_count(0)
    assert alice.errors == []


def test_a_mention_stays_marked_after_the_member_renames(browser: Any, server: ServerProcess, bg: Background) -> None:
    """Mentions were marked by the members' names as they are now: in a group opened the first time
    (its member list not loaded yet) none was marked, and once a member renamed, the next redraw of a
    message that wrote "@OldName" (a reaction, the language switch) showed it as plain text."""
    gid, alice, bob, carol = three_in_a_group(bg, server)
    old = carol.username.title()
    seq = bg.run(bob.send(gid, f"@{old} 明天见", mentions=[carol.user_id]))["seq"]
    bg.run(bob.send(gid, "@Nobody 不是提及"))
    page = new_page(browser, server)
    login(page, carol.username)
    page.click(f"#group-list [data-gid='{gid}']")
    msg = message(page, "明天见")
    mention = msg.locator(".mention.me")
    expect(mention).to_have_text("@" + old)  # marked the first time the group is opened
    expect(mention).to_have_attribute("data-uid", carol.user_id)
    assert message(page, "不是提及").locator(".mention").count() == 0  # only the ids in `mentions`

    bg.run(carol.request("set_profile", display_name="Caz"))  # from another device
    expect(page.locator("#me-name")).to_have_text("Caz")
    expect(mention).to_have_attribute("title", "@Caz")
    bg.run(alice.request("react", group_id=gid, seq=seq, emoji="👍", on=True))  # the message is drawn again
    expect(msg.locator(".reaction .count")).to_have_text("1")
    expect(mention).to_have_text("@" + old)
    assert "mention-me" in (msg.get_attribute("class") or "")
    page.click("#lang-btn")  # the whole chat drawn again
    expect(message(page, "明天见").locator(".mention.me")).to_have_text("@" + old)
    bg.run(bob.send(gid, "@Caz see you", mentions=[carol.user_id]))  # the new name is marked too
    expect(message(page, "see you").locator(".mention.me")).to_have_text("@Caz")
    assert page.errors == []


def test_a_mention_of_a_member_renamed_before_the_page_loaded_is_marked(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A message says "@OldName" of a member who renamed before the page loaded: the page never
    knew the old name, and showed the mention as plain text. The message carries the member's id,
    not the name it wrote: the "@word" no known name explains is the mention, marked with the
    member's name now as its title (for the member themself as theirs)."""
    gid, alice, bob, carol = three_in_a_group(bg, server)
    old, bobs = carol.username.title(), bob.username.title()
    bg.run(bob.send(gid, f"@{old} 明天见", mentions=[carol.user_id]))
    bg.run(alice.send(gid, f"@{bobs} @{old}，开会", mentions=[bob.user_id, carol.user_id]))
    bg.run(bob.send(gid, f"@{old} 没有提及她"))  # no ids: plain text, as before
    bg.run(carol.request("set_profile", display_name="Caz"))
    for user, me in ((alice, False), (carol, True)):
        page = new_page(browser, server)
        login(page, user.username)
        page.click(f"#group-list [data-gid='{gid}']")
        mention = message(page, "明天见").locator(".mention")
        expect(mention).to_have_text("@" + old)
        expect(mention).to_have_attribute("data-uid", carol.user_id)
        expect(mention).to_have_attribute("title", "@Caz")
        assert ("me" in (mention.get_attribute("class") or "").split()) is me
        both = message(page, "开会").locator(".mention")
        expect(both).to_have_text(["@" + bobs, "@" + old])  # the comma after the name is not marked
        expect(both.nth(1)).to_have_attribute("data-uid", carol.user_id)
        expect(message(page, "没有提及她").locator(".mention")).to_have_count(0)
        assert page.errors == []
        page.context.close()


def test_a_reaction_named_like_an_objects_own_property_counts_live(browser: Any, server: ServerProcess) -> None:
    """A reaction is any short text: one named ``toString`` read the counts object's inherited method
    (a count of NaN, so the chip was left out), and ``__proto__`` set the object's prototype instead of
    a count. The counts have no prototype now: both show live, with their counts."""
    page = new_page(browser, server)
    register(page, server, display="Alice")
    gid = create_group(page, "表情")
    bg = Background()
    try:
        bob = bg.run(server.user())
        bg.run(bob.request("join_group", group_id=gid))
        send(page, "看这里")
        seq = bg.run(bob.next_event("message"))["seq"]
        for emoji in ("toString", "__proto__", "👍"):
            bg.run(bob.request("react", group_id=gid, seq=seq, emoji=emoji, on=True))
        for emoji in ("toString", "__proto__", "👍"):
            expect(_count(page, "看这里", emoji)).to_have_text("1")
    finally:
        bg.close()


def test_an_edit_that_overtakes_the_read_of_a_quoted_message_shows_in_the_quote(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A reply quotes a message older than the page holds: the page reads that one message. An edit of
    it made after the server read it comes as an event before the answer, and used to be lost: the
    quote showed the old text until a reload."""
    carol, alice = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(carol.request("create_group", name="引用", category="friends", join_policy="open"))["group_id"]
    bg.run(alice.request("join_group", group_id=gid))
    quoted = bg.run(carol.request("send", group_id=gid, text="原来说的"))["seq"]
    for i in range(55):   # (the page reads the latest 50: the quoted message is not among them)
        bg.run(carol.request("send", group_id=gid, text=f"填充 {i}"))
    bg.run(carol.request("send", group_id=gid, text="回复它", reply_to=quoted))
    page = new_page(browser, server)
    page.context.add_init_script(late_answers("history", 1500))
    page.reload()
    login(page, alice.username)
    page.wait_for_selector("body[data-outcomes='checked']")
    page.evaluate("() => { window.__slow = true; }")
    page.click(f"#group-list [data-gid='{gid}']")
    page.wait_for_function("() => window.__held > 0")   # the quoted message's read (the chat's came at login)
    page.evaluate("() => { window.__slow = false; }")
    bg.run(carol.request("edit_message", group_id=gid, seq=quoted, text="改过的说法"))
    quote = message(page, "回复它").locator(".reply-quote")
    expect(quote).to_contain_text("改过的说法")
    page.wait_for_timeout(300)
    expect(quote).to_contain_text("改过的说法")
    assert page.errors == []
