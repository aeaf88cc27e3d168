"""Read state kept by the server: reading on one page clears the unread count on the user's other page,
and a new device starts from the server's count, not its own; a deleted unread message leaves the count,
and the mention flag is found again after a reload."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect

from tests.e2e.harness import ServerProcess, open_group
from tests.web.browser import (
    Background,
    create_group,
    join_group,
    late_answers,
    listed_group,
    login,
    message,
    new_page,
    register,
    run_async,
    send,
    three_in_a_group,
    until,
)


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
    expect(laptop.locator(f"{item} .preview")).to_have_text("Alice：第四条")
    expect(laptop.locator(f"{item} .badge.unread")).to_have_count(0)

    # The server remembers: a fresh login shows nothing unread.
    fresh = new_page(browser, server)
    login(fresh, bob)
    fresh.wait_for_selector(item)
    expect(fresh.locator(f"{item} .preview")).to_have_text("Alice：第四条")
    assert fresh.locator(f"{item} .badge.unread").count() == 0
    for p in (alice, phone, laptop, third, fresh):
        assert p.errors == []


def _item(page: Any, gid: str) -> Any:
    return page.locator(f'.group-item[data-gid="{gid}"]')


def _unread(bg: Background, client: Any, gid: str) -> int:
    return int(listed_group(bg, client, gid)["unread"])


def test_a_deleted_unread_message_leaves_the_count_and_its_mention(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A recalled or removed message the user had not read stayed in the group's unread count (and
    its mention kept "[有人@我]"); one already read, or the user's own, must change nothing."""
    gid, alice, bob, carol = three_in_a_group(bg, server)  # Alice owns the group
    read = bg.run(carol.send(gid, "读过的"))["seq"]
    bg.run(bob.request("mark_read", group_id=gid, seq=read))
    page = new_page(browser, server)
    login(page, bob.username)
    item = _item(page, gid)
    expect(item.locator(".preview")).to_have_text(f"{carol.username.title()}：读过的")
    assert item.locator(".badge.unread").count() == 0

    first = bg.run(carol.send(gid, "第一条"))["seq"]
    at_bob = bg.run(alice.send(gid, "@Bob 看这里", mentions=[bob.user_id]))["seq"]
    at_all = bg.run(alice.send(gid, "@所有人 开会", mention_all=True))["seq"]
    third = bg.run(carol.send(gid, "第三条"))["seq"]
    own = bg.run(bob.send(gid, "我自己的"))["seq"]  # from Bob's other device: never unread
    badge, flag = item.locator(".badge.unread"), item.locator(".mention-flag")
    expect(badge).to_have_text("4")
    expect(flag).to_be_visible()

    bg.run(carol.request("delete_message", group_id=gid, seq=read))  # read already: no change
    bg.run(bob.request("delete_message", group_id=gid, seq=own))  # his own: no change
    bg.run(alice.request("delete_message", group_id=gid, seq=at_bob))  # recalled by its sender
    expect(badge).to_have_text("3")
    expect(flag).to_be_visible()  # @all is still unread
    bg.run(alice.request("delete_message", group_id=gid, seq=at_all))
    expect(badge).to_have_text("2")
    expect(flag).to_have_count(0)
    bg.run(alice.request("delete_message", group_id=gid, seq=first))  # a manager deletes Carol's
    expect(badge).to_have_text("1")
    rc, _, err = run_async(server.admin("remove-message", gid, str(third), "--reason", "违规"))
    assert rc == 0, err
    expect(badge).to_have_count(0)

    # After a reload the page holds the newest page only: for a deleted message below it, the
    # page reads the server's count again (which leaves out what is deleted, and Bob's own).
    far = bg.run(carol.send(gid, "很早的"))["seq"]
    mine_far = bg.run(bob.send(gid, "我很早的"))["seq"]
    for i in range(55):
        bg.run(carol.send(gid, f"填充 {i}"))
    page.reload()
    page.wait_for_selector("#status.status-connected")
    expect(badge).to_have_text("56")
    bg.run(carol.request("delete_message", group_id=gid, seq=far))
    expect(badge).to_have_text("55")
    bg.run(bob.request("delete_message", group_id=gid, seq=mine_far))  # his own: no change ...
    bg.run(carol.send(gid, "新的"))
    expect(badge).to_have_text("56")  # ... so one more is 56 (55 - 1 + 1 had it been taken off)
    assert _unread(bg, bob, gid) == 56  # as the server counts
    assert page.errors == []


def test_the_mention_flag_outlives_a_reload(browser: Any, server: ServerProcess, bg: Background) -> None:
    """my_groups gives the unread count, not the mention: after a reload "[有人@我]" was gone though
    the message mentioning the user was still unread."""
    gid, alice, bob, carol = three_in_a_group(bg, server)
    deep = bg.run(open_group(alice))  # an @all below the newest page the client reads
    read = bg.run(open_group(alice))  # a mention already read, then more unread messages
    gone = bg.run(open_group(alice))  # a mention deleted while the page was away
    for g in (deep, read, gone):
        bg.run(bob.request("join_group", group_id=g))
        bg.run(carol.request("join_group", group_id=g))
    bg.run(alice.send(deep, "@所有人 通知", mention_all=True))
    for i in range(60):
        bg.run(carol.send(deep, f"填充 {i}"))
    seen = bg.run(carol.send(read, "@Bob 你看过了", mentions=[bob.user_id]))["seq"]
    bg.run(bob.request("mark_read", group_id=read, seq=seen))
    bg.run(carol.send(read, "没有提及"))
    at = bg.run(carol.send(gone, "@Bob 撤回了", mentions=[bob.user_id]))["seq"]
    bg.run(carol.send(gone, "还在"))
    bg.run(carol.request("delete_message", group_id=gone, seq=at))
    page = new_page(browser, server)
    login(page, bob.username)
    bg.run(carol.send(gid, "@Bob 在吗", mentions=[bob.user_id]))
    bg.run(carol.send(gid, "有事找你"))
    expect(_item(page, gid).locator(".mention-flag")).to_be_visible()  # live, as before

    page.reload()
    page.wait_for_selector("#status.status-connected")
    expect(_item(page, gid).locator(".mention-flag")).to_be_visible()
    expect(_item(page, deep).locator(".mention-flag")).to_be_visible()
    for g, n in ((gid, "2"), (deep, "61"), (read, "1"), (gone, "1")):
        expect(_item(page, g).locator(".badge.unread")).to_have_text(n)
    for g in (read, gone):
        expect(_item(page, g).locator(".mention-flag")).to_have_count(0)

    # Read on the page, the mention does not come back with the next reload.
    page.click(f'.group-item[data-gid="{gid}"]')
    message(page, "有事找你")
    expect(_item(page, gid).locator(".mention-flag")).to_have_count(0)
    until(lambda: _unread(bg, bob, gid) == 0)  # (mark_read is sent once a burst is over)
    page.reload()
    page.wait_for_selector("#status.status-connected")
    expect(_item(page, deep).locator(".mention-flag")).to_be_visible()
    expect(_item(page, gid).locator(".badge.unread")).to_have_count(0)
    expect(_item(page, gid).locator(".mention-flag")).to_have_count(0)
    assert page.errors == []


def test_a_group_read_while_the_list_was_on_its_way_stays_read(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The list of groups, answered before the page's mark of the group it had just opened landed (the
    mark waits 200 ms for the burst to end), put the group's read point back: what the reader had
    read was counted unread again, and a mark still to be sent sent that older point, so the next
    page counted it unread too (its "new messages" line then far above the reader's place)."""
    gid, alice, bob, carol = three_in_a_group(bg, server)
    for i in range(40):
        bg.run(carol.send(gid, f"第 {i} 条"))
    page = new_page(browser, server)
    page.context.add_init_script(late_answers("my_groups", 1500))
    page.reload()
    login(page, bob.username)
    expect(_item(page, gid).locator(".badge.unread")).to_have_text("40")
    page.evaluate("() => { window.__slow = true; }")
    other = bg.run(open_group(alice))
    bg.run(bob.request("join_group", group_id=other))  # the page asks for its list again: held
    page.wait_for_function("() => window.__held === 1")  # (answered: the server had no mark yet)
    page.click(f'.group-item[data-gid="{gid}"]')
    message(page, "第 39 条")
    page.evaluate("() => { document.querySelector('#scroller').scrollTop = 0; }")  # reading back
    expect(_item(page, other)).to_be_visible()  # the held answer taken
    expect(_item(page, gid).locator(".badge.unread")).to_have_count(0)
    bg.run(carol.send(gid, "又一条"))  # come while the reader is above: one unread, not 41
    expect(_item(page, gid).locator(".badge.unread")).to_have_text("1")
    until(lambda: _unread(bg, bob, gid) == 1)
    assert page.errors == []



def test_what_was_read_just_before_the_page_closed_counts_read(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The mark of what was read waits 200 ms for a burst to end; a page reloaded or closed meanwhile
    never sent it, and its next start counted those messages unread again. The mark is kept in the
    browser until the server has it, and the next start sends it before it reads its groups."""
    gid, alice, bob, carol = three_in_a_group(bg, server)
    for i in range(5):
        bg.run(carol.send(gid, f"第 {i} 条"))
    page = new_page(browser, server, clock=True)
    login(page, bob.username)
    expect(_item(page, gid).locator(".badge.unread")).to_have_text("5")
    page.clock.pause_at(time.time() + 1)  # the page's timers wait from here: its mark too
    page.click(f'.group-item[data-gid="{gid}"]')
    message(page, "第 4 条")
    page.wait_for_timeout(500)
    assert _unread(bg, bob, gid) == 5  # (read on the page, not yet said to the server)
    page.reload()
    page.wait_for_selector("#status.status-connected")
    until(lambda: _unread(bg, bob, gid) == 0)
    expect(_item(page, gid).locator(".badge.unread")).to_have_count(0)
    assert page.errors == []


# Marks the page fails: while window.__dropMarks > 0, a mark_read frame is not sent (the connection
# dies with it); while window.__failMarks > 0, it is not sent and answered `internal` (a store or a
# home node failing). While window.__dropMessages > 0, a live `message` event is not taken (lost on
# the way: a cluster's gateway cut off from its broker). window.__ws: the page's socket.
LOSE_MARKS = """
(() => {
  const desc = Object.getOwnPropertyDescriptor(WebSocket.prototype, "onmessage");
  Object.defineProperty(WebSocket.prototype, "onmessage", { configurable: true,
    get() { return desc.get.call(this); },
    set(fn) {
      this.__fn = fn;
      desc.set.call(this, fn && ((e) => {
        let f = null; try { f = JSON.parse(e.data); } catch {}
        if (f && f.ev === "message" && window.__dropMessages > 0) { window.__dropMessages--; return; }
        fn.call(this, e);
      }));
    } });
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) {
    window.__ws = this;
    let f = null; try { f = JSON.parse(d); } catch {}
    if (f && f.op === "mark_read" && window.__dropMarks > 0) { window.__dropMarks--; return; }
    if (f && f.op === "mark_read" && window.__failMarks > 0) {
      window.__failMarks--;
      const reply = JSON.stringify({ re: f.rid, ok: false, code: "internal", reason: "the store failed" });
      setTimeout(() => this.__fn.call(this, { data: reply }), 10);
      return;
    }
    return send.call(this, d);
  };
})();
"""



def _losing_marks(browser: Any, server: ServerProcess, user: Any, *scripts: str) -> Any:
    """A page of ``user`` (logged in) that loses marks and messages when the test says (LOSE_MARKS),
    with ``scripts`` before it."""
    page = new_page(browser, server)
    for script in (*scripts, LOSE_MARKS):
        page.context.add_init_script(script)
    page.reload()
    login(page, user.username)
    return page


def _read_losing(page: Any, gid: str, last: str, how: str = "__dropMarks", n: int = 1) -> None:
    """Open ``gid`` and read it down to ``last`` with the page's next ``n`` marks lost (``how``:
    ``__dropMarks``) or refused (``__failMarks``)."""
    page.evaluate(f"() => {{ window.{how} = {n}; }}")
    page.click(f'.group-item[data-gid="{gid}"]')
    message(page, last)
    page.wait_for_function(f"() => window.{how} === 0")


def _second_group(bg: Background, owner: Any, member: Any) -> str:
    gid = bg.run(open_group(owner))
    bg.run(member.request("join_group", group_id=gid))
    return gid


def test_a_mark_the_connection_lost_or_the_server_refused_for_the_moment_is_sent_again(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The page counts a group read as it sends the mark; a mark lost with the connection, or refused
    with `internal`, left the server (and every other device) counting the messages unread, while the
    page had nothing left to send. The page keeps it until the server has it: sent again after the
    reconnect, or a little later."""
    gid, alice, bob, carol = three_in_a_group(bg, server)
    other = _second_group(bg, alice, bob)
    for i in range(4):
        bg.run(carol.send(gid, f"第 {i} 条"))
        bg.run(alice.send(other, f"另一群 {i}"))
    page = _losing_marks(browser, server, bob)
    expect(_item(page, gid).locator(".badge.unread")).to_have_text("4")
    _read_losing(page, gid, "第 3 条")  # the mark goes out as the connection dies
    page.evaluate("() => window.__ws.close()")
    until(lambda: _unread(bg, bob, gid) == 0)
    page.wait_for_selector("#status.status-connected")
    _read_losing(page, other, "另一群 3", "__failMarks")  # refused for the moment, with the page connected
    assert _unread(bg, bob, other) == 4
    until(lambda: _unread(bg, bob, other) == 0)
    assert page.errors == []


def test_messages_lost_on_the_way_count_unread_when_the_page_had_read_past_the_servers_point(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """The page read a group and its mark never reached the server; a my_groups answer then counted
    the group by the page's point, but took the answer's last seq as counted: messages of that span
    lost on the way, read again when a later one showed the gap, were counted by nobody (the review's
    case: 1 unread shown for 3)."""
    gid, alice, bob, carol = three_in_a_group(bg, server)
    other = _second_group(bg, alice, bob)
    for i in range(4):
        bg.run(carol.send(gid, f"第 {i} 条"))
    page = _losing_marks(browser, server, bob)
    _read_losing(page, gid, "第 3 条")  # read on the page; the server never hears it
    page.click(f'.group-item[data-gid="{other}"]')  # (away from it: what comes now is unread)
    page.evaluate("() => { window.__dropMessages = 2; }")
    bg.run(carol.send(gid, "丢了 1"))
    bg.run(carol.send(gid, "丢了 2"))
    page.wait_for_function("() => window.__dropMessages === 0")
    third = _second_group(bg, alice, bob)  # the page reads its groups again: ahead of the server
    expect(_item(page, third)).to_be_visible()
    bg.run(carol.send(gid, "到了"))  # shows the gap: the two lost are read again
    expect(_item(page, gid).locator(".badge.unread")).to_have_text("3")
    assert page.errors == []


def test_messages_lost_on_the_way_during_a_reconnects_catch_up_count_unread(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A reconnect's catch-up reads what came while away after the changes it asks first; a live
    message that came meanwhile moved the count past the ones lost on the way, which the catch-up
    then read uncounted: 3 unread on the page for 5 at the server (a review's case)."""
    gid, alice, bob, carol = three_in_a_group(bg, server)
    other = _second_group(bg, alice, bob)
    page = _losing_marks(browser, server, bob, late_answers("message_changes", 3000))
    page.click(f'.group-item[data-gid="{other}"]')
    for i in range(2):
        bg.run(carol.send(gid, f"离线前 {i}"))
    expect(_item(page, gid).locator(".badge.unread")).to_have_text("2")
    page.evaluate("() => { window.__slow = true; window.__held = 0; window.__ws.close(); }")
    page.wait_for_function("() => window.__held >= 1")  # the catch-up's changes are on their way
    page.evaluate("() => { window.__dropMessages = 2; }")
    bg.run(carol.send(gid, "丢了 1"))
    bg.run(carol.send(gid, "丢了 2"))
    page.wait_for_function("() => window.__dropMessages === 0")
    bg.run(carol.send(gid, "到了"))
    assert _unread(bg, bob, gid) == 5
    expect(_item(page, gid).locator(".badge.unread")).to_have_text("5", timeout=10_000)
    assert page.errors == []


def test_a_kept_mark_refused_at_the_start_is_counted_once_it_is_stored(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A kept mark refused for the moment at a start was sent again after the start had read its
    counts: the server had it, but the page went on counting those messages unread."""
    gid, alice, bob, carol = three_in_a_group(bg, server)
    for i in range(4):
        bg.run(carol.send(gid, f"第 {i} 条"))
    page = _losing_marks(browser, server, bob)
    _read_losing(page, gid, "第 3 条")
    page.context.add_init_script("window.__failMarks = 1;")  # the next start's kept mark: refused once
    page.reload()
    page.wait_for_selector("body[data-synced]")
    until(lambda: _unread(bg, bob, gid) == 0)  # (sent again 2 s later)
    expect(_item(page, gid).locator(".badge.unread")).to_have_count(0)
    assert page.errors == []


def test_a_mark_sent_again_is_never_sent_for_the_next_user_of_the_page(
        browser: Any, server: ServerProcess, bg: Background) -> None:
    """A mark refused for the moment is sent again seconds later; one user logged out and another
    logged in meanwhile had the first one's mark sent as theirs, moving their read point."""
    gid, alice, bob, carol = three_in_a_group(bg, server)
    for i in range(4):
        bg.run(alice.send(gid, f"第 {i} 条"))
    page = _losing_marks(browser, server, bob)
    _read_losing(page, gid, "第 3 条", "__failMarks", 2)  # refused, and again 2 s later; the third try at 6 s
    page.click("#btn-profile")
    page.click("#btn-logout")
    page.wait_for_selector("#login-username")
    login(page, carol.username)
    page.wait_for_timeout(6_000)  # past the third try
    assert _unread(bg, carol, gid) == 4
    assert page.errors == []
