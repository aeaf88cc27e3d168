"""What an accessibility review found with the keyboard and the accessibility tree: the message list
was a live log, so every reaction, edit or recall read the whole message out again and every older
page read back was read out; the focus fell to the page after a recall, after the last older page
loaded and after a jump to a message; a new chat left the focus on ＋; a confirmation did not say its
question; the group list read the avatar's letter and a bare number; Tab after "@" gave an owner's
message @所有人; search hits were not said; the connection's loss was not said on a phone; muted and
amber text was under 4.5:1."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess, open_group
from tests.web.browser import (
    Background,
    Cable,
    create_group,
    login,
    message,
    new_page,
    send,
    three_in_a_group,
)


def _said(page: Any, text: str) -> None:
    """Waits until the screen reader's live region (dom.js ``announce``) says ``text``."""
    page.wait_for_function("(text) => ((document.getElementById('sr-live') || {}).textContent || '').includes(text)",
                           arg=text)


def test_new_messages_are_said_once_and_a_reaction_or_an_older_page_says_nothing(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    gid, alice, bob, _carol = three_in_a_group(bg, server)
    for i in range(60):
        bg.run(bob.request("send", group_id=gid, text=f"旧消息 {i}"))
    page = new_page(browser, server)
    login(page, alice.username)
    page.click(f"#group-list [data-gid='{gid}']")
    message(page, "旧消息 59")
    feed = page.locator("#messages")
    assert (feed.get_attribute("role"), feed.get_attribute("aria-live")) == ("feed", None)
    last = message(page, "旧消息 59")
    assert last.get_attribute("role") == "article"
    assert last.get_attribute("aria-label").startswith(bob.username.title() + " ")  # who, and when

    seq = bg.run(bob.request("send", group_id=gid, text="你好，Alice"))["seq"]
    _said(page, f"{bob.username.title()}：你好，Alice")
    # A burst is said as how many came, and the last.
    for i in range(3):
        bg.run(bob.request("send", group_id=gid, text=f"连发 {i}"))
    _said(page, "3 条新消息，最新一条：" + bob.username.title() + "：连发 2")
    # The group's news is said too (the list said it as a live log did before).
    newcomer = bg.run(server.user())
    bg.run(newcomer.request("join_group", group_id=gid))
    _said(page, newcomer.username.title())

    page.evaluate("() => { window.__said = []; new MutationObserver(() => window.__said.push("
                  "document.getElementById('sr-live').textContent)).observe(document.getElementById('sr-live'),"
                  " { childList: true, characterData: true, subtree: true }); }")
    bg.run(bob.request("react", group_id=gid, seq=seq, emoji="👍", on=True))
    expect(message(page, "你好，Alice").locator(".reaction")).to_have_count(1)
    page.evaluate("() => document.querySelector('#load-earlier').click()")  # an older page read back
    message(page, "旧消息 0")
    page.wait_for_timeout(900)  # (longer than a burst's gathering)
    assert [s for s in page.evaluate("() => window.__said") if s] == []
    assert feed.get_attribute("aria-busy") is None
    assert page.errors == []


def test_the_focus_stays_on_a_message_recalled_on_the_last_older_page_and_on_a_jump(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    for i in range(70):  # (more than the 50 a chat opens with: one older page to load)
        bg.run(owner.request("send", group_id=gid, text=f"第 {i} 条"))
    page = new_page(browser, server)
    login(page, owner.username)
    page.locator(f"#group-list [data-gid='{gid}']").focus()
    page.keyboard.press("Enter")
    send(page, "说错了")
    recalled = message(page, "说错了")
    seq = int(recalled.get_attribute("data-seq"))
    recalled.locator(".more").focus()
    page.keyboard.press("Enter")
    page.locator("#act-delete").focus()
    page.keyboard.press("Enter")
    question = page.locator("dialog[open]").last.get_attribute("aria-describedby")  # (said with the title)
    assert question and page.locator(f"#{question}").inner_text().startswith("撤回这条消息？"), question
    page.locator("#confirm-ok").focus()
    page.keyboard.press("Enter")
    gone = page.locator(f"#messages .msg[data-seq='{seq}']")
    expect(gone).to_have_class("msg mine is-deleted")
    expect(gone).to_be_focused()  # (it has no control left: itself, not the page)

    # The last older page: the button that loaded it is disabled, the focus goes to the oldest message.
    button = page.locator("#load-earlier")
    button.focus()
    page.evaluate("() => document.querySelector('#load-earlier').click()")
    expect(button).to_be_disabled()
    oldest = page.locator("#messages .msg").first
    expect(oldest).to_be_focused()

    # A search hit opened: the focus is on the message found, not back on 搜索.
    page.click("#btn-search")
    page.fill("#search-input", "第 3 条")
    page.keyboard.press("Enter")
    expect(page.locator("#search-dialog .form-msg")).to_have_text("找到 1 条")
    page.locator("#search-results .hit-main").first.focus()
    page.keyboard.press("Enter")
    expect(message(page, "第 3 条")).to_be_focused()
    assert page.errors == []


def test_a_new_chat_takes_the_focus(browser: Any, server: ServerProcess, bg: Background) -> None:
    owner = bg.run(server.user())
    page = new_page(browser, server)
    login(page, owner.username)
    create_group(page, "无障碍测试")
    expect(page.locator("#composer-text")).to_be_focused()  # (not ＋, left behind in the list)
    assert page.errors == []


def test_the_group_list_says_counts_in_words_and_marks_the_open_group(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    gid, alice, bob, _carol = three_in_a_group(bg, server)
    other = bg.run(open_group(alice, name="另一个群"))
    bg.run(alice.request("send", group_id=other, text="hi"))
    page = new_page(browser, server)
    login(page, alice.username)
    for i in range(3):
        bg.run(bob.request("send", group_id=gid, text=f"未读 {i}"))
    item = page.locator(f"#group-list [data-gid='{gid}']")
    # (no avatar letter, no bare 3; the last message's sender named, as the list shows it)
    expect(item).to_have_attribute("aria-label", f"tea room，群主，3 条未读，{bob.username.title()}：未读 2")
    assert item.locator(".avatar").get_attribute("aria-hidden") == "true"
    page.click(f"#group-list [data-gid='{other}']")
    expect(page.locator(f"#group-list [data-gid='{other}']")).to_have_attribute("aria-current", "true")
    assert item.get_attribute("aria-current") is None
    assert page.errors == []


def test_tab_after_at_moves_on_without_mentioning_everyone(browser: Any, server: ServerProcess,
                                                           bg: Background) -> None:
    owner, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(owner))
    bg.run(bob.request("join_group", group_id=gid))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    box = page.locator("#composer-text")
    box.press_sequentially("晚上见 @")
    expect(page.locator("#mention-picker .pick").first).to_have_attribute("data-uid", "all")
    page.keyboard.press("Tab")
    expect(box).to_have_value("晚上见 @")  # (the @所有人 the list offered first was not taken)
    expect(page.locator("#mention-picker")).to_be_hidden()
    expect(box).not_to_be_focused()  # (on to the next control, as Tab goes)
    # Chosen with the arrows, Tab takes it as Enter does.
    box.press("Backspace")
    box.press_sequentially("@")
    expect(page.locator("#mention-picker .pick")).to_have_count(2)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    expect(box).to_have_value(f"晚上见 @{bob.username.title()} ")
    # Tabbed away and straight back, a list typed anew stays: the first blur's late close took it (CI).
    box.press_sequentially("@")
    expect(page.locator("#mention-picker .pick")).to_have_count(2)
    page.evaluate("""() => { const box = document.getElementById('composer-text');
      box.blur(); box.focus();  // (away and back at once, then "@" typed anew)
      box.value = box.value.slice(0, -1); box.dispatchEvent(new Event('input'));
      box.value += '@'; box.dispatchEvent(new Event('input')); }""")
    page.wait_for_timeout(400)  # (past the blur's 150 ms)
    expect(page.locator("#mention-picker")).to_be_visible()
    expect(page.locator("#mention-picker .pick")).to_have_count(2)
    assert page.errors == []


def test_a_lost_connection_is_said_on_a_phone_showing_a_chat(browser: Any, server: ServerProcess,
                                                             bg: Background) -> None:
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, server, width=360, height=640)
    cable = Cable(page)
    page.reload()
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    expect(page.locator("#sidebar")).to_be_hidden()
    cable.cut()
    _said(page, "连接中断，正在重连")
    cable.mend()
    _said(page, "已连接")
    assert page.errors == []


def test_small_text_colours_reach_four_and_a_half_to_one(browser: Any, server: ServerProcess) -> None:
    page = new_page(browser, server)
    ratios = page.evaluate("""() => {
      const css = getComputedStyle(document.documentElement);
      const rgb = (v) => { const h = v.trim().replace('#', '');
                           return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16) / 255); };
      const lum = (v) => { const [r, g, b] = rgb(v).map((c) => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
                           return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
      const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
                                return (x + 0.05) / (y + 0.05); };
      const v = (n) => css.getPropertyValue(n);
      return { muted_bg: ratio(v('--muted'), v('--bg')), muted_soft: ratio(v('--muted'), v('--green-soft')),
               amber_white: ratio(v('--amber'), '#ffffff'), amber_bg: ratio(v('--amber'), v('--bg')) };
    }""")
    assert all(r >= 4.5 for r in ratios.values()), ratios


# Each animation frame's callbacks run 2 s late, as in a tab the browser has too busy to draw.
SLOW_FRAMES = """(() => { const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (cb) => { setTimeout(() => raf(cb), 2000); return 0; }; })()"""


def test_a_login_starts_at_the_group_list_when_the_tab_has_not_drawn_a_frame_yet(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    # (the list was drawn at the next frame only: a login answered before it put the focus on ＋)
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, server)
    page.add_init_script(SLOW_FRAMES)
    page.reload()
    login(page, owner.username)
    expect(page.locator(f"#group-list [data-gid='{gid}']")).to_be_focused(timeout=1000)
    assert page.errors == []


def test_a_login_starts_at_the_group_list_and_the_tabs_go_by_arrows(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, server)
    login(page, owner.username)
    expect(page.locator(f"#group-list [data-gid='{gid}']")).to_be_focused()  # (not the page)
    tab = page.locator("#tab-groups")
    assert (tab.get_attribute("tabindex"), page.get_attribute("#tab-accounts", "tabindex")) == ("0", "-1")
    tab.focus()
    page.keyboard.press("ArrowRight")  # (the focus moves; the open chat stays until Enter shows the tab)
    expect(page.locator("#tab-accounts")).to_be_focused()
    expect(page.locator("#tab-accounts")).to_have_attribute("aria-selected", "false")
    page.keyboard.press("Enter")
    expect(page.locator("#tab-accounts")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#account-side")).to_be_visible()
    assert page.get_attribute("#account-side", "role") == "tabpanel"
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#tab-groups")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#group-side")).to_be_visible()
    assert page.errors == []


def test_page_keys_step_through_the_messages_and_ctrl_end_leaves_them(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A chat's every message has its ⋯ (and links, quotes, reactions): Tab went through all of them.
    The feed's keys step from message to message and out to the composer."""
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    seqs = [bg.run(owner.request("send", group_id=gid, text=f"第 {i} 条"))["seq"] for i in range(5)]
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    message(page, "第 1 条").locator(".more").focus()
    page.keyboard.press("PageDown")
    expect(page.locator(f"#messages .msg[data-seq='{seqs[2]}']")).to_be_focused()
    page.keyboard.press("PageDown")
    page.keyboard.press("PageUp")
    expect(page.locator(f"#messages .msg[data-seq='{seqs[2]}']")).to_be_focused()
    page.keyboard.press("Control+End")
    expect(page.locator("#composer-text")).to_be_focused()
    assert page.errors == []


def test_the_count_near_the_limit_is_said_as_it_changes_zone_not_at_every_key(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The character count was a live region of its own: near the limit, every key typed read it out."""
    owner = bg.run(server.user())
    page = new_page(browser, server)
    login(page, owner.username)
    create_group(page, "字数提示")
    limit = bg.run(owner.request("me"))["max_text_chars"]  # (what the page counts against)
    count = page.locator("#composer-count")
    assert count.get_attribute("aria-live") is None
    page.fill("#composer-text", "字" * (int(limit * 0.9) - 1))
    expect(count).to_be_hidden()
    page.evaluate("() => { window.__said = []; new MutationObserver(() => {"
                  " const box = document.getElementById('sr-live');"
                  " if (box && box.textContent) window.__said.push(box.textContent); })"
                  ".observe(document.body, { childList: true, characterData: true, subtree: true }); }")
    page.type("#composer-text", "一二三四五")  # into the zone near the limit, then four keys more in it
    expect(count).to_be_visible()
    page.wait_for_timeout(300)
    assert page.evaluate("() => [...new Set(window.__said)]") == [f"{int(limit * 0.9)} / {limit} 字"]
    page.fill("#composer-text", "字" * limit)
    page.type("#composer-text", "多")  # over the limit: said once more
    _said(page, f"消息太长：{limit + 1} 字")
    assert page.errors == []
