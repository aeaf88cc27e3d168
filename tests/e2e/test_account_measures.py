"""The platform's measures on public accounts (P4, P7, P8, P10-P13) through `qunguan admin` and a real
server, both backends: each command's effect reaches clients within 2 s, each is recorded under the
operator's name with its reason, and each refusal is an exit 2 with one line."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time

import pytest

from governance.public_accounts import org_check_char
from governance.retention import DAY_MS
from server.operator.freeze_upkeep import CHECK_SECONDS
from tests.e2e.admin_helpers import admin_ok, admin_refused, notice
from tests.e2e.harness import new_id_number, open_group, restart
from tests.e2e.store_hold import (
    CountedServer,
    reads_held,
    until,
    until_write_waits,
    until_writes_queued,
    writes_held,
    writes_queued,
)

LEGAL_NAME = "张三"


@pytest.fixture
def srv(make_server, monkeypatch):
    """One verified ID number may back two user accounts (two logins of one person)."""
    monkeypatch.setenv("QUNGUAN_IDENTITY_MAX_ACCOUNTS_PER_ID", "2")
    return make_server()


def org_code(serial: int) -> str:
    first17 = f"91310115MA{serial:07d}"
    return first17 + org_check_char(first17)


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


async def new_account(owner, name, category="culture", **kw):
    args = {"name": name, "category": category, "intro": "简介", "subject_type": "individual", **kw}
    return (await owner.request("create_account", **args))["account_id"]


async def sanctions(srv, aid):
    return [json.loads(line) for line in (await admin_ok(srv, "sanctions", "--account", aid)).splitlines()]


async def listing(srv, *args):
    return [json.loads(line) for line in (await admin_ok(srv, "accounts", *args)).splitlines()]


def record(srv, action):
    return [(actor, target, reason, json.loads(detail)) for actor, target, reason, detail in srv.db_rows(
        "SELECT actor_id, target_id, reason, detail FROM audit WHERE action = ? ORDER BY id", action)]


async def test_warn_and_restrict_comments(srv):
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    editor = await srv.user(verify_id=True)  # an editor needs a verified identity (P6)
    aid = await new_account(owner, "茶馆日报")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    post_id = (await owner.request("publish", account_id=aid, title="开张", body="欢迎"))["post_id"]

    await admin_refused(srv, "warn-account", aid)  # --reason is required
    assert "unknown account 123456789" in await admin_refused(srv, "warn-account", "123456789", "--reason", "x")
    await admin_ok(srv, "warn-account", aid, "--reason", "标题党，请整改")
    ev = await notice(owner, "account_warning")
    assert ev["account_id"] == aid and ev["text"] == "标题党，请整改" and ev["by"] == "operator" and ev["sanction_id"]
    assert "deadline" not in ev
    assert (await notice(editor, "account_warning"))["sanction_id"] == ev["sanction_id"]  # editors are told too
    await admin_ok(srv, "warn-account", aid, "--reason", "限期整改", "--deadline", "2030-01-15")
    dated = await notice(owner, "account_warning")
    assert dated["deadline"] > time.time() * 1000 and dated["sanction_id"] != ev["sanction_id"]
    warning, _dated = await sanctions(srv, aid)
    assert (warning["kind"], warning["target_type"], warning["status"], warning["id"]) == (
        "warning", "account", "in_force", ev["sanction_id"])

    first = await reader.call("comment", post_id=post_id, text="first")
    assert code(first) == "ok"
    hidden = {"post_id": post_id, "comment_id": first["comment_id"]}
    await owner.request("moderate_comment", **hidden, action="hide")
    await admin_ok(srv, "restrict-account", aid, "--comments", "off", "--reason", "评论区管理不力")
    ev = await notice(owner, "account_restricted")
    assert ev["account_id"] == aid
    assert (await reader.request("account_info", account_id=aid))["status"] == "restricted"
    assert code(await reader.call("comment", post_id=post_id, text="second")) == "forbidden"
    await admin_refused(srv, "restrict-account", aid, "--comments", "off", "--reason", "again")
    # nor are comments let on by its managers meanwhile: a hidden one is approved only afterwards
    assert code(await owner.call("moderate_comment", **hidden, action="approve")) == "forbidden"
    # a restricted account still publishes; the reply says, as the status does, that no comments
    # can be made for now
    during = await owner.request("publish", account_id=aid, title="第二篇", body="正文")
    assert during["comments"] == "closed"
    # and so do the post list and the post itself, for every post of the account
    listed = (await reader.request("posts", account_id=aid))["posts"]
    assert [p["comments"] for p in listed] == ["closed", "closed"]
    assert (await reader.request("read_post", post_id=post_id))["comments"] == "closed"

    await admin_ok(srv, "restrict-account", aid, "--comments", "on", "--reason", "已整改")
    assert (await notice(owner, "account_unrestricted"))["account_id"] == aid
    assert (await reader.request("account_info", account_id=aid))["status"] == "active"
    assert code(await reader.call("comment", post_id=post_id, text="third")) == "ok"
    assert code(await owner.call("moderate_comment", **hidden, action="approve")) == "ok"
    # the post published meanwhile takes comments now: it kept the mode asked for (open)
    assert code(await reader.call("comment", post_id=during["post_id"], text="fourth")) == "ok"
    listed = (await reader.request("posts", account_id=aid))["posts"]
    assert [p["comments"] for p in listed] == ["open", "open"]
    restriction = [s for s in await sanctions(srv, aid) if s["kind"] == "restrict_comments"]
    assert [(s["status"], s["lift_reason"]) for s in restriction] == [("lifted", "已整改")]
    await admin_refused(srv, "restrict-account", aid, "--comments", "on", "--reason", "not restricted")
    assert [(a, t, r, d["comments"]) for a, t, r, d in record(srv, "restrict_account")] == [
        ("operator", aid, "评论区管理不力", "off"), ("operator", aid, "已整改", "on")]
    assert [(a, t, r) for a, t, r, _ in record(srv, "warn_account")] == [
        ("operator", aid, "标题党，请整改"), ("operator", aid, "限期整改")]


async def test_suspend_blocks_publishing_until_lifted(srv):
    owner = await srv.user(verify_id=True)
    aid = await new_account(owner, "晨报")
    await admin_refused(srv, "suspend-account", aid, "--seconds", "0", "--reason", "x")
    await admin_ok(srv, "suspend-account", aid, "--seconds", "3600", "--reason", "违规转载")
    ev = await notice(owner, "account_suspended")
    assert ev["account_id"] == aid and ev["deadline"] > 0
    assert ev["reason"] == "违规转载"  # the operator's reason alone, so a client never cuts it out of `text`
    shown = await owner.request("account_info", account_id=aid)
    assert shown["status"] == "suspended" and shown["suspended_until"] == ev["deadline"]  # [ext]: when it ends
    assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    # A suspension's refusal of a new name carries its end: a client tells it from a reserved name by that.
    renamed = await owner.call("update_account", account_id=aid, name="晨报二")
    assert code(renamed) == "forbidden" and renamed["until"] == ev["deadline"]
    [row] = await listing(srv)
    assert row["status"] == "suspended" and row["credit_score"] == 80  # 100 less the sanction penalty

    [susp] = [s for s in await sanctions(srv, aid) if s["kind"] == "suspend_account"]
    assert ev["sanction_id"] == str(susp["id"])  # [ext]: what the owner's appeal takes, told with the measure
    await admin_ok(srv, "lift", susp["id"], "--reason", "申诉成立")
    assert (await notice(owner, "sanction_lifted"))["account_id"] == aid
    shown = await owner.request("account_info", account_id=aid)
    assert shown["status"] == "active" and "suspended_until" not in shown
    assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "ok"
    too_long = await owner.call("publish", account_id=aid, title="标" * 129, body="b")
    assert code(too_long) == "too_large" and (too_long["field"], too_long["max_chars"]) == ("title", 128)
    [row] = await listing(srv)
    assert row["credit_score"] == 80  # a plain lift keeps the points taken


async def test_lift_restore_credit_gives_an_account_its_points_back(srv):
    """A suspension found to be wrong: ``lift --restore-credit`` gives back the points it took."""
    owner = await srv.user(verify_id=True)
    aid = await new_account(owner, "晨报")
    await admin_ok(srv, "suspend-account", aid, "--seconds", "3600", "--reason", "违规转载")
    await notice(owner, "account_suspended")
    [susp] = [s for s in await sanctions(srv, aid) if s["kind"] == "suspend_account"]
    assert susp["credit_taken"] == 20
    await admin_ok(srv, "lift", susp["id"], "--reason", "误判", "--restore-credit")
    assert (await notice(owner, "sanction_lifted"))["account_id"] == aid
    back = await notice(owner, "account_credit")
    assert back["account_id"] == aid and "now 100" in back["text"]
    assert (back["credit_score"], back["credit_level"], back["delta"], back["sanction_id"]) == (100, 3, 20,
                                                                                               str(susp["id"]))
    [row] = await listing(srv)
    assert row["status"] == "active" and row["credit_score"] == 100


async def test_closing_a_suspended_account_frees_no_slot_before_the_suspension_ends(srv):
    """P13 with the P7 cap: an owner at ``max_per_subject`` whose account the platform suspended could
    close it, which freed its slot, and open a fresh one with new credit at once, ending the
    suspension in effect. A closed account the platform still suspends counts toward the cap until
    the suspension ends (``create_cap_reached``); then the slot is free. Closing an account nobody
    suspended frees its slot at once, as before."""
    owner = await srv.user(verify_id=True)
    first = await new_account(owner, "早报")
    second = await new_account(owner, "午报")  # at the cap of 2
    out = await admin_ok(srv, "suspend-account", first, "--seconds", "2", "--reason", "违规转载")
    until_ms = int(re.search(r" until [^;]*\((\d+)\)", out).group(1))  # (the time, then its ms)
    await owner.request("close_account", account_id=first)
    refused = await owner.call("create_account", name="新早报", category="culture", intro="x",
                               subject_type="individual")
    assert code(refused) == "create_cap_reached" and "suspend" in refused["reason"], refused
    await asyncio.sleep(max(0.0, until_ms / 1000 - time.time()) + 0.1)  # the suspension ends by itself
    fresh = await new_account(owner, "新早报")
    await owner.request("close_account", account_id=second)  # never suspended: its slot is free at once
    assert fresh and await new_account(owner, "晚报")


async def test_an_account_closed_during_its_categorys_freeze_frees_its_place_at_once(srv):
    """P7 with P5's freeze: ``freeze-category --accounts`` suspends every account of the category as a
    measure on none of them (no credit taken, not carried into a new account: its category opens none
    until the freeze ends). An owner at ``max_per_subject`` who closed their frozen account still could
    not open one in another category until the freeze ended: the closed account held the place as if
    the platform had suspended it for its own conduct. It frees its place at once now; one the platform
    also suspended for itself holds the place until that suspension ends (here, is lifted)."""
    owner = await srv.user(verify_id=True)
    frozen = await new_account(owner, "文化早报")  # culture
    await new_account(owner, "科技午报", category="technology")  # at the cap of 2
    await admin_ok(srv, "freeze-category", "culture", "--accounts", "--seconds", "3600", "--reason", "突发事件")
    assert (await notice(owner, "account_suspended"))["account_id"] == frozen
    await owner.request("close_account", account_id=frozen)
    # (the freeze still stands: its category opens nothing, another category opens in the freed place)
    refused = await owner.call("create_account", name="文化晚报", category="culture", intro="x",
                               subject_type="individual")
    assert code(refused) == "forbidden", refused
    third = await new_account(owner, "生活晚报", category="lifestyle")
    assert third

    # suspended for itself as well as frozen: the place stays held while its own suspension stands
    await owner.request("close_account", account_id=third)
    fourth = await new_account(owner, "商业周报", category="business")
    await admin_ok(srv, "freeze-category", "business", "--accounts", "--seconds", "3600", "--reason", "突发事件")
    await admin_ok(srv, "suspend-account", fourth, "--seconds", "600", "--reason", "违规转载")
    await owner.request("close_account", account_id=fourth)
    refused = await owner.call("create_account", name="教育周报", category="education", intro="x",
                               subject_type="individual")
    assert code(refused) == "create_cap_reached" and "suspend" in refused["reason"], refused
    [own] = [s for s in await sanctions(srv, fourth) if s["reason"] == "违规转载"]
    await admin_ok(srv, "lift", str(own["id"]), "--reason", "申诉成立")  # (the freeze's still stands)
    assert await new_account(owner, "教育周报", category="education")


async def test_closing_an_account_and_opening_another_sheds_neither_credit_nor_restriction(srv):
    """P6, P12: an owner whose account the platform marked down (credit) and whose comments it
    restricted closed it and opened another, which started at the initial credit, comments open.
    The new account starts at the subject's lowest score, restricted while one of theirs is. What it
    carries is its own from then on: lifted on it, and on the closed one for accounts opened later."""
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    opened = await owner.request("create_account", name="初版", category="culture", intro="", subject_type="individual")
    first = opened["account_id"]
    assert (opened["credit_level"], opened["status"], "carried" in opened) == (3, "active", False), opened
    await admin_ok(srv, "account-credit", first, "--delta", "-70", "--reason", "多次违规")
    await admin_ok(srv, "restrict-account", first, "--comments", "off", "--reason", "评论区管理不力")
    await owner.request("close_account", account_id=first)
    opened = await owner.request("create_account", name="再版", category="culture", intro="", subject_type="individual")
    second = opened["account_id"]  # the reply tells the owner what it starts with, and why
    assert (opened["credit_level"], opened["status"], opened["carried"]) == \
        (1, "restricted", ["credit", "comments_restricted"]), opened
    info = await reader.request("account_info", account_id=second)
    assert (info["credit_level"], info["status"]) == (1, "restricted"), info
    post = await owner.request("publish", account_id=second, title="一", body="b", comments="open")
    assert post["comments"] == "closed"
    assert code(await reader.call("comment", post_id=post["post_id"], text="评论")) == "forbidden"
    [row] = [r for r in await listing(srv) if r["account_id"] == second]
    assert (row["credit_score"], row["comments_restricted"]) == (30, True)
    other = await srv.user(verify_id=True)  # another person's account starts afresh
    theirs = await new_account(other, "别家")
    assert (await reader.request("account_info", account_id=theirs))["credit_level"] == 3
    await admin_ok(srv, "restrict-account", second, "--comments", "on", "--reason", "已整改")
    assert (await reader.request("account_info", account_id=second))["status"] == "active"
    [restriction] = [x for x in await sanctions(srv, first) if x["kind"] == "restrict_comments"]
    await admin_ok(srv, "lift", str(restriction["id"]), "--reason", "已整改")  # (on the closed one)
    await owner.request("close_account", account_id=second)
    opened = await owner.request("create_account", name="三版", category="culture", intro="", subject_type="individual")
    info = await reader.request("account_info", account_id=opened["account_id"])
    assert (info["credit_level"], info["status"]) == (1, "active"), info
    assert (opened["credit_level"], opened["status"], opened["carried"]) == (1, "active", ["credit"]), opened


async def test_a_suspended_subjects_new_account_is_suspended_with_it_until_that_suspension_is_lifted(srv):
    """P13: an owner whose account the platform suspended opened a second one under the cap and
    published on it at once. The new account carries the suspension of its subject's account (closed
    or not): refused publishing and edits, shown suspended, across a restart, and the operator's
    listing names where it comes from. It has no sanction of its own: lifting the first account's
    ends it on both."""
    owner, reader = await srv.user(verify_id=True), await srv.user()
    first = await new_account(owner, "早报")
    out = await admin_ok(srv, "suspend-account", first, "--seconds", "3600", "--reason", "违规转载")
    until_ms = int(re.search(r" until [^;]*\((\d+)\)", out).group(1))
    await owner.request("close_account", account_id=first)  # closing it sheds nothing
    opened = await owner.request("create_account", name="新早报", category="culture", intro="",
                                 subject_type="individual")
    second = opened["account_id"]
    assert (opened["status"], "suspended" in opened["carried"]) == ("suspended", True), opened
    refused = await owner.call("publish", account_id=second, title="t", body="b")
    assert code(refused) == "forbidden" and "suspended" in refused["reason"], refused
    edit = await owner.call("update_account", account_id=second, intro="新简介")
    assert (code(edit), edit.get("until")) == ("forbidden", until_ms), edit
    assert (await reader.request("account_info", account_id=second))["status"] == "suspended"
    [susp] = [x for x in await sanctions(srv, first) if x["kind"] == "suspend_account"]
    [row] = [r for r in await listing(srv) if r["account_id"] == second]
    assert (row["status"], row["suspended_until"], row["suspension_carried_from"]) == (
        "suspended", until_ms, [{"sanction_id": susp["id"], "account_id": first}]), row
    assert [x for x in await sanctions(srv, second) if x["kind"] == "suspend_account"] == []  # none of its own

    owner, reader = await restart(srv, owner, reader)
    assert code(await owner.call("publish", account_id=second, title="t", body="b")) == "forbidden"
    await admin_ok(srv, "lift", str(susp["id"]), "--reason", "已核实")
    told = await notice(owner, "sanction_lifted")  # (the first account's, then the one carrying it)
    told = told if told["account_id"] == second else await notice(owner, "sanction_lifted")
    assert (told["account_id"], told["sanction_id"]) == (second, susp["id"]), told
    assert code(await owner.call("publish", account_id=second, title="t", body="b")) == "ok"
    assert (await reader.request("account_info", account_id=second))["status"] == "active"
    [row] = [r for r in await listing(srv) if r["account_id"] == second]
    assert (row["suspended_until"], "suspension_carried_from" in row) == (None, False), row


async def test_a_carried_suspension_ends_with_the_sanction_it_carries_and_nothing_later_is_carried(srv, tmp_path):
    """A reviewer's cases: the new account followed its source account's current end, so a later
    suspension there suspended it again, and lifting the sanction it carried left it suspended until
    that sanction's end while a later one stood. It carries the sanctions that stood when it opened,
    each until lifted or ended: a later one is not carried. A suspension of its own, and the lift of
    it, say the end in effect, the carried one included. A freeze's sanction is not carried, but a
    sanction of the account's own is, also after that freeze's sanction was lifted there. The
    account's export names what it carried."""
    owner = await srv.user(verify_id=True)
    first = await new_account(owner, "源号")
    await admin_ok(srv, "suspend-account", first, "--seconds", "600", "--reason", "一")
    [s1] = [x for x in await sanctions(srv, first) if x["kind"] == "suspend_account"]
    second = await new_account(owner, "新号", category="education")
    # its own, shorter: the end in effect is still the carried one's, as the command and notice say
    out = await admin_ok(srv, "suspend-account", second, "--seconds", "60", "--reason", "二")
    told = await notice(owner, "account_suspended")
    told = told if told["account_id"] == second else await notice(owner, "account_suspended")
    assert str(s1["expires_at"]) in out and told["deadline"] == s1["expires_at"], (out, told)
    [own] = [x for x in await sanctions(srv, second) if x["kind"] == "suspend_account"]
    out = await admin_ok(srv, "lift", own["id"], "--reason", "撤销")
    assert "still suspended" in out and "carried" in out, out
    await admin_ok(srv, "suspend-account", first, "--seconds", "86400", "--reason", "三")  # later: not carried
    await admin_ok(srv, "lift", s1["id"], "--reason", "已核实")
    assert (await owner.request("account_info", account_id=second))["status"] == "active"
    assert (await owner.request("account_info", account_id=first))["status"] == "suspended"  # the later one
    assert code(await owner.call("publish", account_id=second, title="t", body="b")) == "ok"
    out = tmp_path / "export"
    await admin_ok(srv, "export", "--account", second, "--out", str(out))
    row = json.loads((out / "account.json").read_text(encoding="utf-8"))
    assert row["carried"] == [{"sanction_id": s1["id"], "account_id": first, "until": s1["expires_at"]}], row

    other = await srv.user(verify_id=True)
    third = await new_account(other, "生活号", category="lifestyle")
    await admin_ok(srv, "suspend-account", third, "--seconds", "1800", "--reason", "本身违规")
    await admin_ok(srv, "freeze-category", "lifestyle", "--accounts", "--seconds", "3600", "--reason", "突发")
    [freeze] = [x for x in await sanctions(srv, third) if x["kind"] == "suspend_account" and x["reason"] == "突发"]
    await admin_ok(srv, "lift", freeze["id"], "--reason", "解冻此号")
    opened = await other.request("create_account", name="科技号", category="technology", intro="",
                                 subject_type="individual")
    assert (opened["status"], "suspended" in opened.get("carried", [])) == ("suspended", True), opened
    [row] = [r for r in await listing(srv) if r["account_id"] == opened["account_id"]]
    assert [c["account_id"] for c in row["suspension_carried_from"]] == [third], row  # its own, not the freeze's


async def test_a_shorter_suspension_never_cuts_a_longer_one_short(srv):
    """suspend-account keeps the later end: both suspensions stand in `sanctions`, and lifting one
    leaves the account suspended until the other ends, as `lift` says."""
    owner = await srv.user(verify_id=True)
    aid = await new_account(owner, "周报")
    await admin_ok(srv, "suspend-account", aid, "--seconds", "3600", "--reason", "长")
    out = await admin_ok(srv, "suspend-account", aid, "--seconds", "60", "--reason", "短")
    longer, shorter = [s for s in await sanctions(srv, aid) if s["kind"] == "suspend_account"]
    assert (longer["status"], shorter["status"]) == ("in_force", "in_force")
    assert f"({longer['expires_at']})" in out  # the later end is the account's
    out = await admin_ok(srv, "lift", longer["id"], "--reason", "部分撤销")
    assert "still suspended until" in out and f"({shorter['expires_at']})" in out
    assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    out = await admin_ok(srv, "lift", shorter["id"], "--reason", "撤销")
    assert "publishing works again" in out
    assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "ok"


async def test_a_short_suspension_ends_by_itself(srv):
    owner = await srv.user(verify_id=True)
    aid = await new_account(owner, "午报")
    assert code(await owner.call("publish", account_id=aid, title="before", body="b")) == "ok"
    await admin_ok(srv, "suspend-account", aid, "--seconds", "1", "--reason", "短暂暂停")
    assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    ends = (await notice(owner, "account_suspended"))["deadline"]
    await asyncio.sleep(max(0.0, ends / 1000 - time.time()) + 0.1)  # it ends by itself
    # Once it ends, the account publishes as before: the measure's credit penalty (100 -> 80)
    # leaves it at the level without a publishing interval.
    assert (await owner.request("account_info", account_id=aid))["credit_level"] == 3
    assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "ok"


async def test_close_account_tells_subscribers_and_is_final(srv):
    owner = await srv.user(verify_id=True)
    fan = await srv.user()
    aid = await new_account(owner, "夜报")
    await fan.request("subscribe", account_id=aid)
    await admin_ok(srv, "close-account", aid, "--reason", "传播谣言")
    for c in (owner, fan):
        ev = await notice(c, "account_closed")
        assert ev["account_id"] == aid and "传播谣言" in ev["text"] and ev["by"] == "operator"
    assert (await fan.request("account_info", account_id=aid))["status"] == "closed"
    assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    assert "already closed" in await admin_refused(srv, "close-account", aid, "--reason", "again")
    [closing] = [s for s in await sanctions(srv, aid) if s["kind"] == "close_account"]
    assert "cannot be lifted" in await admin_refused(srv, "lift", closing["id"], "--reason", "x")
    assert [(a, t, r) for a, t, r, _ in record(srv, "close_account")] == [("operator", aid, "传播谣言")]


async def test_licences_let_news_and_government_accounts_publish(srv):
    owner = await srv.user(verify_id=True)
    news = await new_account(owner, "新闻眼", category="news")
    gov = await new_account(owner, "某区政务", category="government", subject_type="organization",
                            org_name="某区人民政府办公室", org_code=org_code(7))
    for aid in (news, gov):
        assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    await admin_refused(srv, "license-account", news, "--reason", "which one?")
    await admin_refused(srv, "license-account", news, "--news", "--government", "--reason", "both")
    await admin_ok(srv, "license-account", news, "--news", "--reason", "持有新闻信息服务许可证")
    assert (await notice(owner, "account_licensed"))["account_id"] == news
    await admin_ok(srv, "license-account", gov, "--government", "--reason", "核验机构代码")
    assert (await owner.request("account_info", account_id=news))["labels"] == ["verified", "news"]
    assert (await owner.request("account_info", account_id=gov))["labels"] == ["organization", "government"]
    for aid in (news, gov):
        assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "ok"
    await admin_refused(srv, "license-account", news, "--news", "--reason", "twice")
    await admin_ok(srv, "license-account", news, "--news", "--revoke", "--reason", "许可证过期")
    assert (await owner.request("account_info", account_id=news))["labels"] == ["verified"]
    assert code(await owner.call("publish", account_id=news, title="t2", body="b")) == "forbidden"


async def test_a_licence_waits_for_another_on_the_account_and_builds_on_what_was_stored(srv):
    """Two licence commands on one account at once: the second waits for the first one's write and
    builds on what was stored. Here the database refuses the first (any list with ``news``): the
    second, built on the first one's claim, would have written ``news`` too and failed with it."""
    owner = await srv.user(verify_id=True)
    gov = await new_account(owner, "某区政务", category="government", subject_type="organization",
                            org_name="某区人民政府办公室", org_code=org_code(8))
    if srv.backend == "postgresql":
        srv.db_rows("ALTER TABLE accounts ADD CONSTRAINT no_news CHECK (labels NOT LIKE '%news%') NOT VALID")
    else:
        srv.db_rows("CREATE TRIGGER no_news BEFORE UPDATE OF labels ON accounts WHEN NEW.labels LIKE '%news%'"
                    " BEGIN SELECT RAISE(ABORT, 'no news'); END")

    async def labels() -> list[str]:
        return (await owner.request("account_info", account_id=gov))["labels"]

    async with writes_held(srv, "accounts"):
        first = asyncio.ensure_future(srv.admin("license-account", gov, "--news", "--reason", "许可证"))
        await until_write_waits(srv, "accounts")  # (a grant shows once stored: its write waits)
        assert "news" not in await labels()
        second = asyncio.ensure_future(srv.admin("license-account", gov, "--government", "--reason", "核验"))
        await asyncio.sleep(1.5)  # its command reaches the server meanwhile
    assert (await first)[0] != 0
    rc, _, err = await second
    assert rc == 0, err
    assert await labels() == ["organization", "government"]
    assert srv.db_rows("SELECT labels FROM accounts WHERE account_id = ?", gov) == [('["government"]',)]


async def test_account_credit_sets_the_level_and_what_it_allows(srv):
    owner = await srv.user(verify_id=True)
    aid = await new_account(owner, "周刊")
    assert (await owner.request("account_info", account_id=aid))["credit_level"] == 3
    await admin_refused(srv, "account-credit", aid, "--delta", "0", "--reason", "x")
    out = await admin_ok(srv, "account-credit", aid, "--delta", "-70", "--reason", "多次违规")
    assert "credit score 30, level 1" in out
    changed = await notice(owner, "account_credit")
    assert changed["account_id"] == aid
    assert (changed["credit_score"], changed["credit_level"], changed["delta"], changed["reason"]) == (30, 1, -70,
                                                                                                      "多次违规")
    assert (await owner.request("account_info", account_id=aid))["credit_level"] == 1
    first = await owner.request("publish", account_id=aid, title="一", body="b", comments="open")
    assert (first["comments"], first["comments_closed_by"]) == ("closed", "credit")  # level 1 carries none
    second = await owner.call("publish", account_id=aid, title="二", body="b")
    assert code(second) == "rate_limited" and second["retry_after_ms"] > 0  # one post a day at level 1
    # The post keeps the mode asked for: it opens once the level carries comments again.
    await admin_ok(srv, "account-credit", aid, "--delta", "70", "--reason", "已整改")
    reader = await srv.user()
    assert (await reader.request("read_post", post_id=first["post_id"]))["comments"] == "open"
    assert (await reader.call("comment", post_id=first["post_id"], text="终于能评论了"))["ok"]
    [(actor, target, reason, detail), _] = record(srv, "account_credit")
    assert (actor, target, reason, detail["delta"], detail["score"]) == ("operator", aid, "多次违规", -70, 30)


async def test_posts_stop_taking_comments_when_the_accounts_level_falls(srv):
    """P6: an account is served according to its credit level now. Posts it published while its
    level allowed comments do not keep taking them after the level falls to one that allows none
    (``forbidden``, and ``comments`` in force is ``closed``); once the level rises again they do."""
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    aid = await new_account(owner, "旬刊")
    post = (await owner.request("publish", account_id=aid, title="t", body="b", comments="open"))["post_id"]
    assert (await reader.request("comment", post_id=post, text="第一"))["held"] is False
    await admin_ok(srv, "account-credit", aid, "--delta", "-70", "--reason", "多次违规")
    refused = await reader.call("comment", post_id=post, text="第二")
    assert code(refused) == "forbidden" and "credit level" in refused["reason"], refused
    assert (await reader.request("read_post", post_id=post))["comments"] == "closed"
    [listed] = (await reader.request("posts", account_id=aid))["posts"]
    assert listed["comments"] == "closed"
    assert [c["text"] for c in (await reader.request("comments", post_id=post))["comments"]] == ["第一"]
    await admin_ok(srv, "account-credit", aid, "--delta", "70", "--reason", "已整改")
    assert (await reader.request("read_post", post_id=post))["comments"] == "open"
    assert (await reader.call("comment", post_id=post, text="第三"))["ok"]


async def test_remove_post(srv):
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    aid = await new_account(owner, "月刊")
    keep = (await owner.request("publish", account_id=aid, title="留下", body="b"))["post_id"]
    gone = (await owner.request("publish", account_id=aid, title="违规文章", body="b"))["post_id"]
    await admin_refused(srv, "remove-post", "999999", "--reason", "x")
    await admin_ok(srv, "remove-post", gone, "--reason", "含违法信息")
    ev = await notice(owner, "post_removed")
    assert (ev["account_id"], ev["post_id"]) == (aid, gone)
    assert [p["post_id"] for p in (await reader.request("posts", account_id=aid))["posts"]] == [keep]
    assert code(await reader.call("read_post", post_id=gone)) == "not_found"
    assert "removed already" in await admin_refused(srv, "remove-post", gone, "--reason", "again")
    assert srv.db_rows("SELECT removed_reason FROM posts WHERE post_id = ?", int(gone)) == [("含违法信息",)]
    [(actor, target, reason, detail)] = record(srv, "remove_post")
    assert (actor, target, reason, detail["post_id"]) == ("operator", aid, "含违法信息", int(gone))
    # (the record is kept for good: the post's words are not, the post itself until its period ends)
    assert "title" not in detail, detail
    [row] = [r for r in await listing(srv) if r["account_id"] == aid]
    assert row["credit_score"] == 80  # 100 less credit.penalty_sanction (P6, P11)


async def test_remove_comment_takes_one_shown_comment_down_for_everyone(srv):
    """P11, P12: the platform removes illegal content at once, a comment already shown too (not only
    whole posts): it disappears for every reader and for the account's managers, stays stored for
    the record, and its author is told and loses credit as for a comment rejected in review."""
    owner = await srv.user(verify_id=True)
    commenter, reader = await srv.user(), await srv.user()
    aid = await new_account(owner, "评论号")
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    keep = (await commenter.request("comment", post_id=post, text="好文"))["comment_id"]
    bad = (await commenter.request("comment", post_id=post, text="违法广告"))["comment_id"]
    before = (await commenter.request("me"))["credit_score"]
    await admin_refused(srv, "remove-comment", "999999", "--reason", "x")
    out = await admin_ok(srv, "remove-comment", bad, "--reason", "违法广告")
    assert f"removed comment {bad}" in out
    ev = await notice(commenter, "content_removed")
    assert (ev["account_id"], ev["post_id"], ev["comment_id"]) == (aid, post, bad) and "违法广告" in ev["text"]
    for who in (reader, owner, commenter):
        assert [c["comment_id"] for c in (await who.request("comments", post_id=post))["comments"]] == [keep]
    assert code(await owner.call("moderate_comment", post_id=post, comment_id=bad, action="approve")) == "not_found"
    assert code(await reader.call("comment", post_id=post, text="回复", reply_to=bad)) == "not_found"
    assert (await commenter.request("me"))["credit_score"] == before - 10  # credit.penalty_report_upheld
    assert "already" in await admin_refused(srv, "remove-comment", bad, "--reason", "again")
    assert srv.db_rows("SELECT text, status FROM comments WHERE comment_id = ?", int(bad)) == [("违法广告", "rejected")]
    [(actor, target, reason, detail)] = record(srv, "remove_comment")
    assert (actor, target, reason) == ("operator", aid, "违法广告")
    assert (detail["comment_id"], detail["author_id"]) == (int(bad), commenter.user_id)


async def test_accounts_listing_by_subject_never_shows_identity(srv):
    a1 = await srv.user(verify_id=False)
    number = new_id_number()
    await a1.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    a2 = await srv.user()  # the same person's second login
    await a2.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    other = await srv.user(verify_id=True)
    fan = await srv.user()
    mine1 = await new_account(a1, "甲号")
    org = await new_account(a2, "某公司号", subject_type="organization", org_name="上海某公司", org_code=org_code(9))
    theirs = await new_account(other, "丙号")
    colleague = await new_account(other, "某公司二号", subject_type="organization", org_name="上海某公司",
                                  org_code=org_code(9))
    await fan.request("subscribe", account_id=mine1)
    post_id = (await a1.request("publish", account_id=mine1, title="t", body="b"))["post_id"]
    await fan.request("read_post", post_id=post_id)

    every = {r["account_id"]: r for r in await listing(srv)}
    assert set(every) == {mine1, org, theirs, colleague}
    row = every[mine1]
    assert (row["subscribers"], row["posts"], row["reads"], row["recent_reads"]) == (1, 1, 1, 1)
    assert (row["subscriber_class"], row["read_class"], row["status"], row["credit_level"]) == (
        "small", "dormant", "active", 3)
    assert row["owner"] == a1.username and row["subject_type"] == "individual" and row["org_code"] is None
    assert (every[org]["org_name"], every[org]["org_code"]) == ("上海某公司", org_code(9))
    assert (row["labels"], every[org]["labels"]) == (["verified"], ["organization"])
    # the person's accounts from either login: their own, the organisation's they opened, and
    # the other accounts of that organisation
    for login in (a1, a2):
        by_subject = {r["account_id"] for r in await listing(srv, "--subject", login.username)}
        assert by_subject == {mine1, org, colleague}
    assert {r["account_id"] for r in await listing(srv, "--subject", other.username)} == {theirs, colleague, org}
    text = await admin_ok(srv, "accounts")
    assert LEGAL_NAME not in text and number not in text and a1.phone not in text
    await admin_refused(srv, "accounts", "--subject", "nobody")


async def test_a_login_verified_while_the_person_is_blacklisted_is_blacklisted_too(srv):
    """Another login verifies the person's number after the blacklist listed the person's logins
    and before the blacklisting was stored: the store let it pass (no barred holder yet). The
    blacklist lists the logins again once its first write is stored, and closes that one too."""
    if srv.backend != "postgresql":
        pytest.skip("SQLite's held reads hold the verification's write too: no window to open")
    number = new_id_number()
    bad = await srv.user()
    await bad.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    await open_group(bad)  # (its blacklisting reads the group's members first: the window held here)
    late = await srv.user()
    async with reads_held(srv, "members"):
        barring = asyncio.ensure_future(srv.admin("blacklist", bad.username, "--reason", "诈骗"))
        await asyncio.sleep(1.0)  # the command listed the logins and waits for the members' read
        assert (await late.request("verify_identity", legal_name=LEGAL_NAME, id_number=number))["id_verified"]
    rc, out, err = await barring
    assert rc == 0, err
    rows = srv.db_rows("SELECT username, blacklisted_at IS NOT NULL FROM users WHERE username IN (?, ?)",
                       bad.username, late.username)
    assert sorted(rows) == sorted([(bad.username, True), (late.username, True)]), (rows, out)


async def test_blacklist_closes_accounts_and_bars_the_person_and_organisation(srv):
    number = new_id_number()
    bad = await srv.user()
    await bad.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    twin = await srv.user()  # the same verified person, another login
    await twin.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    stranger = await srv.user(verify_id=True)
    fan = await srv.user()
    personal = await new_account(bad, "个人号")
    company = await new_account(bad, "公司号", subject_type="organization", org_name="某贸易公司",
                                org_code=org_code(11))
    await fan.request("subscribe", account_id=personal)

    twin_group = await open_group(twin)  # the twin's own group passes on or closes with it
    await fan.request("join_group", group_id=twin_group)
    out = await admin_ok(srv, "blacklist", bad.username, "--reason", "诈骗")
    assert f"public account {personal} closed" in out and f"public account {company} closed" in out
    ev = await notice(fan, "account_closed")
    assert ev["account_id"] == personal
    for aid in (personal, company):
        assert (await fan.request("account_info", account_id=aid))["status"] == "closed"
    # The person is blacklisted, not one login: the other account verified with the same ID number
    # is closed too, its connection dropped, its group closed (it had no admin).
    assert f"blacklisted {twin.username} (the same verified identity)" in out
    assert f"group {twin_group} closed" in out
    # Its members are told why the group closed, in the operator's words alone: that two logins are
    # one verified person is for the record and the person, never for other users.
    before_closed = []
    while (closed := await fan.next_event(timeout=10))["ev"] != "group_closed":
        before_closed.append(closed)
    assert closed["group_id"] == twin_group and "诈骗" in closed["reason"]
    # The twin's `blacklisted` notice (with `same_person_as`) went to the twin's own connections
    # alone, right before this: none of it reached the member.
    assert not [e for e in before_closed if e.get("kind") == "blacklisted" or "same_person_as" in e], before_closed
    assert bad.username not in closed["reason"] and "verified identity" not in closed["reason"]
    told = await notice(twin, "blacklisted")
    # Whose blacklisting closed it is a field of its own, so no client reads it out of the text;
    # the text is the operator's reason, and the record keeps the reason with the login named.
    assert (told["text"], told["same_person_as"]) == ("诈骗", bad.username)
    assert "same_person_as" not in await notice(bad, "blacklisted")
    c = await srv.client()
    assert code(await c.call("login", username=twin.username, password="password123")) == "blacklisted"
    # the same organisation from anyone: barred
    org_args = {"name": "新公司号", "category": "business", "intro": "", "subject_type": "organization",
                "org_name": "某贸易公司", "org_code": org_code(11)}
    assert code(await stranger.call("create_account", **org_args)) == "blacklisted"
    [(_, _, _, detail), (_, twin_target, _, twin_detail)] = record(srv, "blacklist")
    assert sorted(detail["accounts_closed"]) == sorted([personal, company])
    assert detail["subjects_barred"] == 2  # the person and the organisation
    assert (twin_target, twin_detail["same_person_as"]) == (twin.user_id, bad.user_id)
    [(_, twin_reason)] = srv.db_rows("SELECT target_id, reason FROM sanctions WHERE kind = 'blacklist'"
                                     " AND target_id = ?", twin.user_id)
    assert twin_reason == f"诈骗 (the same verified identity as {bad.username})"

    # Lifting the blacklist lifts the bars and reopens the person's every login; closed accounts
    # stay closed.
    [row] = [s for s in json.loads("[" + ",".join((await admin_ok(srv, "sanctions", "--user", bad.username))
                                                 .splitlines()) + "]") if s["kind"] == "blacklist"]
    out = await admin_ok(srv, "lift", row["id"], "--reason", "误判")
    assert f"other accounts are open again too: {twin.username}" in out
    assert code(await stranger.call("create_account", **org_args)) == "ok"
    assert code(await c.call("login", username=twin.username, password="password123")) == "ok"
    assert code(await c.call("create_account", name="新号", category="culture", intro="",
                             subject_type="individual")) == "ok"
    twin_rows = [json.loads(x) for x in (await admin_ok(srv, "sanctions", "--user", twin.username)).splitlines()]
    assert [(s["kind"], s["status"]) for s in twin_rows] == [("blacklist", "lifted")]
    assert (await fan.request("account_info", account_id=personal))["status"] == "closed"


async def test_export_an_account_with_its_measures(srv, tmp_path):
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    aid = await new_account(owner, "导出号")
    p1 = (await owner.request("publish", account_id=aid, title="一", body="正文一"))["post_id"]
    p2 = (await owner.request("publish", account_id=aid, title="二", body="正文二"))["post_id"]
    cid = (await reader.request("comment", post_id=p1, text="好文"))["comment_id"]
    await admin_ok(srv, "warn-account", aid, "--reason", "整改")
    await admin_ok(srv, "remove-post", p2, "--reason", "违规")
    out = tmp_path / "export"
    await admin_refused(srv, "export", "--account", aid, "--user", owner.username, "--out", str(out))
    text = await admin_ok(srv, "export", "--account", aid, "--out", str(out))
    assert f"exported account {aid}" in text
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["query"]["target"] == {"type": "account", "account_id": aid}
    for entry in manifest["files"]:
        assert hashlib.sha256((out / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]

    def lines(name):
        return [json.loads(x) for x in (out / name).read_text(encoding="utf-8").splitlines()]

    [account] = lines("account.json")
    assert (account["account_id"], account["name"], account["owner_username"]) == (aid, "导出号", owner.username)
    assert LEGAL_NAME not in (out / "account.json").read_text(encoding="utf-8")
    assert (account["suspended_until"], account["suspended_until_iso"]) == (None, None)  # never suspended
    posts = {p["post_id"]: p for p in lines("posts.jsonl")}
    assert set(posts) == {int(p1), int(p2)} and posts[int(p2)]["removed_reason"] == "违规"
    assert [(c["comment_id"], c["text"]) for c in lines("comments.jsonl")] == [(int(cid), "好文")]
    assert [m["kind"] for m in lines("measures.jsonl")] == ["warning", "remove_post"]
    assert {"warn_account", "remove_post"} <= {a["action"] for a in lines("audit.jsonl")}
    [(_, target, _, _)] = record(srv, "export")
    assert target == aid


async def test_a_users_export_carries_their_posts_and_comments(srv, tmp_path):
    """G13/P11: the authorities ask for a person's records; what they wrote on public accounts is in
    ``export --user`` too, removed and hidden ones included, not only their group messages."""
    owner = await srv.user(verify_id=True)
    writer = await srv.user(verify_id=True)
    other = await srv.user()
    aid = await new_account(owner, "作者号")
    await owner.request("set_editor", account_id=aid, user_id=writer.user_id, on=True)
    kept = (await writer.request("publish", account_id=aid, title="编辑稿", body="编辑写的"))["post_id"]
    gone = (await writer.request("publish", account_id=aid, title="违规稿", body="违规内容"))["post_id"]
    await owner.request("publish", account_id=aid, title="号主稿", body="号主写的")
    mine = (await writer.request("comment", post_id=kept, text="自己评论"))["comment_id"]
    hidden = (await writer.request("comment", post_id=kept, text="被隐藏的评论"))["comment_id"]
    await other.request("comment", post_id=kept, text="别人的评论")
    await owner.request("moderate_comment", post_id=kept, comment_id=hidden, action="hide")
    await admin_ok(srv, "remove-post", gone, "--reason", "违规")
    out = tmp_path / "user-export"
    await admin_ok(srv, "export", "--user", writer.username, "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {"posts.jsonl", "comments.jsonl"} <= {e["name"] for e in manifest["files"]}
    for entry in manifest["files"]:
        assert hashlib.sha256((out / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]

    def lines(name):
        return [json.loads(x) for x in (out / name).read_text(encoding="utf-8").splitlines()]

    posts = {p["post_id"]: p for p in lines("posts.jsonl")}
    assert set(posts) == {int(kept), int(gone)}  # theirs only, the removed one included
    assert posts[int(gone)]["removed_reason"] == "违规" and posts[int(kept)]["account_id"] == aid
    assert {p["author_username"] for p in posts.values()} == {writer.username}
    comments = {c["comment_id"]: c for c in lines("comments.jsonl")}
    assert set(comments) == {int(mine), int(hidden)}
    assert comments[int(hidden)]["status"] == "hidden" and comments[int(mine)]["account_id"] == aid


async def test_exports_carry_complaint_handling_and_measures_on_what_a_user_wrote(srv, tmp_path):
    """G13: ``resolve`` recorded only the reported user as target, so the handling of a complaint about a
    group or an account was in neither ``export --group`` nor ``export --account``; and a comment or post
    taken down named its author only in ``detail.author_id``, so ``export --user`` of the author, who lost
    credit for it, missed the measure."""
    owner = await srv.user(verify_id=True)
    reporter, commenter = await srv.user(), await srv.user()
    gid = await open_group(owner)
    aid = await new_account(owner, "被投诉号")
    post = (await owner.request("publish", account_id=aid, title="文", body="b"))["post_id"]
    comment = (await commenter.request("comment", post_id=post, text="违法广告"))["comment_id"]
    on_group = (await reporter.request("report", target_type="group", group_id=gid, reason="赌博群"))["report_id"]
    on_account = (await reporter.request("report", target_type="account", account_id=aid,
                                         reason="虚假信息"))["report_id"]
    await admin_ok(srv, "resolve", on_group, "--outcome", "rejected", "--note", "未发现")
    await admin_ok(srv, "resolve", on_account, "--outcome", "upheld", "--note", "属实")
    await admin_ok(srv, "remove-comment", comment, "--reason", "违法广告")

    async def audit_of(*target: str) -> list[dict]:
        out = tmp_path / "-".join(target).strip("-")
        await admin_ok(srv, "export", *target, "--out", str(out))
        return [json.loads(x) for x in (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]

    def detail(e: dict) -> dict:  # (a JSON string in group and user exports, an object in account ones)
        return json.loads(e["detail"]) if isinstance(e["detail"], str) else e["detail"]

    def resolutions(entries: list[dict]) -> set[str]:
        return {str(detail(e)["report_id"]) for e in entries if e["action"] == "resolve_report"}

    assert resolutions(await audit_of("--group", gid)) == {on_group}
    assert resolutions(await audit_of("--account", aid)) == {on_account}
    removals = [e for e in await audit_of("--user", commenter.username) if e["action"] == "remove_comment"]
    assert [detail(e)["comment_id"] for e in removals] == [int(comment)]
    # The group's managers do not read the complaint's handling in group_log.
    log = (await owner.request("group_log", group_id=gid))["entries"]
    assert "resolve_report" not in {e["action"] for e in log}


async def test_exports_carry_the_complaints_themselves(srv, tmp_path):
    """G12, G13: an export held the resolution's record entry only (the outcome and the operator's
    note), never the complaint: who made it, the reason and detail, when, and nothing of one still
    open. Each export now has reports.jsonl: those in a group, those a user made or is answerable for,
    those about an account and what is on it; open ones too, and who resolved each."""
    owner = await srv.user(verify_id=True)
    reporter, writer = await srv.user(), await srv.user()
    gid = await open_group(owner)
    await writer.request("join_group", group_id=gid)
    await reporter.request("join_group", group_id=gid)
    seq = (await writer.request("send", group_id=gid, text="广告", client_msg_id="a1"))["seq"]
    aid = await new_account(owner, "被投诉号")
    post = (await owner.request("publish", account_id=aid, title="文", body="b"))["post_id"]
    comment = (await writer.request("comment", post_id=post, text="违法广告"))["comment_id"]

    async def report(**target: str) -> str:
        return str((await reporter.request("report", reason="违规", detail="截图已存", **target))["report_id"])

    on_message = await report(target_type="message", group_id=gid, seq=seq)
    on_writer_there = await report(target_type="user", user_id=writer.user_id, group_id=gid)
    on_group = await report(target_type="group", group_id=gid)
    on_comment = await report(target_type="comment", comment_id=comment)
    on_account = await report(target_type="account", account_id=aid)
    await admin_ok(srv, "resolve", on_message, "--outcome", "upheld", "--note", "属实")

    async def reports_of(*target: str) -> dict[str, dict]:
        out = tmp_path / "-".join(target).strip("-")
        await admin_ok(srv, "export", *target, "--out", str(out))
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert "reports.jsonl" in {f["name"] for f in manifest["files"]}  # (its digest is in the manifest)
        lines = (out / "reports.jsonl").read_text(encoding="utf-8").splitlines()
        return {r["report_id"]: r for r in map(json.loads, lines)}

    in_group = await reports_of("--group", gid)
    assert set(in_group) == {on_message, on_writer_there, on_group}
    handled = in_group[on_message]
    assert (handled["reporter_username"], handled["username"], handled["reason"], handled["detail"]) == (
        reporter.username, writer.username, "违规", "截图已存")
    assert (handled["status"], handled["outcome"], handled["note"], handled["seq"]) == (
        "resolved", "upheld", "属实", seq)
    assert handled["resolved_by"] and handled["resolved_at_iso"] and handled["created_at_iso"]
    assert in_group[on_group]["status"] == "open" and in_group[on_group]["outcome"] is None
    assert set(await reports_of("--account", aid)) == {on_comment, on_account}
    assert set(await reports_of("--user", writer.username)) == {on_message, on_writer_there, on_comment}
    assert set(await reports_of("--user", reporter.username)) == {on_message, on_writer_there, on_group, on_comment,
                                                                  on_account}
    # The range: none made or resolved before --until.
    assert await reports_of("--group", gid, "--until", "2001-01-01") == {}


async def test_retention_purges_old_posts_and_comments_but_not_held_ones(srv):
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    free = await new_account(owner, "普通号")
    held = await new_account(owner, "保全号")
    ids = {}
    for aid in (free, held):
        post_id = (await owner.request("publish", account_id=aid, title="旧文", body="b"))["post_id"]
        await reader.request("comment", post_id=post_id, text="旧评")
        await reader.request("read_post", post_id=post_id)
        ids[aid] = int(post_id)
    fresh = int((await owner.request("publish", account_id=free, title="新文", body="b"))["post_id"])
    await admin_ok(srv, "hold", "--account", held, "--reason", "案件调查")
    old = 200 * DAY_MS
    for table in ("posts", "comments", "post_reads"):
        srv.db_rows(f"UPDATE {table} SET ts = ts - ? WHERE post_id IN (?, ?)", old, ids[free], ids[held])
    for aid in (free, held):  # as if each post carried an upload
        srv.db_rows("INSERT INTO post_media (post_id, media_id) VALUES (?, ?)", ids[aid], f"m{aid}")
    out = await admin_ok(srv, "purge")
    assert "posts: 1" in out and "comments: 1" in out and "post_reads: 1" in out
    assert sorted(r[0] for r in srv.db_rows("SELECT post_id FROM posts")) == sorted([ids[held], fresh])
    assert [r[0] for r in srv.db_rows("SELECT post_id FROM comments")] == [ids[held]]
    assert [r[0] for r in srv.db_rows("SELECT post_id FROM post_reads")] == [ids[held]]
    assert [r[0] for r in srv.db_rows("SELECT post_id FROM post_media")] == [ids[held]]
    holds = [json.loads(x) for x in (await admin_ok(srv, "holds")).splitlines()]
    assert [(h["target_type"], h["target_id"]) for h in holds] == [("account", held)]


async def test_a_post_past_retention_goes_only_once_none_of_its_comments_is_left(srv):
    """P16: posts and comments are purged each by its own age, and a post never before its
    comments: an old post with a comment still within retention stays (and still reads), and goes
    in the purge that takes its last comment."""
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    aid = await new_account(owner, "老文号")
    post_id = (await owner.request("publish", account_id=aid, title="旧文", body="b"))["post_id"]
    comment_id = int((await reader.request("comment", post_id=post_id, text="新评"))["comment_id"])
    srv.db_rows("UPDATE posts SET ts = ts - ? WHERE post_id = ?", 200 * DAY_MS, int(post_id))
    out = await admin_ok(srv, "purge")
    assert "posts: 1" not in out and "comments: 1" not in out, out
    assert srv.db_rows("SELECT post_id FROM posts") == [(int(post_id),)]
    assert srv.db_rows("SELECT comment_id FROM comments") == [(comment_id,)]
    assert (await reader.request("read_post", post_id=post_id))["title"] == "旧文"
    srv.db_rows("UPDATE comments SET ts = ts - ? WHERE comment_id = ?", 200 * DAY_MS, comment_id)
    out = await admin_ok(srv, "purge")
    assert "comments: 1" in out and "posts: 1" in out, out
    assert srv.db_rows("SELECT post_id FROM posts") == [] and srv.db_rows("SELECT comment_id FROM comments") == []
    for c in (owner, reader):
        await c.close()


async def test_account_rows_are_never_purged(srv):
    """P16: retention takes an account's posts, comments and reads, never the account's own row,
    closed or not, however old: its id is never reused, and the listing still names it."""
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    closed = await new_account(owner, "已关闭号")
    dormant = await new_account(owner, "沉睡号")
    for aid in (closed, dormant):
        post_id = (await owner.request("publish", account_id=aid, title="旧文", body="b"))["post_id"]
        await reader.request("comment", post_id=post_id, text="旧评")
        await reader.request("read_post", post_id=post_id)
    await owner.request("close_account", account_id=closed)
    old = 400 * DAY_MS
    for table in ("posts", "comments", "post_reads"):
        srv.db_rows(f"UPDATE {table} SET ts = ts - ?", old)
    srv.db_rows("UPDATE accounts SET created_at = created_at - ?, closed_at = closed_at - ?", old, old)
    out = await admin_ok(srv, "purge")
    assert "posts: 2" in out and "comments: 2" in out and "post_reads: 2" in out, out
    assert srv.db_rows("SELECT post_id FROM posts") == []
    assert sorted(srv.db_rows("SELECT account_id, name FROM accounts")) == sorted(
        [(closed, "已关闭号"), (dormant, "沉睡号")])
    every = {r["account_id"]: r for r in await listing(srv)}
    assert (every[closed]["status"], every[dormant]["status"]) == ("closed", "active")
    for c in (owner, reader):
        await c.close()


async def test_open_reports_keep_an_account_a_post_or_a_comment_past_retention(srv):
    """P15 with P16: what an open report names is kept past retention until it is resolved."""
    reporter = await srv.user()
    owners = [await srv.user(verify_id=True) for _ in range(4)]
    readers = [await srv.user() for _ in range(5)]
    names = ("被举报号", "文章被举报", "评论被举报", "无人举报")
    aids = [await new_account(o, n) for o, n in zip(owners, names, strict=True)]
    posts, comments = [], []
    for i, (o, aid) in enumerate(zip(owners, aids, strict=True)):
        posts.append(int((await o.request("publish", account_id=aid, title="旧文", body="b"))["post_id"]))
        comments.append(int((await readers[i].request("comment", post_id=str(posts[i]), text="旧评"))["comment_id"]))
    other = int((await readers[4].request("comment", post_id=str(posts[2]), text="另一条"))["comment_id"])
    reports = [
        await reporter.request("report", target_type="account", account_id=aids[0], reason="违规"),
        await reporter.request("report", target_type="post", post_id=str(posts[1]), reason="违规"),
        await reporter.request("report", target_type="comment", comment_id=str(comments[2]), reason="违规"),
    ]
    for table in ("posts", "comments"):
        srv.db_rows(f"UPDATE {table} SET ts = ts - ?", 200 * DAY_MS)
    await admin_ok(srv, "purge")
    kept_posts = {r[0] for r in srv.db_rows("SELECT post_id FROM posts")}
    kept_comments = {r[0] for r in srv.db_rows("SELECT comment_id FROM comments")}
    # everything of the three accounts named by a report (the report on a post or a comment
    # names its account too); nothing of the fourth
    assert kept_posts == {posts[0], posts[1], posts[2]}
    assert kept_comments == {comments[0], comments[1], comments[2], other}
    for r in reports:
        await admin_ok(srv, "resolve", str(r["report_id"]), "--outcome", "rejected", "--note", "不成立")
    await admin_ok(srv, "purge")
    assert srv.db_rows("SELECT post_id FROM posts") == [] and srv.db_rows("SELECT comment_id FROM comments") == []
    for c in (reporter, *owners, *readers):
        await c.close()


async def test_a_held_account_keeps_the_complaints_about_it_once_resolved(srv):
    """Complaint handling is part of what a hold keeps: a resolved report on an account (or on a
    post or comment of it) stays past retention while the account is held, as for a held group."""
    reporter = await srv.user()
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    aid = await new_account(owner, "被保全号")
    post = (await owner.request("publish", account_id=aid, title="文", body="b"))["post_id"]
    comment = (await reader.request("comment", post_id=str(post), text="评论"))["comment_id"]
    reports = [await reporter.request("report", target_type="account", account_id=aid, reason="违规"),
               await reporter.request("report", target_type="post", post_id=str(post), reason="违规"),
               await reporter.request("report", target_type="comment", comment_id=str(comment), reason="违规")]
    assert len({r["report_id"] for r in reports}) == 3
    for r in reports:
        await admin_ok(srv, "resolve", str(r["report_id"]), "--outcome", "upheld", "--note", "成立")
    hold = (await admin_ok(srv, "hold", "--account", aid, "--reason", "案件 12")).split()[1]
    srv.db_rows("UPDATE reports SET created_at = created_at - ?, resolved_at = resolved_at - ?",
                200 * DAY_MS, 200 * DAY_MS)
    await admin_ok(srv, "purge")
    kept = sorted(r[0] for r in srv.db_rows("SELECT report_id FROM reports"))
    assert kept == sorted(int(r["report_id"]) for r in reports)
    await admin_ok(srv, "release-hold", hold, "--reason", "结案")
    await admin_ok(srv, "purge")
    assert srv.db_rows("SELECT report_id FROM reports") == []
    for c in (reporter, owner, reader):
        await c.close()


async def test_filing_report_counts_public_accounts(srv, tmp_path):
    owner = await srv.user(verify_id=True)
    fan = await srv.user()
    a1 = await new_account(owner, "报一", category="news")
    await new_account(owner, "报二", category="culture", subject_type="organization", org_name="某出版社",
                      org_code=org_code(21))
    await fan.request("subscribe", account_id=a1)
    await admin_ok(srv, "license-account", a1, "--news", "--reason", "许可证")
    out = tmp_path / "filing"
    await admin_ok(srv, "filing-report", "--out", str(out))
    pa = json.loads((out / "filing-report.json").read_text(encoding="utf-8"))["public_accounts"]
    assert (pa["count"], pa["live"], pa["closed"], pa["subjects"]) == (2, 2, 0, 2)
    cats = {c["category"]: c for c in pa["by_category"]}
    assert (cats["news"]["live"], cats["news"]["individuals"], cats["news"]["subscribers"]) == (1, 1, 1)
    assert (cats["culture"]["live"], cats["culture"]["organizations"]) == (1, 1)
    assert pa["licensed"] == {"news": 1, "government": 0}
    assert {c["name"]: c["accounts"] for c in pa["by_subscriber_class"]}["small"] == 2
    assert sum(lv["accounts"] for lv in pa["credit_levels"]) == 2
    assert pa["caps"]["max_per_subject"] == 2
    page = (out / "filing-report.html").read_text(encoding="utf-8")
    assert "公众账号按类别" in page


async def test_filing_report_lists_each_subjects_accounts(srv, tmp_path):
    """P7: subjects running several accounts give their account list, which is filed. The filing
    report lists every subject (a verified person from any of their logins, or an organisation
    whoever opened its accounts) with its accounts, closed ones included, each with its id, name,
    status, licences and opening time, in the JSON and on the printable page; a subject is given by
    the subject key ``qunguan admin accounts`` shows, never by a username, phone, name or ID number."""
    number = new_id_number()
    a1, a2 = await srv.user(), await srv.user()  # two logins of one person
    for login in (a1, a2):
        await login.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    other = await srv.user(verify_id=True)
    first = await new_account(a1, "甲号")
    await a1.request("close_account", account_id=first)
    second = await new_account(a2, "乙号")
    org = await new_account(a2, "某公司号", subject_type="organization", org_name="上海某公司", org_code=org_code(9))
    news = await new_account(other, "丙号", category="news")
    colleague = await new_account(other, "某公司二号", subject_type="organization", org_name="上海某公司",
                                  org_code=org_code(9))
    await admin_ok(srv, "license-account", news, "--news", "--reason", "持有新闻信息服务许可证")
    await admin_ok(srv, "suspend-account", second, "--seconds", "3600", "--reason", "违规转载")
    keys = {r["account_id"]: r["subject_key"] for r in await listing(srv)}
    person, company, theirs = keys[second], keys[org], keys[news]
    assert len({person, company, theirs}) == 3 and keys[first] == person and keys[colleague] == company

    out = tmp_path / "filing"
    await admin_ok(srv, "filing-report", "--out", str(out))
    text = (out / "filing-report.json").read_text(encoding="utf-8")
    subjects = {s["subject_key"]: s for s in json.loads(text)["public_accounts"]["by_subject"]}
    assert set(subjects) == {person, company, theirs}

    def rows(key):
        return {a["account_id"]: (a["name"], a["status"], a["licences"]) for a in subjects[key]["accounts"]}

    assert rows(person) == {first: ("甲号", "closed", []), second: ("乙号", "suspended", [])}
    assert (subjects[person]["subject_type"], subjects[person]["live"], subjects[person]["org_code"]) == (
        "individual", 1, None)
    assert rows(company) == {org: ("某公司号", "active", []), colleague: ("某公司二号", "active", [])}
    assert (subjects[company]["subject_type"], subjects[company]["org_code"]) == ("organization", org_code(9))
    assert {a["org_name"] for a in subjects[company]["accounts"]} == {"上海某公司"}
    assert rows(theirs) == {news: ("丙号", "active", ["news"])}
    every = [a for s in subjects.values() for a in s["accounts"]]
    assert all(a["created_at"] > 0 and a["created_at_iso"] for a in every)
    closed = next(a for a in every if a["account_id"] == first)
    assert closed["closed_at"] >= closed["created_at"] and closed["closed_at_iso"]

    page = (out / "filing-report.html").read_text(encoding="utf-8")
    assert "公众账号主体及账号清单 <small>Public accounts by subject" in page
    for key in (person, company, theirs):
        assert f"<code>{key}</code>" in page
    for aid, name in ((first, "甲号"), (second, "乙号"), (org, "某公司号"), (news, "丙号"), (colleague, "某公司二号")):
        assert f"<td>{aid}</td><td>{name}</td>" in page
    assert org_code(9) in page and "<td>closed</td>" in page and "<td>suspended</td>" in page
    assert "<td>verified, news</td>" in page
    for shown in (text, page):  # nothing in it identifies a user
        for c in (a1, a2, other):
            assert c.username not in shown and c.phone not in shown and c.user_id not in shown
        assert LEGAL_NAME not in shown and number not in shown


async def test_the_operator_sets_the_class_thresholds(make_server, tmp_path):
    """P7 tiered management with the platform's own thresholds: one subscriber and one read already
    make an account ``followed`` and ``seen`` here, in the listing and in the filing report."""
    srv = make_server("""
[public_accounts]
subscriber_classes = [{name = "new", min_subscribers = 0}, {name = "followed", min_subscribers = 1}]
read_classes = [{name = "unread", min_reads = 0}, {name = "seen", min_reads = 1}]
""")
    owner = await srv.user(verify_id=True)
    fan = await srv.user()
    quiet = await new_account(owner, "静号")
    busy = await new_account(owner, "热号")
    await fan.request("subscribe", account_id=busy)
    post_id = (await owner.request("publish", account_id=busy, title="t", body="b"))["post_id"]
    await fan.request("read_post", post_id=post_id)
    every = {r["account_id"]: r for r in await listing(srv)}
    assert (every[busy]["subscriber_class"], every[busy]["read_class"]) == ("followed", "seen")
    assert (every[quiet]["subscriber_class"], every[quiet]["read_class"]) == ("new", "unread")
    out = tmp_path / "filing"
    await admin_ok(srv, "filing-report", "--out", str(out))
    pa = json.loads((out / "filing-report.json").read_text(encoding="utf-8"))["public_accounts"]
    assert [(c["name"], c["min_subscribers"], c["accounts"]) for c in pa["by_subscriber_class"]] == [
        ("new", 0, 1), ("followed", 1, 1)]
    assert [(c["name"], c["accounts"]) for c in pa["by_read_class"]] == [("unread", 1), ("seen", 1)]


async def test_freeze_a_public_account_category(srv):
    """P5 emergency handling, as G5's for groups: ``freeze-category C --accounts`` suspends publishing
    in every live account of a public-account category and opens no new one in it until the freeze
    ends, across a restart; each account's suspension is its own sanction, lifted one by one."""
    one, two = await srv.user(verify_id=True), await srv.user(verify_id=True)
    a1 = await new_account(one, "文化一号")
    a2 = await new_account(two, "文化二号")
    other = await new_account(one, "生活号", category="lifestyle")
    assert "unknown category culture" in await admin_refused(srv, "freeze-category", "culture", "--seconds", "60",
                                                             "--reason", "x")  # without --accounts: groups'
    out = await admin_ok(srv, "freeze-category", "culture", "--accounts", "--seconds", "3600", "--reason", "突发事件")
    assert "froze 2 public accounts in culture" in out
    for owner, aid in ((one, a1), (two, a2)):
        told = await notice(owner, "account_suspended")
        assert told["account_id"] == aid and "突发事件" in told["text"] and told["deadline"] > 0
        assert told["reason"] == "突发事件"
        [own] = [s for s in await sanctions(srv, aid) if s["kind"] == "suspend_account"]
        assert told["sanction_id"] == str(own["id"])  # each account's own sanction, what its owner appeals
        assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    assert code(await one.call("publish", account_id=other, title="t", body="b")) == "ok"
    fresh = await srv.user(verify_id=True)
    refused = await fresh.call("create_account", name="新文化号", category="culture", intro="",
                               subject_type="individual")
    assert code(refused) == "forbidden" and "frozen" in refused["reason"]
    assert refused["until"] > 0  # the freeze's end: what tells this refusal apart from the other `forbidden`s
    [(_, _, reason, detail)] = record(srv, "freeze_account_category")
    assert (reason, detail["category"], detail["accounts"]) == ("突发事件", "culture", 2)

    one, two, fresh = await restart(srv, one, two, fresh)
    assert code(await fresh.call("create_account", name="新文化号", category="culture", intro="",
                                 subject_type="individual")) == "forbidden"
    [susp] = [s for s in await sanctions(srv, a1) if s["kind"] == "suspend_account"]
    await admin_ok(srv, "lift", susp["id"], "--reason", "已核实")
    assert code(await one.call("publish", account_id=a1, title="t", body="b")) == "ok"
    assert code(await two.call("publish", account_id=a2, title="t", body="b")) == "forbidden"


async def test_an_account_opened_while_its_category_freezes_is_suspended_too(srv):
    """The freeze lists the category's accounts from memory, and an account enters memory once its
    insert is stored: one whose insert was in flight at the freeze is suspended when it lands, in
    memory (publishing refused) as in the store (after a restart), with a sanction row of its own."""
    opener, probe = await srv.user(verify_id=True), await srv.user(verify_id=True)
    args = {"category": "culture", "intro": "", "subject_type": "individual"}

    async def frozen() -> bool:
        # The in-flight account's name: "conflict" (nothing written) until the freeze, "forbidden" after.
        return code(await probe.call("create_account", name="在途号", **args)) == "forbidden"

    async with writes_held(srv, "accounts"):
        opening = asyncio.ensure_future(opener.call("create_account", name="在途号", **args))
        await until_write_waits(srv, "accounts")  # past its checks, its insert waiting for the hold
        freezing = asyncio.ensure_future(srv.admin("freeze-category", "culture", "--accounts", "--seconds", "3600",
                                                   "--reason", "突发事件"))
        await until(frozen, timeout=2)  # the freeze claimed the category (its write waits too)
        assert not opening.done()
    reply = await opening
    assert code(reply) == "ok", reply
    aid = reply["account_id"]
    rc, out, err = await freezing
    assert rc == 0 and "froze 0 public accounts" in out, (out, err)
    assert code(await opener.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    assert (await opener.request("account_info", account_id=aid))["status"] == "suspended"
    told = await notice(opener, "account_suspended")
    assert told["account_id"] == aid and told["by"] == "system" and told["deadline"] > 0
    assert told["reason"] == "the platform froze the category culture while the account was being opened"
    [susp] = [s for s in await sanctions(srv, aid) if s["kind"] == "suspend_account"]
    assert susp["actor"] == "system" and "froze the category culture" in susp["reason"]
    assert told["sanction_id"] == str(susp["id"])
    [opener] = await restart(srv, opener)
    assert code(await opener.call("publish", account_id=aid, title="t", body="b")) == "forbidden"


async def test_an_account_whose_late_suspension_fails_to_store_is_named_in_the_refusal(srv):
    """The account is stored before the freeze that landed meanwhile is applied to it: when that write
    fails, ``create_account`` answered a bare ``internal`` for an account that exists (its name taken,
    its id unknown to the client). The refusal now carries the ``account_id``."""
    opener, probe = await srv.user(verify_id=True), await srv.user(verify_id=True)
    args = {"category": "culture", "intro": "", "subject_type": "individual"}
    # The database refuses the late suspension's record entry, as a failing disk would refuse the write
    # (the freeze's own entry is a freeze_account_category, which goes through).
    if srv.backend == "postgresql":
        srv.db_rows("ALTER TABLE audit ADD CONSTRAINT no_late_suspension CHECK (action <> 'suspend_account') "
                    "NOT VALID")
    else:
        srv.db_rows("CREATE TRIGGER no_late_suspension BEFORE INSERT ON audit WHEN NEW.action = 'suspend_account'"
                    " BEGIN SELECT RAISE(ABORT, 'no late suspension'); END")

    async def frozen() -> bool:
        return code(await probe.call("create_account", name="在途号", **args)) == "forbidden"

    async with writes_held(srv, "accounts"):
        opening = asyncio.ensure_future(opener.call("create_account", name="在途号", **args))
        await until_write_waits(srv, "accounts")  # past its checks, its insert waiting for the hold
        freezing = asyncio.ensure_future(srv.admin("freeze-category", "culture", "--accounts", "--seconds", "3600",
                                                   "--reason", "突发事件"))
        await until(frozen, timeout=2)
        assert not opening.done()
    reply = await opening
    assert code(reply) == "internal" and reply["account_id"], reply
    aid = reply["account_id"]
    assert aid in reply["reason"] and "account_info" in reply["reason"]
    assert (await freezing)[0] == 0
    # It is the client's account, as the reply says.
    assert (await opener.request("account_info", account_id=aid))["name"] == "在途号"
    assert srv.db_rows("SELECT owner_id FROM accounts WHERE account_id = ?", aid) == [(opener.user_id,)]


async def test_an_account_whose_late_suspension_fails_is_suspended_by_the_freeze_upkeep(srv):
    """The late suspension of an account opened as its category froze is one write: when it failed, the
    account stayed unsuspended in a frozen category and nothing tried again. The freeze upkeep job finds it
    in the store (no suspension, no sanction lasting the freeze) and suspends it as the freeze suspended
    the others: a sanction by ``system``, the owner told. An account whose freeze an operator lifted keeps
    its lifted sanction row, and is left alone."""
    opener, probe = await srv.user(verify_id=True), await srv.user(verify_id=True)
    args = {"category": "culture", "intro": "", "subject_type": "individual"}
    # A failing disk refuses the late suspension (its record entry): the freeze's own entry goes through.
    if srv.backend == "postgresql":
        srv.db_rows("ALTER TABLE audit ADD CONSTRAINT no_late_suspension CHECK (action <> 'suspend_account') "
                    "NOT VALID")
    else:
        srv.db_rows("CREATE TRIGGER no_late_suspension BEFORE INSERT ON audit WHEN NEW.action = 'suspend_account'"
                    " BEGIN SELECT RAISE(ABORT, 'no late suspension'); END")

    async def frozen() -> bool:
        return code(await probe.call("create_account", name="在途号", **args)) == "forbidden"

    async with writes_held(srv, "accounts"):
        opening = asyncio.ensure_future(opener.call("create_account", name="在途号", **args))
        await until_write_waits(srv, "accounts")  # past its checks, its insert waiting for the hold
        freezing = asyncio.ensure_future(srv.admin("freeze-category", "culture", "--accounts", "--seconds", "3600",
                                                   "--reason", "突发事件"))
        await until(frozen, timeout=2)
        assert not opening.done()
    reply = await opening
    assert code(reply) == "internal" and reply["account_id"], reply
    aid = reply["account_id"]
    assert (await freezing)[0] == 0
    assert (await opener.request("account_info", account_id=aid))["status"] != "suspended"
    # The disk mends; the upkeep (every few seconds while a freeze is in force) suspends the account.
    if srv.backend == "postgresql":
        srv.db_rows("ALTER TABLE audit DROP CONSTRAINT no_late_suspension")
    else:
        srv.db_rows("DROP TRIGGER no_late_suspension")

    async def suspended() -> bool:
        return (await opener.request("account_info", account_id=aid))["status"] == "suspended"

    await until(suspended, timeout=15)
    told = await notice(opener, "account_suspended")
    assert told["account_id"] == aid and told["by"] == "system" and told["deadline"] > 0
    assert told["reason"] == "the platform froze the category culture while the account was being opened"
    assert code(await opener.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    [susp] = [s for s in await sanctions(srv, aid) if s["kind"] == "suspend_account"]
    assert susp["actor"] == "system" and susp["expires_at"] == told["deadline"]
    assert [(actor, target) for actor, target, _, _ in record(srv, "suspend_account")] == [(None, aid)]
    [opener] = await restart(srv, opener)
    # The upkeep's first look after a start reads the store (CHECK_SECONDS after the job started,
    # which was before the server said it listens): the lift below comes before it.
    restarted = time.monotonic()
    assert (await opener.request("account_info", account_id=aid))["status"] == "suspended"
    # An operator lifts the freeze for this one account: the upkeep leaves it lifted.
    await admin_ok(srv, "lift", susp["id"], "--reason", "已核实")
    await asyncio.sleep(max(0.0, restarted + CHECK_SECONDS + 1.5 - time.monotonic()))  # past that look
    assert (await opener.request("account_info", account_id=aid))["status"] != "suspended"
    assert [s["kind"] for s in await sanctions(srv, aid)] == ["suspend_account"]


async def test_an_account_closed_as_it_lands_for_a_barred_subject_is_named_in_the_refusal(make_server, monkeypatch):
    """A blacklisting that bars an organisation while another person's account for it is being opened
    does not see that account: it is closed as it lands, and the ``blacklisted`` refusal names it
    (``account_id``): the account exists, closed, and the client is told which."""
    monkeypatch.setenv("QUNGUAN_IDENTITY_MAX_ACCOUNTS_PER_ID", "2")  # (as the srv fixture)
    srv = make_server()
    holder, opener = await srv.user(verify_id=True), await srv.user(verify_id=True)
    org = {"category": "business", "intro": "", "subject_type": "organization", "org_name": "某贸易公司",
           "org_code": org_code(21)}
    theirs = await new_account(holder, "甲公司号", **org)
    probe = await srv.user()  # (the opener's own connection waits for its create_account)

    async def barred() -> bool:  # the organisation is barred in the same step as its accounts close
        return (await probe.request("account_info", account_id=theirs))["status"] == "closed"

    async with writes_held(srv, "accounts"):
        opening = asyncio.ensure_future(opener.call("create_account", name="乙公司号", **org))
        await until_write_waits(srv, "accounts")  # past its checks, its insert waiting for the hold
        barring = asyncio.ensure_future(srv.admin("blacklist", holder.username, "--reason", "诈骗"))
        await until(barred, timeout=4)  # the blacklisting barred the organisation in memory; its write waits
        assert not opening.done()
    reply = await opening
    assert code(reply) == "blacklisted" and reply["account_id"], reply
    assert (await barring)[0] == 0
    assert (await opener.request("account_info", account_id=reply["account_id"]))["status"] == "closed"


async def test_a_platform_notice_to_the_accounts_of_a_category(srv):
    """P5 emergency handling: ``notice --category C --accounts`` reaches the followers, owners and editors
    of the live accounts of a public-account category, and nobody else."""
    owner, editor, fan = await srv.user(verify_id=True), await srv.user(verify_id=True), await srv.user()
    elsewhere, bystander = await srv.user(verify_id=True), await srv.user()
    aid = await new_account(owner, "文化号")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await fan.request("subscribe", account_id=aid)
    other = await new_account(elsewhere, "生活号", category="lifestyle")
    await bystander.request("subscribe", account_id=other)
    assert "--category" in await admin_refused(srv, "notice", "--text", "x", "--accounts")
    assert "unknown public-account category" in await admin_refused(srv, "notice", "--text", "x", "--category",
                                                                    "friends", "--accounts")
    out = await admin_ok(srv, "notice", "--text", "请核实转载来源", "--category", "culture", "--accounts")
    assert "notice sent to 3 connections" in out
    for c in (owner, editor, fan):
        told = await notice(c, "platform")
        assert (told["text"], told["category"]) == ("请核实转载来源", "culture")
    await asyncio.sleep(0.2)
    for c in (elsewhere, bystander):
        assert not [e for e in c.drain_events() if e.get("ev") == "notice" and e.get("kind") == "platform"]
    [(_, _, reason, detail)] = record(srv, "platform_notice")
    assert (reason, detail) == ("请核实转载来源", {"category": "culture", "accounts": True})


async def test_lifting_both_logins_blacklists_at_once_leaves_both_open(started, tmp_path, backend, monkeypatch):
    """A blacklisted person's two logins each have a blacklist sanction, and lifting either reopens
    both; each lift holds only its own target's lock. The lift of the twin's sanction, begun while the
    first lift's write was in flight, found its sanction lifted by the store and undid its claim: the
    undo closed the twin in memory again though the store had it open (login refused until a restart)."""
    monkeypatch.setenv("QUNGUAN_IDENTITY_MAX_ACCOUNTS_PER_ID", "2")  # (as the srv fixture)
    srv = started(CountedServer(tmp_path, backend=backend))
    number = new_id_number()
    bad, twin = await srv.user(), await srv.user()
    for u in (bad, twin):
        await u.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    await admin_ok(srv, "blacklist", bad.username, "--reason", "诈骗")

    async def blacklist_row(u):
        rows = [json.loads(x) for x in (await admin_ok(srv, "sanctions", "--user", u.username)).splitlines()]
        [row] = [r for r in rows if r["kind"] == "blacklist" and r["status"] == "in_force"]
        return row["id"]

    mine, theirs = await blacklist_row(bad), await blacklist_row(twin)
    async with writes_held(srv, "sanctions"):
        first = asyncio.ensure_future(srv.admin("lift", mine, "--reason", "误判"))
        await until_write_waits(srv, "sanctions")  # the first lift's write (both logins) waits for the hold
        before = await writes_queued(srv)
        second = asyncio.ensure_future(srv.admin("lift", theirs, "--reason", "误判"))
        # The second (the twin's lift, under its own lock) is queued too, behind the first's.
        await until_writes_queued(srv, more_than=before)
        assert not first.done()
    (rc1, _, err1), (rc2, _, err2) = await first, await second
    assert rc1 == 0, err1
    assert rc2 == 2 and "lifted meanwhile" in err2, err2
    c = await srv.client()
    for u in (bad, twin):
        assert code(await c.call("login", username=u.username, password="password123")) == "ok", u.username
    assert srv.db_rows("SELECT COUNT(*) FROM users WHERE blacklisted_at IS NOT NULL") == [(0,)]


async def test_a_blacklist_stopped_half_way_is_finished_by_running_it_again(srv):
    """The person is blacklisted, not one login: when the write for another login fails, running the
    command again blacklists the logins left open (before, it was refused: "already blacklisted")."""
    number = new_id_number()
    bad, twin = await srv.user(), await srv.user()
    for u in (bad, twin):
        await u.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    if srv.backend == "postgresql":  # the store refuses the twin's write, as a failing disk would
        srv.db_rows(f"ALTER TABLE sanctions ADD CONSTRAINT no_twin CHECK (target_id <> '{twin.user_id}') NOT VALID")
    else:
        srv.db_rows(f"CREATE TRIGGER no_twin BEFORE INSERT ON sanctions WHEN NEW.target_id = '{twin.user_id}'"
                    " BEGIN SELECT RAISE(ABORT, 'no twin'); END")
    rc, _, _ = await srv.admin("blacklist", bad.username, "--reason", "诈骗")
    assert rc != 0
    c = await srv.client()
    assert (await c.call("login", username=twin.username, password="password123"))["ok"]  # left open
    srv.db_rows("ALTER TABLE sanctions DROP CONSTRAINT no_twin" if srv.backend == "postgresql"
                else "DROP TRIGGER no_twin")
    out = await admin_ok(srv, "blacklist", bad.username, "--reason", "诈骗")
    assert f"{bad.username} was blacklisted already" in out
    fresh = await srv.client()  # (the twin's connections were closed with its blacklisting)
    assert (await fresh.call("login", username=twin.username, password="password123"))["code"] == "blacklisted"
    assert "already blacklisted" in await admin_refused(srv, "blacklist", bad.username, "--reason", "诈骗")


async def test_a_sanction_on_an_account_keeps_its_posts_and_comments_past_retention_while_it_holds(srv):
    """P16 with P13: a suspension keeps what the account published until it ends, a closure for a
    full period after it was imposed (``governance.retention.sanction_holds``); an account without
    one loses its old posts and comments at the usual time."""
    owners = [await srv.user(verify_id=True) for _ in range(3)]
    reader = await srv.user()
    aids = [await new_account(o, n) for o, n in zip(owners, ("暂停之号", "关闭之号", "无事之号"), strict=True)]
    posts, comments = [], []
    for o, aid in zip(owners, aids, strict=True):
        posts.append(int((await o.request("publish", account_id=aid, title="旧文", body="b"))["post_id"]))
        comments.append(int((await reader.request("comment", post_id=str(posts[-1]), text="旧评"))["comment_id"]))
    await admin_ok(srv, "suspend-account", aids[0], "--seconds", str(7 * 86400), "--reason", "违规转载")
    await admin_ok(srv, "close-account", aids[1], "--reason", "传播谣言")
    for table in ("posts", "comments"):
        srv.db_rows(f"UPDATE {table} SET ts = ts - ?", 200 * DAY_MS)
    await admin_ok(srv, "purge")
    assert {r[0] for r in srv.db_rows("SELECT post_id FROM posts")} == {posts[0], posts[1]}
    assert {r[0] for r in srv.db_rows("SELECT comment_id FROM comments")} == {comments[0], comments[1]}
    # The suspension ended and the closure is a full period old: neither holds any longer.
    srv.db_rows("UPDATE sanctions SET starts_at = starts_at - ?, expires_at = expires_at - ?"
                " WHERE target_type = 'account'", 200 * DAY_MS, 200 * DAY_MS)
    await admin_ok(srv, "purge")
    assert srv.db_rows("SELECT post_id FROM posts") == [] and srv.db_rows("SELECT comment_id FROM comments") == []
    for c in (*owners, reader):
        await c.close()


async def test_restrict_account_waiting_for_the_accounts_lock_finds_it_closed_meanwhile(srv):
    """``restrict-account`` looked at the account once, before waiting for the account's lock: closed
    by its owner meanwhile, it got a ``restrict_comments`` sanction and its managers a notice.
    After the wait it looks again: exit 2, as for any closed account."""
    owner = await srv.user(verify_id=True)
    aid = await new_account(owner, "早报")
    async with writes_held(srv, "sanctions"):
        suspending = asyncio.ensure_future(srv.admin("suspend-account", aid, "--seconds", "600", "--reason", "核查"))
        await until_write_waits(srv, "sanctions")  # it holds the account's lock meanwhile
        restricting = asyncio.ensure_future(srv.admin("restrict-account", aid, "--comments", "off",
                                                      "--reason", "评论失控"))
        await asyncio.sleep(0.3)
        closing = asyncio.ensure_future(owner.call("close_account", account_id=aid))
        await asyncio.sleep(0.3)
    assert (await suspending)[0] == 0
    assert (await closing)["ok"]
    rc, out, err = await restricting
    assert rc == 2 and "closed" in err, (rc, out, err)
    assert [r["kind"] for r in await sanctions(srv, aid)] == ["suspend_account"]


async def test_an_erased_persons_accounts_carry_nothing_to_whoever_verifies_the_number_next(srv):
    """P9: once the retention purge erases a cancelled account, its ID number's keyed hash is gone
    from the public accounts the person opened too (a reviewer found it kept there for good, which
    carried the old account's measures to the next account verified with that number). While
    another login of the person still holds the number, the accounts stay theirs."""
    number = new_id_number()
    first_login, second_login = await srv.user(), await srv.user()
    for login in (first_login, second_login):
        await login.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    old = await new_account(first_login, "旧号")
    await admin_ok(srv, "restrict-account", old, "--comments", "off", "--reason", "评论区管理不力")
    await admin_ok(srv, "account-credit", old, "--delta", "-70", "--reason", "违规")
    await first_login.request("close_account", account_id=old)
    other = await new_account(second_login, "旧号二")  # the same person's, from their other login
    await second_login.request("close_account", account_id=other)
    person = srv.db_rows("SELECT subject_key FROM accounts WHERE account_id = ?", old)[0][0]

    async def cancel_and_erase(login) -> None:
        await login.request("delete_account", password="password123")
        srv.db_rows("UPDATE users SET deleted_at = deleted_at - ? WHERE user_id = ?", 200 * DAY_MS, login.user_id)
        assert "accounts_erased: 1" in await admin_ok(srv, "purge")

    # (its measures from before the period: a measure of the period holds the account, as a hold does)
    srv.db_rows("UPDATE sanctions SET starts_at = starts_at - ? WHERE target_id = ?", 200 * DAY_MS, old)
    # while the account is held, its owner's identity and the account's link to it are kept
    await first_login.request("delete_account", password="password123")
    srv.db_rows("UPDATE users SET deleted_at = deleted_at - ? WHERE user_id = ?", 200 * DAY_MS, first_login.user_id)
    await admin_ok(srv, "hold", "--account", old, "--reason", "调查")
    assert "accounts_erased: 0" in await admin_ok(srv, "purge")
    [(hold_id,)] = srv.db_rows("SELECT id FROM legal_holds WHERE target_id = ?", old)
    await admin_ok(srv, "release-hold", str(hold_id), "--reason", "结案")
    assert "accounts_erased: 1" in await admin_ok(srv, "purge")
    # the person is still here, as their other login: the account is still theirs
    assert srv.db_rows("SELECT subject_key, opener_key FROM accounts WHERE account_id = ?", old) == [(person, person)]
    await cancel_and_erase(second_login)
    keys = srv.db_rows("SELECT subject_key, opener_key FROM accounts WHERE account_id IN (?, ?)", old, other)
    # one random key for the person: their accounts still read as one subject's, and nothing of them
    [(subject, opener)] = set(keys)
    assert subject == opener and subject.startswith("erased:") and person not in subject, subject
    assert subject not in (f"erased:{old}", f"erased:{other}"), subject
    assert srv.db_rows("SELECT COUNT(*) FROM accounts WHERE subject_key = ? OR opener_key = ?", person, person) == [
        (0,)]

    newcomer = await srv.user()
    await newcomer.request("verify_identity", legal_name=LEGAL_NAME, id_number=number)
    assert old not in {r["account_id"] for r in await listing(srv, "--subject", newcomer.username)}
    opened = await newcomer.request("create_account", name="新号", category="culture", intro="",
                                    subject_type="individual")
    assert (opened["status"], opened.get("carried")) == ("active", None), opened
    [row] = [r for r in await listing(srv) if r["account_id"] == opened["account_id"]]
    assert (row["comments_restricted"], row["credit_score"]) == (False, 100), row


async def test_the_owner_of_a_public_account_appeals_its_measures(srv):
    """A public account's owner was handed a sanction id with every measure on the account (the
    ``account_warning`` notice) and could not appeal any (``not_found``), nor see them in
    ``my_sanctions``: a measure taken in error stood until an operator happened to lift it. The owner
    (not an editor) appeals a warning, a restriction or a suspension; an upheld appeal lifts it;
    closing an account and removing a post are final."""
    owner = await srv.user(verify_id=True)
    editor = await srv.user(verify_id=True)
    aid = await new_account(owner, "申诉日报")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    post_id = (await owner.request("publish", account_id=aid, title="开张", body="欢迎"))["post_id"]
    await admin_ok(srv, "warn-account", aid, "--reason", "标题党")
    await admin_ok(srv, "restrict-account", aid, "--comments", "off", "--reason", "评论区失管")
    await admin_ok(srv, "suspend-account", aid, "--seconds", "3600", "--reason", "误判")
    await admin_ok(srv, "remove-post", str(post_id), "--reason", "违规")
    ids = {s["kind"]: str(s["id"]) for s in await sanctions(srv, aid)}
    standing = (await owner.request("my_sanctions"))["sanctions"]
    assert [(s["measure"], s["account_id"], s["account_name"]) for s in standing] == [
        ("warning", aid, "申诉日报"), ("restrict_comments", aid, "申诉日报"), ("suspend_account", aid, "申诉日报")]
    assert (await editor.request("my_sanctions"))["sanctions"] == []
    assert code(await editor.call("appeal", sanction_id=ids["suspend_account"], text="误判")) == "not_found"
    refused = await owner.call("appeal", sanction_id=ids["remove_post"], text="请恢复")
    assert refused["code"] == "forbidden" and "removing a post is final" in refused["reason"], refused
    appealed = {k: (await owner.request("appeal", sanction_id=ids[k], text="请复核"))["appeal_id"]
                for k in ("warning", "restrict_comments", "suspend_account")}
    assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    await admin_ok(srv, "decide-appeal", appealed["suspend_account"], "--outcome", "upheld", "--note", "确属误判")
    result = await notice(owner, "appeal_result")
    assert (result["appeal_id"], result["outcome"], result["lifted"]) == (appealed["suspend_account"], "upheld", True)
    assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "ok"
    left = (await owner.request("my_sanctions"))["sanctions"]
    assert [s["measure"] for s in left] == ["warning", "restrict_comments"]
    await admin_ok(srv, "close-account", aid, "--reason", "多次违规")
    closed = {s["kind"]: str(s["id"]) for s in await sanctions(srv, aid)}["close_account"]
    for sid in (closed, ids["warning"]):
        assert code(await owner.call("appeal", sanction_id=sid, text="请复核")) == "forbidden"
    assert (await owner.request("my_sanctions"))["sanctions"] == []
