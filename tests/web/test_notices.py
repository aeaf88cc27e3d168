"""The platform's notices in the reader's language, built from their fields and never from the
server's English ``text`` (docs/protocol.md, the notice table; docs/web.md): sanctions on a user
with an 申诉 button that carries their sanction id, a group suspension the owner appeals from its
notice, the outcome of an appeal with the operator's note alone, content taken down, a credit notice
after an upheld report, the measures on a public account; a deadline in another year shows its
year; an owner whose powers are suspended is told so in words, not with a bare "no permission", and
offered no management; the registration rules are said before anything is sent."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from tests.e2e.harness import ServerProcess, new_phone
from tests.web.browser import (
    Background,
    admin_ok,
    close_dialogs,
    create_account,
    create_group,
    join_group,
    late_answers,
    new_page,
    open_actions,
    publish,
    register,
    send,
    verify_identity,
    watch_errors,
)

LATIN = re.compile(r"[A-Za-z]{3,}")  # an English word in a Chinese line (ids and numbers are fine)


def _toast(page: Any, text: str) -> str:
    loc = page.locator("#toasts .toast", has_text=text).last
    loc.wait_for()
    return str(loc.inner_text())


def _sanction_id(srv: ServerProcess, kind: str, *args: str) -> str:
    rows = [json.loads(x) for x in admin_ok(srv, "sanctions", *args).splitlines()]
    return str(next(r["id"] for r in rows if r["kind"] == kind and r["status"] != "lifted"))


def _appeal_from_notice(page: Any, text: str, sid: str) -> None:
    """Open the notices list, press 申诉 on the notice containing ``text``, and send an appeal."""
    page.click("#btn-notices")
    item = page.locator("#notice-list li", has_text=text).first
    item.locator("button", has_text="申诉").click()
    page.wait_for_selector("#appeal-dialog")
    assert page.input_value("#appeal-sanction") == sid
    page.fill("#appeal-text", "请复核")
    page.click("#appeal-submit")
    _toast(page, "申诉已提交")


def _dropping_page(browser: Any, srv: ServerProcess, kinds: set[str]) -> Any:
    """A page whose WebSocket drops the notices of ``kinds`` and rewords every refusal's reason: a tab
    that missed the notice, and a server that words its refusals differently (codes and fields stay)."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 800}, locale="zh-CN")
    page = watch_errors(ctx.new_page())

    def route(ws: Any) -> None:
        upstream = ws.connect_to_server()

        def down(msg: str | bytes) -> None:
            f = json.loads(msg)
            if f.get("ev") == "notice" and f.get("kind") in kinds:
                return
            if f.get("ok") is False:
                f["reason"] = "reworded"
            ws.send(json.dumps(f))

        upstream.on_message(down)

    page.route_web_socket("**/ws", route)
    page.goto(f"http://127.0.0.1:{srv.port}/")
    return page


def test_sanctions_on_a_user_read_in_chinese_and_are_appealed_from_their_notice(browser: Any,
                                                                                 server: ServerProcess) -> None:
    alice, bob = new_page(browser, server), new_page(browser, server)
    name = register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "管理群")
    join_group(bob, gid)
    bob.wait_for_selector("#composer-text:enabled")
    send(bob, "大家好")
    alice.locator("#messages .msg", has_text="大家好").wait_for()

    admin_ok(server, "suspend-admin", name, "--seconds", "7200", "--reason", "管理失职")
    said = _toast(alice, "群管理权限")  # (first: a toast lasts seconds, and the CLI below may take them)
    sid = _sanction_id(server, "suspend_admin", "--user", name)
    assert re.fullmatch(rf"平台已暂停你的群管理权限，(\S+ )?\d\d:\d\d 恢复（处罚编号 {sid}）：管理失职", said), said
    _appeal_from_notice(alice, "群管理权限", sid)

    # the owner's panel says why and offers no management; the message menu neither pins nor deletes
    alice.click("#btn-manage")
    alice.wait_for_selector("#powers-note")
    assert alice.inner_text("#powers-note").startswith("平台已暂停你的群管理权限")
    assert alice.locator("#member-list .act-mute").count() == 0
    assert alice.locator("#member-list .act-report-user").count() == 1
    assert alice.is_disabled("#btn-dissolve")
    assert alice.locator("#invite-section").count() == 0  # (nor an invitation, in this open group)
    close_dialogs(alice)
    open_actions(alice, "大家好")
    assert alice.locator("#act-pin").count() == alice.locator("#act-delete").count() == 0
    close_dialogs(alice)
    alice.fill("#composer-text", "@")  # the member picker, without @所有人
    alice.locator("#composer-text").dispatch_event("input")
    alice.wait_for_selector("#mention-picker .pick")
    assert alice.locator("#mention-picker .pick[data-uid='all']").count() == 0
    alice.fill("#composer-text", "")

    # a reload asks for nothing the server refuses, so nothing is toasted
    refused: list[str] = []
    alice.on("websocket", lambda ws: ws.on("framereceived", lambda f: refused.append(f) if '"ok":false' in f else None))
    alice.reload()
    alice.wait_for_selector("#status.status-connected")
    alice.locator(f"#group-list [data-gid='{gid}']").wait_for()
    alice.wait_for_timeout(800)
    assert refused == [] and alice.locator("#toasts .toast-error").count() == 0

    appeal = next(json.loads(x) for x in admin_ok(server, "appeals", "--open").splitlines())
    admin_ok(server, "decide-appeal", str(appeal["appeal_id"]), "--outcome", "rejected", "--note", "整改不到位")
    assert _toast(alice, "你的申诉") == f"你的申诉（处罚 {sid}）未通过，处罚维持：整改不到位"

    # revoke-create: said, appealable, and the create form says so before trying
    admin_ok(server, "revoke-create", name, "--reason", "滥建群")
    said = _toast(alice, "创建群的权限")
    rid = _sanction_id(server, "revoke_create", "--user", name)
    assert said == f"平台已收回你创建群的权限（处罚编号 {rid}）：滥建群"
    alice.click("#btn-new-group")
    assert alice.inner_text("#create-revoked") == "平台已收回你创建群的权限"
    assert alice.is_disabled("#create-btn")
    close_dialogs(alice)
    admin_ok(server, "lift", rid, "--reason", "误判")
    assert _toast(alice, "已撤销") == f"平台已恢复你创建群的权限（处罚编号 {rid} 已撤销）：误判"
    for text in alice.locator("#toasts .toast").all_inner_texts():
        assert not LATIN.search(text), text
    assert alice.errors == bob.errors == []


def test_refusals_of_a_suspended_owner_say_why_from_their_cause(browser: Any, server: ServerProcess,
                                                                bg: Background) -> None:
    """A tab that missed the ``sanction`` notice (and whose server words its refusals differently) still
    says why a mute or a new group is refused, from the refusal's ``cause`` and ``until``."""
    owner = bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="旧标签页", category="study", join_policy="open"))["group_id"]
    member = bg.run(server.user())
    bg.run(member.request("join_group", group_id=gid))
    # It misses the credit notice the sanctions' points send too: on one, a page reads `me` again and
    # would learn the measures from it (powers_suspended_until, create_revoked) before any refusal.
    page = _dropping_page(browser, server, {"sanction", "credit"})
    page.fill("#login-username", owner.username)
    page.fill("#login-password", "password123")
    page.click("#login-submit")
    page.wait_for_selector("#status.status-connected")
    # The login's catch-up is over (it ends with the outcomes' check): none of its reads of the panel
    # or the join requests comes after the suspension and learns it before the refusal does.
    page.wait_for_selector("body[data-outcomes='checked']")
    page.click(f"#group-list [data-gid='{gid}']")
    page.click("#btn-manage")   # opened before the suspension: it offers mute
    page.locator("#member-list .act-mute").wait_for()

    admin_ok(server, "suspend-admin", owner.username, "--seconds", "7200", "--reason", "x")
    admin_ok(server, "revoke-create", owner.username, "--reason", "x")
    page.locator("#member-list .act-mute").first.click()
    said = _toast(page, "群管理权限")
    assert re.fullmatch(r"你的群管理权限已被平台暂停，(\S+ )?\d\d:\d\d 恢复", said), said
    page.wait_for_selector("#powers-note")   # and the panel now offers no management
    assert page.locator("#member-list .act-mute").count() == 0
    close_dialogs(page)
    page.click("#btn-new-group")
    page.fill("#create-name", "又一个群")
    page.click("#create-btn")
    page.wait_for_selector("dialog .form-msg.error")
    assert page.inner_text("dialog .form-msg.error") == "平台已收回你创建群的权限"
    assert page.errors == []


def test_the_new_group_dialog_opened_before_me_is_read_again_follows_the_revocation(
        browser: Any, server: ServerProcess) -> None:
    """The revocation's notice comes, then the page reads `me` again; a dialog opened in between used
    to offer Create for as long as it stayed open. It follows `me` once that answers, both ways."""
    page = new_page(browser, server)
    page.context.add_init_script(late_answers("me", 800))
    page.reload()
    name = register(page, server, display="Alice")
    page.wait_for_selector("body[data-outcomes='checked']")
    page.evaluate("() => { window.__slow = true; }")
    admin_ok(server, "revoke-create", name, "--reason", "滥建群")
    _toast(page, "创建群的权限")
    page.click("#btn-new-group")
    page.wait_for_selector("#create-revoked")   # once `me` answered
    assert page.inner_text("#create-revoked") == "平台已收回你创建群的权限"
    assert page.is_disabled("#create-btn")
    admin_ok(server, "lift", _sanction_id(server, "revoke_create", "--user", name), "--reason", "误判")
    page.wait_for_selector("#create-revoked", state="detached")
    assert page.is_enabled("#create-btn")
    assert page.errors == []


def test_a_group_suspension_and_removed_content_read_in_chinese(browser: Any, server: ServerProcess) -> None:
    alice, bob = new_page(browser, server), new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "整顿群")
    join_group(bob, gid)
    bob.wait_for_selector("#composer-text:enabled")
    send(bob, "违规内容")
    alice.locator("#messages .msg", has_text="违规内容").wait_for()

    seq = int(bob.locator("#messages .msg", has_text="违规内容").get_attribute("data-seq") or 0)
    admin_ok(server, "remove-message", gid, str(seq), "--reason", "涉嫌诈骗")
    assert _toast(bob, "消息") == "你在群「整顿群」的一条消息已被平台移除：涉嫌诈骗"

    admin_ok(server, "suspend-group", gid, "--seconds", "7200", "--reason", "整顿")
    _toast(alice, "已被平台暂停发言")
    _toast(bob, "已被平台暂停发言")
    sid = _sanction_id(server, "suspend_group", "--group", gid)
    _appeal_from_notice(alice, "已被平台暂停发言", sid)
    bob.click("#btn-notices")   # a member may not appeal the group's suspension: no button
    item = bob.locator("#notice-list li", has_text="已被平台暂停发言").first
    assert item.locator("button").count() == 0
    close_dialogs(bob)
    appeal = next(json.loads(x) for x in admin_ok(server, "appeals", "--open").splitlines())
    admin_ok(server, "decide-appeal", str(appeal["appeal_id"]), "--outcome", "upheld", "--note", "核实已整改")
    assert _toast(alice, "解除") == f"平台已解除对群「整顿群」的暂停（处罚编号 {sid}）：核实已整改"
    alice.wait_for_selector("#composer-text:enabled")
    assert alice.errors == bob.errors == []


def test_the_owners_notice_of_a_category_freeze_offers_an_appeal_of_the_groups_own_sanction(
        browser: Any, server: ServerProcess) -> None:
    """``freeze-category``'s ``group_suspended`` carried no ``sanction_id``, so the owner's notice had
    no 申诉 although the freeze gives each group a sanction of its own; now it has, with that id."""
    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    gid = create_group(alice, "冻结群")
    admin_ok(server, "freeze-category", "study", "--seconds", "7200", "--reason", "突发事件")
    _toast(alice, "临时冻结")
    sid = _sanction_id(server, "suspend_group", "--group", gid)
    _appeal_from_notice(alice, "临时冻结", sid)
    appeal = next(json.loads(x) for x in admin_ok(server, "appeals", "--open").splitlines())
    assert appeal["sanction_id"] == sid
    assert alice.errors == []


def test_a_credit_notice_after_a_blocked_message_says_why(browser: Any, tmp_path: Any) -> None:
    """A message a ``block`` list refuses costs credit; the page says so in words of its own, from the
    notice's ``cause: "content_blocked"``."""
    (tmp_path / "block.txt").write_text("赌博\n", encoding="utf-8")
    srv = ServerProcess(tmp_path, '[[content.lists]]\ncategory = "gambling"\npath = "block.txt"\naction = "block"\n')
    srv.start()
    try:
        alice = new_page(browser, srv)
        register(alice, srv, display="Alice")
        create_group(alice, "违禁词")
        alice.wait_for_selector("#composer-text:enabled")
        send(alice, "一起赌博")
        said = _toast(alice, "信用分")
        assert re.fullmatch(r"你发送的内容含有违禁信息，已被拒绝，扣除 2 信用分，你的信用分现为 98（等级 \d）。",
                            said), said
        assert alice.errors == []
    finally:
        srv.stop()


def test_a_credit_notice_after_an_upheld_report_says_why(browser: Any, server: ServerProcess) -> None:
    alice, bob = new_page(browser, server), new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    gid = create_group(alice, "举报群")
    join_group(bob, gid)
    bob.wait_for_selector("#composer-text:enabled")
    send(bob, "骚扰内容")
    open_actions(alice, "骚扰内容")
    alice.click("#act-report-message")
    alice.click("#report-submit")
    _toast(alice, "举报已提交")
    report = next(json.loads(x) for x in admin_ok(server, "reports").splitlines())
    admin_ok(server, "resolve", str(report["report_id"]), "--outcome", "upheld", "--note", "已删除并警告")
    said = _toast(bob, "信用分")
    assert said == "一项针对你的举报经平台核实成立，扣除 10 信用分，你的信用分现为 90（等级 2）。"
    assert alice.errors == bob.errors == []


def test_a_warning_deadline_in_another_year_shows_the_year(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    gid = create_group(alice, "整改群")
    year = dt.date.today().year + 4
    admin_ok(server, "warn-group", gid, "--reason", "限期整改", "--deadline", f"{year}-01-15")
    said = _toast(alice, "限期整改")
    # midnight of that day where the operator is, in the reader's time zone: the 14th or the 15th
    assert re.search(rf"请在 {year}/01/1[45] \d\d:\d\d 前整改", said), said
    assert alice.errors == []


def test_measures_on_a_public_account_read_in_chinese(browser: Any, server: ServerProcess, bg: Background) -> None:
    alice = new_page(browser, server)
    name = register(alice, server, display="阿丽")
    verify_identity(alice)
    aid = create_account(alice, "茶馆日报")
    publish(alice, "开张", "欢迎")
    publish(alice, "违规文章", "b")
    twin = bg.run(server.client())   # another login of alice's: her comment on her own post
    bg.run(twin.login(name, "password123"))
    posts = bg.run(twin.request("posts", account_id=aid))["posts"]
    post = next(p["post_id"] for p in posts if p["title"] == "开张")
    gone = next(p["post_id"] for p in posts if p["title"] == "违规文章")
    comment = bg.run(twin.request("comment", post_id=post, text="广告"))["comment_id"]

    admin_ok(server, "restrict-account", aid, "--comments", "off", "--reason", "评论区管理不力")
    assert _toast(alice, "评论已被平台关闭") == "公众号「茶馆日报」的评论已被平台关闭：评论区管理不力"
    admin_ok(server, "remove-post", gone, "--reason", "含违法信息")
    assert _toast(alice, "文章") == "公众号「茶馆日报」的文章《违规文章》已被平台移除：含违法信息"
    charged = _toast(alice, "扣除")  # (read while it shows: the CLI below may outlast a toast's seconds)
    removal = _sanction_id(server, "remove_post", "--account", aid)  # the points it took, said from fields
    assert charged.startswith(f"公众号「茶馆日报」因处罚 {removal} 被扣除 20 信用分，现为 80（等级 ")
    admin_ok(server, "remove-comment", comment, "--reason", "引战")
    assert _toast(alice, "评论已被平台移除") == "你在公众号「茶馆日报」文章《开张》下的评论已被平台移除：引战"
    sid = _sanction_id(server, "restrict_comments", "--account", aid)
    admin_ok(server, "lift", sid, "--reason", "已整改")
    assert _toast(alice, "解除") == f"平台已解除对公众号「茶馆日报」评论功能的限制（处罚编号 {sid}）：已整改"
    for text in alice.locator("#toasts .toast").all_inner_texts():
        assert not LATIN.search(text), text
    assert alice.errors == []


def test_registration_rules_are_said_in_chinese_before_sending(browser: Any, server: ServerProcess) -> None:
    page = new_page(browser, server)
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(f)))
    page.click("#to-register")
    page.fill("#reg-phone", "12345")
    page.click("#reg-get-code")
    assert page.inner_text("#form-msg") == "请输入中国大陆手机号（11 位数字，以 13–19 开头）"
    phone = new_phone()
    page.fill("#reg-phone", phone)
    page.click("#reg-get-code")
    page.wait_for_selector("#form-msg.ok")
    page.fill("#reg-code", server.last_code(phone))
    page.fill("#reg-username", "1abc")
    page.fill("#reg-password", "password123")
    page.click("#reg-submit")
    assert page.inner_text("#form-msg") == "用户名须为 3–32 位字母、数字、_ . -，以字母开头"
    page.fill("#reg-username", "goodname")
    for password in ("short12", "x" * 129):   # (no minlength: the browser's own bubble would speak instead)
        page.fill("#reg-password", password)
        page.click("#reg-submit")
        assert page.inner_text("#form-msg") == "密码须为 8–128 个字符"
        page.evaluate("() => { document.querySelector('#form-msg').textContent = ''; }")
    assert not any('"register"' in f for f in sent)   # nothing was sent for either
    assert page.errors == []
