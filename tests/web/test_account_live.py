"""Public accounts in the browser, changes shown at once, against a real server: a user made an editor
(or no longer one) sees 我运营的 follow without a reload, and their open post shows what an editor
may see; a comment approved, released or hidden by one manager changes in the open post of the other
managers and of its author at once; at desktop width an account's page left open behind the groups
tab still counts the posts and comments announced meanwhile on the badge, and the owner's count of
new comments loses, once the page is connected again, a comment removed while it was not."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import (
    Background,
    Cable,
    admin_ok,
    close_dialogs,
    create_account,
    find_account,
    new_page,
    open_accounts,
    open_post,
    publish,
    register,
    verify_identity,
)


def comment_item(page: Any, text: str) -> Any:
    loc = page.locator("#comment-list .comment", has=page.locator(".comment-text", has_text=text))
    loc.wait_for()
    return loc


def comment(page: Any, text: str) -> None:
    page.fill("#comment-text", text)
    page.click("#comment-submit")
    comment_item(page, text)


def set_editor(owner: Any, uid: str, on: bool) -> None:
    owner.click("#btn-account-manage")
    owner.fill("#editor-user-id", uid)
    owner.click("#editor-add" if on else "#editor-remove")
    owner.wait_for_selector("#account-manage-dialog .form-msg.ok")
    close_dialogs(owner)


def test_an_editor_and_the_comments_follow_live(browser: Any, review_server: ServerProcess) -> None:
    server = review_server
    alice, bob, carol = (new_page(browser, server) for _ in range(3))
    for page, name in ((alice, "Alice"), (bob, "Bob"), (carol, "Carol")):
        register(page, server, display=name)
    verify_identity(alice)
    verify_identity(bob)
    aid = create_account(alice, "茶话")
    publish(alice, "开放帖", "欢迎留言")
    publish(alice, "审核帖", "评论需要审核", mode="review")
    bob.click("#btn-profile")
    bob_id = bob.inner_text("#my-user-id")
    close_dialogs(bob)
    open_accounts(bob)
    mine = bob.locator(f"#my-accounts .account-item[data-aid='{aid}']")
    expect(mine).to_have_count(0)

    # Made an editor: 我运营的 lists the account at once, and a notice says so.
    set_editor(alice, bob_id, True)
    expect(mine.locator(".tag-editor")).to_have_text("编辑")
    expect(bob.locator("#notice-count")).to_have_text("1")
    bob.click("#btn-notices")
    expect(bob.locator("#notice-list")).to_contain_text("你已成为公众号「茶话」的编辑。")
    close_dialogs(bob)

    # A comment waiting for approval: the editor and its author have the post open; the owner
    # approves it: both see it public at once (the author's "awaiting review" goes).
    mine.click()
    open_post(bob, "审核帖")
    find_account(carol, aid)
    open_post(carol, "审核帖")
    comment(carol, "请通过")
    expect(comment_item(carol, "请通过").locator(".tag-held")).to_have_text("等待审核，仅你可见")
    expect(comment_item(bob, "请通过").locator(".tag-held")).to_have_text("待审核")
    open_post(alice, "审核帖")
    comment_item(alice, "请通过").locator(".act-approve-comment").click()
    expect(comment_item(bob, "请通过")).to_have_attribute("data-state", "visible")
    expect(comment_item(carol, "请通过")).to_have_attribute("data-state", "visible")
    expect(comment_item(carol, "请通过").locator(".tag")).to_have_count(0)

    # Held by the word lists on a post open to comments, released by the platform: the same.
    for page in (alice, bob, carol):
        page.click("#btn-post-back")
        open_post(page, "开放帖")
    comment(carol, "好文")
    comment(carol, "周末集会")
    expect(comment_item(bob, "周末集会")).to_have_attribute("data-state", "held")
    [item] = [i for i in map(json.loads, admin_ok(server, "review-queue", "--open").splitlines())
              if i.get("text") == "周末集会"]
    admin_ok(server, "decide", str(item["item_id"]), "--decision", "release", "--note", "核实无误")
    for page in (alice, bob, carol):
        expect(comment_item(page, "周末集会")).to_have_attribute("data-state", "visible")

    # Hidden by the owner: the editor, with the post open, sees it marked hidden at once; its
    # author no longer sees it.
    comment_item(alice, "周末集会").locator(".act-hide-comment").click()
    expect(comment_item(bob, "周末集会").locator(".tag")).to_have_text("已隐藏")
    expect(comment_item(bob, "周末集会")).to_have_attribute("data-state", "hidden")
    expect(carol.locator("#comment-list .comment-text")).to_have_text(["好文"])

    # No longer an editor: the account leaves 我运营的 at once, and the open post shows what a
    # reader sees (the hidden comment goes, and so do the moderation buttons).
    alice.click("#btn-post-back")
    set_editor(alice, bob_id, False)
    expect(mine).to_have_count(0)
    expect(bob.locator("#comment-list .comment-text")).to_have_text(["好文"])
    expect(bob.locator(".act-hide-comment")).to_have_count(0)
    expect(bob.locator("#btn-delete-post")).to_have_count(0)
    assert alice.errors == [] and bob.errors == [] and carol.errors == []


def test_a_page_out_of_sight_counts_and_the_counts_are_asked_again(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server)  # desktop width: the account's page stays open behind the groups tab
    cable = Cable(alice)
    alice.reload()
    bob, carol = new_page(browser, server), new_page(browser, server)
    for page, name in ((alice, "Alice"), (bob, "Bob"), (carol, "Carol")):
        register(page, server, display=name)
    verify_identity(alice)
    aid = create_account(alice, "茶话")
    publish(alice, "一", "欢迎留言")

    # Bob follows, leaves the account's page open and looks at his groups: a new post is counted.
    find_account(bob, aid)
    bob.click("#btn-follow")
    expect(bob.locator("#btn-unfollow")).to_be_visible()
    bob.click("#tab-groups")
    publish(alice, "二", "b")
    expect(bob.locator("#accounts-badge")).to_have_text("1")
    bob.wait_for_selector("#toasts .toast:has-text('「茶话」发布了新文章：二')")
    # Back on the accounts: the page, already showing it, is in view; the count goes.
    bob.click("#tab-accounts")
    expect(bob.locator("#post-list .post-item-title")).to_have_text(["二", "一"])
    expect(bob.locator("#accounts-badge")).to_be_hidden()
    # In view, a post shows in the list and is not counted.
    publish(alice, "三", "b")
    expect(bob.locator("#post-list .post-item-title")).to_have_text(["三", "二", "一"])
    expect(bob.locator("#accounts-badge")).to_be_hidden()

    # The owner leaves a post open behind the groups tab: new comments are listed under it and
    # counted; one the platform removes while she is not connected stops counting when she is back.
    open_post(alice, "一")
    alice.click("#tab-groups")
    find_account(carol, aid)
    open_post(carol, "一")
    comment(carol, "第一")
    comment(carol, "第二")
    badge = alice.locator("#accounts-badge")
    expect(badge).to_have_text("2")
    first = carol.locator("#comment-list .comment", has_text="第一").get_attribute("data-cid")
    cable.cut()
    alice.wait_for_selector("#status.status-reconnecting")
    admin_ok(server, "remove-comment", str(first), "--reason", "刷屏")
    cable.mend()
    alice.wait_for_selector("#status.status-connected", timeout=20_000)
    expect(badge).to_have_text("1")
    alice.click("#tab-accounts")
    expect(badge).to_be_hidden()
    expect(alice.locator("#comment-list .comment-text")).to_have_text(["第二"])
    assert alice.errors == [] and bob.errors == [] and carol.errors == []


def test_an_open_account_page_and_post_show_a_new_name_at_once(
        browser: Any, review_server: ServerProcess, bg: Background) -> None:
    """[ext] ``account_updated``: a follower with the account's page (or one of its posts) open sees the
    new name and introduction at once, in the page, the post's heading and 我关注的, whether the owner
    changed them or the platform released a name held for review (never while it is held). Before, the
    page kept the old name until it was opened again: only the owner's own devices were told."""
    server = review_server
    owner = bg.run(server.user(verify_id=True))
    aid = bg.run(owner.request("create_account", name="茶话", category="culture", intro="喝茶",
                               subject_type="individual"))["account_id"]
    bg.run(owner.request("publish", account_id=aid, title="开张", body="欢迎"))
    fan = new_page(browser, server)
    register(fan, server, display="Fan")
    find_account(fan, aid)
    fan.click("#btn-follow")
    fan.wait_for_selector("#btn-unfollow")
    listed = fan.locator(f"#subscriptions .account-item[data-aid='{aid}'] .gname")
    expect(listed).to_have_text("茶话")

    bg.run(owner.request("update_account", account_id=aid, name="茶话日报"))
    expect(fan.locator("#account-name")).to_have_text("茶话日报")
    expect(listed).to_have_text("茶话日报")
    bg.run(owner.request("update_account", account_id=aid, intro="每日一茶"))
    expect(fan.locator("#account-intro")).to_have_text("每日一茶")

    # A post open: a name held for review is not shown; released by the platform, it is, at once.
    open_post(fan, "开张")
    expect(fan.locator("#post-account-name")).to_have_text("茶话日报")
    assert bg.run(owner.request("update_account", account_id=aid, name="周末集会"))["held"] is True
    fan.wait_for_timeout(500)
    expect(fan.locator("#post-account-name")).to_have_text("茶话日报")
    [item] = [i for i in map(json.loads, admin_ok(server, "review-queue", "--open").splitlines())
              if i.get("kind") == "account_name"]
    admin_ok(server, "decide", str(item["item_id"]), "--decision", "release", "--note", "核实无误")
    expect(fan.locator("#post-account-name")).to_have_text("周末集会")
    expect(listed).to_have_text("周末集会")
    assert fan.errors == []


def test_a_reader_with_the_page_open_sees_a_new_name_and_organisation_without_following(
        browser: Any, tmp_path: Any, bg: Background) -> None:
    """[ext] ``account_updated`` also reaches a reader who opened the account without following it: its
    open page shows the owner's new name and the organisation name the platform grants at once. Before,
    such a page kept the old names until it was opened again (only followers and managers were told)."""
    from governance.public_accounts import org_check_char

    (tmp_path / "reserved.txt").write_text("新华\n", encoding="utf-8")
    server = ServerProcess(tmp_path, '[public_accounts]\nreserved_names = "reserved.txt"\n').start()
    try:
        owner = bg.run(server.user(verify_id=True))
        first17 = "91310115MA1K4A0X3"
        aid = bg.run(owner.request("create_account", name="茶话", category="culture", intro="",
                                   subject_type="organization", org_name="茶话文化有限公司",
                                   org_code=first17 + org_check_char(first17)))["account_id"]
        reader = new_page(browser, server)
        register(reader, server, display="Reader")
        find_account(reader, aid)
        expect(reader.locator("#account-subject")).to_contain_text("茶话文化有限公司")
        expect(reader.locator("#btn-follow")).to_be_visible()  # (not following it)
        bg.run(owner.request("update_account", account_id=aid, name="茶话日报"))
        expect(reader.locator("#account-name")).to_have_text("茶话日报")
        admin_ok(server, "grant-name", aid, "--org-name", "新华茶话有限公司", "--reason", "已核对")
        expect(reader.locator("#account-subject")).to_contain_text("新华茶话有限公司")
        assert reader.errors == []
    finally:
        server.stop()
