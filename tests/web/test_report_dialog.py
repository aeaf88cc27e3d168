"""The report dialog as people use it: a double press sends one report and says so once; a report
past the hour's limit says when to try again, not "3500 seconds"."""

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
