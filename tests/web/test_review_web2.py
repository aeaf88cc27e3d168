"""Review of the web client's flows as a user meets them (rv-web2): appeals and the measures against
oneself, credit and sanction notices, names refused, invite links, public accounts at phone width.
Each test is a defect seen in the browser, failing before its fix."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.e2e.harness import ServerProcess
from tests.web.browser import (
    Background,
    admin_ok,
    create_account,
    create_group,
    find_account,
    new_page,
    open_post,
    publish,
    register,
    verify_identity,
)

LATIN = re.compile(r"[A-Za-z]{3,}")  # an English word in a Chinese line (ids and numbers are fine)


def _toast(page: Any, text: str) -> str:
    loc = page.locator("#toasts .toast", has_text=text).last
    loc.wait_for()
    return str(loc.inner_text())


def _appeal(page: Any, sanction_id: str, text: str = "请复核") -> str:
    """我的账号 → 申诉 with ``sanction_id`` typed in; what the dialog says back."""
    page.click("#btn-profile")
    page.click("#btn-appeal")
    page.fill("#appeal-sanction", sanction_id)
    page.fill("#appeal-text", text)
    page.click("#appeal-submit")
    page.wait_for_selector("#appeal-dialog .form-msg.error")
    return str(page.inner_text("#appeal-dialog .form-msg.error"))


def test_an_appeal_of_a_removed_post_is_not_refused_as_a_closed_group(browser: Any, server: ServerProcess,
                                                                         bg: Background) -> None:
    """remove-post takes the account's points and names the sanction in its credit notice (公众号「…」因处罚 N
    被扣除 20 信用分); its owner who appeals that sanction is refused with ``forbidden`` (removing a post is
    final, docs/protocol.md `appeal`). The dialog said 关闭群是最终决定 — a group nobody closed — for every
    ``forbidden``: also a warning of a public account closed since."""
    alice = new_page(browser, server)
    name = register(alice, server, display="阿丽")
    verify_identity(alice)
    aid = create_account(alice, "茶馆日报")
    publish(alice, "违规文章", "正文")
    twin = bg.run(server.client())
    bg.run(twin.login(name, "password123"))
    pid = next(p["post_id"] for p in bg.run(twin.request("posts", account_id=aid))["posts"] if p["title"] == "违规文章")
    admin_ok(server, "remove-post", str(pid), "--reason", "含违法信息")
    charged = _toast(alice, "扣除")
    rows = [json.loads(x) for x in admin_ok(server, "sanctions", "--account", aid).splitlines()]
    sid = str(next(r["id"] for r in rows if r["kind"] == "remove_post"))
    assert f"处罚 {sid}" in charged   # the id the user is given

    said = _appeal(alice, sid)
    assert "移除文章" in said, said   # (it said: 关闭群是最终决定，不能申诉)
    assert alice.errors == []


def test_an_appeal_sent_from_my_measures_shows_in_my_appeals_below_it(browser: Any, server: ServerProcess) -> None:
    """我的举报与申诉 lists the measures against me, each with 申诉, and my appeals below them. An appeal
    sent from that list was acknowledged (申诉已提交（编号 N）) while the list under the closed appeal
    dialog went on saying 你还没有申诉过, until the dialog was closed and opened again."""
    alice = new_page(browser, server)
    name = register(alice, server, display="Alice")
    admin_ok(server, "revoke-create", name, "--reason", "滥建群")
    alice.click("#btn-profile")
    alice.click("#btn-my-reports")
    alice.wait_for_selector("#my-sanction-list li[data-sanction-id]")
    alice.wait_for_selector("#my-appeal-list li")
    assert alice.inner_text("#my-appeal-list") == "你还没有申诉过"
    alice.click("#my-sanction-list .act-appeal")
    alice.fill("#appeal-text", "我没有滥建群")
    alice.click("#appeal-submit")
    _toast(alice, "申诉已提交")
    alice.wait_for_selector("#appeal-dialog", state="detached")
    assert alice.locator("#my-reports-dialog").is_visible()
    alice.wait_for_timeout(1000)
    assert alice.inner_text("#my-appeal-list") != "你还没有申诉过"
    assert alice.errors == []


def test_a_name_that_poses_as_the_platforms_stand_in_is_refused_in_chinese(browser: Any, server: ServerProcess) -> None:
    """A display name 用户 u<16 hex> or a group name 群聊 <id> reads as the stand-in the platform shows for
    a name it holds back, and the server refuses it (governance/names.py, ``bad_request`` with the
    field). The Chinese client said the rule in English (输入有误：display_name is the form the platform
    shows…), where every other display-name rule is said in Chinese (test_refusals.py)."""
    page = new_page(browser, server)
    register(page, server)
    page.click("#btn-profile")
    page.fill("#profile-name", "用户 u1234567890abcdef")
    page.press("#profile-name", "Enter")
    page.wait_for_selector("dialog .form-msg.error")
    said = page.inner_text("dialog .form-msg.error")
    page.keyboard.press("Escape")
    page.click("#btn-new-group")
    page.fill("#create-name", "群聊 1234567890")
    page.click("#create-btn")
    page.wait_for_selector("#create-msg.error")
    group_said = page.inner_text("#create-msg")
    english = [x for x in (said, group_said) if LATIN.search(x)]
    assert english == [], english
    assert page.errors == []


def test_an_invite_link_to_a_group_of_one_says_one_member_in_english(browser: Any, server: ServerProcess,
                                                                      bg: Background) -> None:
    """The first person an owner invites by link is asked about a group of one member: the English
    question said “(Study, 1 members)”, though the table words other counts of one apart (member_count_one)."""
    owner = bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="Book club", category="study", join_policy="invite"))["group_id"]
    code = bg.run(owner.request("create_invite_link", group_id=gid))["code"]
    page = new_page(browser, server, lang="en")
    register(page, server)
    page.goto(f"http://127.0.0.1:{server.port}/#join={code}")
    page.wait_for_selector("#invite-confirm #invite-what")
    said = page.inner_text("#invite-what")
    assert "Book club" in said
    assert "1 members" not in said, said
    assert page.errors == []


def test_an_appeal_opened_for_a_given_sanction_takes_what_is_typed_at_once(browser: Any, server: ServerProcess) -> None:
    """申诉 on a warning's notice (or on a measure in 对我的处罚) opens the appeal dialog with the
    sanction's id filled in and read-only: the reason is all there is to type. The focus went to the
    first field, the read-only id: the words the owner typed at once went nowhere, and Enter then
    sent nothing (the reason is required)."""
    page = new_page(browser, server)
    register(page, server)
    gid = create_group(page, "管理群")
    admin_ok(server, "warn-group", gid, "--reason", "请清理广告")
    page.wait_for_selector("#toasts .toast:has-text('平台警告')")
    page.click("#btn-notices")
    page.locator("#notice-list li button", has_text="申诉").first.click()
    page.wait_for_selector("#appeal-dialog")
    page.keyboard.type("广告已经清理")
    assert page.input_value("#appeal-text") == "广告已经清理"
    assert page.errors == []


def test_a_long_unbroken_name_does_not_push_a_post_sideways_on_a_phone(browser: Any, server: ServerProcess,
                                                                        bg: Background) -> None:
    """A commenter's display name of 32 letters without a space (the most a name may have) ran past the
    right edge of a 375 px phone under a post, and the post's view scrolled sideways (as a chat's did
    before test_phone.py's test): the name, the time and the buttons beside it went off the screen."""
    owner = bg.run(server.user(verify_id=True))
    aid = bg.run(owner.request("create_account", name="茶馆日报", category="culture", intro="",
                                       subject_type="individual"))["account_id"]
    pid = bg.run(owner.request("publish", account_id=aid, title="开张", body="欢迎"))["post_id"]
    bob = bg.run(server.user())
    bg.run(bob.request("set_profile", display_name="W" * 32))
    bg.run(bob.request("comment", post_id=pid, text="长名字"))
    page = new_page(browser, server, width=375, height=700, touch=True)
    register(page, server)
    find_account(page, aid)
    open_post(page, "开张")
    page.locator("#comment-list .comment", has_text="长名字").wait_for()
    widths = page.evaluate("() => [...document.querySelectorAll('#post-scroll, #comment-list')]"
                           ".map(e => [e.id, e.scrollWidth, e.clientWidth])")
    assert all(sw <= cw for _, sw, cw in widths), widths
    assert page.errors == []


def test_credit_and_sanction_notices_read_in_the_language_of_the_moment(browser: Any, server: ServerProcess) -> None:
    """test_i18n.py's case for the platform's notice (a notice kept the words of the language it came
    in) holds for 平台公告 only: a sanction, the credit it took, a credit given back and a lifted sanction
    stayed in Chinese in the notices list after a switch to English, beside English times."""
    page = new_page(browser, server)
    name = register(page, server, display="Alice")
    admin_ok(server, "revoke-create", name, "--reason", "滥建群")
    _toast(page, "扣除")
    rows = [json.loads(x) for x in admin_ok(server, "sanctions", "--user", name).splitlines()]
    admin_ok(server, "lift", str(rows[-1]["id"]), "--reason", "误判", "--restore-credit")
    _toast(page, "已退还")
    page.click("#lang-btn")
    page.click("#btn-notices")
    page.wait_for_selector("#notice-list li")
    lines = page.locator("#notice-list li").all_inner_texts()
    chinese = [x for x in lines if "信用分" in x or "处罚" in x]
    assert chinese == [], chinese
    assert page.errors == []
