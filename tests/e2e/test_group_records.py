"""A group's records show every platform measure on it, also those an operator names no group for:
the blacklisting of its owner (the group passed on or closed), a ``freeze-category`` of its category
and a ``remove-term`` that took its messages down. Each is recorded against each group it touched, so
the owner's ``group_log`` and ``export --group`` (``audit.jsonl``) carry it; what a group's managers
read names nothing but the operator's reason (never which other login of a person was blacklisted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.admin_helpers import admin_ok
from tests.e2e.harness import new_id_number, open_group

LEGAL_NAME = "张三"


@pytest.fixture
def srv(make_server, monkeypatch):
    """One verified ID number may back two user accounts (two logins of one person)."""
    monkeypatch.setenv("QUNGUAN_IDENTITY_MAX_ACCOUNTS_PER_ID", "2")
    return make_server()


async def log_of(client: Any, gid: str) -> list[dict[str, Any]]:
    return list((await client.request("group_log", group_id=gid))["entries"])


async def exported_audit(srv: Any, gid: str, out: Path) -> list[dict[str, Any]]:
    await admin_ok(srv, "export", "--group", gid, "--out", str(out))
    return [json.loads(line) for line in (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]


def detail(entry: dict[str, Any]) -> dict[str, Any]:
    d = entry["detail"]
    return dict(json.loads(d) if isinstance(d, str) else d)


async def test_a_blacklisted_owners_groups_record_their_handover_and_closing(srv, tmp_path):
    """The person's other login owns two groups: one passes to its admin, one (no admin) closes. Each
    group's record says so, with the operator's reason alone; the new owner reads it in ``group_log``."""
    number = new_id_number()
    bad = await srv.user()
    await bad.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    twin = await srv.user()  # the same verified person, another login
    await twin.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    heir, member = await srv.user(), await srv.user()
    passed = await open_group(twin)
    closed = await open_group(twin, name="no admins")
    for c in (heir, member):
        await c.request("join_group", group_id=passed)
    await member.request("join_group", group_id=closed)
    await twin.request("set_role", group_id=passed, user_id=heir.user_id, role="admin")

    out = await admin_ok(srv, "blacklist", bad.username, "--reason", "诈骗")
    assert f"group {passed} passed to {heir.username}" in out and f"group {closed} closed" in out

    [handed] = [e for e in await log_of(heir, passed) if e["action"] == "transfer_owner"]
    assert (handed["actor"], handed["target_user_id"]) == ("platform", heir.user_id)
    assert handed["detail"] == {"reason": "owner blacklisted: 诈骗"}
    shown = json.dumps(await log_of(heir, passed), ensure_ascii=False)
    for secret in (bad.username, bad.user_id, "verified identity", "same_person"):
        assert secret not in shown, secret

    [entry] = [e for e in await exported_audit(srv, passed, tmp_path / "passed") if e["action"] == "transfer_owner"]
    assert (entry["actor_type"], entry["group_id"], entry["target_id"], entry["reason"]) == (
        "operator", passed, heir.user_id, "owner blacklisted: 诈骗")
    assert detail(entry) == {"from_user_id": twin.user_id}

    [entry] = [e for e in await exported_audit(srv, closed, tmp_path / "closed") if e["action"] == "close_group"]
    [row] = [json.loads(x) for x in (await admin_ok(srv, "sanctions", "--group", closed)).splitlines()]
    assert (entry["group_id"], entry["reason"]) == (closed, "owner blacklisted: 诈骗")
    assert detail(entry) == {"owner_id": twin.user_id, "sanction_id": int(row["id"])}


async def test_a_category_freeze_and_remove_term_are_in_each_groups_records(srv, tmp_path):
    """``freeze-category`` suspends each group of the category with a sanction of its own: each group's
    log and export show its suspension (the category, the end, the sanction's id); ``remove-term``
    shows each group the messages it took from it, and a group it took nothing from nothing."""
    owner, member = await srv.user(), await srv.user()
    frozen = await open_group(owner, name="work room", category="work")
    other = await open_group(owner, name="tea room")
    for gid in (frozen, other):
        await member.request("join_group", group_id=gid)
    owner.drain_events()

    await admin_ok(srv, "freeze-category", "work", "--seconds", "600", "--reason", "突发事件")
    suspended = await owner.next_event("group_suspended", timeout=2.0)
    assert suspended["group_id"] == frozen
    [entry] = [e for e in await log_of(owner, frozen) if e["action"] == "suspend_group"]
    assert entry["actor"] == "platform"
    assert entry["detail"] == {"category": "work", "seconds": 600, "until": suspended["until"],
                               "sanction_id": suspended["sanction_id"], "reason": "突发事件"}
    assert not [e for e in await log_of(owner, other) if e["action"] == "suspend_group"]
    [entry] = [e for e in await exported_audit(srv, frozen, tmp_path / "frozen") if e["action"] == "suspend_group"]
    assert detail(entry)["category"] == "work" and str(detail(entry)["sanction_id"]) == suspended["sanction_id"]

    first = (await member.send(other, "听说明天停水了"))["seq"]
    await member.send(other, "普通消息")
    second = (await member.send(other, "明天 停水 是谣言吗"))["seq"]
    await admin_ok(srv, "remove-term", "明天停水", "--reason", "谣言")
    [entry] = [e for e in await log_of(owner, other) if e["action"] == "remove_term"]
    assert (entry["actor"], entry["detail"]) == ("platform", {"seqs": [first, second], "reason": "谣言"})
    assert not [e for e in await log_of(owner, frozen) if e["action"] == "remove_term"]
    [entry] = [e for e in await exported_audit(srv, other, tmp_path / "other") if e["action"] == "remove_term"]
    assert detail(entry) == {"term": "明天停水", "removed": 2, "seqs": [first, second]}


async def test_an_accounts_export_shows_the_freeze_and_the_blacklisting_that_closed_it(srv, tmp_path):
    """The same for public accounts: a ``freeze-category --accounts`` and the blacklisting of the
    account's person are each recorded against the account too (``export --account``)."""
    owner = await srv.user(verify_id=True)
    aid = (await owner.request("create_account", name="晨报", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    await admin_ok(srv, "freeze-category", "culture", "--accounts", "--seconds", "600", "--reason", "突发事件")
    await admin_ok(srv, "blacklist", owner.username, "--reason", "诈骗")
    await admin_ok(srv, "export", "--account", aid, "--out", str(tmp_path / "account"))
    entries = [json.loads(x) for x in (tmp_path / "account" / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = {r["kind"]: int(r["id"]) for r in (json.loads(x) for x in (
        await admin_ok(srv, "sanctions", "--account", aid)).splitlines())}
    [frozen] = [e for e in entries if e["action"] == "suspend_account"]
    assert (frozen["target_id"], frozen["reason"]) == (aid, "突发事件")
    assert detail(frozen)["category"] == "culture" and detail(frozen)["sanction_id"] == rows["suspend_account"]
    [closed] = [e for e in entries if e["action"] == "close_account"]
    assert (closed["target_id"], closed["reason"]) == (aid, "closed with its owner's blacklisting: 诈骗")
    assert detail(closed)["owner_id"] == owner.user_id and detail(closed)["sanction_id"] == rows["close_account"]


async def test_an_account_of_the_persons_other_login_records_its_own_owner_when_it_closes(srv, tmp_path):
    """A reviewer's case: the blacklisting of one login closes the accounts of the person's other
    logins too, and each one's ``close_account`` entry named the blacklisted login as its owner, not
    the login that owns it (a wrong fact in ``export --account``)."""
    number = new_id_number()
    bad = await srv.user()
    await bad.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    twin = await srv.user()
    await twin.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    aid = (await twin.request("create_account", name="晚报", category="culture", intro="简介",
                              subject_type="individual"))["account_id"]
    out = await admin_ok(srv, "blacklist", bad.username, "--reason", "诈骗")
    assert f"public account {aid} closed" in out, out
    await admin_ok(srv, "export", "--account", aid, "--out", str(tmp_path / "account"))
    entries = [json.loads(x) for x in (tmp_path / "account" / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    [closed] = [e for e in entries if e["action"] == "close_account"]
    assert detail(closed)["owner_id"] == twin.user_id


async def test_the_first_names_of_a_group_and_an_account_are_in_their_records(srv, tmp_path):
    """A red-team reviewer: a group's first name, and an account's first name and intro, were kept
    nowhere once changed (the row holds the current ones; only changes were recorded), so an export
    lacked what members and readers were first shown (G13). Their creation is recorded with them;
    group_log lists it for the managers."""
    owner = await srv.user(verify_id=True)
    gid = (await owner.request("create_group", name="原群名", category="friends", join_policy="open"))["group_id"]
    await owner.request("update_group", group_id=gid, name="新群名")
    entries = await exported_audit(srv, gid, tmp_path / "group")
    [created] = [e for e in entries if e["action"] == "create_group"]
    assert (created["actor_id"], detail(created)) == (
        owner.user_id, {"name": "原群名", "category": "friends", "join_policy": "open"})
    [logged] = [e for e in await log_of(owner, gid) if e["action"] == "create_group"]
    assert logged["detail"] == {"name": "原群名", "category": "friends", "join_policy": "open"}
    aid = (await owner.request("create_account", name="初名晨报", category="culture", intro="初简介",
                               subject_type="individual"))["account_id"]
    await owner.request("update_account", account_id=aid, name="晚报", intro="新简介")
    await admin_ok(srv, "export", "--account", aid, "--out", str(tmp_path / "account"))
    entries = [json.loads(x) for x in (tmp_path / "account" / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    [opened] = [e for e in entries if e["action"] == "create_account"]
    assert (opened["actor_id"], opened["target_id"], detail(opened)) == (
        owner.user_id, aid, {"name": "初名晨报", "intro": "初简介", "category": "culture"})


async def test_every_reaction_left_or_taken_back_is_kept_with_its_message(srv, tmp_path):
    """A red-team reviewer: a reaction is free text members see (``加V:qq12345``), and taking it back
    deleted its only trace, so neither export held it (G13). The log keeps every reaction left and
    taken back; a group's export gives each message its log, a user's export the reactions they left."""
    owner = await srv.user(verify_id=True)
    other = await srv.user()
    gid = await open_group(owner)
    await other.request("join_group", group_id=gid)
    seq = (await owner.send(gid, "大家好"))["seq"]
    for emoji, on in (("加V:qq12345", True), ("看我主页", True), ("加V:qq12345", False), ("👍", True)):
        await other.request("react", group_id=gid, seq=seq, emoji=emoji, on=on)
    await admin_ok(srv, "export", "--group", gid, "--out", str(tmp_path / "group"))
    lines = (tmp_path / "group" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    [message] = [json.loads(x) for x in lines]
    assert [(r["user_id"], r["emoji"], r["added"]) for r in message["reactions"]] == [
        (other.user_id, "加V:qq12345", True), (other.user_id, "看我主页", True), (other.user_id, "加V:qq12345", False),
        (other.user_id, "👍", True)]
    await admin_ok(srv, "export", "--user", other.username, "--out", str(tmp_path / "user"))
    mine = [json.loads(x) for x in (tmp_path / "user" / "reactions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["group_id"], r["seq"], r["emoji"], r["added"]) for r in mine] == [
        (gid, seq, "加V:qq12345", True), (gid, seq, "看我主页", True), (gid, seq, "加V:qq12345", False),
        (gid, seq, "👍", True)]
    # (what members see is unchanged: the reactions standing)
    [shown] = (await owner.request("history", group_id=gid))["messages"]
    assert shown["reactions"] == {"看我主页": 1, "👍": 1}
