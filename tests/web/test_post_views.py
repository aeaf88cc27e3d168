"""A post's page in the browser when the platform acts, against a real server: a post that takes no
new comments (the platform's restriction, with or without a suspension on top; a credit level that
allows none) keeps its comments listed, for its readers and its owner, with a line that says why;
posts and comments that the platform takes down leave the pages that show them; a post or comment
that goes leaves the badges that counted it and the open posts of those who saw it."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import (
    Cable,
    admin_ok,
    create_account,
    find_account,
    new_page,
    open_post,
    publish,
    register,
    verify_identity,
)


def comment_item(page: Any, text: str) -> Any:
    loc = page.locator("#comment-list .comment", has=page.locator(".comment-text", has_text=text))
    loc.wait_for()
    return loc


def reopen(page: Any, title: str) -> None:
    page.click("#btn-post-back")
    open_post(page, title)


def comment(page: Any, text: str) -> None:
    page.fill("#comment-text", text)
    page.click("#comment-submit")
    comment_item(page, text)


def test_comments_stay_listed_while_the_platform_or_the_credit_level_stops_new_ones(browser: Any,
                                                                                   server: ServerProcess) -> None:
    alice, bob = new_page(browser, server), new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    verify_identity(alice)
    aid = create_account(alice, "茶馆日报")
    publish(alice, "开张", "欢迎留言")
    find_account(bob, aid)
    open_post(bob, "开张")
    comment(bob, "写得好")
    comment(bob, "再来一杯")
    open_post(alice, "开张")
    comment_item(alice, "再来一杯")

    # Restricted: the owner, with the post open, sees the form go at once (her notice), the
    # comments stay; Bob, opening the post again, reads them under the platform's line.
    admin_ok(server, "restrict-account", aid, "--comments", "off", "--reason", "评论区管理不力")
    expect(alice.locator("#comments-restricted")).to_have_text("平台已限制这个公众号的评论，暂不能发表新评论")
    expect(alice.locator("#comment-form")).to_have_count(0)
    reopen(bob, "开张")
    expect(bob.locator("#comments-restricted")).to_have_text("平台已限制这个公众号的评论，暂不能发表新评论")
    assert bob.locator("#comment-list .comment-text").all_inner_texts() == ["再来一杯", "写得好"]
    assert bob.locator("#comment-form, #comments-closed, #no-comments").count() == 0
    assert bob.locator(".act-reply-comment").count() == 0

    # The owner still moderates them; approving waits until comments are open again.
    reopen(alice, "开张")
    hidden = comment_item(alice, "再来一杯")
    hidden.locator(".act-hide-comment").click()
    expect(hidden.locator(".tag")).to_have_text("已隐藏")
    assert hidden.locator(".act-approve-comment").count() == 0
    reopen(bob, "开张")
    expect(bob.locator("#comment-list .comment-text")).to_have_text(["写得好"])

    # A suspension on top (status 已暂停) does not hide the restriction.
    admin_ok(server, "suspend-account", aid, "--seconds", "3600", "--reason", "违规转载")
    reopen(bob, "开张")
    expect(bob.locator("#comments-restricted")).to_be_visible()
    expect(bob.locator("#comment-list .comment-text")).to_have_text(["写得好"])
    [sid] = [s["id"] for s in map(json.loads, admin_ok(server, "sanctions", "--account", aid).splitlines())
             if s["kind"] == "suspend_account" and s["status"] == "in_force"]
    admin_ok(server, "lift", str(sid), "--reason", "误判")

    # Lifted, then a credit level that allows no comments: said as such, comments still there.
    admin_ok(server, "restrict-account", aid, "--comments", "on", "--reason", "已整改")
    alice.locator("#comment-form").wait_for()   # live again for the owner
    admin_ok(server, "account-credit", aid, "--delta", "-70", "--reason", "多次违规")
    expect(alice.locator("#comments-level")).to_have_text("按公众号当前的信用等级，暂不能发表评论")
    reopen(bob, "开张")
    expect(bob.locator("#comments-level")).to_be_visible()
    expect(bob.locator("#comment-list .comment-text")).to_have_text(["写得好"])
    assert alice.errors == [] and bob.errors == []


def test_a_follower_with_a_post_open_learns_of_a_restriction_or_a_closing_in_words(browser: Any,
                                                                                 server: ServerProcess) -> None:
    """A reviewer, following an account with a post open: once the platform restricted its comments,
    a comment was refused with a bare 没有权限执行此操作 (followers are not told of a restriction, and
    the page's view was older); once it closed the account, the post and its comment form stayed. The
    refusal says why from the server's ``cause``; the closing closes the page."""
    alice, bob = new_page(browser, server), new_page(browser, server, width=390, height=844)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    verify_identity(alice)
    aid = create_account(alice, "茶馆日报")
    publish(alice, "开张", "欢迎留言")
    find_account(bob, aid)
    bob.click("#btn-follow")
    expect(bob.locator("#btn-unfollow")).to_be_visible()
    open_post(bob, "开张")
    comment(bob, "写得好")
    admin_ok(server, "restrict-account", aid, "--comments", "off", "--reason", "关评论")
    bob.fill("#comment-text", "再来一杯")
    bob.click("#comment-submit")
    expect(bob.locator("#comment-msg")).to_have_text("平台已关闭这个公众号的评论。")
    admin_ok(server, "close-account", aid, "--reason", "关号")
    expect(bob.locator("#account-closed-note")).to_be_visible()
    expect(bob.locator("#comment-form")).to_have_count(0)
    expect(bob.locator("#post-view")).to_have_count(0)
    assert alice.errors == [] and bob.errors == []


def _decide(srv: ServerProcess, text: str, decision: str) -> None:
    items = [json.loads(x) for x in admin_ok(srv, "review-queue", "--open").splitlines()]
    [item] = [i for i in items if i.get("text") == text]
    admin_ok(srv, "decide", str(item["item_id"]), "--decision", decision, "--note", "谣言")


def test_what_the_platform_takes_down_leaves_the_pages_that_show_it(browser: Any,
                                                                    review_server: ServerProcess) -> None:
    server = review_server
    alice, bob, carol = (new_page(browser, server) for _ in range(3))
    for page, name in ((alice, "Alice"), (bob, "Bob"), (carol, "Carol")):
        register(page, server, display=name)
    verify_identity(alice)
    aid = create_account(alice, "快讯")
    publish(alice, "旧闻", "b")
    publish(alice, "违规文章", "b")
    publish(alice, "讨论", "欢迎留言")
    find_account(bob, aid)
    bob.click("#btn-follow")
    expect(bob.locator("#btn-unfollow")).to_be_visible()
    find_account(carol, aid)  # reads without following: told nothing while the post is open

    # Comments: Bob's shown one removed, his held one rejected: both leave his page at once.
    open_post(bob, "讨论")
    comment(bob, "好文")
    comment(bob, "违法广告")
    comment(bob, "今晚集会")
    expect(comment_item(bob, "今晚集会").locator(".tag-held")).to_have_text("等待审核，仅你可见")
    open_post(carol, "讨论")
    comment_item(carol, "违法广告")
    [bad] = [c.get_attribute("data-cid") for c in bob.locator("#comment-list .comment").all()
             if "违法广告" in c.inner_text()]
    admin_ok(server, "remove-comment", str(bad), "--reason", "违法广告")
    expect(bob.locator("#comment-list .comment-text")).to_have_text(["今晚集会", "好文"])
    _decide(server, "今晚集会", "reject")
    expect(bob.locator("#comment-list .comment-text")).to_have_text(["好文"])
    # Carol was told nothing: replying to the removed comment tells her it is gone, and it goes.
    comment_item(carol, "违法广告").locator(".act-reply-comment").click()
    carol.fill("#comment-text", "同意")
    carol.click("#comment-submit")
    carol.locator("#toasts .toast", has_text="这条评论已不存在或已被删除。").wait_for()
    expect(carol.locator("#comment-list .comment-text")).to_have_text(["好文"])
    expect(carol.locator("#comment-reply-bar")).to_have_count(0)

    # A post removed while Bob (following) has it open: it closes, and it is gone from his list.
    bob.click("#btn-post-back")
    open_post(bob, "违规文章")
    reopen(carol, "旧闻")
    removed = bob.get_attribute("#post-view", "data-pid")
    admin_ok(server, "remove-post", str(removed), "--reason", "含违法信息")
    bob.locator("#toasts .toast", has_text="这篇文章已不存在或已被删除。").wait_for()
    expect(bob.locator("#post-view")).to_have_count(0)
    expect(bob.locator("#post-list .post-item-title")).to_have_text(["讨论", "旧闻"])
    expect(alice.locator("#post-list .post-item-title")).to_have_text(["讨论", "旧闻"])
    # Carol follows nothing: her open post stays until she goes back, and then the list is right,
    # the oldest post removed too.
    old = carol.get_attribute("#post-view", "data-pid")
    admin_ok(server, "remove-post", str(old), "--reason", "过时")
    carol.click("#btn-post-back")
    expect(carol.locator("#post-list .post-item-title")).to_have_text(["讨论"])
    assert alice.errors == [] and bob.errors == [] and carol.errors == []


def test_a_post_or_comment_that_goes_leaves_the_badges_and_the_open_post(browser: Any, server: ServerProcess) -> None:
    """A follower's badge counts the posts announced since he last opened the account: one deleted
    by the account stops counting at once (``post_deleted``), one removed while he was not connected
    stops counting when he is back; the owner's count of new comments loses one the platform removed.
    A comment that goes leaves the open post of a follower and of its author at once
    (``comment_deleted``), while the owner, who hid one, still sees it as hidden."""
    alice = new_page(browser, server)
    bob = new_page(browser, server, width=360, height=740)  # phone width: the account's page closes with ‹
    cable = Cable(bob)
    bob.reload()
    carol = new_page(browser, server)
    for page, name in ((alice, "Alice"), (bob, "Bob"), (carol, "Carol")):
        register(page, server, display=name)
    verify_identity(alice)
    aid = create_account(alice, "茶话")
    publish(alice, "一", "欢迎留言")
    find_account(bob, aid)
    bob.click("#btn-follow")
    expect(bob.locator("#btn-unfollow")).to_be_visible()
    bob.click("#btn-account-back")
    bob.click("#tab-groups")

    badge = bob.locator("#accounts-badge")
    for title in ("二", "三", "四"):
        publish(alice, title, "b")
    expect(badge).to_have_text("3")
    # The account deletes one: it stops counting at once.
    open_post(alice, "三")
    alice.click("#btn-delete-post")
    alice.click("#confirm-ok")
    expect(badge).to_have_text("2")
    # The platform removes one while Bob is not connected: it stops counting once he is back.
    second = alice.locator("#post-list .post-item", has_text="二").get_attribute("data-pid")
    cable.cut()
    bob.wait_for_selector("#status.status-reconnecting")
    admin_ok(server, "remove-post", str(second), "--reason", "含违法信息")
    cable.mend()
    bob.wait_for_selector("#status.status-connected", timeout=20_000)
    expect(badge).to_have_text("1")
    bob.click("#tab-accounts")
    expect(bob.locator(f"#subscriptions .account-item[data-aid='{aid}'] .new-count")).to_have_text("1")

    # Comments: Bob (following) and Carol (who wrote one, following nothing) have the post open.
    bob.click(f"#subscriptions .account-item[data-aid='{aid}']")
    expect(badge).to_be_hidden()
    open_post(bob, "一")
    comment(bob, "好文")
    find_account(carol, aid)
    open_post(carol, "一")
    comment(carol, "广告")
    reopen(bob, "一")
    comment_item(bob, "广告")
    open_post(alice, "一")
    comment_item(alice, "广告").locator(".act-delete-comment").click()
    alice.click("#confirm-ok")
    expect(bob.locator("#comment-list .comment-text")).to_have_text(["好文"])
    expect(carol.locator("#comment-list .comment-text")).to_have_text(["好文"])
    # Hidden by the owner: gone for its author, who follows; the owner still sees it, hidden.
    comment_item(alice, "好文").locator(".act-hide-comment").click()
    expect(bob.locator("#comment-list .comment")).to_have_count(0)
    expect(comment_item(alice, "好文").locator(".tag")).to_have_text("已隐藏")

    # The owner's count of new comments: one the platform removes stops counting.
    alice.click(f"#my-accounts .account-item[data-aid='{aid}']")   # (opening the account clears its counts)
    expect(alice.locator("#accounts-badge")).to_be_hidden()
    alice.click("#tab-groups")
    owner_badge = alice.locator("#accounts-badge")
    comment(carol, "再来")
    expect(owner_badge).to_have_text("1")
    again = carol.locator("#comment-list .comment", has_text="再来").get_attribute("data-cid")
    admin_ok(server, "remove-comment", str(again), "--reason", "刷屏")
    expect(owner_badge).to_be_hidden()
    expect(carol.locator("#comment-list .comment-text")).to_have_text(["好文"])  # hidden: she was not told
    assert alice.errors == [] and bob.errors == [] and carol.errors == []
