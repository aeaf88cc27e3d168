"""What a web reviewer found in the account, post and upload flows: a double-clicked comment stored
twice, the identity form left in the profile after verifying, the editor field squeezed to one
character at phone width in English, and an oversized file refused without saying the limit."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import (
    close_dialogs,
    create_account,
    create_group,
    find_account,
    new_page,
    open_post,
    publish,
    register,
    verify_identity,
)


def test_a_double_clicked_comment_is_one_comment(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    verify_identity(alice)
    create_account(alice, "茶馆日报")
    publish(alice, "第一期", "正文")
    open_post(alice, "第一期")
    alice.fill("#comment-text", "只说一次")
    alice.dblclick("#comment-submit")
    alice.wait_for_selector("#comment-list .comment:has-text('只说一次')")
    expect(alice.locator("#comment-text")).to_have_value("")  # (the form drawn again meanwhile: cleared too)
    alice.wait_for_timeout(500)  # (a second comment, had it gone out, is answered by now)
    alice.click("#btn-post-back")
    open_post(alice, "第一期")
    alice.wait_for_selector("#comment-list .comment:has-text('只说一次')")
    assert alice.locator("#comment-list .comment:has-text('只说一次')").count() == 1
    assert server.db_rows("SELECT COUNT(*) FROM comments") == [(1,)]
    assert alice.errors == []


def test_the_identity_form_goes_once_verified(browser: Any, server: ServerProcess) -> None:
    from tests.e2e.harness import new_id_number

    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    alice.click("#btn-profile")
    alice.fill("#verify-name", "张三")
    alice.fill("#verify-id", new_id_number())
    alice.click("#verify-btn")
    alice.wait_for_selector("dialog .form-msg.ok")
    expect(alice.locator("#verify-form")).to_have_count(0)
    close_dialogs(alice)
    assert alice.errors == []


def test_the_editor_field_keeps_its_width_at_phone_width_in_english(browser: Any, server: ServerProcess) -> None:
    alice = new_page(browser, server, width=360, height=740, lang="en")  # (English: the browser's language)
    register(alice, server, display="Alice")
    verify_identity(alice)
    create_account(alice, "Morning Post")
    alice.click("#btn-account-manage")
    box = alice.locator("#editor-user-id").bounding_box()
    assert box is not None and box["width"] >= 150, box  # (29 px before: one character showed)
    for button in ("#editor-add", "#editor-remove"):
        b = alice.locator(button).bounding_box()
        assert b is not None and b["x"] + b["width"] <= 360, (button, b)
    # At desktop width the field and both buttons stay on one line.
    alice.set_viewport_size({"width": 1200, "height": 800})
    rows = {round(alice.locator(x).bounding_box()["y"]) for x in ("#editor-add", "#editor-remove")}  # type: ignore[index]
    assert len(rows) == 1, rows
    assert alice.errors == []


def test_an_oversized_file_is_refused_with_the_limit(browser: Any, tmp_path: Any) -> None:
    srv = ServerProcess(tmp_path, "[media]\nmax_bytes = 2048\n")
    srv.start()
    try:
        alice = new_page(browser, srv)
        register(alice, srv, display="Alice")
        create_group(alice, "相册")
        big = {"name": "big.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n" + b"0" * 4000}
        alice.set_input_files("#file-input", files=[big])
        expect(alice.locator("#toasts .toast-error")).to_contain_text("文件不能超过 2 KB")
        assert alice.errors == []
    finally:
        srv.stop()


def test_a_banner_says_the_connection_is_down_at_phone_width(browser: Any, tmp_path: Any) -> None:
    """At 360 px the sidebar, where the status line is, is hidden while a chat or an account's page
    is open: nothing said the connection was down until an action failed."""
    from tests.web.test_resume import _free_port

    srv = ServerProcess(tmp_path, "")
    # (the page reconnects to the host it was served from: the restarted server keeps its port)
    srv.config.write_text(srv.config.read_text().replace("port = 0", f"port = {_free_port()}", 1))
    srv.start()
    try:
        page = new_page(browser, srv, width=360, height=740)
        register(page, srv, display="Alice")
        create_group(page, "读书会")
        page.wait_for_selector("body.show-chat")
        banner = "() => getComputedStyle(document.body, '::before').content"
        assert page.evaluate(banner) in ("none", "normal")
        srv.stop()
        page.wait_for_selector("body:not([data-status='connected'])")
        said = page.evaluate(banner)
        assert said.strip('"') == page.inner_text("#status"), said
        srv.start()
        page.wait_for_selector("body[data-status='connected']", timeout=20_000)
        assert page.evaluate(banner) in ("none", "normal")
    finally:
        srv.stop()


def test_a_held_posts_picture_is_named_and_its_release_shows_at_once(browser: Any, tmp_path: Any) -> None:
    """The owner saw a held post's picture as a broken image (its URL is not served until the
    release), and after the platform released the post the open list still said 审核中 until the
    page was left and opened again."""
    import json

    from tests.web.browser import run_async, tiny_png

    (tmp_path / "review.txt").write_text("集会\n", encoding="utf-8")
    srv = ServerProcess(tmp_path, '[[content.lists]]\ncategory = "rumour"\npath = "review.txt"\naction = "review"\n')
    srv.start()
    try:
        alice = new_page(browser, srv)
        register(alice, srv, display="Alice")
        verify_identity(alice)
        create_account(alice, "早间新闻")
        publish(alice, "周末集会", "地点待定", images=[{"name": "海报.png", "mimeType": "image/png",
                                                  "buffer": tiny_png(16, 12)}])
        held = alice.locator("#post-list .post-item", has_text="周末集会")
        expect(held).to_have_class("post-item held")
        open_post(alice, "周末集会")
        expect(alice.locator("#post-view .media-pending")).to_contain_text("海报.png")
        assert alice.locator("#post-view img.media-img").count() == 0
        alice.click("#btn-post-back")
        rc, out, err = run_async(srv.admin("review-queue", "--open"))
        [item] = [json.loads(x) for x in out.splitlines()]
        rc, out, err = run_async(srv.admin("decide", str(item["item_id"]), "--decision", "release", "--note", "ok"))
        assert rc == 0, err
        expect(held).to_have_class("post-item")  # released: at once, in the open list
        # Another, released while she looks at her groups: news for followers only, her own account's
        # post is not counted on the tab nor announced to her (the diff review's case).
        publish(alice, "周日集会", "地点另定")
        alice.click("#tab-groups")
        rc, out, err = run_async(srv.admin("review-queue", "--open"))
        [item] = [json.loads(x) for x in out.splitlines()]
        rc, out, err = run_async(srv.admin("decide", str(item["item_id"]), "--decision", "release", "--note", "ok"))
        assert rc == 0, err
        alice.wait_for_timeout(500)
        expect(alice.locator("#accounts-badge")).to_be_hidden()
        assert alice.locator("#toasts .toast:has-text('发布了新文章')").count() == 0
        alice.click("#tab-accounts")
        open_post(alice, "周末集会")
        alice.wait_for_function("() => { const i = document.querySelector('#post-view img.media-img');"
                                " return i && i.complete && i.naturalWidth === 16; }")
        assert alice.errors == []
    finally:
        srv.stop()


def test_cancelling_with_a_wrong_password_says_the_password_is_wrong(browser: Any, server: ServerProcess) -> None:
    """It said 用户名或密码错误，或登录已过期 ("wrong username or password, or the login expired") to
    someone signed in, retyping their password to cancel the account."""
    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    alice.click("#btn-profile")
    alice.click("#delete-section summary")
    alice.fill("#delete-password", "not-my-password")
    alice.locator("#delete-section button.danger").click()
    expect(alice.locator("dialog .form-msg.error")).to_have_text("密码不正确")
    assert alice.errors == []


def test_a_reply_to_a_comment_not_shown_does_not_name_a_user_called_user(browser: Any, server: ServerProcess) -> None:
    """A reply whose parent the reader is not shown (hidden by the account) read 回复 用户, like a
    user named 用户."""
    alice = new_page(browser, server)
    bob = new_page(browser, server)
    register(alice, server, display="Alice")
    register(bob, server, display="Bob")
    verify_identity(alice)
    aid = create_account(alice, "茶馆日报")
    publish(alice, "第一期", "正文")
    find_account(bob, aid)
    open_post(bob, "第一期")
    bob.fill("#comment-text", "第一条")
    bob.click("#comment-submit")
    first = bob.locator("#comment-list .comment", has=bob.locator(".comment-text", has_text="第一条"))
    first.locator(".act-reply-comment").click()
    bob.fill("#comment-text", "接着说")
    bob.click("#comment-submit")
    reply = bob.locator("#comment-list .comment", has=bob.locator(".comment-text", has_text="接着说"))
    expect(reply.locator(".reply-to")).to_have_text("回复 Bob")
    open_post(alice, "第一期")
    alice.locator("#comment-list .comment", has=alice.locator(".comment-text", has_text="第一条")).locator(
        ".act-hide-comment").click()
    alice.wait_for_selector("#comment-list .comment[data-state='hidden']")
    bob.click("#btn-post-back")
    open_post(bob, "第一期")
    expect(reply.locator(".reply-to")).to_have_text("回复一条未显示的评论")
    assert alice.errors == [] and bob.errors == []


def test_a_new_name_refused_for_the_agreement_offers_the_rules(browser: Any, server: ServerProcess,
                                                                tmp_path: Any) -> None:
    """The diff review: a new display name (or a group's, or a pin) refused until the rules are
    accepted said so, but did not open the rules as a refused message does."""
    from tests.web.browser import run_async

    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    (tmp_path / "rules.txt").write_text("一、不得发布违法信息", encoding="utf-8")
    (tmp_path / "agreement.txt").write_text("服务协议正文", encoding="utf-8")
    rc, _, err = run_async(server.admin("set-agreement", "--version", "v9", "--rules-file", str(tmp_path / "rules.txt"),
                                        "--agreement-file", str(tmp_path / "agreement.txt")))
    assert rc == 0, err
    alice.wait_for_selector("#agreement-dialog")  # offered as it is published
    close_dialogs(alice)  # not now
    alice.click("#btn-profile")
    alice.fill("#profile-name", "新名字")
    alice.locator("dialog form:has(#profile-name) button[type=submit]").click()
    alice.wait_for_selector("#agreement-dialog")
    alice.click("#accept-agreement")
    alice.wait_for_selector("#agreement-dialog", state="detached")
    assert alice.errors == []


def test_emoji_typed_up_to_the_limit_are_not_cut(browser: Any, server: ServerProcess) -> None:
    """A web reviewer's suspicion, confirmed: a field's maxlength counts an emoji as two (UTF-16
    units) while the server counts characters, so 20 emoji typed into a 30-character account name
    were cut to 15 without a word. Typed in full, the name is the server's to take."""
    from tests.web.browser import open_accounts

    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    verify_identity(alice)
    open_accounts(alice)
    alice.click("#btn-new-account")
    alice.locator("#account-create-name").press_sequentially("🍵" * 20)
    assert alice.input_value("#account-create-name") == "🍵" * 20
    alice.select_option("#account-create-category", "culture")
    alice.click("#account-create-submit")
    alice.wait_for_selector("#account-name")
    assert alice.inner_text("#account-name") == "🍵" * 20
    assert alice.errors == []
