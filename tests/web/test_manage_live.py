"""The owner's or admin's panel while the group lives: what is typed in the settings survives the
redraws live events cause (the fields are drawn in place), another manager's bans, join-request
decisions and invite links show at once (the **[ext]** `ban_changed`, `join_request_decided` and
`invite_link_changed` events), updated in place, and a button whose label changes in a redraw keeps
a press begun on it when it still does the same thing (dom.js: `data-act`)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess
from tests.web.browser import Background, login, new_page


def _panel(browser: Any, server: ServerProcess, bg: Background, tag: str,
           policy: str = "open") -> tuple[Any, Any, Any, str]:
    """The owner's page with the panel open on a group where Dave is an admin."""
    owner, dave = bg.run(server.user("owner" + tag)), bg.run(server.user("dave" + tag))
    gid = bg.run(owner.request("create_group", name="现场", category="friends", join_policy="open"))["group_id"]
    bg.run(dave.request("join_group", group_id=gid))
    bg.run(owner.request("set_role", group_id=gid, user_id=dave.user_id, role="admin"))
    if policy != "open":
        bg.run(owner.request("update_group", group_id=gid, join_policy=policy))
    page = new_page(browser, server)
    login(page, owner.username)
    page.click(f"#group-list [data-gid='{gid}']")
    expect(page.locator("#chat-gid")).to_have_text(gid)
    page.click("#btn-manage")
    page.locator(f"#member-list .member[data-uid='{dave.user_id}'] .act-role").wait_for()
    return page, owner, dave, gid


def _join(bg: Background, server: ServerProcess, gid: str, name: str) -> Any:
    u = bg.run(server.user(name))
    bg.run(u.request("join_group", group_id=gid))
    return u


def _caret(page: Any) -> list[Any]:
    return list(page.evaluate("() => { const a = document.activeElement;"
                              " return [a.id, a.value, a.selectionStart, a.selectionEnd, !!a.marked]; }"))


def test_text_typed_in_the_settings_survives_live_redraws(browser: Any, server: ServerProcess, bg: Background) -> None:
    """A join redraws the panel while the owner types the announcement: the text, the focus and the
    caret stay, in the very field (an IME composition would go on); the name typed before stays
    too. Another admin's announcement shows in the field while the owner is not editing it, and
    the owner's unsaved name stays through that."""
    page, owner, dave, gid = _panel(browser, server, bg, "t")
    ann = page.locator("#announcement-text")
    page.fill("#settings-name", "新群名")
    ann.click()
    page.keyboard.type("今晚开会")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.evaluate("() => { document.activeElement.marked = true; }")
    late = _join(bg, server, gid, "zlatet")
    page.locator(f"#member-list .member[data-uid='{late.user_id}']").wait_for()  # the panel was drawn again
    assert _caret(page) == ["announcement-text", "今晚开会", 2, 2, True]
    assert page.input_value("#settings-name") == "新群名"
    page.keyboard.type("七点")
    assert page.input_value("#announcement-text") == "今晚七点开会"

    # another admin's announcement: the owner's text stays while it is being edited ...
    lines = page.locator("#messages .sys")
    said = lines.count()
    bg.run(dave.request("set_announcement", group_id=gid, text="戴夫的公告"))
    expect(lines).to_have_count(said + 1)  # the event came (and the panel was drawn again)
    page.wait_for_timeout(300)
    assert page.input_value("#announcement-text") == "今晚七点开会"
    # ... and saved, the field follows the group again
    page.click("#announcement-save")
    # (the save's own event came: dave's change goes after it, not before it at the server)
    expect(lines).to_have_count(said + 2)
    expect(page.locator("#announcement-text")).to_have_value("今晚七点开会")
    bg.run(dave.request("set_announcement", group_id=gid, text="戴夫又改了"))
    expect(page.locator("#announcement-text")).to_have_value("戴夫又改了")
    assert page.input_value("#settings-name") == "新群名"  # not saved: still the owner's
    page.click("#settings-save")
    expect(page.locator("#chat-title")).to_have_text("新群名")
    assert bg.run(owner.request("group_info", group_id=gid))["name"] == "新群名"
    assert page.errors == []


def test_another_managers_bans_requests_and_links_show_in_the_open_panel(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """Dave (an admin, elsewhere) bans and unbans a user who never joined, rejects a join request
    and makes and revokes an invite link: the owner's open panel shows each at once, its items kept
    in place (a ban listed stays the same node while another comes and goes)."""
    page, owner, dave, gid = _panel(browser, server, bg, "m", policy="approval")
    asker, other = bg.run(server.user("askerm")), bg.run(server.user("otherm"))
    first, second = bg.run(server.user("firstm")), bg.run(server.user("secondm"))

    bg.run(dave.request("ban", group_id=gid, user_id=first.user_id, reason="广告"))
    item = page.locator(f"#ban-list .ban[data-uid='{first.user_id}']")
    expect(item).to_contain_text("广告")
    item.evaluate("n => { n.marked = true; }")
    bg.run(dave.request("ban", group_id=gid, user_id=second.user_id, seconds=86400))
    page.locator(f"#ban-list .ban[data-uid='{second.user_id}']").wait_for()
    bg.run(dave.request("unban", group_id=gid, user_id=second.user_id))
    expect(page.locator(f"#ban-list .ban[data-uid='{second.user_id}']")).to_have_count(0)
    assert item.evaluate("n => n.marked === true")  # drawn in place, not anew

    for u in (asker, other):
        assert bg.run(u.request("join_group", group_id=gid))["status"] == "pending"
    expect(page.locator("#request-list .request")).to_have_count(2)
    expect(page.locator("#btn-manage .badge.req")).to_have_text("+2")
    bg.run(dave.request("reject_join", group_id=gid, user_id=asker.user_id))
    expect(page.locator(f"#request-list .request[data-uid='{asker.user_id}']")).to_have_count(0)
    expect(page.locator(f"#request-list .request[data-uid='{other.user_id}']")).to_have_count(1)
    expect(page.locator("#btn-manage .badge.req")).to_have_text("+1")

    made = bg.run(dave.request("create_invite_link", group_id=gid, max_uses=5, note="给新同事"))
    link = page.locator(f"#invite-links .invite-link[data-link-id='{made['link_id']}']")
    expect(link).to_contain_text("给新同事")
    assert made["code"] not in page.content()  # Dave's code: his page alone knows it
    bg.run(dave.request("revoke_invite_link", group_id=gid, link_id=made["link_id"]))
    expect(link).to_have_count(0)
    page.locator("#no-invite-links").wait_for()
    assert page.errors == []


def test_a_revoke_pressed_as_someone_joins_by_a_link_still_acts(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The invite links are drawn in place (keyed by link_id): a join by one link redraws the panel
    (its count of joins changes) between the press on another link's Revoke and its release; the
    press stays with that Revoke (the whole section used to be put in anew: the press was lost)."""
    page, owner, dave, gid = _panel(browser, server, bg, "r")
    kept = bg.run(dave.request("create_invite_link", group_id=gid))
    used = bg.run(dave.request("create_invite_link", group_id=gid))
    revoke = page.locator(f"#invite-links .invite-link[data-link-id='{kept['link_id']}'] .act-revoke-link")
    revoke.wait_for()
    facts = page.locator(f"#invite-links .invite-link[data-link-id='{used['link_id']}'] .link-facts")
    before = facts.inner_text()
    revoke.scroll_into_view_if_needed()
    box = revoke.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    joiner = bg.run(server.user("joinerr"))
    bg.run(joiner.request("join_group", invite_code=used["code"]))
    expect(facts).not_to_have_text(before)  # drawn again between press and release
    page.mouse.up()
    page.click("#confirm-ok")  # (a revoke asks first)
    expect(page.locator(f"#invite-links .invite-link[data-link-id='{kept['link_id']}']")).to_have_count(0)
    listed = bg.run(owner.request("invite_links", group_id=gid))["links"]
    assert [x["link_id"] for x in listed] == [used["link_id"]]
    assert page.errors == []


def test_a_button_whose_label_changes_in_a_redraw_keeps_a_press_when_it_does_the_same(
        browser: Any, server: ServerProcess) -> None:
    """dom.js: a button naming its action (`data-act`) is kept through a redraw that changes its
    label or title (and then acts with the handler drawn last); one whose action changed is not,
    and a press on it acts on nothing. Before, any change of label replaced the button."""
    page = new_page(browser, server)
    page.evaluate("""async () => {
      const { el, morphKids } = await import('/dom.js');
      window.hits = [];
      const row = (label, act, title) => [el('button', { type: 'button', 'data-act': act, title, text: label,
        onclick: () => window.hits.push(label) })];
      const box = el('div', { id: 'probe' });
      // (set through the CSSOM: the page's CSP refuses a style attribute)
      Object.assign(box.style, { position: 'fixed', top: '10px', left: '10px', zIndex: '99' });
      document.body.appendChild(box);
      morphKids(box, row('禁言', 'mute', null));
      window.redraw = (label, act, title) => morphKids(box, row(label, act, title));
    }""")
    button = page.locator("#probe button")
    for label, act, title, want in (("禁言 (2)", "mute", "10 分钟", ["禁言 (2)"]),
                                     ("Mute", "mute", None, ["Mute"]),
                                     ("踢出", "kick", None, [])):
        page.evaluate("() => { window.hits = []; }")
        box = button.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.evaluate("([l, a, t]) => window.redraw(l, a, t)", [label, act, title])
        page.mouse.up()
        assert page.evaluate("() => window.hits") == want, label
    assert page.errors == []


def test_the_panel_is_renamed_when_the_user_is_promoted_or_demoted_while_it_is_open(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A member's panel is 成员 and a manager's 群管理: the title was set when it opened and stayed
    after a promotion (the panel then showed the join requests under 成员) or a demotion."""
    owner, erin = bg.run(server.user("ownerr")), bg.run(server.user("erinr"))
    gid = bg.run(owner.request("create_group", name="改名", category="friends", join_policy="open"))["group_id"]
    bg.run(erin.request("join_group", group_id=gid))
    page = new_page(browser, server)
    login(page, erin.username)
    page.click(f"#group-list [data-gid='{gid}']")
    expect(page.locator("#chat-gid")).to_have_text(gid)
    page.click("#btn-manage")
    title = page.locator("#manage-dialog .modal-head h2")
    expect(title).to_have_text("成员")
    bg.run(owner.request("set_role", group_id=gid, user_id=erin.user_id, role="admin"))
    expect(title).to_have_text("群管理")
    bg.run(owner.request("set_role", group_id=gid, user_id=erin.user_id, role="member"))
    expect(title).to_have_text("成员")
    assert page.errors == []


def test_a_large_groups_members_are_found_by_name_or_id_and_the_filter_outlives_a_join(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A phone reviewer: each member took about 130 px, a group of 500 thousands of pixels of
    scrolling with nothing to search by. Past 8 members the panel offers a filter."""
    page, owner, dave, gid = _panel(browser, server, bg, "f")
    expect(page.locator("#member-filter")).to_have_count(0)  # (two members: nothing to find)
    others = [_join(bg, server, gid, f"zm{i}f") for i in range(8)]
    names = {u.user_id: bg.run(u.request("me"))["display_name"] for u in others}
    rows = page.locator("#member-list .member")
    expect(rows).to_have_count(10)
    target = others[3]
    page.fill("#member-filter", names[target.user_id][-3:].lower())
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-uid", target.user_id)
    _join(bg, server, gid, "zlatef")  # a redraw while filtered: the filter and the focus stay
    expect(page.locator("#members-section h3")).to_contain_text("(11)")
    expect(rows).to_have_count(1)
    assert page.evaluate("document.activeElement.id") == "member-filter"
    page.fill("#member-filter", dave.user_id)
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-uid", dave.user_id)
    page.fill("#member-filter", "没有这个人")
    expect(rows).to_have_count(0)
    expect(page.locator("#member-none")).to_have_text("没有匹配的成员")
    page.fill("#member-filter", "")
    expect(rows).to_have_count(11)
    # Filtered, and the group falls to 8 members: the filter goes, and so does what it held.
    page.fill("#member-filter", "没有这个人")
    for u in others[:3]:
        bg.run(u.request("leave_group", group_id=gid))
    expect(page.locator("#member-filter")).to_have_count(0)
    expect(rows).to_have_count(8)
    assert page.errors == []


def test_a_raids_join_requests_are_rejected_at_once(browser: Any, server: ServerProcess, bg: Background) -> None:
    """全部拒绝 declines every pending request in one press (each asker told; none may ask again during
    the server's cooldown)."""
    page, owner, dave, gid = _panel(browser, server, bg, "rj", policy="approval")
    askers = [_join(bg, server, gid, f"raider{i}rj") for i in range(3)]
    expect(page.locator("#request-list .request")).to_have_count(3)
    # A burst is one toast that counts (a raid's hundred requests covered a phone's screen in toasts).
    expect(page.locator("#toasts .toast")).to_have_text(["3 个新的入群申请（群「现场」）"])
    page.click("#reject-all")
    page.click("#confirm-ok")
    page.wait_for_selector("#toasts .toast:has-text('已拒绝 3 个入群申请')")
    page.wait_for_selector("#request-list", state="detached")
    assert bg.run(askers[0].call("join_group", group_id=gid))["cause"] == "request_rejected"
    assert bg.run(owner.request("join_requests", group_id=gid))["requests"] == []
    assert page.errors == []
