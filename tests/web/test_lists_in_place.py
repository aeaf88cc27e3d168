"""Lists drawn again on live events keep their items (dom.js morph): a click pressed on an item before
such a draw and released after it still opens it (Chromium fires no click when the node pressed
was replaced), and an item focused from the keyboard keeps its focus. The group list's own test is
in test_chat.py."""

from __future__ import annotations

import json
import time
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import Background, login, new_page, open_accounts


def focused(page: Any, attr: str) -> Any:
    """The data-`attr` of the element that has the keyboard focus (None when it has none)."""
    return page.evaluate(f"() => document.activeElement && document.activeElement.getAttribute('data-{attr}')")


def press(page: Any, item: Any) -> None:
    """The mouse pressed (not released) in the middle of `item`."""
    box = item.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()


def account_of(bg: Background, server: ServerProcess, name: str) -> tuple[Any, str]:
    owner = bg.run(server.user(verify_id=True))
    aid = bg.run(owner.request("create_account", name=name, category="culture", intro="",
                               subject_type="individual"))["account_id"]
    return owner, aid


def post(bg: Background, owner: Any, aid: str, title: str) -> str:
    return str(bg.run(owner.request("publish", account_id=aid, title=title, body="正文"))["post_id"])


def test_an_account_pressed_as_a_post_is_announced_opens_and_keeps_its_focus(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The accounts one follows are drawn again for every post announced (its badge counts it)."""
    owner, aid = account_of(bg, server, "按住号")
    alice = bg.run(server.user())
    bg.run(alice.request("subscribe", account_id=aid))
    page = new_page(browser, server)
    login(page, alice.username)
    open_accounts(page)
    item = page.locator(f"#subscriptions .account-item[data-aid='{aid}']")
    item.wait_for()

    item.focus()
    post(bg, owner, aid, "第一篇")
    expect(item.locator(".new-count")).to_have_text("1")  # the list was drawn again
    assert focused(page, "aid") == aid

    assert page.locator("#account-name").count() == 0
    press(page, item)
    post(bg, owner, aid, "第二篇")
    expect(item.locator(".new-count")).to_have_text("2")  # drawn again between press and release
    page.mouse.up()
    expect(page.locator(f"#account-pane[data-aid='{aid}'] #account-name")).to_have_text("按住号")
    page.locator("#post-list .post-item", has_text="第二篇").wait_for()
    assert page.errors == []


def test_a_post_pressed_as_another_goes_opens_and_keeps_its_focus(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """An account's post list is drawn again for every post announced or deleted. The posts deleted
    are below the one pressed: the item stays where the mouse is."""
    owner, aid = account_of(bg, server, "文章号")
    older, old = post(bg, owner, aid, "更早"), post(bg, owner, aid, "早")
    pid = post(bg, owner, aid, "最新")
    alice = bg.run(server.user())
    bg.run(alice.request("subscribe", account_id=aid))
    page = new_page(browser, server)
    login(page, alice.username)
    open_accounts(page)
    page.click(f"#subscriptions .account-item[data-aid='{aid}']")
    item = page.locator(f"#post-list .post-item[data-pid='{pid}']")
    item.wait_for()
    expect(page.locator("#post-list .post-item")).to_have_count(3)

    item.focus()
    bg.run(owner.request("delete_post", post_id=old))
    expect(page.locator("#post-list .post-item")).to_have_count(2)  # the list was drawn again
    assert focused(page, "pid") == pid

    press(page, item)
    bg.run(owner.request("delete_post", post_id=older))
    expect(page.locator("#post-list .post-item")).to_have_count(1)  # drawn again between press and release
    page.mouse.up()
    expect(page.locator("#post-title")).to_have_text("最新")
    assert page.errors == []


def test_a_member_button_pressed_as_someone_joins_acts_and_keeps_its_focus(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The owner's panel is drawn again on every change in the group (here: a join). The ones who
    join sort below the member pressed. The mute length chosen before a redraw is the one sent."""
    owner, bob = bg.run(server.user("owner1")), bg.run(server.user("bmember1"))
    gid = bg.run(owner.request("create_group", name="成员", category="friends", join_policy="open"))["group_id"]
    bg.run(bob.request("join_group", group_id=gid))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    expect(page.locator("#chat-gid")).to_have_text(gid)
    page.click("#btn-manage")
    row = page.locator(f"#member-list .member[data-uid='{bob.user_id}']")
    report = row.locator(".act-report-user")
    report.wait_for()

    report.focus()
    late = bg.run(server.user("zlate1"))
    bg.run(late.request("join_group", group_id=gid))
    page.locator(f"#member-list .member[data-uid='{late.user_id}']").wait_for()  # the panel was drawn again
    assert page.evaluate("() => document.activeElement.closest('li').dataset.uid") == bob.user_id
    assert page.evaluate("() => document.activeElement.classList.contains('act-report-user')")

    press(page, report)
    last = bg.run(server.user("zlast1"))
    bg.run(last.request("join_group", group_id=gid))
    page.locator(f"#member-list .member[data-uid='{last.user_id}']").wait_for()  # drawn again between press and release
    page.mouse.up()
    page.locator("#report-reason").wait_for()
    page.keyboard.press("Escape")
    expect(page.locator("#report-reason")).to_have_count(0)

    row.locator(".act-mute-len").select_option("86400")
    third = bg.run(server.user("zthird1"))
    bg.run(third.request("join_group", group_id=gid))
    page.locator(f"#member-list .member[data-uid='{third.user_id}']").wait_for()
    row.locator(".act-mute").click()
    row.locator(".tag-muted").wait_for()
    until = next(u for u in bg.run(owner.request("members", group_id=gid))["members"]
                 if u["user_id"] == bob.user_id)["muted_until"]
    assert until > time.time() * 1000 + 23 * 3600 * 1000  # a day, not the 10 minutes a new select shows
    assert page.errors == []


def _ops(sent: list[str], op: str) -> list[dict[str, Any]]:
    """The requests of kind `op` among the frames the page sent."""
    found = []
    for frame in sent:
        try:
            msg = json.loads(frame)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("op") == op:
            found.append(msg)
    return found


def _panel_with_eve(browser: Any, server: ServerProcess, bg: Background,
                    tag: str) -> tuple[Any, Any, Any, str, list[str]]:
    """The owner's panel open on a group where Dave is an admin and Eve a member; the frames the
    owner's page sends are collected."""
    owner, dave, eve = (bg.run(server.user(n + tag)) for n in ("owner", "dave", "eve"))
    gid = bg.run(owner.request("create_group", name="按钮", category="friends", join_policy="open"))["group_id"]
    for u in (dave, eve):
        bg.run(u.request("join_group", group_id=gid))
    bg.run(owner.request("set_role", group_id=gid, user_id=dave.user_id, role="admin"))
    page = new_page(browser, server)
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(f)))
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    expect(page.locator("#chat-gid")).to_have_text(gid)
    page.click("#btn-manage")
    page.locator(f"#member-list .member[data-uid='{eve.user_id}'] .act-kick").wait_for()
    return page, dave, eve, gid, sent


def _muted_until(bg: Background, dave: Any, gid: str, uid: str) -> int:
    members = bg.run(dave.request("members", group_id=gid))["members"]
    return int(next(u for u in members if u["user_id"] == uid)["muted_until"] or 0)


def test_a_kick_pressed_as_an_unmute_button_comes_before_it_never_unmutes(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """An admin mutes Eve while the owner holds the mouse on her Kick: an Unmute button is put in
    her row before Kick. The press stays with Kick (or is dropped), never becomes the Unmute next
    to it (the buttons used to be matched by position: the node pressed got Unmute's handler)."""
    page, dave, eve, gid, sent = _panel_with_eve(browser, server, bg, "k")
    row = page.locator(f"#member-list .member[data-uid='{eve.user_id}']")
    press(page, row.locator(".act-kick"))
    bg.run(dave.request("mute", group_id=gid, user_id=eve.user_id, seconds=600))
    row.locator(".act-unmute").wait_for()   # drawn again between press and release
    page.mouse.up()
    page.wait_for_timeout(500)
    assert _ops(sent, "mute") == []
    assert _muted_until(bg, dave, gid, eve.user_id) > time.time() * 1000
    if page.locator("#confirm-ok").count():
        page.keyboard.press("Escape")       # Kick's own question, left unanswered
    assert _ops(sent, "kick") == []
    assert page.errors == []


def test_a_focused_transfer_stays_transfer_as_an_unmute_button_comes_before_it(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The keyboard's twin: Transfer focused, Eve muted by an admin, Enter asks about the transfer
    (it used to send set_role admin: the focused node had become Make admin)."""
    page, dave, eve, gid, sent = _panel_with_eve(browser, server, bg, "t")
    row = page.locator(f"#member-list .member[data-uid='{eve.user_id}']")
    row.locator(".act-transfer").focus()
    bg.run(dave.request("mute", group_id=gid, user_id=eve.user_id, seconds=600))
    row.locator(".act-unmute").wait_for()
    focused_transfer = page.evaluate("() => document.activeElement.classList.contains('act-transfer')")
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)
    assert _ops(sent, "set_role") == []
    assert focused_transfer
    page.locator("#confirm-ok").wait_for()
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    assert _ops(sent, "transfer_owner") == []
    assert page.errors == []


def test_typing_in_a_section_put_in_anew_goes_on_in_its_field(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The bans section is put in whole on every redraw (data-replace): the focus moves to its new
    user-id field with the caret where it was, so what is typed after a join lands there, not on <body>."""
    page, dave, eve, gid, sent = _panel_with_eve(browser, server, bg, "f")
    field = page.locator("#ban-user-id")
    field.click()
    page.keyboard.type("u0189")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    late = bg.run(server.user("zlatef"))
    bg.run(late.request("join_group", group_id=gid))
    page.locator(f"#member-list .member[data-uid='{late.user_id}']").wait_for()  # the panel was drawn again
    page.keyboard.type("234567")
    expect(field).to_have_value("u01234567" + "89")
    assert page.evaluate("() => document.activeElement.id") == "ban-user-id"
    assert page.errors == []
