"""Read state kept by the server: reading on one page clears the unread count on the user's other page,
and a new device starts from the server's count, not its own."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import create_group, join_group, login, message, new_page, register, send


def test_reading_on_one_page_clears_the_count_on_the_other(browser: Any, any_server: ServerProcess) -> None:
    server = any_server
    alice = new_page(browser, server)
    register(alice, server, display="Alice")
    gid = create_group(alice, "已读同步")
    phone = new_page(browser, server)
    bob = register(phone, server, display="Bob")
    join_group(phone, gid)
    phone.wait_for_selector("#composer-text:enabled")
    phone.reload()  # Bob's first page: logged in, no group open
    phone.wait_for_selector("#status.status-connected")
    laptop = new_page(browser, server)  # Bob's second page
    login(laptop, bob)

    for text in ("第一条", "第二条", "第三条"):
        send(alice, text)
    item = f'.group-item[data-gid="{gid}"]'
    for p in (phone, laptop):
        expect(p.locator(f"{item} .badge.unread")).to_have_text("3")

    # A page opened now starts from the server's count.
    third = new_page(browser, server)
    login(third, bob)
    expect(third.locator(f"{item} .badge.unread")).to_have_text("3")

    phone.click(item)  # Bob reads on his phone...
    message(phone, "第三条")
    for p in (laptop, third):  # ...and his other pages clear the count (read_marker)
        expect(p.locator(f"{item} .badge.unread")).to_have_count(0)

    # While he is reading on the phone, new messages do not pile up on the laptop either.
    send(alice, "第四条")
    message(phone, "第四条")
    expect(laptop.locator(f"{item} .preview")).to_have_text("第四条")
    expect(laptop.locator(f"{item} .badge.unread")).to_have_count(0)

    # The server remembers: a fresh login shows nothing unread.
    fresh = new_page(browser, server)
    login(fresh, bob)
    fresh.wait_for_selector(item)
    expect(fresh.locator(f"{item} .preview")).to_have_text("第四条")
    assert fresh.locator(f"{item} .badge.unread").count() == 0
    for p in (alice, phone, laptop, third, fresh):
        assert p.errors == []
