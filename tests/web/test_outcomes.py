"""The outcome of one's reports and appeals in the browser (Art. 12 feedback to the reporter, Art. 11
appeals): 我的账号 → 我的举报与申诉 lists them with their status, outcome and the operator's note, and a
user who was away when they were handled is told at the next login, once (what was seen is kept in
the browser, across logout, under a hash of the user id)."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import (
    Background,
    admin_ok,
    close_dialogs,
    create_group,
    join_group,
    late_answers,
    login,
    new_page,
    register,
    send,
    watch_errors,
)


def _reopen(ctx: Any, srv: ServerProcess) -> Any:
    """A new tab in the same browser profile (its localStorage, so its login and what it has seen)."""
    page = watch_errors(ctx.new_page())
    page.goto(f"http://127.0.0.1:{srv.port}/")
    page.wait_for_selector("#status.status-connected")
    return page


def _checked(page: Any) -> None:
    page.wait_for_selector("body[data-outcomes='checked']")


def _report_message(page: Any, text: str, reason: str) -> None:
    msg = page.locator("#messages .msg", has=page.locator(".text", has_text=text)).last
    msg.hover()
    msg.locator(".more").click()
    page.click("#act-report-message")
    page.select_option("#report-reason", reason)
    page.click("#report-submit")
    page.wait_for_selector("#toasts .toast:has-text('举报已提交')")


def _file_appeal(page: Any, sanction_id: str, text: str) -> None:
    """我的账号 → 申诉: an appeal of ``sanction_id``, filed and acknowledged."""
    page.click("#btn-profile")
    page.click("#btn-appeal")
    page.fill("#appeal-sanction", sanction_id)
    page.fill("#appeal-text", text)
    page.click("#appeal-submit")
    page.wait_for_selector("#toasts .toast:has-text('申诉已提交')")


def _open_reports(page: Any) -> None:
    page.click("#btn-profile")
    page.click("#btn-my-reports")
    page.wait_for_selector("#my-report-list li")
    page.wait_for_selector("#my-appeal-list li")


def test_reports_and_appeals_decided_while_away_are_listed_and_noticed_once(browser: Any,
                                                                             any_server: ServerProcess) -> None:
    srv = any_server
    alice, bob = new_page(browser, srv), new_page(browser, srv)
    register(alice, srv, display="Alice")
    bob_name = register(bob, srv, display="Bob")
    gid = create_group(alice, "举报结果")
    join_group(bob, gid)
    bob.wait_for_selector("#composer-text:enabled")
    _open_reports(bob)
    assert bob.inner_text("#my-report-list") == "你还没有举报过"
    assert bob.inner_text("#my-appeal-list") == "你还没有申诉过"
    close_dialogs(bob)
    send(alice, "加我微信买发票")
    send(alice, "第二条广告")
    _report_message(bob, "加我微信买发票", "诈骗")

    admin_ok(srv, "revoke-create", bob_name, "--reason", "批量建群发广告")
    [sanction] = [json.loads(ln) for ln in admin_ok(srv, "sanctions", "--user", bob_name).splitlines()]
    _file_appeal(bob, sanction["id"], "我没有发广告")
    _open_reports(bob)
    assert "处理中" in bob.inner_text("#my-report-list li") and "诈骗" in bob.inner_text("#my-report-list li")
    assert "处理中" in bob.inner_text("#my-appeal-list li")
    assert sanction["id"] in bob.inner_text("#my-appeal-list li")
    ctx = bob.context
    assert bob.errors == []
    bob.close()  # away while the operator decides: the live notices reach nobody

    [report] = [json.loads(ln) for ln in admin_ok(srv, "reports", "--open").splitlines()]
    admin_ok(srv, "resolve", str(report["report_id"]), "--outcome", "upheld", "--note", "已删除并警告")
    [appeal] = [json.loads(ln) for ln in admin_ok(srv, "appeals", "--open").splitlines()]
    admin_ok(srv, "decide-appeal", str(appeal["appeal_id"]), "--outcome", "rejected",
           "--note", "证据确凿，来电 13800138000")

    back = _reopen(ctx, srv)
    back.wait_for_selector("#toasts .toast:has-text('你上次查看之后，平台处理了你的 2 项举报或申诉')")
    back.click("#btn-notices")
    back.click("#notice-list li button:has-text('查看')")
    back.wait_for_selector("#my-report-list li:has-text('成立')")
    report_line = back.inner_text("#my-report-list li")
    assert "已删除并警告" in report_line and "诈骗" in report_line and "举报结果" in report_line
    appeal_line = back.inner_text("#my-appeal-list li")
    assert "未成立" in appeal_line and "处罚维持" in appeal_line and "证据确凿" in appeal_line
    assert "13800138000" not in appeal_line  # the operator's note as masked when written
    assert back.errors == []
    back.close()

    # Told once: the next visit, and a logout and login, say nothing more.
    again = _reopen(ctx, srv)
    _checked(again)
    assert again.locator("#notice-count").is_hidden()
    again.click("#btn-profile")
    again.click("#btn-logout")
    again.wait_for_selector("#login-form")
    keys = again.evaluate("() => Object.keys(localStorage)")
    me = [k for k in keys if k.startswith("qg.seen.")]
    # what was seen (outcomes, measures), no content: the rest of what the page kept for bob is gone
    assert len(me) == 2 and "qg.token" not in keys
    login(again, bob_name)
    _checked(again)
    assert again.locator("#notice-count").is_hidden()

    # One outcome while away is told in its own words; one seen live is not told again.
    again.click(f"#group-list li[data-gid='{gid}']")
    _report_message(again, "第二条广告", "其他")
    again.close()
    [second] = [json.loads(ln) for ln in admin_ok(srv, "reports", "--open").splitlines()]
    admin_ok(srv, "resolve", str(second["report_id"]), "--outcome", "rejected", "--note", "不构成违规")
    live = _reopen(ctx, srv)
    live.wait_for_selector("#toasts .toast:has-text('你的举报已处理，未成立：不构成违规')")
    _checked(live)
    admin_ok(srv, "revoke-create", bob_name, "--reason", "again")
    [_, newer] = [json.loads(ln) for ln in admin_ok(srv, "sanctions", "--user", bob_name).splitlines()]
    _file_appeal(live, newer["id"], "第二次")
    [open_appeal] = [json.loads(ln) for ln in admin_ok(srv, "appeals", "--open").splitlines()]
    # (what the login's check stored as seen: the live notice's markOutcomesSeen moves it on, after
    # two requests and a digest; the page must not close before)
    seen = "() => Object.entries(localStorage).filter(([k]) => k.startsWith('qg.seen.')).map(([, v]) => v).join()"
    before = live.evaluate(seen)
    admin_ok(srv, "decide-appeal", str(open_appeal["appeal_id"]), "--outcome", "upheld", "--note", "已核实")
    live.wait_for_selector(f"#toasts .toast:has-text('你的申诉（处罚 {newer['id']}）已通过')")
    live.wait_for_function(f"(before) => ({seen})() !== before", arg=before)
    assert live.errors == []
    live.close()
    last = _reopen(ctx, srv)
    _checked(last)
    assert last.locator("#notice-count").is_hidden()
    assert last.errors == [] and alice.errors == []


def test_a_measure_taken_while_away_is_told_at_the_next_login_and_listed_with_its_appeal(
        browser: Any, server: ServerProcess) -> None:
    """The warning notice reached only the members online: an owner away then never learned of it,
    its deadline, nor the id an appeal takes. The next login tells it, once; 我的举报与申诉 lists the
    measures standing against the user and their groups, each with 申诉 for that measure."""
    owner = new_page(browser, server)
    register(owner, server, display="Owner")
    gid = create_group(owner, "整改群")
    ctx = owner.context
    owner.close()  # away while the platform acts
    admin_ok(server, "warn-group", gid, "--reason", "广告刷屏，限期整改")
    [warning] = [json.loads(ln) for ln in admin_ok(server, "sanctions", "--group", gid).splitlines()]
    back = _reopen(ctx, server)
    back.wait_for_selector(f"#toasts .toast:has-text('平台处罚（编号 {warning['id']}）：群「整改群」受到平台警告')")
    _checked(back)
    back.click("#btn-profile")
    back.click("#btn-my-reports")
    item = back.locator(f"#my-sanction-list li[data-sanction-id='{warning['id']}']")
    item.wait_for()
    assert "广告刷屏，限期整改" in item.inner_text() and "生效中" in item.inner_text()
    item.locator(".act-appeal").click()
    assert back.input_value("#appeal-sanction") == warning["id"]
    back.fill("#appeal-text", "已清理广告")
    back.click("#appeal-submit")
    back.wait_for_selector("#toasts .toast:has-text('申诉已提交')")
    assert back.errors == []
    back.close()
    again = _reopen(ctx, server)  # told once
    _checked(again)
    assert again.locator("#toasts .toast:has-text('平台处罚')").count() == 0
    assert again.errors == []


def test_an_appeal_upheld_after_its_sanction_ran_out_says_it_had_ended_not_lifted(
        browser: Any, server: ServerProcess) -> None:
    """An upheld appeal of a sanction that ran out before the decision lifts nothing (its points come
    back): the live notice and 我的申诉 say it had already ended, not that it was lifted."""
    import time

    page = new_page(browser, server)
    name = register(page, server, display="Bob")
    admin_ok(server, "suspend-admin", name, "--seconds", "3", "--reason", "滥用管理权限")
    [sanction] = [json.loads(ln) for ln in admin_ok(server, "sanctions", "--user", name).splitlines()]
    _file_appeal(page, sanction["id"], "误判")
    [appeal] = [json.loads(ln) for ln in admin_ok(server, "appeals", "--open").splitlines()]
    time.sleep(max(0.0, sanction["expires_at"] / 1000 - time.time()) + 0.2)
    admin_ok(server, "decide-appeal", str(appeal["appeal_id"]), "--outcome", "upheld", "--note", "已核实")
    page.wait_for_selector(f"#toasts .toast:has-text('你的申诉（处罚 {sanction['id']}）已通过，处罚此前已结束')")
    close_dialogs(page)
    _open_reports(page)
    line = page.inner_text("#my-appeal-list li")
    assert "申诉成立，处罚此前已结束" in line and "处罚已撤销" not in line, line
    assert page.errors == []


def _listed_once(page: Any, *texts: str) -> None:
    """Each of ``texts`` is in the notices list (the bell) once; the list closed again."""
    page.click("#btn-notices")
    listed = page.locator("#notice-list li")
    for text in texts:
        expect(listed.filter(has_text=text)).to_have_count(1)
    close_dialogs(page)


def _told_nothing_again(ctx: Any, srv: ServerProcess, *toasts: str) -> None:
    """A new tab of the same browser, checked, shows none of ``toasts``."""
    again = _reopen(ctx, srv)
    _checked(again)
    again.wait_for_timeout(300)
    for text in toasts:
        assert again.locator(f"#toasts .toast:has-text('{text}')").count() == 0
    assert again.errors == []


def test_the_platforms_notices_sent_while_away_are_listed_at_the_next_login_once(
        browser: Any, server: ServerProcess) -> None:
    """``qunguan admin notice`` reached only the pages connected then: a user away never read the
    maintenance notice. The next login lists each in its words at the time it was sent (one toast
    for several), once; one shown live is not told again either."""
    page = new_page(browser, server)
    register(page, server, display="Reader")
    ctx = page.context
    page.close()  # away while the platform speaks
    admin_ok(server, "notice", "--text", "今晚 22:00 系统维护")
    admin_ok(server, "notice", "--text", "请勿转发未经证实的消息")
    back = _reopen(ctx, server)
    back.wait_for_selector("#toasts .toast:has-text('你不在线时平台发布了 2 条公告')")
    _checked(back)
    _listed_once(back, "平台公告：今晚 22:00 系统维护", "平台公告：请勿转发未经证实的消息")
    admin_ok(server, "notice", "--text", "维护已完成")  # live, to the page connected now
    back.wait_for_selector("#toasts .toast:has-text('平台公告：维护已完成')")
    assert back.errors == []
    back.close()
    _told_nothing_again(ctx, server, "平台公告", "你不在线时")  # told once: neither the two nor the live one


def test_a_live_platform_notice_during_the_logins_check_hides_none_sent_while_away(
        browser: Any, server: ServerProcess) -> None:
    """A live notice shown while the login's check was still on its way counted as the newest seen,
    and the check then asked only for what came after it: every notice sent while the user was away
    was lost. Both are listed now, each once."""
    page = new_page(browser, server)
    register(page, server, display="Reader")
    ctx = page.context
    page.close()
    admin_ok(server, "notice", "--text", "离线时的公告")
    ctx.add_init_script(late_answers("my_sanctions", 3000))  # (the check asks my_sanctions first)
    ctx.add_init_script("window.__slow = true;")
    back = _reopen(ctx, server)
    admin_ok(server, "notice", "--text", "登录时的公告")  # live, before the check has asked
    back.wait_for_selector("#toasts .toast:has-text('平台公告：登录时的公告')")
    _checked(back)
    _listed_once(back, "平台公告：离线时的公告", "平台公告：登录时的公告")
    back.close()
    _told_nothing_again(ctx, server, "平台公告")  # both told once


def test_a_measure_on_ones_public_account_is_named_by_the_account(browser: Any, server: ServerProcess) -> None:
    """my_sanctions lists a public account's measures to its owner (with the account, not a group): the
    page worded a suspended account as a warning to group "" before it knew them."""
    bg = Background()
    try:
        owner = bg.run(server.user(verify_id=True))
        aid = bg.run(owner.request("create_account", name="茶馆周报", category="culture", intro="",
                                   subject_type="individual"))["account_id"]
        admin_ok(server, "suspend-account", aid, "--seconds", "3600", "--reason", "标题党")
        [sanction] = [json.loads(ln) for ln in admin_ok(server, "sanctions", "--account", aid).splitlines()]
        page = new_page(browser, server)
        login(page, owner.username)
        told = f"平台处罚（编号 {sanction['id']}）：公众号「茶馆周报」被暂停更新"
        page.wait_for_selector(f"#toasts .toast:has-text('{told}')")
        page.click("#btn-profile")
        page.click("#btn-my-reports")
        item = page.locator(f"#my-sanction-list li[data-sanction-id='{sanction['id']}']")
        item.wait_for()
        assert "公众号「茶馆周报」被暂停更新" in item.inner_text() and "标题党" in item.inner_text()
        assert page.errors == []
    finally:
        bg.close()


def test_my_reports_name_the_reported_post_by_its_title_as_the_reporter_may_see_it(
        browser: Any, review_server: ServerProcess, bg: Background) -> None:
    """我的举报与申诉 said "公众号「茶馆周报」的文章" for every post reported: which one, the reporter could
    not tell. A post, and the post a reported comment is on, are named by their title ([ext] post_title)
    while the reporter may read it; a post deleted since by its account only as "a post", its title
    left out as it is for everyone; an account whose name is held for review by the stand-in it shows
    everyone, never the name held."""
    server = review_server
    owner, other = (bg.run(server.user(verify_id=True)) for _ in range(2))
    reporter = bg.run(server.user())
    aid = bg.run(owner.request("create_account", name="茶馆周报", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    kept = bg.run(owner.request("publish", account_id=aid, title="本周书单", body="正文"))["post_id"]
    gone = bg.run(owner.request("publish", account_id=aid, title="旧闻回顾", body="正文"))["post_id"]
    cmt = bg.run(owner.request("comment", post_id=kept, text="欢迎留言"))["comment_id"]
    held = bg.run(other.request("create_account", name="集会周报", category="culture", intro="",
                                subject_type="individual"))["account_id"]   # (its name held: a stand-in shown)
    for args in ({"target_type": "comment", "comment_id": cmt}, {"target_type": "post", "post_id": kept},
                 {"target_type": "post", "post_id": gone}, {"target_type": "account", "account_id": held}):
        bg.run(reporter.request("report", reason="fraud", **args))
    bg.run(owner.request("delete_post", post_id=gone))
    page = new_page(browser, server)
    login(page, reporter.username)
    page.click("#btn-profile")
    page.click("#btn-my-reports")
    items = page.locator("#my-report-list li[data-report-id]")
    expect(items).to_have_count(4)
    expect(items.nth(0)).to_contain_text(f"举报公众号「公众号 {held}」：")
    expect(items.nth(1)).to_contain_text("举报公众号「茶馆周报」的文章：")
    expect(items.nth(2)).to_contain_text("举报公众号「茶馆周报」的文章《本周书单》：")
    expect(items.nth(3)).to_contain_text("举报公众号「茶馆周报」文章《本周书单》下的评论：")
    text = page.inner_text("#my-report-list")
    assert "旧闻回顾" not in text and "集会" not in text and owner.phone not in text and "张三" not in text, text

    close_dialogs(page)
    page.click("#lang-btn")
    page.click("#btn-profile")
    page.click("#btn-my-reports")
    expect(items.nth(2)).to_contain_text("Report on the post “本周书单” of public account “茶馆周报”:")
    expect(items.nth(3)).to_contain_text("a comment on the post “本周书单” of public account “茶馆周报”")
    assert page.errors == []
