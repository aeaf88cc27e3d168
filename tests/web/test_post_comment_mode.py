"""[ext] set_post_comments in the web client: the owner changes an open post's comment mode from the
post's page, and a follower with the post open sees its comment box close and open again at once."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import create_account, find_account, new_page, open_post, publish, register, verify_identity


def test_the_owner_closes_a_posts_comments_and_a_reader_sees_it_at_once(browser: Any, server: ServerProcess) -> None:
    alice, bob = new_page(browser, server), new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    verify_identity(alice)
    aid = create_account(alice, "茶馆日报")
    publish(alice, "开张", "欢迎留言")
    open_post(alice, "开张")
    find_account(bob, aid)
    bob.click("#btn-follow")   # (a follower is told; the server does not know who else has a post open)
    expect(bob.locator("#account-subscribers")).to_have_text("1")
    open_post(bob, "开张")
    expect(bob.locator("#comment-text")).to_be_visible()
    expect(bob.locator("#post-comments-mode")).to_have_count(0)   # a reader has no such control

    alice.select_option("#post-comments-mode", "closed")
    alice.wait_for_selector("#toasts .toast:has-text('评论设置已改为：关闭评论')")
    expect(alice.locator("#comments-closed")).to_be_visible()
    expect(bob.locator("#comments-closed")).to_be_visible()   # live, from post_comments
    expect(bob.locator("#comment-text")).to_have_count(0)

    alice.select_option("#post-comments-mode", "review")
    expect(bob.locator("#comments-review")).to_be_visible()
    bob.fill("#comment-text", "等审核")
    bob.click("#comment-submit")
    expect(bob.locator("#comment-list .comment", has_text="等审核")).to_be_visible()
    assert alice.errors == [] and bob.errors == []
