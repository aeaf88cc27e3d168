"""After `auth`, the page asks `me` and `my_groups`. Answered `internal` (a cluster's home node
changing, a store that did not answer) or `rate_limited`, the page used to show the error in a toast
and stay signed in without its groups until the next reconnect. It asks again on the same
connection after a moment, saying so, and after a few such answers opens a new connection.

The server's answers are altered on their way to the page (``page.route_web_socket``): the refusal
is the reply frame of docs/protocol.md with the request's own rid, as a node that cannot serve
sends it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess, open_group
from tests.web.browser import Background, login, message, new_page, send

STATUSES = """() => {
  window.statuses = [];
  new MutationObserver(() => window.statuses.push(document.body.dataset.status))
    .observe(document.body, { attributes: true, attributeFilter: ["data-status"] });
}"""


class Refuse:
    """The page's WebSocket passed through, except that the server's answers to the first ``times``
    requests of ``op`` on the page's first connection are replaced by a refusal ``code`` of the same
    rid (``extra``: its further fields). ``asked``: for each request of ``op`` the page sent, the
    number of its connection (0 the first). Install it before the page connects."""

    def __init__(self, page: Any, op: str, code: str = "internal", times: int = 1, **extra: Any) -> None:
        self.op, self.code, self.times, self.extra = op, code, times, extra
        self.routes: list[Any] = []
        self.asked: list[int] = []
        self.refused = 0
        page.route_web_socket("**/ws", self._through)

    def _through(self, ws: Any) -> None:
        number = len(self.routes)
        self.routes.append(ws)
        server = ws.connect_to_server()
        to_refuse: set[int] = set()

        def from_page(frame: str | bytes) -> None:
            f = _json(frame)
            if f is not None and f.get("op") == self.op:
                self.asked.append(number)
                if number == 0 and len(self.asked) <= self.times:
                    to_refuse.add(f["rid"])
            server.send(frame)

        def from_server(frame: str | bytes) -> None:
            f = _json(frame)
            if f is not None and f.get("re") in to_refuse:
                to_refuse.discard(f["re"])
                self.refused += 1
                ws.send(json.dumps({"re": f["re"], "ok": False, "code": self.code,
                                    "reason": "cannot serve now", **self.extra}))
                return
            ws.send(frame)

        ws.on_message(from_page)
        server.on_message(from_server)


def _json(frame: str | bytes) -> dict[str, Any] | None:
    try:
        f = json.loads(frame)
    except ValueError:
        return None
    return f if isinstance(f, dict) else None


def _shows_group_and_sends(page: Any, gid: str, text: str) -> None:
    group = page.locator(f"#group-list [data-gid='{gid}']")
    expect(group).to_have_count(1, timeout=10_000)
    group.click()
    page.wait_for_selector("#composer-text:enabled")
    send(page, text)
    message(page, text)
    expect(page.locator("#outbox .pending")).to_have_count(0)


@pytest.mark.parametrize(("op", "code", "extra"), [
    ("my_groups", "internal", {}),
    ("me", "internal", {}),
    ("my_groups", "rate_limited", {"retry_after_ms": 300}),
])
def test_a_sign_in_whose_me_or_my_groups_is_not_served_asks_again_and_shows_the_groups(
        browser: Any, server: ServerProcess, bg: Background, op: str, code: str, extra: dict[str, Any]) -> None:
    """The first answer to `me` (or `my_groups`) after the sign-in is `internal` (or `rate_limited`):
    the page used to toast it and stay without its groups. It asks again on the same connection,
    the status saying so meanwhile, then shows its group and sends, with no error toast."""
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, server)
    page.evaluate(STATUSES)
    refuse = Refuse(page, op, code, **extra)
    login(page, owner.username)
    _shows_group_and_sends(page, gid, f"{op} 没答上之后")
    assert refuse.refused == 1
    assert refuse.asked == [0, 0]  # asked again on the same connection
    assert len(refuse.routes) == 1
    assert "server_busy" in page.evaluate("() => window.statuses")
    expect(page.locator("#status")).to_have_class("status status-connected")
    expect(page.locator("#toasts .toast-error")).to_have_count(0)
    assert page.errors == []


def test_a_reconnected_page_whose_my_groups_is_never_served_opens_a_new_connection(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """After a reload (the token's `auth` on a fresh connection), every `my_groups` on that connection
    is answered `internal`: after four tries the page gives the connection up and opens a new one
    (which a load balancer may send to another node), where its groups are served."""
    owner = bg.run(server.user())
    gid = bg.run(open_group(owner))
    page = new_page(browser, server)
    login(page, owner.username)
    refuse = Refuse(page, "my_groups", times=100)
    page.add_init_script(f"document.addEventListener('DOMContentLoaded', {STATUSES})")
    page.reload()
    _shows_group_and_sends(page, gid, "换了连接之后")
    assert refuse.asked[:4] == [0, 0, 0, 0] and 0 not in refuse.asked[4:], refuse.asked
    assert refuse.refused == 4
    assert len(refuse.routes) == 2
    assert "server_busy" in page.evaluate("() => window.statuses")
    expect(page.locator("#toasts .toast-error")).to_have_count(0)
    assert page.errors == []
