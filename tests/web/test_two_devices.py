"""One person with two pages open (a laptop and a phone, or two tabs of one browser): what one page
does shows on the other without a reload, and a message one tab gave up on does not come back from
the other (a reviewer's walk with several devices)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess, closed_by_server, open_group
from tests.web.browser import (
    Background,
    Cable,
    admin_ok,
    close_dialogs,
    create_group,
    login,
    new_page,
    open_accounts,
    send,
    verify_identity,
    watch_errors,
)


def _same_browser_tab(page: Any, server: ServerProcess) -> Any:
    """A second tab of ``page``'s browser (its localStorage, and so its login, shared)."""
    tab = watch_errors(page.context.new_page())
    tab.goto(f"http://127.0.0.1:{server.port}/")
    tab.wait_for_selector("body[data-synced]")
    return tab


def test_a_failed_message_discarded_in_one_tab_goes_from_the_other_and_stays_gone(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """Each tab saved the failed messages it had taken in from the others as its own: one discarded
    in tab B was written back by tab A at its next send, and came back failed at B's next reload."""
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    a = new_page(browser, server)
    login(a, owner.username)
    key = f"qg.outbox.{owner.user_id}"
    failed = {"gid": gid, "text": "被拒的那一条", "cmid": "tab-b-1", "files": [], "extras": {}, "at": 1,
              "failed": {"code": "content_blocked", "reason": "x"}}
    a.evaluate("([k, x]) => localStorage.setItem(k, JSON.stringify([x]))", [key, failed])
    a.reload()
    a.wait_for_selector("body[data-synced]")
    a.click(f"#group-list [data-gid='{gid}']")
    in_a = a.locator("#outbox .pending.failed", has_text="被拒的那一条")
    expect(in_a).to_have_count(1)

    b = _same_browser_tab(a, server)
    b.click(f"#group-list [data-gid='{gid}']")
    in_b = b.locator("#outbox .pending.failed", has_text="被拒的那一条")
    in_b.locator(".send-discard").click()
    expect(in_b).to_have_count(0)
    expect(in_a).to_have_count(0)  # gone from the other tab too, at once

    a.bring_to_front()
    send(a, "正常的一条")
    a.locator("#messages .msg", has_text="正常的一条").wait_for()
    saved = json.loads(a.evaluate("k => localStorage.getItem(k)", key) or "[]")
    assert "tab-b-1" not in [x["cmid"] for x in saved]
    b.reload()
    b.wait_for_selector("body[data-synced]")
    b.click(f"#group-list [data-gid='{gid}']")
    b.locator("#messages .msg", has_text="正常的一条").wait_for()
    expect(b.locator("#outbox .pending")).to_have_count(0)
    assert a.errors == [] and b.errors == []


def test_what_one_device_does_about_its_user_shows_on_the_other(
        browser: Any, server: ServerProcess, bg: Background, tmp_path: Path) -> None:
    """Left on the laptop, a group stayed on the phone (a message there refused: not a member); one
    created there never came; a follow, a verification, an accepted agreement stayed unknown."""
    owner, alice = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(owner))
    bg.run(alice.request("join_group", group_id=gid))
    laptop = new_page(browser, server)
    phone = new_page(browser, server, width=390, height=844, touch=True)
    login(laptop, alice.username)
    login(phone, alice.username)
    expect(phone.locator(f"#group-list [data-gid='{gid}']")).to_have_count(1)

    bg.run(alice.request("leave_group", group_id=gid))
    expect(phone.locator(f"#group-list [data-gid='{gid}']")).to_have_count(0)
    made = create_group(laptop, "新开的群")
    expect(phone.locator(f"#group-list [data-gid='{made}']")).to_contain_text("新开的群")

    writer = bg.run(server.user(verify_id=True))
    other = bg.run(writer.request("create_account", name="晚报", category="culture", intro="",
                                  subject_type="individual"))["account_id"]
    open_accounts(phone)
    bg.run(alice.request("subscribe", account_id=other))
    expect(phone.locator(f"#subscriptions [data-aid='{other}']")).to_contain_text("晚报")

    phone.click("#btn-profile")
    expect(phone.locator("#verify-form")).to_have_count(1)
    verify_identity(laptop)
    expect(phone.locator("#verify-form")).to_have_count(0)
    expect(phone.locator("#id-state")).to_have_text("已实名认证")
    close_dialogs(phone)

    (tmp_path / "rules.txt").write_text("友善发言", encoding="utf-8")
    admin_ok(server, "set-agreement", "--version", "v1", "--rules-file", str(tmp_path / "rules.txt"),
             "--agreement-file", str(tmp_path / "rules.txt"))
    phone.wait_for_selector("#agreement-dialog")
    laptop.click("#accept-agreement")
    expect(phone.locator("#agreement-dialog")).to_have_count(0)
    assert laptop.errors == [] and phone.errors == []


def test_a_new_password_ends_the_other_devices_and_logout_everywhere_ends_all(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A phone lost, or a password someone else knows: there was no way to change the password, and
    a logout ended only the page's own login."""
    alice = bg.run(server.user())
    laptop, phone = new_page(browser, server), new_page(browser, server, width=390, height=844)
    login(laptop, alice.username)
    login(phone, alice.username)
    laptop.click("#btn-profile")
    laptop.locator("#password-section summary").click()
    laptop.fill("#old-password", "wrong-password")
    laptop.fill("#new-password", "a-new-password")
    laptop.click("#change-password-btn")
    expect(laptop.locator("dialog .form-msg.error")).to_have_text("密码不正确")
    expect(phone.locator("#status.status-connected")).to_have_count(1)
    laptop.fill("#old-password", "password123")
    laptop.click("#change-password-btn")
    expect(laptop.locator("dialog .form-msg.ok")).to_have_text("密码已修改，其他设备上的登录已退出")
    expect(phone.locator("#form-msg")).to_have_text("密码已在另一处修改，请用新密码重新登录")
    close_dialogs(laptop)
    expect(laptop.locator("#status.status-connected")).to_have_count(1)  # this one goes on

    login(phone, alice.username, "a-new-password")
    phone.click("#btn-profile")
    phone.click("#btn-logout-everywhere")
    phone.click("#confirm-ok")
    expect(phone.locator("#form-msg")).to_have_text("已在所有设备上退出登录，请重新登录")
    expect(laptop.locator("#form-msg")).to_have_text("已在所有设备上退出登录，请重新登录")
    assert laptop.errors == [] and phone.errors == []


def test_the_account_lists_its_logins_and_ends_one_from_another(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A phone left somewhere: the laptop's page lists the account's logins by device and logs the
    phone out alone; a login ended from elsewhere says so on its login form."""
    alice = bg.run(server.user())
    phone = bg.run(server.client())
    bg.run(phone.login(alice.username, "password123", device="Redmi Note 12 · Android"))
    laptop = new_page(browser, server)
    login(laptop, alice.username)
    laptop.click("#btn-profile")
    laptop.locator("#logins-section summary").click()
    rows = laptop.locator("#logins-list .login-row")
    expect(rows).to_have_count(3)  # (the harness's own login of alice too)
    expect(rows.nth(0)).to_contain_text("Chrome · Linux")
    expect(rows.nth(0)).to_contain_text("本设备")
    expect(rows.nth(0).locator("button")).to_have_count(0)  # this one is ended by 退出登录
    expect(rows.nth(1)).to_contain_text("Redmi Note 12 · Android")
    expect(rows.nth(1)).to_contain_text("在线")
    rows.nth(1).get_by_role("button", name="让 Redmi Note 12 · Android 退出登录").click()
    laptop.click("#confirm-ok")
    expect(laptop.locator("dialog .form-msg.ok")).to_have_text("该设备已退出登录")
    expect(rows).to_have_count(2)
    assert bg.run(closed_by_server(phone)) == (1008, "logged out from another device")

    mine = [x for x in bg.run(alice.request("my_logins"))["logins"] if "Chrome" in x["device"]]
    assert bg.run(alice.call("logout", login_id=mine[0]["login_id"]))["ok"]
    expect(laptop.locator("#form-msg")).to_have_text("这个设备已被你在另一处退出登录，请重新登录")
    assert laptop.errors == []


def test_a_forgotten_password_is_reset_from_the_login_form(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    alice = bg.run(server.user())
    page = new_page(browser, server)
    page.click("#to-reset")
    page.fill("#reset-phone", alice.phone)
    page.click("#reset-get-code")
    expect(page.locator("#form-msg")).to_contain_text(alice.phone)
    page.fill("#reset-code", server.last_code(alice.phone))
    page.fill("#reset-password", "a-reset-password")
    page.click("#reset-submit")
    expect(page.locator("#form-msg")).to_have_text("密码已重设，请用新密码登录")
    login(page, alice.username, "a-reset-password")
    assert page.errors == []


def _offline_phone(browser: Any, server: ServerProcess, bg: Background, texts: list[str]) -> tuple[Any, ...]:
    """Alice's phone in Bob's group, its connection cut, ``texts`` typed and waiting in its outbox:
    (alice, bob, the group, the phone's page, its cable)."""
    alice, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(bob))
    bg.run(alice.request("join_group", group_id=gid))
    phone = new_page(browser, server, width=390, height=844)
    cable = Cable(phone)
    login(phone, alice.username)
    phone.click(f"#group-list [data-gid='{gid}']")
    cable.cut()
    expect(phone.locator("#status.status-reconnecting")).to_have_count(1)  # (the list is off screen on a phone)
    for text in texts:
        send(phone, text)
    expect(phone.locator("#outbox .pending")).to_have_count(len(texts))
    return alice, bob, gid, phone, cable


def test_messages_waiting_when_another_device_ends_the_login_come_back_failed_at_the_next_login(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A multi-device reviewer: two messages typed on a phone that was offline were dropped without a
    word when the laptop changed the password (the logout forgot the outbox). Now the login form says
    they are kept; the same user's next login here shows them failed, sent only when asked."""
    alice, bob, gid, phone, cable = _offline_phone(browser, server, bg, ["路上写的第一句", "路上写的第二句"])

    bg.run(alice.request("change_password", password="password123", new_password="a-new-password"))
    cable.mend()
    expect(phone.locator("#form-msg")).to_contain_text("2 条未发出的消息保留在本浏览器中")
    # (offline when it happened, the phone still hears why: the server keeps the login's cause)
    expect(phone.locator("#form-msg")).to_contain_text("账号密码已修改，请用新密码登录")
    assert "路上写的" not in phone.locator("#app").inner_text()
    kept = phone.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('qg.'))")
    assert kept == [f"qg.unsent.{alice.user_id}"], kept  # (the token and the rest forgotten)

    login(phone, alice.username, "a-new-password")
    phone.click(f"#group-list [data-gid='{gid}']")
    failed = phone.locator("#outbox .pending")
    expect(failed).to_have_count(2)
    expect(failed.nth(0)).to_contain_text("路上写的第一句")
    expect(failed.nth(0)).to_contain_text("退出登录前未能发出")
    history = lambda: [m["text"] for m in bg.run(bob.request("history", group_id=gid))["messages"]]  # noqa: E731
    assert "路上写的第一句" not in history()  # (nothing went by itself)
    for _ in range(2):
        failed.nth(0).get_by_role("button", name="重发").click()
        phone.wait_for_timeout(200)
    expect(failed).to_have_count(0)
    assert history()[-2:] == ["路上写的第一句", "路上写的第二句"]
    assert phone.evaluate(f"() => localStorage.getItem('qg.unsent.{alice.user_id}')") is None  # (taken in once)
    assert phone.errors == []


def test_an_invitation_accepted_on_one_device_offers_no_join_on_the_other(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The phone's bell went on offering 加入 for an invitation the laptop had accepted."""
    alice, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(bob))
    laptop, phone = new_page(browser, server), new_page(browser, server, width=390, height=844)
    login(laptop, alice.username)
    login(phone, alice.username)
    bg.run(bob.request("invite", group_id=gid, user_id=alice.user_id))
    def join(page: Any) -> Any:
        return page.locator("#notice-list li", has_text="邀请你加入").get_by_role("button", name="加入")

    for page in (laptop, phone):
        # (the bell's list is what had come when it opens: opened before the invitation reached this
        # page, on a busy machine, it showed none)
        expect(page.locator("#notice-count")).to_have_text("1")
        page.click("#btn-notices")
        expect(join(page)).to_have_count(1)
    join(laptop).click()
    expect(phone.locator(f"#group-list [data-gid='{gid}']")).to_have_count(1)
    close_dialogs(phone)
    phone.click("#btn-notices")
    item = phone.locator("#notice-list li", has_text="邀请你加入")
    expect(item).to_have_count(1)
    expect(item.get_by_role("button", name="加入")).to_have_count(0)
    assert laptop.errors == [] and phone.errors == []


def test_a_group_dissolved_on_one_device_reads_as_ones_own_act_on_the_other(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The owner's phone said 已被群主解散 of the group its owner had just dissolved on the laptop,
    as if someone else had (``group_dissolved`` now names ``by``)."""
    alice, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(alice, name="读书会"))
    bg.run(bob.request("join_group", group_id=gid))
    phone = new_page(browser, server, width=390, height=844)
    login(phone, alice.username)
    bg.run(alice.request("dissolve_group", group_id=gid))
    expect(phone.locator(f"#group-list [data-gid='{gid}']")).to_have_count(0)
    phone.click("#btn-notices")
    expect(phone.locator("#notice-list li", has_text="你解散了群「读书会」")).to_have_count(1)
    expect(phone.locator("#notice-list li", has_text="已被群主解散")).to_have_count(0)
    assert bg.run(bob.next_event("group_dissolved"))["by"] == alice.user_id
    assert phone.errors == []


def test_a_mention_read_on_one_device_does_not_toast_on_the_other(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The phone said "Bob 在「…」中@了你" while the laptop had that chat open and was reading it."""
    alice, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(alice, name="茶室"))
    bg.run(bob.request("join_group", group_id=gid))
    laptop, phone = new_page(browser, server), new_page(browser, server, width=390, height=844)
    login(laptop, alice.username)
    login(phone, alice.username)
    laptop.click(f"#group-list [data-gid='{gid}']")
    toasts = phone.locator("#toasts", has_text="中@了你")

    bg.run(bob.send(gid, "@Alice 看这里", mentions=[alice.user_id]))
    laptop.wait_for_selector("#messages .msg .text:has-text('看这里')")
    phone.wait_for_timeout(2000)  # (past the toast's wait)
    expect(toasts).to_have_count(0)
    expect(phone.locator(f"#group-list [data-gid='{gid}'] .badge.unread")).to_have_count(0)

    laptop.close()  # nobody reads it elsewhere now: the phone says it, unless it is recalled at once
    recalled = bg.run(bob.send(gid, "@Alice 发错了", mentions=[alice.user_id]))["seq"]
    bg.run(bob.request("delete_message", group_id=gid, seq=recalled))
    phone.wait_for_timeout(2000)
    expect(toasts).to_have_count(0)
    bg.run(bob.send(gid, "@Alice 还在吗", mentions=[alice.user_id]))
    expect(toasts).to_have_count(1)
    assert phone.errors == []


def _qg_keys(page: Any) -> list[str]:
    return sorted(page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('qg.'))"))


def test_messages_waiting_on_a_page_reloaded_after_the_login_ended_are_kept_too(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A diff reviewer: a phone's tab reloaded (or discarded by the browser) after the password changed
    elsewhere learnt its login no longer works before it knew its user, and forgot the messages."""
    alice, _, gid, phone, cable = _offline_phone(browser, server, bg, ["离线写的"])
    bg.run(alice.request("change_password", password="password123", new_password="a-new-password"))
    cable.mend()
    phone.reload()
    expect(phone.locator("#form-msg")).to_contain_text("1 条未发出的消息保留在本浏览器中")
    assert _qg_keys(phone) == [f"qg.unsent.{alice.user_id}"]
    login(phone, alice.username, "a-new-password")
    phone.click(f"#group-list [data-gid='{gid}']")
    expect(phone.locator("#outbox .pending")).to_contain_text("离线写的")
    assert phone.errors == []


def test_a_logout_chosen_in_one_tab_keeps_nothing_of_the_other_tabs(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A diff reviewer: 退出登录 in one tab closed the other (the same login) as "logged out", and that
    tab kept its unsent text in the browser for a day, saying so on its form to whoever came next."""
    alice, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(bob))
    bg.run(alice.request("join_group", group_id=gid))
    first = new_page(browser, server)
    login(first, alice.username)
    second = watch_errors(first.context.new_page())
    cable = Cable(second)
    second.goto(f"http://127.0.0.1:{server.port}/")
    second.wait_for_selector("body[data-synced]")
    second.click(f"#group-list [data-gid='{gid}']")
    cable.cut()
    send(second, "秘密的话")
    expect(second.locator("#outbox .pending")).to_have_count(1)
    first.click("#btn-profile")
    first.click("#btn-logout")
    first.wait_for_selector("#login-form")
    cable.mend()
    second.wait_for_selector("#login-form", timeout=15_000)
    expect(second.locator("#form-msg")).not_to_contain_text("未发出")
    second.wait_for_timeout(300)
    assert _qg_keys(first) == [] and _qg_keys(second) == []
    assert first.errors == [] and second.errors == []
