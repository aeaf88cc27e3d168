"""Public accounts (公众号) in the browser, against a real server: a verified user opens an account and
publishes; another user finds it, follows it and sees posts arrive live (badge, then the open list),
reads a post with its picture and comments; the owner sees the comment at once and moderates it;
review-mode comments wait as "awaiting review" for their author; refusals are explained in plain
language; editors and closing the account."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from governance.public_accounts import org_check_char
from tests.e2e.harness import ServerProcess
from tests.web.browser import (
    close_dialogs,
    create_account,
    find_account,
    new_page,
    open_accounts,
    open_post,
    publish,
    register,
    run_async,
    tiny_png,
    verify_identity,
)


def comment_item(page: Any, text: str) -> Any:
    loc = page.locator("#comment-list .comment", has=page.locator(".comment-text", has_text=text))
    loc.wait_for()
    return loc


def test_follow_read_comment_and_moderate_live(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server)
    bob = new_page(browser, server, width=360, height=740)  # phone width: list and page take turns
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    verify_identity(alice)
    aid = create_account(alice, "茶馆日报", intro="每天一杯茶，一篇短文。")
    assert alice.locator(f"#my-accounts .account-item[data-aid='{aid}'] .tag-owner").inner_text() == "所有者"

    # Bob finds it by id: its public information, no one's legal name or ID number.
    find_account(bob, aid)
    assert bob.locator("#account-side").is_hidden()  # at 360 px the page replaces the list
    assert bob.inner_text("#account-intro") == "每天一杯茶，一篇短文。"
    assert bob.inner_text("#account-category") == "文化"
    assert bob.inner_text("#account-subject") == "个人"
    assert bob.inner_text("#account-credit") == "3"
    assert bob.inner_text("#account-subscribers") == "0"
    assert "张三" not in bob.inner_text("#account-pane")
    bob.click("#btn-follow")
    expect(bob.locator("#account-subscribers")).to_have_text("1")
    expect(bob.locator("#btn-unfollow")).to_be_visible()
    assert bob.locator("#btn-publish").count() == 0 and bob.locator("#btn-account-manage").count() == 0
    bob.click("#btn-account-back")
    bob.wait_for_selector(f"#subscriptions .account-item[data-aid='{aid}']")
    bob.click("#tab-groups")

    # A post while Bob looks at his groups: a badge on the tab and on the account.
    publish(alice, "第一期：龙井", "明前龙井，清香。\n第二段。", images=[
        {"name": "茶.png", "mimeType": "image/png", "buffer": tiny_png(16, 12)}])
    expect(bob.locator("#accounts-badge")).to_have_text("1")
    bob.wait_for_selector("#toasts .toast:has-text('「茶馆日报」发布了新文章：第一期：龙井')")
    open_accounts(bob)
    expect(bob.locator(f"#subscriptions .account-item[data-aid='{aid}'] .new-count")).to_have_text("1")
    bob.click(f"#subscriptions .account-item[data-aid='{aid}']")
    bob.locator("#post-list .post-item", has_text="第一期").wait_for()
    expect(bob.locator("#accounts-badge")).to_be_hidden()

    # With the page open, the next post appears in the list at once.
    publish(alice, "第二期：普洱", "熟普，陈香。", mode="open")
    bob.locator("#post-list .post-item", has_text="第二期").wait_for()
    assert bob.locator("#post-list .post-item .post-item-title").all_inner_texts() == ["第二期：普洱", "第一期：龙井"]

    # Reading counts once per user; the picture shows.
    open_post(bob, "第一期")
    assert bob.inner_text("#post-body") == "明前龙井，清香。\n第二段。"
    expect(bob.locator("#post-reads")).to_have_text("阅读 1")
    bob.wait_for_function("() => { const i = document.querySelector('#post-view img.media-img');"
                          " return i && i.complete && i.naturalWidth === 16; }")
    bob.click("#btn-post-back")
    open_post(bob, "第一期")
    expect(bob.locator("#post-reads")).to_have_text("阅读 1")

    # Alice has the post open; Bob's comment reaches her at once.
    open_post(alice, "第一期")
    expect(alice.locator("#post-reads")).to_have_text("阅读 2")
    bob.fill("#comment-text", "写得好，想喝")
    bob.click("#comment-submit")
    mine = comment_item(bob, "写得好")
    assert mine.get_attribute("data-state") == "visible"
    got = comment_item(alice, "写得好")
    assert "Bob" in got.inner_text()

    # She hides it: Bob no longer sees it; she approves it again, then deletes it.
    got.locator(".act-hide-comment").click()
    expect(got.locator(".tag")).to_have_text("已隐藏")
    bob.click("#btn-post-back")
    open_post(bob, "第一期")
    bob.wait_for_selector("#no-comments")
    comment_item(alice, "写得好").locator(".act-approve-comment").click()
    alice.wait_for_selector("#comment-list .comment[data-state='visible']")
    bob.click("#btn-post-back")
    open_post(bob, "第一期")
    comment_item(bob, "写得好")
    comment_item(alice, "写得好").locator(".act-delete-comment").click()
    alice.click("#confirm-ok")
    alice.wait_for_selector("#no-comments")
    bob.click("#btn-post-back")
    open_post(bob, "第一期")
    bob.wait_for_selector("#no-comments")

    # Bob reports the post; he unfollows.
    bob.click("#btn-report-post")
    bob.click("#report-submit")
    bob.wait_for_selector("#toasts .toast:has-text('举报已提交')")
    bob.click("#btn-post-back")
    bob.click("#btn-unfollow")
    expect(bob.locator("#account-subscribers")).to_have_text("0")
    assert alice.errors == [] and bob.errors == []


def test_review_mode_comment_waits_for_approval(browser: Any, any_server: ServerProcess) -> None:
    server = any_server  # comment states as each backend stores them
    alice = new_page(browser, server)
    bob = new_page(browser, server)
    carol = new_page(browser, server)
    for page, name in ((alice, "Alice"), (bob, "Bob"), (carol, "Carol")):
        register(page, server, display=name)
    verify_identity(alice)
    aid = create_account(alice, "审核号")
    publish(alice, "请留言", "评论需要审核。", mode="review")
    open_post(alice, "请留言")

    find_account(bob, aid)
    open_post(bob, "请留言")
    assert bob.inner_text("#comments-review") == "评论经作者审核后公开。"
    bob.fill("#comment-text", "我的留言")
    bob.click("#comment-submit")
    bob.wait_for_selector("#toasts .toast:has-text('评论已提交，审核通过后公开')")
    held = comment_item(bob, "我的留言")
    assert held.get_attribute("data-state") == "held"
    assert held.locator(".tag-held").inner_text() == "等待审核，仅你可见"
    bob.click("#btn-post-back")  # still there for its author after a reload
    open_post(bob, "请留言")
    assert comment_item(bob, "我的留言").locator(".tag-held").inner_text() == "等待审核，仅你可见"

    find_account(carol, aid)  # nobody else sees it
    open_post(carol, "请留言")
    carol.wait_for_selector("#no-comments")

    got = comment_item(alice, "我的留言")  # live, marked for the owner
    assert got.locator(".tag-held").inner_text() == "待审核"
    got.locator(".act-approve-comment").click()
    alice.wait_for_selector("#comment-list .comment[data-state='visible']")
    carol.click("#btn-post-back")
    open_post(carol, "请留言")
    assert comment_item(carol, "我的留言").get_attribute("data-state") == "visible"
    assert alice.errors == [] and bob.errors == [] and carol.errors == []


def test_refusals_in_plain_language(browser: Any, server: ServerProcess) -> None:
    dan = new_page(browser, server)
    register(dan, server, display="Dan")
    open_accounts(dan)
    dan.wait_for_selector("#no-subscriptions")

    def create(name: str, category: str = "culture", org: tuple[str, str] | None = None) -> str:
        dan.click("#btn-new-account")
        dan.fill("#account-create-name", name)
        dan.select_option("#account-create-category", category)
        if org:
            dan.select_option("#account-create-subject", "organization")
            dan.fill("#account-create-org-name", org[0])
            dan.fill("#account-create-org-code", org[1])
        dan.click("#account-create-submit")
        dan.wait_for_selector("#account-create-msg.error")
        text: str = dan.inner_text("#account-create-msg")
        return text

    # Not verified: told why, with a way to verify.
    assert create("小丹说").startswith("开设公众号需要先完成实名认证")
    dan.click("#account-create-verify")
    dan.wait_for_selector("#verify-form")
    close_dialogs(dan)
    verify_identity(dan)

    assert create("小丹政务", category="government") == "政务类公众号只能由组织开设。"
    close_dialogs(dan)
    first17 = "91110108MA0000000"
    wrong = next(c for c in "0123456789" if c != org_check_char(first17))
    assert create("小丹商行", org=("小丹商行有限公司", first17 + wrong)).startswith("统一社会信用代码不正确")
    close_dialogs(dan)
    create_account(dan, "Tea House")
    assert create("ＴＥＡ ｈｏｕｓｅ").startswith("这个名称已被其他公众号使用")
    close_dialogs(dan)
    create_account(dan, "第二个号")  # public_accounts.max_per_subject = 2
    assert create("第三个号").startswith("你（或这个组织）运营的公众号数量已达上限")
    close_dialogs(dan)

    dan.click("#btn-find-account")  # ids are checked in words too
    dan.fill("#find-account-id", "123")
    dan.click("#find-account-submit")
    expect(dan.locator("dialog .form-msg.error")).to_have_text("公众号 ID 是 9–12 位数字。")
    dan.fill("#find-account-id", "999999999")
    dan.click("#find-account-submit")
    expect(dan.locator("dialog .form-msg.error")).to_have_text("没有这个公众号。")
    assert dan.errors == []


def test_editors_and_closing(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server, lang="en")  # (English: the browser's language)
    erin = new_page(browser, server)
    register(alice, server, display="Alice")
    register(erin, server, display="Erin")
    verify_identity(alice)
    verify_identity(erin)  # an editor needs a verified identity (P6)
    aid = create_account(alice, "Morning Post")
    erin.click("#btn-profile")
    erin_id = erin.inner_text("#my-user-id")
    close_dialogs(erin)

    alice.click("#btn-account-manage")
    alice.fill("#editor-user-id", "u_nobody")
    alice.click("#editor-add")
    expect(alice.locator("#account-manage-dialog .form-msg.error")).to_have_text("No such user (check the user ID).")
    alice.fill("#editor-user-id", erin_id)
    alice.click("#editor-add")
    alice.wait_for_selector(f"#editor-list .editor[data-uid='{erin_id}']")
    alice.fill("#account-edit-intro", "News at seven.")
    alice.click("#account-edit-save")
    alice.wait_for_selector("#account-manage-dialog .form-msg.ok")
    close_dialogs(alice)
    expect(alice.locator("#account-intro")).to_have_text("News at seven.")

    erin.reload()  # my_accounts: the account is now Erin's to edit
    open_accounts(erin)
    erin.click(f"#my-accounts .account-item[data-aid='{aid}']")
    assert erin.locator(f"#my-accounts .account-item[data-aid='{aid}'] .tag-editor").inner_text() == "编辑"
    publish(erin, "编辑的文章", "由编辑发布。")
    assert erin.locator("#btn-account-manage").count() == 0  # only the owner

    rc, _, err = run_async(server.admin("restrict-account", aid, "--comments", "off", "--reason", "评论区管理不力"))
    assert rc == 0, err
    alice.click("#btn-account-manage")
    alice.click("#account-close")
    alice.click("#confirm-ok")
    alice.wait_for_selector("#account-closed-note")
    expect(alice.locator(f"#my-accounts .account-item[data-aid='{aid}'] .preview")).to_have_text("closed")
    assert alice.locator("#btn-publish").count() == 0
    assert alice.locator("#btn-report-account").count() == 0  # (her own account, closed or not)
    # Her next account starts with the restriction; she is told why when she opens it.
    create_account(alice, "Second Tea")
    expect(alice.locator("#toasts")).to_contain_text(
        "Comments are restricted on another account of the same person or organisation")
    assert alice.errors == [] and erin.errors == []


def test_a_rename_held_for_review_is_said_to_wait_and_the_old_name_stays(browser: Any, tmp_path: Any) -> None:
    """A public account's new name that a `review` list holds is not said to be saved: the page says
    it waits for the platform's review, and the account keeps its name until the operator decides."""
    (tmp_path / "review.txt").write_text("返利\n", encoding="utf-8")
    srv = ServerProcess(tmp_path, '[[content.lists]]\ncategory = "fraud"\npath = "review.txt"\naction = "review"\n')
    srv.start()
    try:
        alice = new_page(browser, srv)
        register(alice, srv, display="Alice")
        verify_identity(alice)
        create_account(alice, "早间新闻")
        alice.click("#btn-account-manage")
        alice.fill("#account-edit-name", "返利早报")
        alice.click("#account-edit-save")
        expect(alice.locator("#account-manage-dialog .form-msg.ok")).to_have_text(
            "已提交，等待平台审核；审核通过前公众号仍显示原来的名称和简介。")
        close_dialogs(alice)
        expect(alice.locator("#account-name")).to_have_text("早间新闻")
        assert alice.errors == []
    finally:
        srv.stop()
