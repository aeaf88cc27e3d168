"""What a new user's first quarter of an hour found: the log showed an unmute as a mute until 1970
and a member who left by user id; a message refused for the rules said "no permission" and stayed
failed after the rules were accepted; logging out in one tab told the other "wrong username or
password"; a join by an unknown number said "object not found"; an approval group's creation said
anyone with the number could join."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess, open_group
from tests.web.browser import Background, login, new_page, run_async, send


def test_the_log_says_unmute_and_names_who_left(browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, carol = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(owner))
    bg.run(carol.request("join_group", group_id=gid))
    bg.run(owner.request("mute", group_id=gid, user_id=carol.user_id, seconds=600))
    bg.run(owner.request("mute", group_id=gid, user_id=carol.user_id, seconds=0))
    bg.run(carol.request("leave_group", group_id=gid))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    page.click("#btn-manage")
    page.click("#btn-group-log")
    unmute = page.locator("#log-list li[data-action='unmute']")
    expect(unmute).to_have_count(1)
    expect(unmute).to_contain_text("解除禁言")
    expect(unmute).to_contain_text(carol.username.title())  # left the group: named all the same
    assert "1970" not in unmute.inner_text() and carol.user_id not in page.inner_text("#log-list")
    assert page.errors == []


def test_a_message_held_back_by_the_rules_goes_once_they_are_accepted(
        browser: Any, server: ServerProcess, bg: Background, tmp_path: Any) -> None:
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    rules = tmp_path / "rules.txt"
    rules.write_text("友善发言", encoding="utf-8")
    rc, _, err = run_async(server.admin("set-agreement", "--version", "v1", "--rules-file", str(rules),
                                        "--agreement-file", str(rules)))
    assert rc == 0, err
    page.wait_for_selector("#agreement-dialog")
    expect(page.locator("#toasts")).to_contain_text("版本 v1")  # published, not "changed" (read while it shows)
    page.locator("#agreement-dialog .modal-head button").click()  # closed without accepting
    send(page, "大家好")
    failed = page.locator(".pending.failed", has_text="大家好")
    expect(failed).to_contain_text("同意")  # the rules, not "no permission"
    assert "没有权限" not in failed.inner_text()
    page.evaluate("() => import('/app.js').then((m) => m.showAgreement({version: 'v1', rules: '', agreement: ''}))")
    page.click("#accept-agreement")
    page.locator("#messages .msg", has_text="大家好").wait_for()  # sent by itself once accepted
    expect(page.locator(".pending", has_text="大家好")).to_have_count(0)
    assert page.errors == []


def test_a_logout_in_another_tab_is_said_as_such(browser: Any, server: ServerProcess, bg: Background) -> None:
    alice = bg.run(server.user())
    page = new_page(browser, server)
    login(page, alice.username)
    other = page.context.new_page()  # a second tab: the same saved login
    other.goto(page.url)
    other.wait_for_selector("body[data-synced]")
    other.click("#btn-profile")
    other.click("#btn-logout")
    other.wait_for_selector("#login-username")
    page.wait_for_selector("#login-username")
    expect(page.locator("#form-msg")).to_contain_text("退出登录")
    assert "密码错误" not in page.inner_text("#form-msg")


def test_joining_an_unknown_number_and_creating_an_approval_group_say_what_they_mean(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    alice = bg.run(server.user(verify_id=True))
    page = new_page(browser, server)
    login(page, alice.username)
    page.click("#btn-new-group")
    page.fill("#join-id", "999999999")
    page.click("#join-btn")
    expect(page.locator("#join-msg")).to_have_text("没有这个群：群号不存在，或群已解散")
    page.fill("#create-name", "读书会")
    page.select_option("#create-policy", "approval")
    page.click("#create-btn")
    expect(page.locator("#toasts")).to_contain_text("朋友凭群号申请加入")
    assert page.errors == []


def test_a_muted_member_is_not_offered_reactions(browser: Any, server: ServerProcess, bg: Background) -> None:
    """A muted member was offered the reaction buttons and then refused ("you are muted"): the
    server refuses a reaction as it refuses a message. The menu now says so instead, and a chip
    pressed says so without asking the server."""
    owner, carol = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(owner))
    bg.run(carol.request("join_group", group_id=gid))
    seq = bg.run(owner.request("send", group_id=gid, text="早上好"))["seq"]
    bg.run(owner.request("react", group_id=gid, seq=seq, emoji="👍", on=True))
    bg.run(owner.request("mute", group_id=gid, user_id=carol.user_id, seconds=600))
    page = new_page(browser, server)
    login(page, carol.username)
    page.click(f"#group-list [data-gid='{gid}']")
    expect(page.locator("#composer-text")).to_be_disabled()
    chip = page.locator("#messages .msg", has_text="早上好").locator(".reaction")
    chip.click()
    expect(page.locator("#toasts")).to_contain_text("不能加上或取消表情回应")
    expect(chip.locator(".count")).to_have_text("1")  # nothing sent
    page.locator("#messages .msg", has_text="早上好").locator(".more").click()
    expect(page.locator("#emoji-row-blocked")).to_have_text("现在不能发言，也就不能加上或取消表情回应")
    expect(page.locator("#emoji-row")).to_have_count(0)
    assert page.errors == []
