"""Gaps of the web client, each test failing before its fix: the group list's last line named no
sender (in a group, another member's message read like one's own; then one's own read as nobody's);
"my reports" named a reported public account by its number; a rename did not reach the names of an
open post's comments."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import Background, find_account, login, new_page, open_post, send, tea_room


def test_the_group_lists_last_line_names_another_members_sender(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    owner, bob, gid = tea_room(bg, server)
    page = new_page(browser, server)
    login(page, bob.username)
    bg.run(owner.request("send", group_id=gid, text="开会了"))
    item = page.locator(f"#group-list [data-gid='{gid}']")
    name = owner.username.title()
    expect(item.locator(".preview")).to_have_text(f"{name}：开会了")
    expect(item).to_have_attribute("aria-label", re.compile(f"{name}：开会了$"))   # said as shown
    bg.run(owner.request("set_profile", display_name="老王"))   # followed as the chat's names are
    expect(item.locator(".preview")).to_have_text("老王：开会了")
    page.click("#lang-btn")
    expect(item.locator(".preview")).to_have_text("老王: 开会了")
    bg.run(bob.request("send", group_id=gid, text="收到"))   # his own (from his phone): as "You"
    expect(item.locator(".preview")).to_have_text("You: 收到")
    assert page.errors == []


def test_the_group_lists_last_line_names_the_users_own_message_as_theirs(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The list named another member's sender but left one's own line bare: beside named lines it read
    as nobody's. One's own says 你 / You, sent from this page or another device; a recall, a notice
    that names who did it itself, and another's message after it, as before."""
    owner, bob, gid = tea_room(bg, server)
    page = new_page(browser, server)
    login(page, bob.username)
    item = page.locator(f"#group-list [data-gid='{gid}']")
    page.click(f"#group-list [data-gid='{gid}']")
    send(page, "我到了")
    expect(item.locator(".preview")).to_have_text("你：我到了")
    expect(item).to_have_attribute("aria-label", re.compile("你：我到了$"))   # said as shown
    seq = bg.run(bob.request("send", group_id=gid, text="手机上发的"))["seq"]
    expect(item.locator(".preview")).to_have_text("你：手机上发的")
    page.click("#lang-btn")
    expect(item.locator(".preview")).to_have_text("You: 手机上发的")
    bg.run(bob.request("delete_message", group_id=gid, seq=seq))
    expect(item.locator(".preview")).to_have_text("You recalled a message")
    bg.run(owner.request("send", group_id=gid, text="好的"))
    expect(item.locator(".preview")).to_have_text(f"{owner.username.title()}: 好的")
    assert page.errors == []


def test_my_reports_name_a_reported_public_account_by_its_name(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """我的举报与申诉 said "公众号 730012845": a number the reporter never saw (the account's page shows
    its name), of an account they need not follow (so the page knows no name for it)."""
    owner, reporter = bg.run(server.user(verify_id=True)), bg.run(server.user())
    aid = bg.run(owner.request("create_account", name="茶馆周报", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    pid = bg.run(owner.request("publish", account_id=aid, title="标题党", body="正文"))["post_id"]
    bg.run(reporter.request("report", target_type="account", reason="spam", account_id=aid))
    bg.run(reporter.request("report", target_type="post", reason="fraud", post_id=pid))
    bg.run(owner.request("update_account", account_id=aid, name="茶馆月报"))   # named as it is now
    page = new_page(browser, server)
    login(page, reporter.username)
    page.click("#btn-profile")
    page.click("#btn-my-reports")
    items = page.locator("#my-report-list li[data-report-id]")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("公众号「茶馆月报」的文章")
    expect(items.nth(1)).to_contain_text("公众号「茶馆月报」")
    text = page.inner_text("#my-report-list")
    assert aid not in text and owner.phone not in text and "张三" not in text, text   # nobody's identity
    assert page.errors == []


def test_a_commenters_rename_reaches_the_open_posts_comments(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A reader with a post open kept a commenter's old name under the comment and in the reply being
    written, though the page was told of the rename (they share a group) and its chat followed it."""
    bob, carol, _gid = tea_room(bg, server)   # Bob writes the comment, Carol reads it
    pub = bg.run(server.user(verify_id=True))
    aid = bg.run(pub.request("create_account", name="茶馆周报", category="culture", intro="",
                             subject_type="individual"))["account_id"]
    pid = bg.run(pub.request("publish", account_id=aid, title="明前龙井", body="正文"))["post_id"]
    bg.run(bob.request("comment", post_id=pid, text="好文"))
    page = new_page(browser, server)
    login(page, carol.username)
    find_account(page, aid)
    open_post(page, "明前龙井")
    comment = page.locator("#comment-list .comment", has_text="好文")
    expect(comment.locator(".who")).to_have_text(bob.username.title())
    comment.locator(".act-reply-comment").click()
    page.fill("#comment-text", "同意")
    bg.run(bob.request("set_profile", display_name="老王"))
    expect(comment.locator(".who")).to_have_text("老王")
    expect(page.locator("#comment-reply-bar")).to_contain_text("老王")
    expect(page.locator("#comment-text")).to_have_value("同意")   # (what was typed stays)
    assert page.errors == []
