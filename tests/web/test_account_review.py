"""What a review of the public-account views found: a withdrawn name went back to review with the
next save of the intro, a picture that failed to upload was left out of a post without a word, the
keyboard's focus fell to the page's start after opening or leaving a post and after a follow, the
settings of an account the platform closed stayed open, a suspension that ended showed until a
reload, a held post released while open stayed "审核中", the badge of new comments stayed after the
post was read, and a title over its limit was refused without the limit."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import (
    Background,
    admin_ok,
    create_account,
    late_answers,
    new_page,
    open_accounts,
    open_post,
    publish,
    register,
    tiny_png,
    verify_identity,
)


def _owner(browser: Any, srv: ServerProcess, account: str = "晨报") -> tuple[Any, str]:
    page = new_page(browser, srv)
    register(page, srv, display="Alice")
    verify_identity(page)
    return page, create_account(page, account)


def test_a_withdrawn_name_is_not_sent_again_with_the_next_save(browser: Any, review_server: ServerProcess) -> None:
    page, aid = _owner(browser, review_server)
    page.click("#btn-account-manage")
    page.fill("#account-edit-name", "集会晨报")
    page.click("#account-edit-save")
    expect(page.locator("#account-held-name")).to_contain_text("集会晨报")
    expect(page.locator("#account-edit-name")).to_have_value("晨报")  # what the account shows
    page.click("#account-held-name .act-withdraw-held")
    expect(page.locator("#account-held-name .act-withdraw-held")).to_have_count(0)
    page.fill("#account-edit-intro", "每天早上七点")
    page.click("#account-edit-save")
    expect(page.locator("#account-manage-dialog .form-msg.ok")).to_have_text("已保存")
    assert [json.loads(x) for x in admin_ok(review_server, "review-queue", "--open").splitlines()] == []
    assert review_server.db_rows("SELECT name, intro FROM accounts WHERE account_id = ?", aid) == [
        ("晨报", "每天早上七点")]
    assert page.errors == []


def test_a_picture_that_failed_to_upload_stops_the_publish(browser: Any, server: ServerProcess) -> None:
    page = new_page(browser, server)
    page.context.add_init_script(late_answers("upload_end", 1500))  # (the failure comes after the press)
    page.reload()
    register(page, server, display="Alice")
    verify_identity(page)
    create_account(page, "晨报")
    page.evaluate("() => { window.__slow = true; }")
    page.click("#btn-publish")
    page.fill("#publish-title", "第一期")
    page.fill("#publish-body", "正文")
    page.set_input_files("#publish-files", files=[
        {"name": "good.png", "mimeType": "image/png", "buffer": tiny_png(12, 8)},
        {"name": "bad.png", "mimeType": "image/png", "buffer": b"not a picture at all, only words"}])
    page.click("#publish-submit")
    expect(page.locator("#publish-msg")).to_contain_text("有图片没有上传成功")
    expect(page.locator("#publish-dialog")).to_be_visible()
    assert server.db_rows("SELECT COUNT(*) FROM posts") == [(0,)]
    expect(page.locator("#publish-tray .attach-item")).to_have_count(1)  # bad.png left the list
    page.click("#publish-submit")  # pressed again, seeing the list: published with what it lists
    page.wait_for_selector("#publish-dialog", state="detached")
    page.locator("#post-list .post-item", has_text="第一期").wait_for()
    assert server.db_rows("SELECT COUNT(*) FROM posts") == [(1,)]
    expect(page.locator("#post-list .post-item", has_text="第一期")).to_contain_text("图片 1")
    assert page.errors == []


def test_the_keyboard_keeps_its_place_in_the_account_views(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    page, aid = _owner(browser, server)
    publish(page, "第一期", "正文")
    reader = new_page(browser, server)
    register(reader, server, display="Bob")
    open_accounts(reader)
    reader.click("#btn-find-account")
    expect(reader.locator("#find-account-id")).to_have_attribute("aria-label", "公众号 ID")
    reader.fill("#find-account-id", aid)
    reader.click("#find-account-submit")
    reader.locator("#btn-follow").focus()
    reader.keyboard.press("Enter")
    expect(reader.locator("#btn-unfollow")).to_be_focused()  # the button that undoes it
    item = reader.locator("#post-list .post-item", has_text="第一期")
    item.focus()
    reader.keyboard.press("Enter")
    expect(reader.locator("#post-title")).to_be_focused()
    expect(reader.locator("#comment-text")).to_have_attribute("aria-label", "评论")
    reader.locator("#comment-text").fill("写得好")
    reader.locator("#comment-submit").focus()
    reader.keyboard.press("Enter")
    reader.locator("#comment-list .comment", has_text="写得好").wait_for()
    expect(reader.locator("#comment-text")).to_be_focused()
    reader.locator("#btn-post-back").focus()
    reader.keyboard.press("Enter")
    expect(reader.locator("#post-list .post-item", has_text="第一期")).to_be_focused()
    assert page.errors == [] and reader.errors == []


def test_the_platforms_measures_show_on_the_open_page(browser: Any, review_server: ServerProcess) -> None:
    page, aid = _owner(browser, review_server)
    # (8 s: the disabled button must still be seen after the command's own exit on a loaded machine)
    admin_ok(review_server, "suspend-account", aid, "--seconds", "8", "--reason", "违规转载")
    expect(page.locator("#btn-publish")).to_be_disabled()
    expect(page.locator("#btn-publish")).to_be_enabled(timeout=20_000)  # it ended by itself: no reload
    # a held post released while it is open: read again, no longer 审核中, its picture served
    publish(page, "周末集会", "地点待定", images=[{"name": "海报.png", "mimeType": "image/png",
                                              "buffer": tiny_png(16, 12)}])
    open_post(page, "周末集会")
    expect(page.locator("#post-view .media-pending")).to_have_count(1)
    [item] = [json.loads(x) for x in admin_ok(review_server, "review-queue", "--open").splitlines()]
    admin_ok(review_server, "decide", str(item["item_id"]), "--decision", "release", "--note", "ok")
    expect(page.locator("#post-view img.media-img")).to_have_count(1)
    expect(page.locator("#post-view .tag-muted")).to_have_count(0)
    # its settings open when the platform closes it: closed with it
    page.click("#btn-post-back")
    page.click("#btn-account-manage")
    admin_ok(review_server, "close-account", aid, "--reason", "关号")
    expect(page.locator("#account-manage-dialog")).to_have_count(0)
    assert page.errors == []


def test_a_read_comment_leaves_the_badge_and_a_long_title_says_its_limit(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    page, aid = _owner(browser, server)
    publish(page, "第一期", "正文")
    pid = page.locator("#post-list .post-item", has_text="第一期").get_attribute("data-pid")
    bob = bg.run(server.user())
    bg.run(bob.request("comment", post_id=pid, text="写得好"))
    badge = page.locator(f"#account-lists .account-item[data-aid='{aid}'] .new-count")
    expect(badge).to_have_text("1")
    expect(page.locator("#post-list .post-item", has_text="第一期")).to_contain_text("评论 1")  # counts move
    open_post(page, "第一期")
    page.locator("#comment-list .comment", has_text="写得好").wait_for()
    expect(badge).to_have_count(0)  # read: counted no more
    page.click("#btn-post-back")
    page.click("#btn-publish")
    page.fill("#publish-title", "长" * 129)
    page.fill("#publish-body", "正文")
    page.click("#publish-submit")
    expect(page.locator("#publish-msg")).to_have_text("标题最多 128 个字")
    assert page.errors == []
