"""Small things a reviewer met in the web client's managers' and reporters' flows (rv-web4): the report
dialog sends one report for a double press, and a report past the hour's limit says when to try again,
not "3500 seconds"; a member's mute leaves the owner's open panel when it ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import Background, login, new_page, open_actions


def test_a_double_press_sends_one_report_and_a_long_wait_says_until_when(browser: Any, tmp_path: Path,
                                                                          bg: Background) -> None:
    srv = ServerProcess(tmp_path, "reports_per_hour = 1\n").start()   # (the harness's config ends in [rate_limits])
    try:
        owner, carol = bg.run(srv.user("ownerq")), bg.run(srv.user("carolq"))
        gid = bg.run(owner.request("create_group", name="茶话", category="friends", join_policy="open"))["group_id"]
        bg.run(carol.request("join_group", group_id=gid))
        bg.run(owner.request("send", group_id=gid, text="第一条广告"))
        bg.run(owner.request("send", group_id=gid, text="第二条广告"))
        page = new_page(browser, srv)
        login(page, carol.username)
        page.click(f"#group-list [data-gid='{gid}']")
        open_actions(page, "第一条广告")
        page.click("#act-report-message")
        page.locator("#report-submit").dblclick()
        expect(page.locator("#toasts .toast", has_text="举报已提交")).to_have_count(1)
        page.wait_for_timeout(500)
        expect(page.locator("#toasts .toast", has_text="你已举报过")).to_have_count(0)
        assert len(bg.run(carol.request("my_reports"))["reports"]) == 1

        open_actions(page, "第二条广告")
        page.click("#act-report-message")
        page.click("#report-submit")
        said = page.locator("#toasts .toast-error").last
        said.wait_for()
        text = said.inner_text()
        assert "之后再试" in text and "秒" not in text, text
        assert page.errors == []
    finally:
        srv.stop()


def test_a_mute_that_ends_leaves_the_owners_panel_at_its_end(browser: Any, server: ServerProcess,
                                                               bg: Background) -> None:
    """The owner's panel, open, showed a member's mute tag and Unmute after the mute had ended, until
    something else redrew it (rv-web4)."""
    owner, bob = bg.run(server.user("ownerm")), bg.run(server.user("bobm"))
    gid = bg.run(owner.request("create_group", name="茶话", category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("join_group", group_id=gid))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    page.click("#btn-manage")
    row = page.locator(f"#member-list .member[data-uid='{bob.user_id}']")
    row.wait_for()
    bg.run(owner.request("mute", group_id=gid, user_id=bob.user_id, seconds=2))
    expect(row.locator(".act-unmute")).to_have_count(1)
    expect(row.locator(".tag-muted")).to_have_count(1)
    expect(row.locator(".act-unmute")).to_have_count(0, timeout=6000)   # at its end, nothing else redrawing
    expect(row.locator(".tag-muted")).to_have_count(0)
    assert page.errors == []
