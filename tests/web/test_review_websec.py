"""rv-websec: what another user of the platform can put in front of a reader's browser: markup and
script in every text, and text long enough to push the page's controls out of reach."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import ServerProcess
from tests.web.browser import Background, login, message, new_page


def _sideways(page: Any, selector: str) -> list[int]:
    """[scrollWidth, clientWidth] of the element: a panel wider inside than on screen scrolls sideways."""
    got: list[int] = page.locator(selector).evaluate("n => [n.scrollWidth, n.clientWidth]")
    return got


def _on_screen(page: Any, locator: Any, width: int) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def _panel_on_a_phone(browser: Any, server: ServerProcess, username: str, gid: str) -> Any:
    page = new_page(browser, server, width=360, height=740, touch=True)
    login(page, username)
    page.tap(f"#group-list [data-gid='{gid}']")
    page.wait_for_selector("#composer-text:enabled")
    page.tap("#btn-manage")
    page.wait_for_selector("#manage-dialog")
    return page


def test_markup_in_names_messages_and_announcements_stays_text(browser: Any, server: ServerProcess,
                                                              bg: Background) -> None:
    """Holds: every place a member's text reaches shows it as characters; nothing runs."""
    owner, bob = bg.run(server.user()), bg.run(server.user())
    xss = "<img src=x onerror=window.__xss=1>"
    gid = bg.run(owner.request("create_group", name=xss[:60], category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("join_group", group_id=gid))
    bg.run(bob.request("set_profile", display_name="<b onmouseover=x>B"))
    bg.run(owner.request("set_announcement", group_id=gid, text="</script><script>window.__xss=2</script>"))
    first = bg.run(owner.request("send", group_id=gid, text="javascript:window.__xss=3 " + xss))
    bg.run(bob.request("send", group_id=gid, text="回复 " + xss, reply_to=first["seq"], mentions=[owner.user_id]))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    message(page, "回复 <img")
    assert page.inner_text("#chat-title") == xss[:60]
    assert page.locator("#messages img[src='x'], #messages b, #messages script").count() == 0
    assert page.locator("#messages a[href^='javascript']").count() == 0
    assert page.evaluate("window.__xss") is None
    assert page.errors == []


def test_a_long_invite_link_note_does_not_push_the_owners_panel_sideways(browser: Any, server: ServerProcess,
                                                                        bg: Background) -> None:
    """An admin's invite link with a 200-character note (the most the server takes) and no space in it:
    the owner's panel on a phone became about five screens wide, its sections and the link's own
    撤销 button scrolled sideways with it (a note is text like a ban reason's or a message's, which
    wrap)."""
    owner, bob = bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="链接", category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("join_group", group_id=gid))
    bg.run(owner.request("set_role", group_id=gid, user_id=bob.user_id, role="admin"))
    bg.run(bob.request("create_invite_link", group_id=gid, note="N" * 200))
    page = _panel_on_a_phone(browser, server, owner.username, gid)
    link = page.locator("#manage-dialog .invite-link.listed").first
    link.wait_for()
    width, shown = _sideways(page, "#manage-dialog")
    assert width <= shown, (width, shown)
    assert _on_screen(page, link.locator(".link-note"), 360)
    assert page.errors == []


def test_a_long_ban_reason_does_not_push_unban_off_the_owners_panel(browser: Any, server: ServerProcess,
                                                                   bg: Background) -> None:
    """An admin bans a member with a 200-character reason and no space in it: in the owner's list of
    bans the reason pushed 删除其消息 and 解除 (unban) about 1,400 px off a phone's screen, and the
    whole panel scrolled sideways."""
    owner, bob, carol = bg.run(server.user()), bg.run(server.user()), bg.run(server.user())
    gid = bg.run(owner.request("create_group", name="禁言", category="friends", join_policy="open"))["group_id"]
    for c in (bob, carol):
        bg.run(c.request("join_group", group_id=gid))
    bg.run(owner.request("set_role", group_id=gid, user_id=bob.user_id, role="admin"))
    bg.run(bob.request("ban", group_id=gid, user_id=carol.user_id, reason="R" * 200))
    page = _panel_on_a_phone(browser, server, owner.username, gid)
    unban = page.locator(f"#ban-list [data-uid='{carol.user_id}'] .act-unban")
    unban.wait_for()
    width, shown = _sideways(page, "#manage-dialog")
    assert width <= shown, (width, shown)
    assert _on_screen(page, unban, 360)
    assert page.errors == []
