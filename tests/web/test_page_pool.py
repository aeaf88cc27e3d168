"""The pool of pages the browser tests share (tests/web/pool.py): a page is reused only when nothing
of the test that had it can reach the next one."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import ServerProcess
from tests.web.browser import watch_errors
from tests.web.pool import PagePool

KEY = (800, 600, "zh-CN", False)


def _take(browser: Any, pool: PagePool, srv: ServerProcess) -> Any:
    origin = f"http://127.0.0.1:{srv.port}"
    page = pool.take(KEY, lambda: browser.new_context(viewport={"width": 800, "height": 600}, locale="zh-CN"),
                     watch_errors, origin)
    page.goto(origin + "/")
    return page


def test_a_page_given_back_is_reused_with_nothing_kept_of_the_site_it_was_at(browser: Any,
                                                                            server: ServerProcess) -> None:
    pool = PagePool()
    page = _take(browser, pool, server)
    page.evaluate("() => { localStorage.setItem('qg.token', 'left-behind'); sessionStorage.setItem('s', '1');"
                  " document.cookie = 'c=1'; }")
    pool.give_back_or_close(browser)
    assert page.url == "about:blank"
    # The same server's origin again (a later server may get an earlier one's port): nothing of it is kept.
    again = _take(browser, pool, server)
    assert again is page  # the same page, its renderer still running
    kept = "() => [localStorage.getItem('qg.token'), sessionStorage.getItem('s'), document.cookie]"
    assert again.evaluate(kept) == [None, None, ""]
    assert again.context.cookies() == []
    again.context.close()


def test_a_context_the_test_changed_is_closed_not_reused(browser: Any, server: ServerProcess) -> None:
    pool = PagePool()
    changed = _take(browser, pool, server)
    changed.add_init_script("window.__changed = true")
    listened = _take(browser, pool, server)
    listened.on("websocket", lambda ws: None)
    two_tabs = _take(browser, pool, server)
    two_tabs.context.new_page()
    clean = _take(browser, pool, server)
    pool.give_back_or_close(browser)
    for page in (changed, listened, two_tabs):
        assert page.is_closed()
    assert not clean.is_closed()
    assert _take(browser, pool, server) is clean
    clean.context.close()
