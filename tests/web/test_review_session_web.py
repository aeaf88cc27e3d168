"""Web client review (rv-session): the browser-history entries of a public account's page and post
(4bd56003). Each test failed when it was written."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import ServerProcess
from tests.web.browser import Background, find_account, new_page, open_post, register


def _account(bg: Background, server: ServerProcess, name: str) -> str:
    owner = bg.run(server.user(verify_id=True))
    aid = bg.run(owner.request("create_account", name=name, category="culture", intro="每日一茶",
                               subject_type="individual"))["account_id"]
    bg.run(owner.request("publish", account_id=aid, title=name + "开张", body="欢迎光临"))
    return str(aid)


def test_switching_accounts_from_an_open_post_leaves_no_dead_back_entry(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """docs/web.md: an account's page and a post on it are history entries "the same way" as a chat:
    "switching from one chat to another replaces that entry; a chat closed otherwise ... takes its
    entry with it, so the next Back leaves the page". A reader with a post of account A open clicks
    account B in the list of accounts they follow: B's page replaces the post's entry, but A's page's
    entry stays beneath it. Back from B then lands on A's entry, which closes B's page and shows the
    list, yet the browser's current entry is still A's: the next Back does nothing visible (a dead
    press) instead of leaving the page."""
    a, b = _account(bg, server, "茶馆日报"), _account(bg, server, "书院周刊")
    page = new_page(browser, server)
    user = register(page, server)
    for aid in (a, b):
        find_account(page, aid)
        page.click("#btn-follow")
        page.wait_for_selector(f"#account-lists .account-item[data-aid='{aid}']")
    find_account(page, a)
    open_post(page, "茶馆日报开张")
    page.click(f"#account-lists .account-item[data-aid='{b}']")
    page.wait_for_selector(f"#account-pane[data-aid='{b}'] #post-list")
    page.go_back()
    page.wait_for_selector("body:not(.show-account)", timeout=3000)   # B's page closed: the list
    page.wait_for_timeout(300)
    state = page.evaluate("history.state")
    assert not (state and state.get("qunguanAccount")), state   # an account's entry with no account open
    assert page.errors == [], page.errors
    del user
