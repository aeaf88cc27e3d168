"""What the web client takes from the contract's fields rather than from the server's wording: a text
held for review (``held: true``) is said to wait and is not shown as applied; a group's suspension
lifted early by an operator (``sanction_lifted`` with ``until``) frees the group at once; a refusal is
read from its code, the op and its fields, so it reads the same when the reason's words change; a
credit notice (``credit``, ``account_credit``) is said from its ``credit_score``, ``credit_level``,
``delta`` and ``sanction_id`` or ``reason``, whatever its text says; a public account's name or intro
held for review is said under the account in its owner's list until the platform decides it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import (
    admin_ok,
    close_dialogs,
    create_account,
    create_group,
    join_group,
    late_answers,
    new_page,
    open_accounts,
    register,
    submit_registration,
    verify_identity,
    watch_errors,
)

REVIEW_WORDS = """
[[content.lists]]
category = "rumour_fraud"
path = "fraud.txt"
action = "review"
"""


@pytest.fixture
def review_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose word lists hold 刷单返利 for review."""
    d = tmp_path / "srv"
    d.mkdir()
    (d / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    srv = ServerProcess(d, REVIEW_WORDS).start()
    yield srv
    srv.stop()
    print("".join(srv.output))


def _toast(page: Any, text: str) -> str:
    loc = page.locator("#toasts .toast", has_text=text).last
    loc.wait_for()
    return str(loc.inner_text())


def reworded_page(browser: Any, srv: ServerProcess) -> Any:
    """A page whose WebSocket passes through a proxy that rewrites every refusal's ``reason`` and every
    notice's ``text``: a server that words things differently. Codes and fields are left as they are."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 800}, locale="zh-CN")
    page = watch_errors(ctx.new_page())

    def route(ws: Any) -> None:
        upstream = ws.connect_to_server()

        def down(msg: str | bytes) -> None:
            f = json.loads(msg)
            if f.get("ok") is False:
                f["reason"] = "reworded"
            if f.get("ev") == "notice":
                f["text"] = "reworded"
            ws.send(json.dumps(f))

        upstream.on_message(down)

    page.route_web_socket("**/ws", route)
    page.goto(f"http://127.0.0.1:{srv.port}/")
    return page


def test_texts_held_for_review_are_said_to_wait_and_not_shown(browser: Any, review_server: ServerProcess) -> None:
    srv = review_server
    alice = new_page(browser, srv)
    # register with a display name the word lists hold: the account shows its username meanwhile
    submit_registration(alice, srv, "heldweb", "刷单返利哥")
    alice.wait_for_selector("#status.status-connected")
    said = _toast(alice, "已提交平台审核")
    assert said == "注册成功。昵称「刷单返利哥」已提交平台审核，通过前显示为用户名「heldweb」。"
    assert alice.inner_text("#me-name") == "heldweb"

    # a new group whose name is held opens under the neutral name, and the user is told why
    alice.click("#btn-new-group")
    alice.fill("#create-name", "刷单返利群")
    alice.click("#create-btn")
    alice.wait_for_selector("#chat-gid")
    gid = alice.inner_text("#chat-gid")
    said = _toast(alice, "群名「刷单返利群」")
    assert said == f"群名「刷单返利群」已提交平台审核，通过前群名显示为「群聊 {gid}」。"
    assert alice.inner_text("#chat-title") == f"群聊 {gid}"
    assert "刷单返利群" not in alice.inner_text("#group-list")

    # a held new name and a held announcement: told, and the panel shows what the group shows
    alice.click("#btn-manage")
    alice.wait_for_selector("#settings-name")
    alice.fill("#settings-name", "刷单返利二群")
    alice.click("#settings-save")
    assert _toast(alice, "新群名").startswith("新群名「刷单返利二群」已提交平台审核")
    alice.wait_for_function("() => document.querySelector('#settings-name').value.startsWith('群聊')")
    alice.fill("#announcement-text", "刷单返利 今晚八点")
    alice.click("#announcement-save")
    assert _toast(alice, "公告已提交").startswith("公告已提交平台审核")
    alice.wait_for_function("() => document.querySelector('#announcement-text').value === ''")
    assert "今晚八点" not in alice.inner_text("#chat")
    close_dialogs(alice)

    # a held display name: said in the profile, and the field goes back to the name others see
    alice.click("#btn-profile")
    alice.fill("#profile-name", "刷单返利姐")
    alice.press("#profile-name", "Enter")
    alice.wait_for_selector("dialog .form-msg.ok")
    assert alice.inner_text("dialog .form-msg.ok").startswith("昵称「刷单返利姐」已提交平台审核")
    assert alice.input_value("#profile-name") == "heldweb"
    assert alice.inner_text("#me-name") == "heldweb"
    assert alice.errors == []


def test_the_author_sees_what_waits_for_review_and_withdraws_it(browser: Any, review_server: ServerProcess) -> None:
    """A held group name, announcement and display name are shown to their author where they would apply,
    as waiting for review with a withdraw button, also after a reload; withdrawing takes one away, and an
    operator's decision (``held_text_settled``) takes another away with a word on what came of it."""
    srv = review_server
    alice = new_page(browser, srv)
    register(alice, srv, "heldauthor")
    gid = create_group(alice, "茶室")
    alice.click("#btn-manage")
    alice.wait_for_selector("#settings-name")
    alice.fill("#settings-name", "刷单返利二群")
    alice.click("#settings-save")
    name_box = alice.locator("#manage .held-texts[data-kind='group_name'] .held-text")
    name_box.wait_for()
    assert "刷单返利二群" in name_box.inner_text() and "等待审核" in name_box.inner_text()
    alice.fill("#announcement-text", "刷单返利 今晚八点")
    alice.click("#announcement-save")
    note_box = alice.locator("#manage .held-texts[data-kind='announcement'] .held-text")
    note_box.wait_for()
    assert "刷单返利 今晚八点" in note_box.inner_text()
    close_dialogs(alice)

    # after a reload (a new connection) the panel still shows both
    alice.reload()
    alice.wait_for_selector("#status.status-connected")
    alice.click(f"#group-list [data-gid='{gid}']")
    alice.click("#btn-manage")
    name_box.wait_for()
    note_box.wait_for()
    # withdrawn: gone from the panel, and the operator has nothing left to decide on it
    name_box.locator(".act-withdraw-held").click()
    assert _toast(alice, "已撤回").startswith("已撤回")
    name_box.wait_for(state="detached")
    items = [json.loads(line) for line in admin_ok(srv, "review-queue", "--open").splitlines()]
    assert [i["kind"] for i in items] == ["announcement"]
    # released by the operator: the waiting line goes, the announcement is shown
    admin_ok(srv, "decide", str(items[0]["item_id"]), "--decision", "release", "--note", "ok")
    note_box.wait_for(state="detached")
    assert _toast(alice, "已通过").startswith("你提交审核的内容已通过")
    close_dialogs(alice)

    # a held display name waits in the profile, with its own withdraw button
    alice.click("#btn-profile")
    alice.fill("#profile-name", "刷单返利姐")
    alice.press("#profile-name", "Enter")
    held_name = alice.locator("#profile-held .held-text")
    held_name.wait_for()
    assert "刷单返利姐" in held_name.inner_text()
    held_name.locator(".act-withdraw-held").click()
    held_name.wait_for(state="detached")
    assert admin_ok(srv, "review-queue", "--open").strip() == ""
    assert alice.errors == []


def test_a_lifted_suspension_frees_the_group_at_once_and_refusals_are_read_from_fields(
        browser: Any, server: ServerProcess) -> None:
    """The suspension is lifted two hours early: the composer, the name field and the dissolve
    button come back with the notice, not at the original end. Throughout, alice's server words
    every refusal and notice differently: what she reads comes from codes, ops and fields."""
    alice, bob = reworded_page(browser, server), new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "整顿群")
    join_group(bob, gid)
    bob.wait_for_selector("#chat-gid")
    admin_ok(server, "suspend-group", gid, "--seconds", "7200", "--reason", "整顿")
    _toast(alice, "已被平台暂停发言")
    alice.wait_for_selector("#composer-text:disabled")

    # refused with the reason reworded: the op and `until` still say which measure and until when
    alice.click("#btn-new-group")
    alice.fill("#create-name", "另起炉灶")
    alice.click("#create-btn")
    alice.wait_for_selector("dialog .form-msg.error")
    assert alice.inner_text("dialog .form-msg.error").startswith("你担任群主的一个群正被平台暂停，")
    close_dialogs(alice)

    alice.click("#btn-manage")
    alice.wait_for_selector("#held-note[data-cause='sanction']")
    assert alice.is_disabled("#settings-name") and alice.is_disabled("#btn-dissolve")

    rows = [json.loads(x) for x in admin_ok(server, "sanctions", "--group", gid).splitlines()]
    [row] = [r for r in rows if r["kind"] == "suspend_group"]
    admin_ok(server, "lift", str(row["id"]), "--reason", "误判")
    alice.wait_for_selector("#held-note", state="detached")
    assert alice.is_enabled("#settings-name") and alice.is_enabled("#btn-dissolve")
    assert alice.get_attribute("#btn-dissolve", "title") is None
    assert alice.locator("#member-list .act-transfer").first.is_enabled()
    close_dialogs(alice)
    assert alice.is_enabled("#composer-text") and alice.is_hidden("#composer-note")
    assert alice.errors == bob.errors == []


def _sanction_id(srv: ServerProcess, kind: str, *args: str) -> str:
    rows = [json.loads(x) for x in admin_ok(srv, "sanctions", *args).splitlines()]
    [row] = [r for r in rows if r["kind"] == kind]
    return str(row["id"])


def test_credit_notices_are_said_from_their_fields(browser: Any, server: ServerProcess) -> None:
    """Alice's server words every notice differently (``text`` is "reworded"): the lines about her
    credit and her account's still give the change, the score, the level and the sanction or reason."""
    alice = reworded_page(browser, server)
    name = register(alice, server, display="Alice")
    admin_ok(server, "credit", name, "--delta", "-60", "--reason", "多次刷屏")
    assert _toast(alice, "你的信用分现为") == "你的信用分现为 40（等级 1）：多次刷屏"
    admin_ok(server, "credit", name, "--delta", "60", "--reason", "已整改")
    assert _toast(alice, "已整改") == "你的信用分现为 100（等级 3）：已整改"
    admin_ok(server, "revoke-create", name, "--reason", "spam groups")
    sid = _sanction_id(server, "revoke_create", "--user", name)
    admin_ok(server, "lift", sid, "--reason", "误判", "--restore-credit")
    assert _toast(alice, "信用分已退还") == f"处罚 {sid} 扣除的 20 信用分已退还，你的信用分现为 100（等级 3）。"

    verify_identity(alice)
    aid = create_account(alice, "茶馆日报")
    admin_ok(server, "account-credit", aid, "--delta", "-70", "--reason", "多次违规")
    assert _toast(alice, "信用分变动") == "公众号「茶馆日报」的信用分变动 -70，现为 30（等级 1）：多次违规"
    admin_ok(server, "suspend-account", aid, "--seconds", "3600", "--reason", "违规转载")
    asid = _sanction_id(server, "suspend_account", "--account", aid)
    admin_ok(server, "lift", asid, "--reason", "误判", "--restore-credit")
    said = _toast(alice, "信用分已退还，现为")
    assert said == f"公众号「茶馆日报」被处罚 {asid} 扣除的 20 信用分已退还，现为 30（等级 1）。"
    assert "reworded" not in said
    assert alice.errors == []


def test_an_account_name_and_intro_waiting_for_review_show_in_my_accounts(browser: Any,
                                                                         review_server: ServerProcess) -> None:
    """A public account's new name and intro held for review are listed in its owner's 我的账号, said
    under the account in the list of the accounts she runs (also after a reload), and in its settings
    with a withdraw button; an editor, whom the platform does not tell, sees nothing of them; the
    operator's decision takes each away, a released name showing as the account's name at once, and
    one withdrawn from 我的账号 goes from everywhere."""
    srv = review_server
    alice, bob = new_page(browser, srv), new_page(browser, srv)
    register(alice, srv, display="Alice")
    register(bob, srv, display="Bob")
    verify_identity(alice)
    verify_identity(bob)
    aid = create_account(alice, "茶馆日报", intro="每天一杯茶")
    bob.click("#btn-profile")
    bob_id = bob.inner_text("#my-user-id")
    close_dialogs(bob)
    alice.click("#btn-account-manage")
    alice.fill("#editor-user-id", bob_id)
    alice.click("#editor-add")
    alice.wait_for_selector("#account-manage-dialog .form-msg.ok")
    alice.fill("#account-edit-name", "刷单返利日报")
    alice.fill("#account-edit-intro", "刷单返利 天天有")
    alice.click("#account-edit-save")
    alice.wait_for_selector("#account-manage-dialog .form-msg.ok")
    held_name = alice.locator("#account-held-name .held-text")
    held_name.wait_for()
    assert "刷单返利日报" in held_name.inner_text() and "等待审核" in held_name.inner_text()
    assert "刷单返利 天天有" in alice.inner_text("#account-held-intro .held-text")
    close_dialogs(alice)

    item = f"#my-accounts .account-item[data-aid='{aid}']"
    name_note = alice.locator(f"{item} .held-account[data-kind='account_name']")
    intro_note = alice.locator(f"{item} .held-account[data-kind='account_intro']")
    expect(name_note).to_have_text("新名称「刷单返利日报」等待平台审核")
    expect(intro_note).to_have_text("新简介等待平台审核")
    expect(alice.locator(f"{item} .gname")).to_have_text("茶馆日报")   # the account shows what it showed
    alice.click("#btn-profile")
    mine = alice.locator("#profile-held-accounts .held-text")
    # (newest first: the intro was queued after the name)
    expect(mine.locator(".held-what")).to_have_text(["公众号「茶馆日报」的新简介", "公众号「茶馆日报」的新名称"])
    expect(mine.locator(".held-value")).to_have_text(["刷单返利 天天有", "刷单返利日报"])
    close_dialogs(alice)
    # After a reload (a new connection) the list still says so.
    alice.reload()
    alice.wait_for_selector("#status.status-connected")
    open_accounts(alice)
    expect(name_note).to_have_text("新名称「刷单返利日报」等待平台审核")
    expect(intro_note).to_be_visible()
    # The editor runs the account too (listed at once, and after a reload too), and is told nothing of
    # what its owner's texts wait for.
    bob.reload()
    bob.wait_for_selector("#status.status-connected")
    open_accounts(bob)
    bob.wait_for_selector(item)
    assert bob.locator(f"{item} .held-account").count() == 0
    assert "刷单返利" not in bob.inner_text("#account-lists")

    # The operator releases the name (the list shows it as the account's) and rejects the intro.
    items = {i["kind"]: i for i in map(json.loads, admin_ok(srv, "review-queue", "--open").splitlines())}
    admin_ok(srv, "decide", str(items["account_name"]["item_id"]), "--decision", "release", "--note", "ok")
    expect(name_note).to_have_count(0)
    expect(alice.locator(f"{item} .gname")).to_have_text("刷单返利日报")
    expect(intro_note).to_be_visible()
    alice.click("#btn-profile")
    expect(mine).to_have_count(1)
    admin_ok(srv, "decide", str(items["account_intro"]["item_id"]), "--decision", "reject", "--note", "广告")
    expect(mine).to_have_count(0)   # live, with the dialog open
    close_dialogs(alice)
    expect(intro_note).to_have_count(0)

    # Another held name, withdrawn from 我的账号: gone there and from the list.
    alice.click(f"{item}")
    alice.click("#btn-account-manage")
    alice.fill("#account-edit-name", "刷单返利周刊")
    alice.click("#account-edit-save")
    alice.locator("#account-held-name .held-text").wait_for()
    close_dialogs(alice)
    expect(name_note).to_have_text("新名称「刷单返利周刊」等待平台审核")
    alice.click("#btn-profile")
    expect(mine.locator(".held-what")).to_have_text(["公众号「刷单返利日报」的新名称"])
    mine.locator(".act-withdraw-held").click()
    expect(mine).to_have_count(0)
    close_dialogs(alice)
    expect(name_note).to_have_count(0)
    assert admin_ok(srv, "review-queue", "--open").strip() == ""
    assert alice.errors == [] and bob.errors == []


def test_a_decision_that_overtakes_a_read_of_the_held_list_is_not_undone_by_it(
        browser: Any, review_server: ServerProcess) -> None:
    """The held list is read again after each held reply. A decision on another held text made after
    the server read that list comes as an event before the answer: the answer used to bring the
    decided text back as still waiting, until the next reload."""
    srv = review_server
    alice = new_page(browser, srv)
    alice.context.add_init_script(late_answers("my_held_texts", 1500))
    alice.reload()
    register(alice, srv, "heldrace")
    create_group(alice, "茶室")
    alice.click("#btn-manage")
    alice.wait_for_selector("#settings-name")
    alice.fill("#settings-name", "刷单返利二群")
    alice.click("#settings-save")
    name_box = alice.locator("#manage .held-texts[data-kind='group_name'] .held-text")
    name_box.wait_for()

    alice.evaluate("() => { window.__slow = true; }")
    alice.fill("#announcement-text", "刷单返利 今晚八点")
    alice.click("#announcement-save")   # held: the list is read again, and its answer held back
    alice.wait_for_function("() => window.__held > 0")
    alice.evaluate("() => { window.__slow = false; }")
    items = [json.loads(line) for line in admin_ok(srv, "review-queue", "--open").splitlines()]
    [named] = [i for i in items if i["kind"] == "group_name"]
    admin_ok(srv, "decide", str(named["item_id"]), "--decision", "reject", "--note", "不行")
    name_box.wait_for(state="detached")   # the event
    note_box = alice.locator("#manage .held-texts[data-kind='announcement'] .held-text")
    note_box.wait_for()   # the held answer came
    alice.wait_for_timeout(300)
    assert name_box.count() == 0
    assert alice.errors == []


def test_a_held_message_released_is_said_to_its_sender(browser: Any, review_server: ServerProcess) -> None:
    """The sender is told at sending that a message waits for review; once an operator releases it, it
    lands in its old place, out of view. A review of the client found the release unsaid: it is."""
    srv = review_server
    alice = new_page(browser, srv)
    register(alice, srv, display="Alice")
    gid = create_group(alice, "读书会")
    alice.fill("#composer-text", "刷单返利 快来看")
    alice.press("#composer-text", "Enter")
    assert _toast(alice, "审核").startswith("消息已提交平台审核")
    items = [json.loads(line) for line in admin_ok(srv, "review-queue", "--open").splitlines()]
    [item] = [i for i in items if i.get("group_id") == gid]
    admin_ok(srv, "decide", str(item["item_id"]), "--decision", "release", "--note", "ok")
    assert _toast(alice, "已通过审核") == "你在「读书会」待审核的消息已通过审核，群成员现在可以看到"
    expect(alice.locator("#messages .msg", has_text="刷单返利 快来看")).to_have_count(1)
    assert alice.errors == []


def test_lifting_one_of_two_group_suspensions_says_posting_stays_suspended(
        browser: Any, server: ServerProcess) -> None:
    """Two suspensions of one group, the earlier lifted: members were told the group's suspension was
    lifted while their composer stayed disabled by the other (the web review's case). The notice now
    says the other still holds, and until when."""
    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    gid = create_group(alice, "双重暂停")
    admin_ok(server, "suspend-group", gid, "--seconds", "3600", "--reason", "整顿")
    admin_ok(server, "suspend-group", gid, "--seconds", "7200", "--reason", "再整顿")
    alice.wait_for_selector("#composer-text:disabled")
    first = sorted(int(r["id"]) for r in (json.loads(x) for x in admin_ok(server, "sanctions", "--group", gid)
                                           .splitlines()) if r["kind"] == "suspend_group")[0]
    admin_ok(server, "lift", str(first), "--reason", "误判")
    said = _toast(alice, "仍暂停发言")
    assert said.startswith(f"平台已撤销处罚（编号 {first}），但群「双重暂停」仍暂停发言，至 ")
    assert said.endswith("：误判")
    assert alice.is_disabled("#composer-text")
    assert alice.errors == []
