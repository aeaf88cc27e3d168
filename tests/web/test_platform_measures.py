"""The platform's measures as their target sees them in the browser: a group suspension follows its
owner (no dissolving, handing on, renaming or new group until it ends: said with the time, and the
controls stop inviting it), credit given back refreshes the level shown, a public account's
suspension keeps its name and introduction as they are and an unverified user is not made an
editor, and a person's blacklisting logs out their other login with the operator's reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.harness import ServerProcess, new_id_number
from tests.web.browser import (
    admin_ok,
    close_dialogs,
    create_account,
    create_group,
    join_group,
    new_page,
    open_accounts,
    register,
    verify_identity,
)


def _sanction(srv: ServerProcess, kind: str, *args: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [json.loads(x) for x in admin_ok(srv, "sanctions", *args).splitlines()]
    [row] = [r for r in rows if r["kind"] == kind]
    return row


def _toast(page: Any, text: str) -> str:
    loc = page.locator("#toasts .toast", has_text=text).last
    loc.wait_for()
    return str(loc.inner_text())


def test_a_suspended_groups_owner_is_told_until_when_and_credit_given_back_shows(browser: Any,
                                                                                server: ServerProcess) -> None:
    alice, bob = new_page(browser, server), new_page(browser, server)
    alice_name = register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "整顿群")
    join_group(bob, gid)
    bob.wait_for_selector("#chat-gid")
    admin_ok(server, "suspend-group", gid, "--seconds", "7200", "--reason", "整顿")
    _toast(alice, "已被平台暂停发言")

    alice.click("#btn-manage")
    alice.wait_for_selector("#held-note[data-cause='sanction']")
    assert alice.is_disabled("#settings-name")  # a new name is refused while posting is suspended
    assert alice.is_enabled("#settings-policy")  # the join policy may still change
    # the event said it is the group's own suspension (cause "sanction"), which holds dissolving and
    # handing on too: those buttons wait for its end, with the time
    assert "不能发言、发布新公告、修改群名、解散或转让本群" in alice.inner_text("#held-note")
    assert alice.is_disabled("#btn-dissolve")
    assert "恢复" in (alice.get_attribute("#btn-dissolve", "title") or "")
    assert alice.locator("#member-list .act-transfer").first.is_disabled()
    assert alice.locator("#group-list [data-gid]").count() == 1  # still there
    close_dialogs(alice)

    # no new group for its owner meanwhile
    alice.click("#btn-new-group")
    alice.fill("#create-name", "另起炉灶")
    alice.click("#create-btn")
    alice.wait_for_selector("dialog .form-msg.error")
    assert "你担任群主的一个群正被平台暂停" in alice.inner_text("dialog .form-msg.error")
    close_dialogs(alice)

    # a sanction takes credit, lift --restore-credit gives it back: the level shown follows both
    alice.click("#btn-profile")
    assert alice.inner_text("#my-credit") == "3"
    admin_ok(server, "revoke-create", alice_name, "--reason", "spam groups")
    alice.wait_for_selector("#my-credit:text-is('2')")
    sid = _sanction(server, "revoke_create", "--user", alice_name)["id"]
    admin_ok(server, "lift", str(sid), "--reason", "误判", "--restore-credit")
    said = _toast(alice, "信用分已退还")
    assert said == f"处罚 {sid} 扣除的 20 信用分已退还，你的信用分现为 100（等级 3）。"
    alice.wait_for_selector("#my-credit:text-is('3')")
    assert alice.errors == bob.errors == []


def test_a_category_freeze_stops_renaming_but_not_dissolving_or_handing_on(browser: Any,
                                                                          server: ServerProcess) -> None:
    """A freeze of the group's category (``group_suspended`` with cause ``category_freeze``) stops posting,
    renaming and moving to another category: the owner's panel disables the name and the category,
    and dissolving works."""
    alice, bob = new_page(browser, server), new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "冻结群")  # in the category "study"
    join_group(bob, gid)
    bob.wait_for_selector("#chat-gid")
    admin_ok(server, "freeze-category", "study", "--seconds", "7200", "--reason", "突发事件")
    said = _toast(alice, "所在的类别")
    assert said.startswith("平台已临时冻结群「冻结群」所在的类别，") and said.endswith("突发事件")

    alice.click("#btn-manage")
    alice.wait_for_selector("#held-note[data-cause='category_freeze']")
    assert "仍可解散或转让本群" in alice.inner_text("#held-note")
    assert alice.is_disabled("#settings-name")
    assert alice.is_disabled("#settings-category") and alice.is_enabled("#settings-policy")
    assert "改到其他类别" in alice.inner_text("#held-note")
    assert alice.is_enabled("#btn-dissolve")
    assert alice.get_attribute("#btn-dissolve", "title") is None
    assert alice.locator("#member-list .act-transfer").first.is_enabled()
    alice.click("#btn-dissolve")
    alice.click("#confirm-ok")
    alice.wait_for_selector(f"#group-list [data-gid='{gid}']", state="detached")
    assert alice.errors == bob.errors == []


def test_a_suspended_account_keeps_its_name_and_an_unverified_user_is_no_editor(browser: Any,
                                                                               server: ServerProcess) -> None:
    alice, bob = new_page(browser, server), new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    bob.click("#btn-profile")
    bob_id = bob.inner_text("#my-user-id")
    close_dialogs(bob)
    verify_identity(alice)
    open_accounts(alice)
    aid = create_account(alice, "茶馆日报")
    alice.click("#btn-account-manage")
    alice.fill("#editor-user-id", bob_id)
    alice.click("#editor-add")
    alice.wait_for_selector("dialog .form-msg.error")
    assert alice.inner_text("dialog .form-msg.error").startswith("对方还没有完成实名认证，不能设为编辑")
    close_dialogs(alice)

    admin_ok(server, "suspend-account", aid, "--seconds", "7200", "--reason", "违规转载")
    said = _toast(alice, "已被平台暂停更新")
    assert "不能发布文章，也不能修改名称和简介。违规转载" in said
    alice.wait_for_selector("#btn-publish:disabled")
    alice.click("#btn-account-manage")
    alice.wait_for_selector("#account-edit-suspended")
    assert alice.is_disabled("#account-edit-name") and alice.is_disabled("#account-edit-save")
    assert alice.errors == bob.errors == []


@pytest.fixture
def twin_server(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """One verified ID number may back two logins."""
    monkeypatch.setenv("QUNGUAN_IDENTITY_MAX_ACCOUNTS_PER_ID", "2")
    srv = ServerProcess(tmp_path).start()
    yield srv
    srv.stop()


def _verify(page: Any, number: str) -> None:
    page.click("#btn-profile")
    page.fill("#verify-name", "张三")
    page.fill("#verify-id", number)
    page.click("#verify-btn")
    page.wait_for_selector("dialog .form-msg.ok")
    close_dialogs(page)


def test_a_blacklisting_logs_out_the_same_persons_other_login_with_the_reason(browser: Any,
                                                                             twin_server: ServerProcess) -> None:
    srv = twin_server
    bad, twin = new_page(browser, srv), new_page(browser, srv)
    bad_name = register(bad, srv, display="Bad")
    register(twin, srv, display="Twin")
    number = new_id_number()
    _verify(bad, number)
    _verify(twin, number)
    twin.click("#btn-profile")  # a dialog open as the logout comes: it goes with the account
    twin.wait_for_selector("dialog[open]")
    admin_ok(srv, "blacklist", bad_name, "--reason", "多次发布诈骗信息")
    for page, tail in ((bad, ""), (twin, f"（与账号 {bad_name} 为同一实名身份）")):
        page.wait_for_selector("#form-msg.error")
        assert page.inner_text("#form-msg") == "你的账号已被平台封禁：多次发布诈骗信息" + tail
        assert page.evaluate("() => localStorage.getItem('qg.token')") is None
        assert page.locator("dialog[open]").count() == 0
    assert bad.errors == twin.errors == []
