"""Cross-site WebSocket hijacking, attempted from a real browser page of another origin."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import ServerProcess


def test_a_foreign_page_in_the_browser_cannot_open_the_socket(browser: Any, server: ServerProcess) -> None:
    """Cross-site WebSocket hijacking, as a browser would attempt it."""
    page = browser.new_page()
    page.route("http://evil.test/", lambda route: route.fulfill(status=200, content_type="text/html", body="<p>x</p>"))
    page.goto("http://evil.test/")
    script = """url => new Promise(done => {
        const ws = new WebSocket(url, ["qunguan.v1+json"]);
        ws.onopen = () => { done("open"); ws.close(); };
        ws.onerror = () => done("refused");
    })"""
    assert page.evaluate(script, server.url) == "refused"
    own = browser.new_page()
    own.goto(f"http://127.0.0.1:{server.port}/")
    assert own.evaluate(script, server.url) == "open"
    page.close()
    own.close()
