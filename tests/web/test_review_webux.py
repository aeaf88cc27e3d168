"""Three gaps of the web client, each test failing before its fix: the group list's last line named no
sender (in a group, another member's message read like one's own); "my reports" named a reported
public account by its number; a rename did not reach the names of an open post's comments."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import Background, login, new_page, tea_room


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
    bg.run(bob.request("send", group_id=gid, text="收到"))   # his own (from his phone): no name
    expect(item.locator(".preview")).to_have_text("收到")
    assert page.errors == []
