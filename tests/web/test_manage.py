"""Owner and admin powers in the browser: mute shows in the member's composer; the approval flow."""

from __future__ import annotations

import json
from pathlib import Path
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
    message_texts,
    new_page,
    register,
    run_async,
    send,
)


def test_owner_mutes_member_and_the_composer_shows_it(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server)
    bob = new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "管理测试")
    join_group(bob, gid)
    bob.wait_for_selector("#composer-text:enabled")

    alice.click("#btn-manage")
    row = alice.locator("#member-list .member[data-role='member']")
    row.locator(".act-mute-len").select_option("3600")
    row.locator(".act-mute").click()
    bob.wait_for_selector("#composer-note:visible")
    assert "禁言" in bob.inner_text("#composer-note")
    assert bob.locator("#composer-text").is_disabled() and bob.locator("#send-btn").is_disabled()
    alice.wait_for_selector("#member-list .tag-muted")  # the owner's panel shows the mute too

    alice.locator("#member-list .member[data-role='member'] .act-unmute").click()
    bob.wait_for_selector("#composer-text:enabled")
    assert bob.locator("#composer-note").is_hidden()

    alice.check("#mute-all")  # everyone: members cannot post, the owner still can
    bob.wait_for_selector("#composer-note:visible")
    assert bob.inner_text("#composer-note") == "全员禁言中，只有群主和管理员可以发言"
    close_dialogs(alice)
    send(alice, "只有群主能说话")
    bob.wait_for_selector("#messages .msg .text:has-text('只有群主能说话')")
    alice.click("#btn-manage")
    alice.uncheck("#mute-all")
    bob.wait_for_selector("#composer-text:enabled")
    send(bob, "可以说话了")
    alice.wait_for_selector("#messages .msg .text:has-text('可以说话了')")

    # Admin appointment shows as a role tag on both sides.
    alice.locator("#member-list .member[data-role='member'] .act-role").click()
    alice.wait_for_selector("#member-list .member[data-role='admin']")
    close_dialogs(bob)
    send(bob, "我是管理员了")
    alice.wait_for_selector("#messages .msg:has-text('我是管理员了') .tag-admin")
    assert alice.errors == [] and bob.errors == []


def test_join_approval_end_to_end(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server)
    bob = new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "审批群", policy="approval")
    join_group(bob, gid)
    bob.wait_for_selector("dialog .form-msg.ok:has-text('等待群主或管理员批准')")
    close_dialogs(bob)
    assert bob.locator(f'.group-item[data-gid="{gid}"]').count() == 0

    # The owner learns live: a badge on the group, the request in the panel.
    alice.wait_for_selector("#btn-manage .badge.req")
    alice.click("#btn-manage")
    req = alice.locator("#request-list .request")
    req.wait_for()
    assert req.locator(".who").inner_text() == "Bob"
    req.locator(".act-approve").click()
    alice.wait_for_selector("#member-list .member:has-text('Bob')")
    alice.wait_for_selector("#request-list", state="detached")

    # The requester is told, and the group appears for them.
    bob.wait_for_selector(f'.group-item[data-gid="{gid}"]')
    bob.wait_for_selector("#notice-count:not([hidden])")
    bob.click(f'.group-item[data-gid="{gid}"]')
    bob.wait_for_selector("#composer-text:enabled")
    send(bob, "谢谢批准")
    close_dialogs(alice)
    alice.wait_for_selector("#messages .msg .text:has-text('谢谢批准')")
    bob.wait_for_selector("#messages .msg .text:has-text('谢谢批准')")  # (his own moves in at the ack)
    assert message_texts(bob) == ["谢谢批准"]
    assert alice.errors == [] and bob.errors == []


def test_report_reaches_the_operator_and_the_outcome_comes_back_in_plain_language(
        browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server)
    bob = new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "举报测试")
    join_group(bob, gid)
    bob.wait_for_selector("#composer-text:enabled")
    send(alice, "加我微信买发票")
    msg = bob.locator("#messages .msg").first
    msg.wait_for()
    msg.hover()
    msg.locator(".more").click()
    bob.click("#act-report-message")
    bob.select_option("#report-reason", "诈骗")
    bob.fill("#report-detail", "卖假发票")
    bob.click("#report-submit")
    bob.wait_for_selector("#toasts .toast:has-text('举报已提交')")

    rc, out, _ = run_async(server.admin("reports", "--open"))
    listed = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and len(listed) == 1
    report = listed[0]
    assert report["group_id"] == gid and report["seq"] == 1 and report["reason"] == "fraud"  # a key, not 诈骗
    rid = str(report["report_id"])
    rc, _, _ = run_async(server.admin("resolve", rid, "--outcome", "upheld", "--note", "已删除并警告"))
    assert rc == 0
    bob.wait_for_selector("#notice-count:not([hidden])")
    bob.click("#btn-notices")
    assert bob.inner_text("#notice-list li p") == "你的举报已处理，成立：已删除并警告"

    rc, _, _ = run_async(server.admin("warn-group", gid, "--reason", "请清理广告"))
    assert rc == 0
    alice.wait_for_selector("#toasts .toast:has-text('平台警告（群「举报测试」）：请清理广告')")
    assert alice.errors == [] and bob.errors == []


def test_owner_appeals_a_warning_from_its_notice_and_hears_the_outcome(browser: Any, server: ServerProcess) -> None:
    """The server's ``appeal``: the owner's warning notice carries an 申诉 button (a member's does not),
    the appeal reaches the operator, an open one cannot be sent twice, and the decision comes back in
    plain language; 我的账号 takes a sanction id the platform gave."""
    alice = new_page(browser, server)
    bob = new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "申诉测试")
    join_group(bob, gid)
    bob.wait_for_selector("#composer-text:enabled")

    rc, out, _ = run_async(server.admin("warn-group", gid, "--reason", "请清理广告"))
    assert rc == 0
    sid = out.rsplit("sanction ", 1)[1].rstrip(")\n")
    for page in (alice, bob):
        page.wait_for_selector("#notice-count:not([hidden])")
        page.click("#btn-notices")
        page.wait_for_selector("#notice-list li")
    assert bob.locator("#notice-list li button").count() == 0  # only the owner may appeal
    close_dialogs(bob)
    alice.click("#notice-list li button:has-text('申诉')")
    assert alice.input_value("#appeal-sanction") == sid
    alice.fill("#appeal-text", "广告已经全部删除")
    alice.click("#appeal-submit")
    alice.wait_for_selector("#toasts .toast:has-text('申诉已提交')")

    rc, out, _ = run_async(server.admin("appeals", "--open"))
    [appeal] = [json.loads(line) for line in out.splitlines()]
    assert appeal["sanction_id"] == sid and appeal["text"] == "广告已经全部删除"

    # A second appeal while the first is open, from 我的账号 with the id typed in: refused in plain words.
    alice.click("#btn-profile")
    alice.click("#btn-appeal")
    alice.fill("#appeal-sanction", sid)
    alice.fill("#appeal-text", "再申诉一次")
    alice.click("#appeal-submit")
    alice.wait_for_selector("#appeal-dialog .form-msg.error:has-text('申诉还在处理中')")
    close_dialogs(alice)

    rc, _, _ = run_async(server.admin("decide-appeal", str(appeal["appeal_id"]), "--outcome", "upheld",
                                      "--note", "已整改"))
    assert rc == 0
    alice.wait_for_selector(f"#toasts .toast:has-text('你的申诉（处罚 {sid}）已通过')")
    # the lifting says what was lifted (`measure`) and the operator's note alone (`reason`)
    bob.wait_for_selector(f"#toasts .toast:text-is('平台已撤销对群「申诉测试」的警告（处罚编号 {sid}）：已整改')")
    assert alice.errors == [] and bob.errors == []


def test_renaming_a_group_keeps_a_category_the_client_does_not_know(
        browser: Any, tmp_path: Path, bg: Background) -> None:
    """The server's categories are configurable (groups.categories): a group in one the client's
    built-in list lacks showed its first category instead, and saving a new name sent it."""
    srv = ServerProcess(tmp_path, '\n[groups]\ncategories = ["sports", "family", "other"]\n').start()
    try:
        owner = bg.run(srv.user())
        gid = bg.run(owner.request("create_group", name="球队", category="sports", join_policy="open"))["group_id"]
        page = new_page(browser, srv)
        login(page, owner.username)
        page.click(f"#group-list [data-gid='{gid}']")
        page.click("#btn-manage")
        expect(page.locator("#info-category")).to_have_text("sports")  # its key, as the server names it
        assert page.eval_on_selector("#settings-category", "s => s.value") == "sports"
        page.fill("#settings-name", "球队改名")
        page.click("#settings-save")
        page.wait_for_selector("#chat-title:has-text('球队改名')")
        info = bg.run(owner.request("group_info", group_id=gid))
        assert (info["name"], info["category"]) == ("球队改名", "sports")

        page.select_option("#settings-category", "family")  # a change the owner makes is sent
        page.click("#settings-save")
        expect(page.locator("#info-category")).to_have_text("家庭")
        assert bg.run(owner.request("group_info", group_id=gid))["category"] == "family"
        assert page.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))


def _refusing_categories(page: Any) -> list[int]:
    """Route the page's WebSocket so that ``categories`` is answered ``unknown_op``, as a server
    without the op answers; everything else goes through. Install before the page connects. The
    list returned gets the rid of each refusal sent."""
    refused: list[int] = []

    def through(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message) if isinstance(message, str) else None
            if frame and frame.get("op") == "categories":
                ws.send(json.dumps({"re": frame["rid"], "ok": False, "code": "unknown_op",
                                    "reason": "unknown op 'categories'"}))
                refused.append(frame["rid"])
            else:
                server.send(message)

        ws.on_message(from_page)

    page.route_web_socket("**/ws", through)
    return refused


def test_the_create_forms_offer_the_servers_categories(browser: Any, tmp_path: Path, bg: Background) -> None:
    """The forms offered a fixed list of eight categories whatever the server accepts: a category the
    operator configured could not be chosen, and one not configured was refused after the choice."""
    srv = ServerProcess(tmp_path, '\n[groups]\ncategories = ["sports", "family", "other"]\n'
                                  '[public_accounts]\ncategories = ["weather", "other"]\n').start()
    try:
        owner = bg.run(srv.user())
        page = new_page(browser, srv)
        login(page, owner.username)
        page.click("#btn-new-group")
        page.wait_for_selector("#create-category[data-from='server']")
        options = page.locator("#create-category option")
        assert options.evaluate_all("os => os.map(o => o.value)") == ["sports", "family", "other"]
        expect(options).to_have_text(["sports", "家庭", "其他"])  # a key without a translation: as it is
        page.fill("#create-name", "球队")
        page.select_option("#create-category", "sports")
        page.click("#create-btn")
        page.wait_for_selector("#chat-gid")
        assert bg.run(owner.request("group_info", group_id=page.inner_text("#chat-gid")))["category"] == "sports"

        close_dialogs(page)
        page.click("#tab-accounts")
        page.click("#btn-new-account")
        page.wait_for_selector("#account-create-category[data-from='server']")
        expect(page.locator("#account-create-category option")).to_have_text(["weather", "其他"])

        # A server without the op: the built-in lists stand.
        old = new_page(browser, srv)
        refused = _refusing_categories(old)
        old.reload()
        login(old, owner.username)
        old.click("#btn-new-group")
        for _ in range(100):
            if refused:
                break
            old.wait_for_timeout(50)
        assert refused, "the form never asked for the categories"
        old.wait_for_timeout(200)  # for the page to take the refusal
        assert old.eval_on_selector("#create-category", "s => s.dataset.from") == "builtin"
        assert old.locator("#create-category option").evaluate_all("os => os.map(o => o.value)") == [
            "family", "friends", "work", "study", "interest", "business", "public_affairs", "other"]
        assert page.errors == [] and old.errors == []
    finally:
        srv.stop()
        print("".join(srv.output))


async def _ask_to_join(srv: ServerProcess, gid: str, n: int) -> None:
    for _ in range(n):
        c = await srv.user()
        try:
            assert (await c.request("join_group", group_id=gid))["status"] == "pending"
        finally:
            await c.close()


def test_the_request_counts_follow_the_panel_and_a_panel_closed_while_loading_says_nothing(
        browser: Any, server: ServerProcess) -> None:
    """Requests approved in the panel leave the sidebar's and the chat head's counts at what is
    left; and a panel closed before its lists came back neither fails nor shows another's lists."""
    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    gid = create_group(alice, "计数群", policy="approval")
    run_async(_ask_to_join(server, gid, 3))
    alice.wait_for_selector(f'.group-item[data-gid="{gid}"] .badge.req:has-text("+3")')
    alice.click("#btn-manage")
    for left in (2, 1):
        alice.locator("#request-list .request .act-approve").first.click()
        alice.wait_for_selector(f'.group-item[data-gid="{gid}"] .badge.req:has-text("+{left}")')
        alice.wait_for_selector(f'#btn-manage .badge.req:has-text("+{left}")')
    close_dialogs(alice)
    for _ in range(5):  # opened and closed at once, before its lists come back
        alice.click("#btn-manage")
        alice.keyboard.press("Escape")
    alice.wait_for_timeout(1000)
    assert alice.locator(".toast-error").count() == 0, alice.locator(".toast-error").all_inner_texts()
    assert alice.locator("dialog[open]").count() == 0  # no late answer opened a panel again
    alice.click("#btn-manage")  # opened once more: its own lists, the one request left, once
    expect(alice.locator("#request-list .request")).to_have_count(1)
    assert alice.errors == []


def test_an_admin_invites_in_a_group_joined_by_approval_and_a_member_does_not(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """Admins may invite under every join policy (as owners): the panel offered them the invitation
    form only in open groups. A member of a group joined by approval is not offered it."""
    from tests.e2e.harness import open_group

    owner, adm, mem = bg.run(server.user()), bg.run(server.user()), bg.run(server.user())
    gid = bg.run(open_group(owner, join_policy="approval"))
    for c in (adm, mem):
        bg.run(owner.request("invite", group_id=gid, user_id=c.user_id))
        bg.run(c.request("join_group", group_id=gid))
    bg.run(owner.request("set_role", group_id=gid, user_id=adm.user_id, role="admin"))
    for who, offered in ((adm, 1), (mem, 0)):
        page = new_page(browser, server)
        login(page, who.username)
        page.click(f"#group-list [data-gid='{gid}']")
        page.click("#btn-manage")
        page.wait_for_selector("#member-list")
        expect(page.locator("#invite-section")).to_have_count(offered)
        assert page.errors == []


def test_the_mute_all_switch_keeps_the_choice_until_the_server_answers(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The panel is drawn again on every change in the group. One drawn between the owner's click on
    全员禁言 and the server's answer (here another device's invite link, while the answer and the group's own
    event are on their way) used to show the group's value from before the click: the switch flipped
    back until the event came."""
    owner, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="开关", category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("join_group", group_id=gid))
    page = new_page(browser, server)
    page.context.add_init_script(late_answers("mute_all", 1500, events=("group_updated",)))
    page.reload()
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    page.click("#btn-manage")
    page.wait_for_selector("#mute-all")
    page.evaluate("() => { window.__slow = true; }")
    page.check("#mute-all")
    bg.run(owner.request("create_invite_link", group_id=gid, note="另一台"))   # (the owner's other device)
    page.wait_for_selector("#invite-links li:has-text('另一台')")   # the panel was drawn again
    assert page.is_checked("#mute-all")
    page.wait_for_function("() => window.__held >= 2")   # the answer and the event, held
    page.evaluate("() => { window.__slow = false; }")
    page.wait_for_timeout(1700)
    assert page.is_checked("#mute-all")
    assert page.errors == []
