"""The owner's panel and the message menu in the browser: a mute seen after a reload, recall and delete
asked first, an edit over the limit refused in words, report reasons that do not depend on the
reporter's language, a rename said in the chat, a quote of a message from before one joined, and
a used-up invite link said as such."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import Background, close_dialogs, join_group, login, message, new_page, open_actions, send


def _open(page: Any, gid: str) -> None:
    page.click(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#composer-text:enabled")


def test_a_mute_shows_after_a_reload_and_a_rename_says_the_new_name(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="茶室", category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("join_group", group_id=gid))
    # Muted before the owner's page was loaded: the page never saw member_muted.
    bg.run(owner.request("mute", group_id=gid, user_id=bob.user_id, seconds=3600))
    page = new_page(browser, server)
    login(page, owner.username)
    _open(page, gid)
    page.click("#btn-manage")
    row = page.locator(f"#member-list .member[data-uid='{bob.user_id}']")
    # (its end on the tag itself: a phone shows no tooltip)
    expect(row.locator(".tag-muted")).to_have_text(re.compile(r"^禁言至 \d"))
    row.locator(".act-unmute").click()
    expect(row.locator(".tag-muted")).to_have_count(0)
    bg.run(bob.request("send", group_id=gid, text="能说话了"))  # the unmute reached the server

    # A new name is said in the chat, not only "群设置已更新".
    page.fill("#settings-name", "新茶室")
    page.select_option("#settings-policy", "approval")
    page.click("#settings-save")
    expect(page.locator("#messages .sys").last).to_have_text(
        "群名称已改为「新茶室」；加群方式已改为：需要群主或管理员批准")

    # An invite link's limit in the creation form is said in good English.
    close_dialogs(page)
    page.click("#lang-btn")
    page.click("#btn-manage")
    expect(page.locator("#invite-max-uses option[value='1']")).to_have_text("up to 1 join")
    expect(page.locator("#invite-max-uses option[value='5']")).to_have_text("up to 5 joins")
    assert page.errors == []


def test_recall_and_delete_ask_first_edits_count_characters_and_reasons_are_stable(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob = bg.run(server.user()), bg.run(server.user())
    bob_name = bg.run(bob.request("me"))["display_name"]
    gid = bg.run(owner.request("create_group", name="撤回", category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("join_group", group_id=gid))
    bg.run(bob.request("send", group_id=gid, text="鲍勃说的话"))
    page = new_page(browser, server)
    login(page, owner.username)
    _open(page, gid)
    send(page, "我说错了")

    # One's own message: recalled only once confirmed, in words of its own.
    open_actions(page, "我说错了")
    expect(page.locator("#act-delete")).to_have_text("撤回")
    page.click("#act-delete")
    confirm = page.locator("dialog[open]", has=page.locator("#confirm-ok"))
    expect(confirm.locator("p")).to_contain_text("撤回这条消息？")
    expect(confirm.locator("p")).to_contain_text("撤回了一条消息")  # what the others will see
    confirm.locator("button.ghost").click()
    expect(confirm).to_have_count(0)
    expect(message(page, "我说错了").locator(".text")).to_have_text("我说错了")  # not recalled
    open_actions(page, "我说错了")
    page.click("#act-delete")
    page.click("#confirm-ok")
    expect(page.locator("#messages .msg.mine").last).to_contain_text("你撤回了一条消息")

    # Someone else's: the owner is asked in other words, naming the sender.
    open_actions(page, "鲍勃说的话")
    page.click("#act-delete")
    expect(confirm.locator("p")).to_contain_text(f"删除 {bob_name} 的这条消息？")
    page.click("#confirm-ok")
    expect(page.locator("#messages .msg .text:has-text('鲍勃说的话')")).to_have_count(0)
    expect(page.locator("#messages .msg .text.deleted", has_text="此消息已被群主或管理员删除")).to_have_count(1)

    # Edits count code points: 2,100 emoji fit (a maxlength counted 4,200); 4,001 characters are
    # refused in words, nothing cut or sent.
    send(page, "待编辑")
    open_actions(page, "待编辑")
    page.click("#act-edit")
    page.fill("#edit-text", "😀" * 2100)
    page.click("#edit-save")
    page.wait_for_selector("#edit-text", state="detached")

    def last_text() -> str:
        text: str = bg.run(owner.request("history", group_id=gid, limit=1))["messages"][-1]["text"]
        return text

    assert last_text() == "😀" * 2100
    open_actions(page, "😀")
    page.click("#act-edit")
    page.fill("#edit-text", "字" * 4001)
    page.click("#edit-save")
    expect(page.locator("#edit-msg")).to_have_text("文字有 4001 个字，超过了上限 4000 个字。请删减后再保存。")
    expect(page.locator("#edit-text")).to_have_value("字" * 4001)
    assert last_text() == "😀" * 2100
    close_dialogs(page)

    # A report's reason is a stable key, the same whatever the reporter's language.
    page.click("#btn-manage")
    page.locator(f"#member-list .member[data-uid='{bob.user_id}'] .act-report-user").click()
    page.select_option("#report-reason", "骚扰辱骂")
    page.fill("#report-detail", "反复私信骚扰")
    page.click("#report-submit")
    page.wait_for_selector("#toasts .toast:has-text('举报已提交')")
    rc, out, _ = bg.run(server.admin("reports", "--open"))
    [report] = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and (report["reason"], report["detail"]) == ("harassment", "反复私信骚扰")
    assert page.errors == []


def test_a_quote_from_before_joining_is_not_called_deleted_and_a_used_up_link_is_said(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, dave, carol = (bg.run(server.user()) for _ in range(4))
    gid = bg.run(owner.request("create_group", name="引用", category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("join_group", group_id=gid))
    first = bg.run(owner.request("send", group_id=gid, text="很早的消息"))["seq"]
    code = bg.run(owner.request("create_invite_link", group_id=gid, max_uses=1))["code"]
    bg.run(dave.request("join_group", invite_code=code))  # the only use

    page = new_page(browser, server)
    login(page, carol.username)
    page.goto(f"http://127.0.0.1:{server.port}/#join={code}")
    expect(page.locator("#toasts .toast-error").last).to_have_text(
        "无法通过邀请链接加入：这个邀请链接不存在、已用完、已过期或已作废")

    join_group(page, gid)
    page.wait_for_selector("#composer-text:enabled")
    bg.run(bob.request("send", group_id=gid, text="回复很早的消息", reply_to=first))  # Carol never saw the first
    quote = message(page, "回复很早的消息").locator(".reply-quote")
    expect(quote).to_have_text("消息不可查看（在你加入之前发送，或已被移除）")

    # A message known to be deleted is still said to be deleted.
    later = bg.run(bob.request("send", group_id=gid, text="稍后撤回"))["seq"]
    bg.run(bob.request("send", group_id=gid, text="回复稍后撤回", reply_to=later))
    message(page, "回复稍后撤回")
    bg.run(bob.request("delete_message", group_id=gid, seq=later))
    expect(message(page, "回复稍后撤回").locator(".reply-quote")).to_contain_text("撤回了一条消息")
    assert page.errors == []


def test_a_deleted_message_says_who_hid_it_live_and_after_a_reload(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """"此消息已被删除" for every deletion hid what WeChat users expect to read: "Bob 撤回了一条消息"
    for a recall, and apart from it a manager's deletion and the platform's removal (never which
    manager, never the operator). Said as the events come ([ext] ``deleted_by`` on
    ``message_deleted``) and as ``history`` has them after a reload."""
    owner, bob = bg.run(server.user()), bg.run(server.user())
    bob_name = bg.run(bob.request("me"))["display_name"]
    gid = bg.run(owner.request("create_group", name="撤回", category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("join_group", group_id=gid))
    recalled = bg.run(bob.request("send", group_id=gid, text="鲍勃撤回的话"))["seq"]
    deleted = bg.run(bob.request("send", group_id=gid, text="群主删除的话"))["seq"]
    removed = bg.run(bob.request("send", group_id=gid, text="平台移除的话"))["seq"]
    page = new_page(browser, server)
    login(page, owner.username)
    _open(page, gid)
    message(page, "平台移除的话")

    def shown(seq: int) -> Any:
        return page.locator(f"#messages .msg[data-seq='{seq}'] .text.deleted")

    expected = {recalled: f"{bob_name} 撤回了一条消息", deleted: "此消息已被群主或管理员删除",
                removed: "此消息因违反平台规定已被删除"}
    bg.run(bob.request("delete_message", group_id=gid, seq=recalled))
    bg.run(owner.request("delete_message", group_id=gid, seq=deleted))
    rc, _, err = bg.run(server.admin("remove-message", gid, str(removed), "--reason", "违规"))
    assert rc == 0, err
    for seq, text in expected.items():
        expect(shown(seq)).to_have_text(text)
    page.reload()
    _open(page, gid)
    for seq, text in expected.items():
        expect(shown(seq)).to_have_text(text)
    # The list's preview of the newest message says it too.
    expect(page.locator(f"#group-list [data-gid='{gid}']")).to_contain_text("此消息因违反平台规定已被删除")
    assert page.errors == []
