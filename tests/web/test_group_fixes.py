"""What a web reviewer found in the group flows: system lines of a group whose chat the page had not
opened named members 用户, a group closed with its owner's blacklisting said English words in a
Chinese notice, a group gone while the page was away vanished without a word (with what was typed
for it), and one's own reaction left on another device was not shown as one's own."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess, open_group
from tests.web.browser import Background, Cable, login, message, new_page, open_actions, send


def _sys_lines(page: Any) -> list[str]:
    return [x.strip() for x in page.locator("#messages .sys").all_inner_texts()]


def _owner_and_bob(server: ServerProcess, bg: Background, **group: Any) -> tuple[Any, Any, str]:
    """Two users (clients), Bob a member of the owner's open group: them and the group's id."""
    owner, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(owner, **group))
    bg.run(bob.request("join_group", group_id=gid))
    return owner, bob, gid


def test_system_lines_of_a_group_not_opened_yet_name_the_members(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = _owner_and_bob(server, bg)
    page = new_page(browser, server)
    login(page, bob.username)
    page.wait_for_selector(f"#group-list [data-gid='{gid}']")
    dave = bg.run(server.user())
    bg.run(dave.request("join_group", group_id=gid))
    bg.run(owner.request("mute", group_id=gid, user_id=bob.user_id, seconds=600))
    bg.run(owner.request("mute", group_id=gid, user_id=bob.user_id, seconds=0))
    bg.run(owner.request("set_role", group_id=gid, user_id=bob.user_id, role="admin"))
    bg.run(dave.request("leave_group", group_id=gid))
    page.wait_for_timeout(500)  # (the events reach the page before its chat is opened)
    page.click(f"#group-list [data-gid='{gid}']")
    bob_name, dave_name = bob.username.title(), dave.username.title()
    expect(page.locator("#messages .sys", has_text="退出了群聊")).to_have_count(1)
    lines = _sys_lines(page)
    assert f"{dave_name} 加入了群聊" in lines and f"{dave_name} 退出了群聊" in lines, lines
    assert f"{bob_name} 被解除禁言" in lines and f"{bob_name} 现在是管理员" in lines, lines
    assert not [x for x in lines if x.startswith("用户 ")], lines
    assert page.errors == []


def test_a_group_closed_with_its_owners_blacklisting_is_said_in_chinese(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = _owner_and_bob(server, bg, name="茶话会")
    page = new_page(browser, server)
    login(page, bob.username)
    page.wait_for_selector(f"#group-list [data-gid='{gid}']")
    rc, _, err = bg.run(server.admin("blacklist", owner.username, "--reason", "诈骗"))
    assert rc == 0, err
    # (the closing reached the page: the bell's list is what had come when it opens)
    expect(page.locator(f"#group-list [data-gid='{gid}']")).to_have_count(0)
    page.click("#btn-notices")
    item = page.locator("#notice-list li", has_text="茶话会").first
    expect(item).to_contain_text("群主被平台列入黑名单")
    expect(item).to_contain_text("诈骗")
    assert "owner blacklisted" not in item.inner_text()
    assert page.errors == []


def test_a_group_gone_while_away_is_said_with_what_was_typed_for_it(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = _owner_and_bob(server, bg, name="读书会")
    page = new_page(browser, server)
    cable = Cable(page)
    login(page, bob.username)
    page.click(f"#group-list [data-gid='{gid}']")
    send(page, "第一句")
    page.wait_for_selector("#messages .msg .text:has-text('第一句')")
    cable.cut()
    page.wait_for_selector("#status.status-reconnecting")
    send(page, "离线时写的")  # waits in the outbox
    page.fill("#composer-text", "还没发出的草稿")
    bg.run(owner.request("kick", group_id=gid, user_id=bob.user_id))
    cable.mend()
    page.wait_for_selector("#status.status-connected", timeout=20_000)
    expect(page.locator(f"#group-list [data-gid='{gid}']")).to_have_count(0)
    page.click("#btn-notices")
    expect(page.locator("#notice-list li", has_text="你已不在群「读书会」中")).to_have_count(1)
    unsent = page.locator("#notice-list li", has_text="未能发往群「读书会」")
    expect(unsent).to_contain_text("「离线时写的」")
    expect(unsent).to_contain_text("「还没发出的草稿」")
    assert page.errors == []


def test_a_reaction_left_on_another_device_shows_as_ones_own(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """Whose reaction a chip is was known only to the browser that left it (then: shown as his
    once clicked). Now history says so (``my_reactions``): his chips are his at once, the owner's
    are not, and one click takes his back."""
    owner, bob, gid = _owner_and_bob(server, bg)
    seq = bg.run(owner.request("send", group_id=gid, text="早上好"))["seq"]
    bg.run(bob.request("react", group_id=gid, seq=seq, emoji="👍", on=True))  # "another device"
    bg.run(owner.request("react", group_id=gid, seq=seq, emoji="❤", on=True))
    page = new_page(browser, server)
    login(page, bob.username)
    page.click(f"#group-list [data-gid='{gid}']")
    chip = message(page, "早上好").locator(".reaction[data-emoji='👍']")
    expect(chip.locator(".count")).to_have_text("1")
    expect(chip).to_have_class("reaction mine")
    expect(chip).to_have_attribute("aria-pressed", "true")
    expect(message(page, "早上好").locator(".reaction[data-emoji='❤']")).to_have_class("reaction")
    chip.click()  # one click takes it back
    expect(message(page, "早上好").locator(".reaction[data-emoji='👍']")).to_have_count(0)
    expect(message(page, "早上好").locator(".reaction")).to_have_count(1)
    open_actions(page, "早上好")  # (the menu still offers it again)
    assert page.errors == []


def test_an_account_at_its_connections_cap_is_told_to_close_one(browser: Any, tmp_path: Any, bg: Background) -> None:
    """The diff review: refused for the account's connection cap, the page said "too fast; try
    again in 5 s" (or "the server cannot sign you in") and went on retrying without saying what
    would cure it."""
    import os

    from tests.e2e.harness import ServerProcess

    os.environ["QUNGUAN_RATE_LIMITS_CONNECTIONS_PER_USER"] = "1"
    try:
        srv = ServerProcess(tmp_path).start()
    finally:
        del os.environ["QUNGUAN_RATE_LIMITS_CONNECTIONS_PER_USER"]
    try:
        other = bg.run(srv.user())  # the account's one connection, on "another device"
        page = new_page(browser, srv)
        page.fill("#login-username", other.username)
        page.fill("#login-password", "password123")
        page.click("#login-submit")
        expect(page.locator("#form-msg")).to_contain_text("此账号在线的连接已达上限")
        bg.run(other.close())
        page.wait_for_timeout(300)
        login(page, other.username)
        assert page.errors == []
    finally:
        srv.stop()
