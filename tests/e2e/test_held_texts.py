"""A held group name, announcement or display name seen by its author (G10): ``my_held_texts``
lists what still waits, ``withdraw_held_text`` takes it back, and ``held_text_settled`` tells the
author when it no longer waits. Nobody but the author sees the held text."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.e2e.harness import restart
from tests.e2e.test_content import group, word_server


async def _open_items(srv: Any) -> list[dict[str, Any]]:
    rc, out, err = await srv.admin("review-queue", "--open")
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines()]


async def _held(client: Any) -> list[dict[str, Any]]:
    held: list[dict[str, Any]] = (await client.request("my_held_texts"))["held"]
    return held


async def test_the_author_lists_and_withdraws_their_held_texts_and_nobody_else_sees_them(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, admin, gid = await group(srv)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    renamed = await owner.request("update_group", group_id=gid, name="刷单返利群")
    announced = await admin.request("set_announcement", group_id=gid, text="刷单返利 今晚八点")
    profiled = await owner.request("set_profile", display_name="刷单返利王")
    assert renamed["held"] is announced["held"] is profiled["held"] is True

    # each author sees their own, newest first; the other manager of the group sees none of them
    profile_text, name_text = await _held(owner)
    # the reply that held each text named it (the id to withdraw it by, without listing first)
    assert (renamed["held_id"], profiled["held_id"]) == (name_text["held_id"], profile_text["held_id"])
    assert {k: profile_text[k] for k in ("kind", "text")} == {"kind": "display_name", "text": "刷单返利王"}
    assert "group_id" not in profile_text
    assert {k: name_text[k] for k in ("kind", "group_id", "text")} == {
        "kind": "group_name", "group_id": gid, "text": "刷单返利群"}
    assert isinstance(name_text["created_at"], int)
    [note] = await _held(admin)
    assert note["held_id"] == announced["held_id"]
    assert (note["kind"], note["group_id"], note["text"]) == ("announcement", gid, "刷单返利 今晚八点")
    stranger = await srv.user()
    assert await _held(stranger) == []
    # someone else's held text cannot be withdrawn: the answer is that of an id that does not exist
    for hid in (note["held_id"], "999999"):
        r = await owner.call("withdraw_held_text", held_id=hid)
        assert (r["ok"], r["code"]) == (False, "not_found")
    assert (await admin.call("withdraw_held_text", held_id="x1"))["code"] == "bad_request"
    for padded in (f" {note['held_id']} ", f"{note['held_id']}\n"):  # (it was stripped, unlike other ids)
        assert (await admin.call("withdraw_held_text", held_id=padded))["code"] == "bad_request"

    # after a reconnect the author still knows what waits
    owner, admin = await restart(srv, owner, admin)
    assert [h["held_id"] for h in await _held(owner)] == [profile_text["held_id"], name_text["held_id"]]

    # withdrawing: the author's connections are told, the list no longer has it, the group keeps its name
    other = await srv.client()
    await other.login(owner.username, "password123")
    await owner.request("withdraw_held_text", held_id=name_text["held_id"])
    assert (await other.next_event("held_text_settled", timeout=2)) == {
        "ev": "held_text_settled", "held_id": name_text["held_id"], "kind": "group_name", "outcome": "withdrawn",
        "group_id": gid}
    assert [h["held_id"] for h in await _held(owner)] == [profile_text["held_id"]]
    assert (await admin.request("group_info", group_id=gid))["name"] == "tea room"
    r = await owner.call("withdraw_held_text", held_id=name_text["held_id"])  # once only
    assert r["code"] == "not_found"

    # the operator sees it withdrawn, and deciding it afterwards is refused and changes nothing
    items = {i["item_id"]: i for i in (await _open_items(srv))}
    assert int(name_text["held_id"]) not in items
    rc, _, err = await srv.admin("decide", name_text["held_id"], "--decision", "release", "--note", "late")
    assert rc != 0 and "withdrawn by its author" in err
    assert (await admin.request("group_info", group_id=gid))["name"] == "tea room"
    # the group's log does not tell the other managers about it
    log = (await admin.request("group_log", group_id=gid))["entries"]
    assert not [e for e in log if e["action"] == "withdraw_held_text"]


async def test_the_author_is_told_when_the_operator_releases_or_rejects_a_held_text(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    assert (await owner.request("update_group", group_id=gid, name="刷单返利群"))["held"] is True
    assert (await member.request("set_profile", display_name="刷单返利达人"))["held"] is True
    name_item, profile_item = await _open_items(srv)

    rc, _, err = await srv.admin("decide", str(name_item["item_id"]), "--decision", "release", "--note", "ok")
    assert rc == 0, err
    assert (await owner.next_event("held_text_settled", timeout=2)) == {
        "ev": "held_text_settled", "held_id": str(name_item["item_id"]), "kind": "group_name",
        "outcome": "released", "group_id": gid, "applied": True}
    rc, _, err = await srv.admin("decide", str(profile_item["item_id"]), "--decision", "reject", "--note", "fraud")
    assert rc == 0, err
    assert (await member.next_event("held_text_settled", timeout=2)) == {
        "ev": "held_text_settled", "held_id": str(profile_item["item_id"]), "kind": "display_name",
        "outcome": "rejected"}
    await asyncio.sleep(0.2)
    assert not [e for e in owner.drain_events() if e.get("ev") == "held_text_settled"]  # only the author's
    assert await _held(owner) == [] and await _held(member) == []


async def test_a_release_that_shows_nothing_any_more_is_not_in_the_group_log(make_server, tmp_path):
    """A held announcement whose author is no longer an admin is released by the operator: it is not
    applied (the author may not set it any more), nothing the group sees changes, so the decision's
    record entry (``review_release_held_text``) is not in group_log."""
    srv = word_server(make_server, tmp_path)
    owner, admin, gid = await group(srv)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    assert (await admin.request("set_announcement", group_id=gid, text="刷单返利 今晚八点"))["held"] is True
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="member")
    [item] = [i for i in await _open_items(srv) if i["kind"] == "announcement"]
    rc, _, err = await srv.admin("decide", str(item["item_id"]), "--decision", "release", "--note", "ok")
    assert rc == 0, err
    assert srv.db_rows("SELECT 1 FROM audit WHERE group_id = ? AND action = 'review_release_held_text'", gid)
    log = (await owner.request("group_log", group_id=gid))["entries"]
    assert [e["action"] for e in log] == ["set_role", "set_role", "create_group"], log
    for c in (owner, admin):
        await c.close()


async def test_the_group_log_does_not_tell_other_managers_of_a_held_name_or_announcement(make_server, tmp_path):
    """A name or announcement the word lists hold changes nothing the group sees, so the write's
    record entry (kept for the operators, with the held text) is not in the managers' group_log;
    a write that also changes something shown is listed with that change alone."""
    srv = word_server(make_server, tmp_path)
    owner, admin, gid = await group(srv)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    assert (await owner.request("set_announcement", group_id=gid, text="刷单返利 今晚八点"))["held"] is True
    assert (await owner.request("update_group", group_id=gid, name="刷单返利群"))["held"] is True
    log = (await admin.request("group_log", group_id=gid))["entries"]
    assert [e["action"] for e in log] == ["set_role", "create_group"]
    # the record keeps both, with what was held, for the operators
    rows = srv.db_rows("SELECT action, actor_id, detail FROM audit WHERE group_id = ? AND action LIKE '%_held'"
                       " ORDER BY id", gid)
    assert [(a, actor, json.loads(d)) for a, actor, d in rows] == [
        ("set_announcement_held", owner.user_id, {"held_announcement": "刷单返利 今晚八点"}),
        ("update_group_held", owner.user_id, {"held_name": "刷单返利群"})]

    # held name and a new category at once: the category change is listed, the held name is not
    held = await owner.request("update_group", group_id=gid, name="刷单返利 二群", category="work")
    assert held["held"] is True
    [entry, *_] = (await admin.request("group_log", group_id=gid))["entries"]
    assert (entry["action"], entry["actor"], entry.get("detail")) == ("update_group", owner.user_id,
                                                                       {"category": "work"})
    assert (await admin.request("group_info", group_id=gid))["name"] == "tea room"

    # released by the operator, the name is applied and the group told, as before
    items = [i for i in await _open_items(srv) if i["kind"] == "group_name" and i["text"] == "刷单返利 二群"]
    admin.drain_events()
    rc, _, err = await srv.admin("decide", str(items[0]["item_id"]), "--decision", "release", "--note", "ok")
    assert rc == 0, err
    assert (await admin.next_event("group_updated", timeout=2))["name"] == "刷单返利 二群"
    # the release changed what the group sees: listed; the rejected announcement never showed: not listed
    items = [i for i in await _open_items(srv) if i["kind"] == "announcement"]
    rc, _, err = await srv.admin("decide", str(items[0]["item_id"]), "--decision", "reject", "--note", "违规")
    assert rc == 0, err
    log = (await admin.request("group_log", group_id=gid))["entries"]
    assert [e["action"] for e in log] == ["review_release", "update_group", "set_role", "create_group"], log
    assert srv.db_rows("SELECT detail FROM audit WHERE group_id = ? AND action = 'review_reject_held_text'", gid)
    for c in (owner, admin):
        await c.close()


async def test_a_held_text_is_released_only_while_its_author_may_still_set_it(make_server, tmp_path):
    """Released, a held text is applied as if its author had just set it. A reviewer had an admin's
    held announcement published to the whole group after the owner removed them, and a held group
    name is the same after its owner handed the group on: neither is applied now (the author is told
    ``applied: false``), while one whose author still may set it is."""
    srv = word_server(make_server, tmp_path)
    owner, admin, gid = await group(srv)
    heir = await srv.user(verify_id=True)
    await heir.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    note = await admin.request("set_announcement", group_id=gid, text="刷单返利 今晚八点")
    name = await owner.request("update_group", group_id=gid, name="刷单返利群")
    await owner.request("kick", group_id=gid, user_id=admin.user_id)
    await owner.request("transfer_owner", group_id=gid, user_id=heir.user_id)
    admin.drain_events()
    for held in (note, name):
        rc, out, err = await srv.admin("decide", held["held_id"], "--decision", "release", "--note", "ok")
        assert rc == 0 and "not applied" in out and "may no longer set it" in out, (out, err)
    settled = await admin.next_event("held_text_settled", timeout=2)
    assert (settled["held_id"], settled["outcome"], settled["applied"]) == (note["held_id"], "released", False)
    info = await heir.request("group_info", group_id=gid)
    assert (info["name"], info.get("announcement", "")) == ("tea room", ""), info

    # the same, once the author is an admin again: applied
    await heir.request("set_role", group_id=gid, user_id=owner.user_id, role="admin")
    fresh = await owner.request("set_announcement", group_id=gid, text="刷单返利 后天")
    rc, out, err = await srv.admin("decide", fresh["held_id"], "--decision", "release", "--note", "ok")
    assert rc == 0 and "(applied)" in out, (out, err)
    assert (await heir.request("group_info", group_id=gid))["announcement"] == "刷单返利 后天"
    # An admin muted meanwhile could not set an announcement now: not applied either.
    held = await owner.request("set_announcement", group_id=gid, text="刷单返利 周末")
    await heir.request("mute", group_id=gid, user_id=owner.user_id, seconds=600)
    rc, out, err = await srv.admin("decide", held["held_id"], "--decision", "release", "--note", "ok")
    assert rc == 0 and "may no longer set it" in out, (out, err)
    await heir.request("mute", group_id=gid, user_id=owner.user_id, seconds=0)
    # An admin whose powers the platform suspends meanwhile: decided, not applied (the decision
    # failed outright with the suspension's refusal, and the item stayed open).
    held = await owner.request("set_announcement", group_id=gid, text="刷单返利 大后天")
    rc, _, err = await srv.admin("suspend-admin", owner.username, "--seconds", "600", "--reason", "滥用")
    assert rc == 0, err
    rc, out, err = await srv.admin("decide", held["held_id"], "--decision", "release", "--note", "ok")
    assert rc == 0 and "may no longer set it" in out, (out, err)
    assert (await heir.request("group_info", group_id=gid))["announcement"] == "刷单返利 后天"
    for c in (owner, admin, heir):
        await c.close()


async def test_a_newer_change_of_the_field_closes_a_held_text(make_server, tmp_path):
    """A review found a held name released after the group was renamed away and back (A, B held, C,
    A again) replacing A: the guard (the field still shows what it showed when B was held) could not
    tell. A newer change of the same field, shown or held in its turn and whoever makes it, now
    closes the held text (``superseded``): the newest change wins; other fields' stay."""
    srv = word_server(make_server, tmp_path)
    owner, admin, gid = await group(srv)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    name = await owner.request("update_group", group_id=gid, name="刷单返利群")
    note = await admin.request("set_announcement", group_id=gid, text="刷单返利 今晚八点")
    profile = await admin.request("set_profile", display_name="刷单返利王")
    assert name["held"] is note["held"] is profile["held"] is True
    await owner.request("update_group", group_id=gid, name="tea break")
    assert (await owner.next_event("held_text_settled", timeout=2)) == {
        "ev": "held_text_settled", "held_id": name["held_id"], "kind": "group_name", "outcome": "superseded",
        "group_id": gid}
    await owner.request("update_group", group_id=gid, name="tea room")  # what it showed when B was held
    # the owner's new announcement closes the admin's held one, and tells the admin (its author)
    await owner.request("set_announcement", group_id=gid, text="周五品茶")
    settled = await admin.next_event("held_text_settled", timeout=2)
    assert (settled["held_id"], settled["outcome"]) == (note["held_id"], "superseded")
    # a new display name held in its turn closes the older held one, and waits itself
    again = await admin.request("set_profile", display_name="刷单返利 达人")
    assert again["held"] is True
    settled = await admin.next_event("held_text_settled", timeout=2)
    assert (settled["held_id"], settled["outcome"]) == (profile["held_id"], "superseded")
    assert [h["held_id"] for h in await _held(admin)] == [again["held_id"]]
    assert [i["item_id"] for i in await _open_items(srv)] == [int(again["held_id"])]
    for item, text in ((name, "刷单返利群"), (note, "刷单返利 今晚八点"), (profile, "刷单返利王")):
        rc, _, err = await srv.admin("decide", item["held_id"], "--decision", "release", "--note", "late")
        assert rc != 0 and "superseded" in err, (text, err)
    info = await admin.request("group_info", group_id=gid)
    assert (info["name"], info["announcement"]) == ("tea room", "周五品茶")
    assert srv.db_rows("SELECT status, note FROM review_queue WHERE item_id = ?", int(name["held_id"])) == [
        ("withdrawn", "superseded")]
    # restating the name shown is no new change: a held name stays open
    held = await owner.request("update_group", group_id=gid, name="刷单返利 三群")
    await owner.request("update_group", group_id=gid, name="tea room", join_policy="approval")
    assert int(held["held_id"]) in [i["item_id"] for i in await _open_items(srv)]
    for c in (owner, admin):
        await c.close()
