"""The word lists' review and flag hits on group names, announcements and display names (G10) end to end:
a held text waits in the operators' review queue while the old value stays shown; a flagged one is
shown and queued; ``decide`` settles either, never over a later change."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.e2e.harness import new_phone
from tests.e2e.test_content import WORDS, group, word_server


async def _open_items(srv: Any) -> list[dict[str, Any]]:
    rc, out, err = await srv.admin("review-queue", "--open")
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines()]


async def _decide(srv: Any, item: dict[str, Any], decision: str, note: str = "checked") -> str:
    rc, out, err = await srv.admin("decide", str(item["item_id"]), "--decision", decision, "--note", note)
    assert rc == 0, err
    return out


def _events(client: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in client.drain_events() if e.get("ev") == kind]


async def test_held_group_names_and_announcements_wait_for_the_operator(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)

    # held: the reply says so, the group keeps showing what it showed, nobody is told of the new text
    assert (await owner.request("update_group", group_id=gid, name="刷单返利群"))["held"] is True
    assert (await owner.request("set_announcement", group_id=gid, text="刷 单 返 利 今晚八点"))["held"] is True
    await asyncio.sleep(0.2)
    assert not _events(member, "group_updated")
    info = await member.request("group_info", group_id=gid)
    assert (info["name"], info["announcement"]) == ("tea room", "")
    name_item, note_item = await _open_items(srv)
    assert {k: name_item[k] for k in ("kind", "group_id", "sender_id", "action", "category", "text")} == {
        "kind": "group_name", "group_id": gid, "sender_id": owner.user_id, "action": "review",
        "category": "rumour_fraud", "text": "刷单返利群"}
    assert "seq" not in name_item and "post_id" not in name_item
    assert (note_item["kind"], note_item["text"]) == ("announcement", "刷 单 返 利 今晚八点")

    # release applies the name and tells the group; reject discards the announcement and tells its author
    score = (await owner.request("me"))["credit_score"]
    assert "(applied)" in await _decide(srv, name_item, "release")
    assert (await member.next_event("group_updated", timeout=2)) == {
        "ev": "group_updated", "group_id": gid, "name": "刷单返利群"}
    assert (await owner.request("me"))["credit_score"] == score  # a released text costs nothing
    await _decide(srv, note_item, "reject", "fraud")
    notice = await owner.next_event("notice", timeout=2)
    assert notice["kind"] == "content_removed" and notice["group_id"] == gid and "fraud" in notice["text"]
    assert (await owner.request("me"))["credit_score"] == score - 10  # credit.penalty_report_upheld
    info = await member.request("group_info", group_id=gid)
    assert (info["name"], info["announcement"]) == ("刷单返利群", "")
    rc, _, err = await srv.admin("decide", str(note_item["item_id"]), "--decision", "release", "--note", "x")
    assert rc != 0 and "already decided" in err

    # a name changed since it was held is not overwritten by releasing the older request: the newer
    # change closes it (superseded), and a decision on it is refused
    assert (await owner.request("update_group", group_id=gid, name="刷单返利 二群"))["held"] is True
    await owner.request("update_group", group_id=gid, name="tea again")
    assert await _open_items(srv) == []
    assert (await member.request("group_info", group_id=gid))["name"] == "tea again"

    # a group created under a held name opens under a neutral one until the name is released
    created = await owner.request("create_group", name="刷单返利交流", category="friends", join_policy="open")
    assert created["held"] is True
    new_gid = created["group_id"]
    assert (await owner.request("group_info", group_id=new_gid))["name"] == f"群聊 {new_gid}"
    [item] = await _open_items(srv)
    assert (item["kind"], item["group_id"], item["text"]) == ("group_name", new_gid, "刷单返利交流")
    assert created["held_id"] == str(item["item_id"])  # the id its author may withdraw it by
    await _decide(srv, item, "release")
    assert (await owner.request("group_info", group_id=new_gid))["name"] == "刷单返利交流"
    rows = srv.db_rows("SELECT action, detail FROM audit WHERE action IN ('update_group_held', 'review_release')"
                       " ORDER BY id")
    assert rows[0][0] == "update_group_held" and "held_name" in rows[0][1]  # the record keeps what was held


async def test_flagged_names_are_shown_and_queued_and_removal_puts_a_neutral_one_back(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)

    assert "held" not in await member.request("set_profile", display_name="VPN下载王")
    assert (await member.request("me"))["display_name"] == "VPN下载王"  # shown at once
    await owner.request("update_group", group_id=gid, name="vpn 下载 群")
    assert (await member.next_event("group_updated", timeout=2))["name"] == "vpn 下载 群"
    await owner.request("set_announcement", group_id=gid, text="VPN下载看群文件")
    member.drain_events()
    name_item, group_item, note_item = await _open_items(srv)
    assert {k: name_item[k] for k in ("kind", "user_id", "sender_id", "action", "text")} == {
        "kind": "display_name", "user_id": member.user_id, "sender_id": member.user_id, "action": "flag",
        "text": "VPN下载王"}
    assert "group_id" not in name_item
    assert (group_item["kind"], group_item["action"], note_item["kind"]) == ("group_name", "flag", "announcement")

    score = (await member.request("me"))["credit_score"]
    assert "(applied)" in await _decide(srv, name_item, "remove", "porn")
    me = await member.request("me")
    assert me["display_name"] == member.username and me["credit_score"] == score - 10
    notice = await member.next_event("notice", timeout=2)
    assert notice["kind"] == "content_removed" and "display name" in notice["text"]
    members = (await owner.request("members", group_id=gid))["members"]
    assert {m["user_id"]: m["display_name"] for m in members}[member.user_id] == member.username
    await _decide(srv, group_item, "keep")
    assert (await member.request("group_info", group_id=gid))["name"] == "vpn 下载 群"
    await _decide(srv, note_item, "remove")
    assert (await member.next_event("group_updated", timeout=2)) == {
        "ev": "group_updated", "group_id": gid, "announcement": ""}
    assert await _open_items(srv) == []
    # the group saw what was flagged, so the platform's keep and remove are in its managers' log
    log = [e["action"] for e in (await owner.request("group_log", group_id=gid))["entries"]]
    assert log[:2] == ["review_remove", "review_keep"], log
    # the name the account was shown under, and the one it shows now, are in the network log (G6)
    rows = srv.db_rows("SELECT detail FROM netlog WHERE kind = 'profile' AND user_id = ? ORDER BY id",
                       member.user_id)
    assert [json.loads(r[0])["display_name"] for r in rows] == ["VPN下载王", member.username]


async def test_a_display_name_held_at_registration_waits_and_the_username_stands_in(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    c = await srv.client()
    phone = new_phone()
    await c.request("request_code", phone=phone)
    reply = await c.request("register", username="heldname1", password="password123", phone=phone,
                            code=srv.last_code(phone), display_name="刷单返利达人")
    assert reply["held"] is True
    await c.login("heldname1", "password123")
    assert (await c.request("me"))["display_name"] == "heldname1"
    [first] = await _open_items(srv)
    assert (first["kind"], first["user_id"], first["text"]) == ("display_name", reply["user_id"], "刷单返利达人")
    assert reply["held_id"] == str(first["item_id"])
    # set_profile with a held name: the current name stays; the newer held name closes the older
    changed = await c.request("set_profile", display_name="刷单返利 老手")
    assert changed["held"] is True
    assert (await c.request("me"))["display_name"] == "heldname1"
    settled = await c.next_event("held_text_settled")
    assert (settled["held_id"], settled["outcome"]) == (reply["held_id"], "superseded")
    [second] = await _open_items(srv)
    assert (second["text"], str(second["item_id"])) == ("刷单返利 老手", changed["held_id"])
    c.drain_events()
    await _decide(srv, second, "release")
    assert (await c.request("me"))["display_name"] == "刷单返利 老手"
    renamed = await c.next_event("user_renamed")  # the released name reaches the screens showing the old
    assert (renamed["user_id"], renamed["display_name"]) == (reply["user_id"], "刷单返利 老手")
    await c.close()


async def test_a_flagged_username_is_recorded_and_a_removed_name_never_gives_way_to_it(make_server, tmp_path):
    """A reviewer's case: a username a ``flag`` list holds goes through ``register`` (nothing could
    hold it for review), shown as the display name and queued as one. Removing that name gave way to
    the username, the same text: nothing changed, yet the operator read "applied" and the user lost
    credit. The username's hit is now in the record, and a removed name gives way to the user id."""
    d = tmp_path / "srv"
    d.mkdir()
    (d / "gambling.txt").write_text("赌博\n", encoding="utf-8")
    (d / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    (d / "porn.txt").write_text("flagme\n", encoding="utf-8")
    srv = make_server(WORDS)
    c = await srv.client()
    phone = new_phone()
    await c.request("request_code", phone=phone)
    reply = await c.request("register", username="flagme370", password="password123", phone=phone,
                            code=srv.last_code(phone))
    uid = reply["user_id"]
    for _ in range(100):  # (written after the reply, as every flag hit's record is)
        rows = srv.db_rows("SELECT target_id, reason, detail FROM audit WHERE action = 'content_flagged'")
        if rows:
            break
        await asyncio.sleep(0.02)
    assert [(r[0], r[1], json.loads(r[2])["field"]) for r in rows] == [(uid, "pornography", "username")]
    await c.login("flagme370", "password123")
    assert (await c.request("me"))["display_name"] == "flagme370"
    [item] = await _open_items(srv)
    assert (item["kind"], item["action"], item["text"]) == ("display_name", "flag", "flagme370")
    score = (await c.request("me"))["credit_score"]
    assert "(applied)" in await _decide(srv, item, "remove", "porn")
    me = await c.request("me")
    assert (me["display_name"], me["credit_score"]) == (f"用户 {uid}", score - 10)

    # a display name held at registration waits under the same stand-in, never under the listed username
    other = await srv.client()
    phone = new_phone()
    await other.request("request_code", phone=phone)
    held = await other.request("register", username="flagme371", password="password123", phone=phone,
                               code=srv.last_code(phone), display_name="刷单返利达人")
    assert held["held"] is True
    await other.login("flagme371", "password123")
    assert (await other.request("me"))["display_name"] == f"用户 {held['user_id']}"


async def test_a_flagged_name_taken_down_by_remove_text_costs_once(make_server, tmp_path):
    """From a read of remove-text: it left the flag item of the same name open, and a later ``decide
    remove`` of it, finding the field no longer showing the text, charged the author again."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    await member.request("set_profile", display_name="VPN下载王")
    [item] = await _open_items(srv)
    score = (await member.request("me"))["credit_score"]
    rc, out, err = await srv.admin("remove-text", "display_name", member.username, "--reason", "porn")
    assert rc == 0, err
    assert (await member.request("me"))["credit_score"] == score - 10
    member.drain_events()
    assert "not applied" in await _decide(srv, item, "remove", "porn")
    assert (await member.request("me"))["credit_score"] == score - 10  # (not twice)
    await asyncio.sleep(0.3)
    assert not [e for e in member.drain_events() if e.get("ev") == "notice"]


async def test_a_group_showing_its_stand_in_may_restate_it_with_other_settings(make_server, tmp_path):
    """From a read of the diff: a stand-in is no name to choose, but a group whose own name is held
    shows its stand-in, and a settings form sending the name it shows with a new category was refused."""
    srv = word_server(make_server, tmp_path)
    owner = await srv.user()
    made = await owner.request("create_group", name="刷单返利群", category="friends", join_policy="open")
    gid = made["group_id"]
    assert made["held"] is True and (await owner.request("group_info", group_id=gid))["name"] == f"群聊 {gid}"
    assert (await owner.call("update_group", group_id=gid, name=f"群聊 {gid}", category="work"))["ok"]
    assert (await owner.request("group_info", group_id=gid))["category"] == "work"
    other = (await owner.request("create_group", name="读书会", category="friends", join_policy="open"))["group_id"]
    r = await owner.call("update_group", group_id=other, name=f"群聊 {gid}")  # (another group's stand-in)
    assert (r["code"], r.get("field")) == ("bad_request", "name"), r
