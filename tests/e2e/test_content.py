"""Prohibited content (Art. 10), rules and agreement and emergency tools (Art. 5) end to end."""

from __future__ import annotations

import asyncio
import json
import signal
import time

from tests.e2e.harness import open_group, restart
from tests.e2e.store_hold import CountedServer, until_write_waits, until_writes_queued, writes_held, writes_queued

WORDS = """
[[content.lists]]
category = "pyramid_gambling"
path = "gambling.txt"
action = "block"
[[content.lists]]
category = "rumour_fraud"
path = "fraud.txt"
action = "review"
[[content.lists]]
category = "pornography"
path = "porn.txt"
action = "flag"
"""


def word_server(make_server, tmp_path):
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "gambling.txt").write_text("# gambling\n赌博\n网上赌场\n", encoding="utf-8")
    (d / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    (d / "porn.txt").write_text("vpn下载\n", encoding="utf-8")
    return make_server(WORDS)


async def group(srv):
    owner = await srv.user()
    member = await srv.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    owner.drain_events()
    return owner, member, gid


DISGUISES = ["赌博", "赌 博", "賭博", "赌\u200b博", "赌.博", "一起来赌\ufeff博吧", "網上賭場", "网 上 赌 场"]


async def test_blocked_content_in_every_disguise(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    score = (await member.request("me"))["credit_score"]
    for text in DISGUISES:
        r = await member.call("send", group_id=gid, text=text, client_msg_id=f"c-{text}")
        assert r["code"] == "content_blocked", text
    assert (await member.call("send", group_id=gid, text="博物馆见", client_msg_id="c-赌博"))["ok"]
    # each blocked message costs credit.penalty_blocked_content (2) and is recorded, without its text
    assert (await member.request("me"))["credit_score"] == score - 2 * len(DISGUISES)
    rows = srv.db_rows("SELECT actor_type, group_id, target_id, reason, detail FROM audit"
                       " WHERE action = 'content_blocked'")
    assert len(rows) == len(DISGUISES)
    assert {(r[0], r[1], r[2], r[3]) for r in rows} == {("system", gid, member.user_id, "pyramid_gambling")}
    assert all(json.loads(r[4])["penalty"] == 2 and json.loads(r[4])["term"] for r in rows)
    await asyncio.sleep(0.2)
    texts = [m["text"] for m in (await owner.request("history", group_id=gid))["messages"]]
    assert texts == ["博物馆见"]  # nothing blocked was stored or delivered
    events = [e for e in owner.drain_events() if e.get("ev") == "message"]
    assert [e["text"] for e in events] == ["博物馆见"]


async def test_a_listed_latin_term_in_lookalike_letters_is_refused_like_its_plain_spelling(make_server, tmp_path):
    """A group message spelling a listed ``block`` term with Cyrillic, Greek or Armenian letters that
    look like its Latin ones (``vрn翻墙``, U+0440) was delivered: the filter folded width, case,
    traditional forms and separators, not look-alikes. Refused like ``vpn翻墙``, recorded with the
    term as listed; Russian text with no listed term is delivered. So are capitals that look like Latin
    ones while their small letters do not (Greek ``Ν``, read as ``v`` by case folding, in ``VРΝ``), and
    ``rn`` written for ``m`` (``rnahjong``)."""
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "gambling.txt").write_text("赌博\nvpn翻墙\ncasino\nmahjong\n", encoding="utf-8")
    (d / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    (d / "porn.txt").write_text("色情\n", encoding="utf-8")
    srv = make_server(WORDS)
    owner, member, gid = await group(srv)
    texts = ["vpn翻墙", "用 vрn 翻墙", "VРN翻牆", "ѵрո翻墙", "ϲаѕіnо 888", "VРΝ翻墙", "САЅІΝО 888", "rnahjong"]
    for i, text in enumerate(texts):
        r = await member.call("send", group_id=gid, text=text, client_msg_id=f"c-look-{i}")
        assert r.get("code") == "content_blocked", (text, r)
    plain = ["Привет всем! Встреча завтра в три часа.", "ПРИВЕТ ВСЕМ! ВСТРЕЧА ЗАВТРА."]
    for i, text in enumerate(plain):
        assert (await member.call("send", group_id=gid, text=text, client_msg_id=f"c-ru-{i}"))["ok"]
    rows = srv.db_rows("SELECT reason, detail FROM audit WHERE action = 'content_blocked'")
    assert sorted(json.loads(r[1])["term"] for r in rows) == ["casino"] * 2 + ["mahjong"] + ["vpn翻墙"] * 5
    assert {r[0] for r in rows} == {"pyramid_gambling"}
    await asyncio.sleep(0.2)
    assert [m["text"] for m in (await owner.request("history", group_id=gid))["messages"]] == plain


async def test_review_holds_then_operator_releases_or_rejects(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    held = await member.send(gid, "刷 单 返 利，日入千元", client_msg_id="c-held")
    assert held["held"] is True
    rejected = await member.send(gid, "刷单返利2", client_msg_id="c-rejected")
    await asyncio.sleep(0.3)
    assert not [e for e in owner.drain_events() if e.get("ev") == "message"]
    assert (await owner.request("history", group_id=gid))["messages"] == []
    rc, out, _ = await srv.admin("review-queue", "--open")
    items = [json.loads(line) for line in out.splitlines()]
    assert [i["seq"] for i in items] == [held["seq"], rejected["seq"]]
    assert items[0]["action"] == "review" and items[0]["category"] == "rumour_fraud"
    score = (await member.request("me"))["credit_score"]
    rc, _, _ = await srv.admin("decide", str(items[0]["item_id"]), "--decision", "release", "--note", "ok")
    assert rc == 0
    ev = await owner.next_event("message_released", timeout=2)
    assert ev["seq"] == held["seq"] and ev["text"] == "刷 单 返 利，日入千元"
    # not a message event: its seq is below ones already delivered, and those come in ascending seq
    assert not [e for e in owner.drain_events() if e.get("ev") == "message"]
    assert (await member.request("me"))["credit_score"] == score  # a released message costs nothing
    # a retry of it (within the two minutes a send is remembered in full) is no longer told it is held
    retried = await member.send(gid, "刷 单 返 利，日入千元", client_msg_id="c-held")
    assert retried["seq"] == held["seq"] and "held" not in retried, retried
    rc, _, _ = await srv.admin("decide", str(items[1]["item_id"]), "--decision", "reject", "--note", "fraud")
    assert rc == 0
    assert (await member.next_event("notice", timeout=2))["kind"] == "content_removed"
    assert (await member.send(gid, "刷单返利2", client_msg_id="c-rejected"))["held"] is True  # (rejected: as held)
    assert (await member.request("me"))["credit_score"] == score - 10  # credit.penalty_report_upheld
    hist = (await owner.request("history", group_id=gid))["messages"]
    assert [m["seq"] for m in hist] == [held["seq"]]
    rc, _, err = await srv.admin("decide", str(items[1]["item_id"]), "--decision", "release", "--note", "x")
    assert rc == 2


async def test_a_blacklisted_senders_held_message_is_not_released(make_server, tmp_path):
    """A red-team reviewer had a blacklisted member's held message released to the group, where a
    held name or announcement of theirs is not applied. It is refused (exit 2); rejecting it works."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    held = (await member.send(gid, "刷单返利，稳赚"))["seq"]
    rc, _, err = await srv.admin("blacklist", member.username, "--reason", "诈骗")
    assert rc == 0, err
    item = (await _review_items(srv))[held]
    owner.drain_events()
    rc, out, err = await srv.admin("decide", str(item), "--decision", "release", "--note", "ok")
    assert rc == 2 and "blacklisted or cancelled" in err, (out, err)
    await asyncio.sleep(0.3)
    assert not [e for e in owner.drain_events() if e.get("ev") == "message_released"]
    assert (await owner.request("history", group_id=gid))["messages"] == []
    rc, _, err = await srv.admin("decide", str(item), "--decision", "reject", "--note", "诈骗")
    assert rc == 0, err


async def test_a_held_message_of_a_closed_or_dissolved_group_is_not_released(make_server, tmp_path):
    """Memory keeps no ended group, so a release into one skipped the suspension check and marked the
    message shown where nobody reads it (the record and the exports said so). It is refused (exit 2);
    rejecting it works."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    held = (await member.send(gid, "刷单返利，稳赚"))["seq"]
    other_owner, other_member, dissolved = await group(srv)
    held_too = (await other_member.send(dissolved, "刷单返利，包赚"))["seq"]
    rc, _, err = await srv.admin("close-group", gid, "--reason", "诈骗群")
    assert rc == 0, err
    await other_owner.request("dissolve_group", group_id=dissolved)
    items = await _review_items(srv)
    for item in (items[held], items[held_too]):
        rc, out, err = await srv.admin("decide", str(item), "--decision", "release", "--note", "ok")
        assert rc == 2 and "has ended (closed or dissolved)" in err, (out, err)
    for g, seq in ((gid, held), (dissolved, held_too)):
        assert srv.db_rows("SELECT held FROM messages WHERE group_id = ? AND seq = ?", g, seq) == [(1,)]
    rc, _, err = await srv.admin("decide", str(items[held]), "--decision", "reject", "--note", "诈骗")
    assert rc == 0, err


async def _review_items(srv) -> dict[int, int]:
    """The open review items, seq -> item id."""
    rc, out, _ = await srv.admin("review-queue", "--open")
    assert rc == 0
    return {i["seq"]: i["item_id"] for i in map(json.loads, out.splitlines())}


async def test_a_held_message_is_unknown_to_managers_and_reporters(make_server, tmp_path):
    """Someone else's message held for review, or rejected, was never delivered: a manager cannot
    delete it (which told the group of it and pre-empted the platform) and nobody can report it
    (which told the reporter it exists and named its sender as reported); both get ``not_found``
    as for a seq never issued, and nothing is stored or sent."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    admin = await srv.user()
    await admin.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    held = (await member.send(gid, "刷单返利，稳赚"))["seq"]
    rejected = (await member.send(gid, "刷单返利，快来"))["seq"]
    rc, _, _ = await srv.admin("decide", str((await _review_items(srv))[rejected]), "--decision", "reject",
                               "--note", "fraud")
    assert rc == 0
    owner.drain_events()
    for seq in (held, rejected):
        for manager in (owner, admin):
            r = await manager.call("delete_message", group_id=gid, seq=seq)
            assert r["code"] == "not_found", r
            r = await manager.call("report", target_type="message", group_id=gid, seq=seq, reason="spam")
            assert r["code"] == "not_found", r
    # the sender's own rejected message is shown to nobody, them included
    assert (await member.call("report", target_type="message", group_id=gid, seq=rejected,
                              reason="x"))["code"] == "not_found"
    assert (await member.call("delete_message", group_id=gid, seq=rejected))["code"] == "not_found"
    await asyncio.sleep(0.2)
    assert not [e for e in owner.drain_events() if e.get("ev") == "message_deleted"]
    assert srv.db_rows("SELECT COUNT(*) FROM reports") == [(0,)]
    assert srv.db_rows("SELECT COUNT(*) FROM messages WHERE deleted_at IS NOT NULL") == [(0,)]
    # once released it was delivered: a manager may delete it and anyone in the group report it
    rc, _, _ = await srv.admin("decide", str((await _review_items(srv))[held]), "--decision", "release",
                               "--note", "ok")
    assert rc == 0
    assert (await owner.next_event("message_released", timeout=2))["seq"] == held
    assert (await admin.request("report", target_type="message", group_id=gid, seq=held, reason="spam"))["report_id"]
    await admin.request("delete_message", group_id=gid, seq=held)
    assert (await owner.next_event("message_deleted", timeout=2))["seq"] == held


async def test_a_held_message_its_sender_deleted_is_never_released_to_the_group(make_server, tmp_path):
    """The sender may withdraw their own held message. Only they are told (nobody else knew it); its
    review item is settled with the deletion (``withdrawn``), so no release can come after it: a
    release marked it delivered and its record entry, listed in group_log, told the group of it."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    held = (await member.send(gid, "刷单返利，稳赚"))["seq"]
    item = (await _review_items(srv))[held]
    member.drain_events()
    await member.request("delete_message", group_id=gid, seq=held)
    assert (await member.next_event("message_deleted", timeout=2))["seq"] == held
    assert held not in await _review_items(srv)
    assert srv.db_rows("SELECT status, decision FROM review_queue WHERE item_id = ?", item) == [
        ("decided", "withdrawn")]
    rc, _, err = await srv.admin("decide", str(item), "--decision", "release", "--note", "ok")
    assert rc == 2 and "already decided" in err, err
    await asyncio.sleep(0.3)
    seen = [e for e in owner.drain_events() if e.get("ev") in ("message_released", "message_deleted")]
    assert seen == []
    assert not [e for e in member.drain_events() if e.get("ev") == "message_released"]
    hist = (await owner.request("history", group_id=gid))["messages"]
    assert hist == []  # (not even a deleted one: the group never had it)


async def test_a_held_message_its_sender_deletes_while_its_release_is_stored(make_server, tmp_path):
    """The deletion waits for the release being stored (the message's own turn), then finds the
    message shown and tells the group. Before, it read the message as still held and told its
    sender alone: the group was shown the release and never heard that the message was gone."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    held = (await member.send(gid, "刷单返利，稳赚"))["seq"]
    item = (await _review_items(srv))[held]
    async with writes_held(srv, "messages"):
        release = asyncio.ensure_future(srv.admin("decide", str(item), "--decision", "release", "--note", "ok"))
        await until_write_waits(srv, "messages")
        delete = asyncio.ensure_future(member.call("delete_message", group_id=gid, seq=held))
        await asyncio.sleep(0.3)
        assert not delete.done()
    assert (await release)[0] == 0
    assert (await delete)["ok"]
    assert (await owner.next_event("message_deleted", timeout=3))["seq"] == held
    hist = (await owner.request("history", group_id=gid))["messages"]
    assert [(m["seq"], m.get("deleted")) for m in hist] == [(held, True)]


async def test_a_message_deleted_twice_at_once_is_told_once(make_server, tmp_path):
    """Its sender and an operator's ``remove-message`` at once: one of them hides it, the other
    finds it gone, and the group hears of it once."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    seq = (await member.send(gid, "hello"))["seq"]
    await owner.next_event("message", timeout=2)
    async with writes_held(srv, "messages"):
        removal = asyncio.ensure_future(srv.admin("remove-message", gid, str(seq), "--reason", "spam"))
        await until_write_waits(srv, "messages")
        await asyncio.sleep(0.2)
        delete = asyncio.ensure_future(member.call("delete_message", group_id=gid, seq=seq))
        await asyncio.sleep(0.3)
    rc, out, err = await removal
    # (whichever took the message's turn first hid it; the other found it gone)
    assert rc == 0 or (rc == 2 and "already deleted" in err), (out, err)
    assert (await delete)["ok"]
    await asyncio.sleep(0.5)
    deleted = [e for e in owner.drain_events() if e.get("ev") == "message_deleted"]
    assert [e["seq"] for e in deleted] == [seq]


async def test_remove_term_tells_the_group_only_of_messages_it_saw(make_server, tmp_path):
    """``remove-term`` hides every stored message with the term, held ones included, but the group
    is sent ``message_deleted`` only for those it was delivered: a held message was never shown."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    held = (await member.send(gid, "刷单返利，稳赚"))["seq"]
    shown = (await member.send(gid, "稳赚不赔"))["seq"]
    await asyncio.sleep(0.2)
    owner.drain_events()
    rc, out, err = await srv.admin("remove-term", "稳赚", "--reason", "fraud wave")
    assert rc == 0 and "removed 2" in out, err
    assert (await owner.next_event("message_deleted", timeout=2))["seq"] == shown
    await asyncio.sleep(0.3)
    assert not [e for e in owner.drain_events() if e.get("ev") == "message_deleted"]
    assert srv.db_rows("SELECT seq FROM messages WHERE deleted_at IS NOT NULL ORDER BY seq") == [(held,), (shown,)]


async def test_remove_term_settles_a_held_hits_review_and_keeps_it_out_of_the_group_log(make_server, tmp_path):
    """A reviewer's case: ``remove-term`` hid a held message but left its review item open (a release
    afterwards marked the deleted message delivered: ``history`` then showed a deletion where the
    group had never had a message), and the group's own entry named its seq to the managers in
    ``group_log``. The item is settled with the removal; the held hit is recorded apart."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    held = (await member.send(gid, "刷单返利，稳赚"))["seq"]
    shown = (await member.send(gid, "稳赚不赔"))["seq"]
    [item] = [json.loads(x) for x in (await srv.admin("review-queue", "--open"))[1].splitlines()]
    rc, out, err = await srv.admin("remove-term", "稳赚", "--reason", "fraud wave")
    assert rc == 0 and "removed 2" in out, err
    assert srv.db_rows("SELECT status, decision FROM review_queue WHERE item_id = ?", item["item_id"]) == [
        ("decided", "remove")]
    rc, out, err = await srv.admin("decide", str(item["item_id"]), "--decision", "release", "--note", "ok")
    assert rc == 2 and "already decided" in err, (out, err)
    seqs = [m["seq"] for m in (await owner.request("history", group_id=gid))["messages"]]
    assert held not in seqs and shown in seqs
    entries = (await owner.request("group_log", group_id=gid))["entries"]
    [entry] = [e for e in entries if e["action"] == "remove_term"]
    assert entry["detail"]["seqs"] == [shown]
    assert not [e for e in entries if held in (e.get("detail") or {}).get("seqs", [held + 1])]
    assert srv.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'remove_term_held' AND group_id = ?", gid) == [(1,)]


async def test_flag_delivers_and_queues(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    r = await member.send(gid, "VPN 下载 地址")
    assert "held" not in r
    assert (await owner.next_event("message"))["seq"] == r["seq"]
    rc, out, _ = await srv.admin("review-queue", "--open")
    item = json.loads(out.splitlines()[0])
    assert item["action"] == "flag" and item["seq"] == r["seq"]
    score = (await member.request("me"))["credit_score"]
    rc, _, _ = await srv.admin("decide", str(item["item_id"]), "--decision", "remove", "--note", "porn")
    assert rc == 0
    assert (await owner.next_event("message_deleted", timeout=2))["seq"] == r["seq"]
    assert (await member.request("me"))["credit_score"] == score - 10  # credit.penalty_report_upheld


async def test_remove_message_settles_the_open_flag_item(make_server, tmp_path):
    """``remove-message`` of a flagged message left its review item open: a later ``decide --decision
    remove`` penalised the sender a second time for the one message. The item is settled with it."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    seq = (await member.send(gid, "VPN 下载 地址"))["seq"]
    [item] = [json.loads(x) for x in (await srv.admin("review-queue", "--open"))[1].splitlines()]
    score = (await member.request("me"))["credit_score"]
    rc, out, err = await srv.admin("remove-message", gid, str(seq), "--reason", "porn")
    assert rc == 0 and "review item was settled" in out, err
    rc, out, err = await srv.admin("decide", str(item["item_id"]), "--decision", "remove", "--note", "porn")
    assert rc == 2 and "already decided" in err, (out, err)
    assert (await member.request("me"))["credit_score"] == score - 10  # once
    assert srv.db_rows("SELECT status, decision FROM review_queue WHERE item_id = ?", item["item_id"]) == [
        ("decided", "remove")]
    assert (await srv.admin("review-queue", "--open"))[1] == ""


async def test_decide_remove_and_remove_message_at_once_cost_the_sender_once(started, tmp_path, backend):
    """``decide --decision remove`` did not take the per-message lock ``remove-message`` takes: with the
    decision's write in flight, ``remove-message`` read the message as still shown and penalised the
    sender again. Both take the lock now, and the second finds the message gone."""
    (tmp_path / "porn.txt").write_text("vpn下载\n", encoding="utf-8")
    srv = started(CountedServer(
        tmp_path, "\n[[content.lists]]\ncategory = \"pornography\"\npath = \"porn.txt\"\naction = \"flag\"\n",
        backend=backend))  # (no readiness probe's write counted as the decision's)
    owner, member, gid = await group(srv)
    seq = (await member.send(gid, "VPN 下载 地址"))["seq"]
    [item] = [json.loads(x) for x in (await srv.admin("review-queue", "--open"))[1].splitlines()]
    score = (await member.request("me"))["credit_score"]
    async with writes_held(srv, "review_queue"):
        # A second flagged message: its write (with its review item) waits for the hold, so the
        # decision's write is queued behind it, where the test can see it.
        second = asyncio.ensure_future(_sent(member, gid, "VPN 下载 另一个"))
        await until_write_waits(srv, "review_queue")
        before = await writes_queued(srv)
        deciding = asyncio.ensure_future(
            srv.admin("decide", str(item["item_id"]), "--decision", "remove", "--note", "porn"))
        await until_writes_queued(srv, more_than=before)
        removing = asyncio.ensure_future(srv.admin("remove-message", gid, str(seq), "--reason", "porn"))
        # Without the lock, remove-message's own write is queued next; with it, it waits for the
        # decision. A second for that, by the clock: on SQLite the hold must end within the writer's
        # busy_timeout (5 s), and 60 scrapes of a busy server took longer than that.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while loop.time() < deadline and not removing.done() and await writes_queued(srv) <= before + 1:
            await asyncio.sleep(0.025)
    decided, removed = await deciding, await removing
    await second
    assert decided[0] == 0, decided
    assert removed[0] == 2 and "already deleted" in removed[2], removed
    assert (await member.request("me"))["credit_score"] == score - 10


async def _sent(c, gid: str, text: str) -> dict:
    """Send until acknowledged, again with the same client_msg_id after ``internal`` "send it again":
    on SQLite a hold that a busy machine stretches past busy_timeout (5 s) fails the held batch. The
    answer may take as long as the hold (on PostgreSQL, no timeout ends it): on a busy machine, the
    two operator commands started inside it took more than the client's usual 10 s."""
    while True:
        r = await c.call("send", timeout=60.0, group_id=gid, text=text, client_msg_id="held-send")
        if r["ok"]:
            return r
        assert r["code"] == "internal", r


def refuse_review_items(srv, categories: tuple[str, ...]) -> None:
    """The database refuses review items of these categories, as a failing disk would refuse the write."""
    listed = ", ".join(f"'{c}'" for c in categories)
    if srv.backend == "postgresql":
        srv.db_rows(f"ALTER TABLE review_queue ADD CONSTRAINT no_review CHECK (category NOT IN ({listed})) NOT VALID")
    else:
        srv.db_rows(f"CREATE TRIGGER no_review BEFORE INSERT ON review_queue WHEN NEW.category IN ({listed})"
                    " BEGIN SELECT RAISE(ABORT, 'no review item'); END")


def mend_review_items(srv) -> None:
    srv.db_rows("ALTER TABLE review_queue DROP CONSTRAINT no_review" if srv.backend == "postgresql"
                else "DROP TRIGGER no_review")


async def test_a_message_whose_review_item_cannot_be_stored_is_not_stored_either(make_server, tmp_path):
    """A held or flagged message and its review item are one write: when the item cannot be stored,
    the message is refused (``internal``, nothing stored, the ``client_msg_id`` not used up) instead
    of being stored, acknowledged and even delivered with nothing for an operator to review. An
    ordinary message in the same batch is stored; once the store takes items again, the retry is
    stored with its item. A flagged edit is refused the same way."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    shown = (await member.send(gid, "周末爬山"))["seq"]
    assert (await owner.next_event("message"))["seq"] == shown
    refuse_review_items(srv, ("rumour_fraud", "pornography"))
    held, flagged, plain = await asyncio.gather(
        member.call("send", group_id=gid, text="刷单返利，日入千元", client_msg_id="c-held"),
        member.call("send", group_id=gid, text="vpn下载 地址", client_msg_id="c-flag"),
        owner.call("send", group_id=gid, text="好的", client_msg_id="c-plain"))
    assert (held["ok"], held.get("code")) == (False, "internal"), held
    assert (flagged["ok"], flagged.get("code")) == (False, "internal"), flagged
    assert plain["ok"], plain
    edit = await member.call("edit_message", group_id=gid, seq=shown, text="vpn下载 在这里")
    assert (edit["ok"], edit.get("code")) == (False, "internal"), edit
    await asyncio.sleep(0.2)
    assert srv.db_rows("SELECT seq, text FROM messages ORDER BY seq") == [(shown, "周末爬山"), (plain["seq"], "好的")]
    assert srv.db_rows("SELECT count(*) FROM review_queue") == [(0,)]
    assert [e["seq"] for e in owner.drain_events() if e.get("ev") == "message"] == [plain["seq"]]
    mend_review_items(srv)
    held = await member.send(gid, "刷单返利，日入千元", client_msg_id="c-held")
    flagged = await member.send(gid, "vpn下载 地址", client_msg_id="c-flag")
    assert held["held"] is True and "held" not in flagged
    items = srv.db_rows("SELECT seq, action FROM review_queue ORDER BY seq")
    assert items == [(held["seq"], "review"), (flagged["seq"], "flag")]


async def test_word_lists_reload_on_sighup(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    assert (await member.call("send", group_id=gid, text="六合彩"))["ok"]
    with open(srv.dir / "gambling.txt", "a", encoding="utf-8") as f:
        f.write("六合彩\n")
    srv.proc.send_signal(signal.SIGHUP)
    for _ in range(40):
        await asyncio.sleep(0.05)
        r = await member.call("send", group_id=gid, text="买 六 合 彩")
        if r.get("code") == "content_blocked":
            break
    assert r["code"] == "content_blocked"
    # A reload whose lists cannot be read keeps the lists in use: nothing slips through meanwhile.
    (srv.dir / "gambling.txt").unlink()
    srv.proc.send_signal(signal.SIGHUP)
    for _ in range(40):
        if "config not reloaded" in "".join(srv.output):
            break
        await asyncio.sleep(0.05)
    refusal = [line for line in srv.output if "config not reloaded" in line]
    assert refusal and "gambling.txt" in refusal[0]  # the reload's refusal names the file
    assert (await member.call("send", group_id=gid, text="六合彩"))["code"] == "content_blocked"
    assert (await member.call("send", group_id=gid, text="网上赌场"))["code"] == "content_blocked"


async def test_agreement_must_be_accepted_before_posting(server, tmp_path):
    owner = await server.user()
    gid = await open_group(owner)
    assert (await owner.request("agreement"))["version"] is None
    (tmp_path / "rules.txt").write_text("一、不得发布违法信息", encoding="utf-8")
    (tmp_path / "agreement.txt").write_text("服务协议正文", encoding="utf-8")
    rc, _, err = await server.admin("set-agreement", "--version", "2026-11", "--rules-file",
                                    str(tmp_path / "rules.txt"), "--agreement-file", str(tmp_path / "agreement.txt"))
    assert rc == 0, err
    assert (await owner.next_event("notice", timeout=2))["kind"] == "agreement"
    r = await owner.call("send", group_id=gid, text="hi")
    assert r["code"] == "forbidden" and r["agreement_version"] == "2026-11"
    a = await owner.request("agreement")
    assert a["accepted"] is False and "违法" in a["rules"]
    assert (await owner.call("accept_agreement", version="old"))["code"] == "conflict"
    await owner.request("accept_agreement", version="2026-11")
    assert (await owner.call("send", group_id=gid, text="hi"))["ok"]
    assert server.db_rows("SELECT COUNT(*) FROM agreement_acceptances") == [(1,)]


async def _publish_agreement(server, tmp_path, version: str = "2026-11") -> None:
    (tmp_path / "rules.txt").write_text("一、不得发布违法信息", encoding="utf-8")
    (tmp_path / "agreement.txt").write_text("服务协议正文", encoding="utf-8")
    rc, _, err = await server.admin("set-agreement", "--version", version, "--rules-file",
                                    str(tmp_path / "rules.txt"), "--agreement-file", str(tmp_path / "agreement.txt"))
    assert rc == 0, err


def _waits_for_the_agreement(reply, version: str = "2026-11") -> None:
    assert reply["code"] == "forbidden" and reply["agreement_version"] == version, reply


async def test_a_new_agreement_version_is_not_accepted_by_accepting_the_old_one(server, tmp_path):
    """``agreement``'s ``accepted`` is about the current version only: after the operator publishes a
    new one, a user who accepted the old one is told ``accepted: false`` (as ``send`` refuses them with
    the new ``agreement_version``), so a client shows the new text to accept. Saying ``true`` because
    some version was accepted would leave the client showing nothing while every post is refused;
    a user restarted into the server (it reloads acceptances) is told the same."""
    owner = await server.user()
    gid = await open_group(owner)
    await _publish_agreement(server, tmp_path, "2026-11")
    await owner.request("accept_agreement", version="2026-11")
    assert (await owner.request("agreement"))["accepted"] is True
    await _publish_agreement(server, tmp_path, "2027-01")
    a = await owner.request("agreement")
    assert (a["version"], a["accepted"]) == ("2027-01", False), a
    _waits_for_the_agreement(await owner.call("send", group_id=gid, text="hi"), "2027-01")
    [owner] = await restart(server, owner)
    a = await owner.request("agreement")
    assert (a["version"], a["accepted"]) == ("2027-01", False), a
    await owner.request("accept_agreement", version="2027-01")
    assert (await owner.request("agreement"))["accepted"] is True
    assert (await owner.call("send", group_id=gid, text="hi"))["ok"]
    await owner.close()


async def test_an_edit_waits_for_the_current_agreement(server, tmp_path):
    """G5: an edit reaches the group like a message, so it too is refused until the current version
    of the agreement is accepted; the message stays as it was."""
    owner, member, gid = await group(server)
    seq = (await owner.send(gid, "before the rules"))["seq"]
    await _publish_agreement(server, tmp_path)
    _waits_for_the_agreement(await owner.call("edit_message", group_id=gid, seq=seq, text="edited"))
    hist = {m["seq"]: m for m in (await member.request("history", group_id=gid))["messages"]}
    assert hist[seq]["text"] == "before the rules"
    await owner.request("accept_agreement", version="2026-11")
    assert (await owner.call("edit_message", group_id=gid, seq=seq, text="edited"))["ok"]
    assert (await member.next_event("message_edited", timeout=2))["text"] == "edited"


async def test_a_reaction_waits_for_the_current_agreement(server, tmp_path):
    """G5: a reaction speaks in the group, so a member who has not accepted the current agreement
    cannot add one (nor take one back) until they do."""
    owner, member, gid = await group(server)
    seq = (await owner.send(gid, "before the rules"))["seq"]
    assert (await member.call("react", group_id=gid, seq=seq, emoji="👍", on=True))["ok"]
    await _publish_agreement(server, tmp_path)
    for on in (True, False):
        _waits_for_the_agreement(await member.call("react", group_id=gid, seq=seq, emoji="👏", on=on))
    await member.request("accept_agreement", version="2026-11")
    assert (await member.call("react", group_id=gid, seq=seq, emoji="👏", on=True))["ok"]
    assert (await member.call("react", group_id=gid, seq=seq, emoji="👍", on=False))["ok"]


async def test_a_new_announcement_waits_for_the_current_agreement(server, tmp_path):
    """G5: a new group announcement reaches every member like a message and waits for the manager's
    acceptance of the current agreement; clearing one stays allowed (taking content down)."""
    owner, member, gid = await group(server)
    await owner.request("set_announcement", group_id=gid, text="旧公告")
    await _publish_agreement(server, tmp_path)
    _waits_for_the_agreement(await owner.call("set_announcement", group_id=gid, text="新公告"))
    assert (await member.request("group_info", group_id=gid))["announcement"] == "旧公告"
    assert (await owner.call("set_announcement", group_id=gid, text=""))["ok"]
    await owner.request("accept_agreement", version="2026-11")
    assert (await owner.call("set_announcement", group_id=gid, text="新公告"))["ok"]
    assert (await member.request("group_info", group_id=gid))["announcement"] == "新公告"


async def test_new_names_and_pins_wait_for_the_current_agreement(server, tmp_path):
    """A compliance audit's case: a group's new name, a new display name and a pin reach others like
    a message does, and went through without the current agreement accepted (a public account's
    name and intro too, tests/e2e/test_public_accounts.py). Restating what is shown, and unpinning,
    stay open."""
    owner, member, gid = await group(server)
    seq = (await owner.send(gid, "before the rules"))["seq"]
    await owner.request("pin_message", group_id=gid, seq=seq, on=True)
    await _publish_agreement(server, tmp_path)
    me = await owner.request("me")
    _waits_for_the_agreement(await owner.call("update_group", group_id=gid, name="新群名"))
    _waits_for_the_agreement(await owner.call("set_profile", display_name="新名字"))
    # (a red-team reviewer: a new group's name went out where a rename's waited)
    _waits_for_the_agreement(await owner.call("create_group", name="新群", category="friends", join_policy="open"))
    assert (await owner.call("update_group", group_id=gid, name="tea room"))["ok"]  # (restated)
    assert (await owner.call("set_profile", display_name=me["display_name"]))["ok"]
    assert (await owner.call("pin_message", group_id=gid, seq=seq, on=False))["ok"]
    _waits_for_the_agreement(await owner.call("pin_message", group_id=gid, seq=seq, on=True))
    info = await member.request("group_info", group_id=gid)
    assert info["name"] == "tea room" and info.get("pinned", []) == []
    await owner.request("accept_agreement", version="2026-11")
    for op, args in (("update_group", {"group_id": gid, "name": "新群名"}), ("set_profile", {"display_name": "新名字"}),
                     ("pin_message", {"group_id": gid, "seq": seq, "on": True}),
                     ("create_group", {"name": "新群", "category": "friends", "join_policy": "open"})):
        assert (await owner.call(op, **args))["ok"], op


async def test_a_pin_waits_while_the_platform_suspends_the_group(server):
    """A compliance audit's case: a pin shows a message to the whole group again, and went through
    while the platform suspended the group's posting (a new announcement is refused then)."""
    owner, member, gid = await group(server)
    seq = (await owner.send(gid, "置顶"))["seq"]
    rc, _, err = await server.admin("suspend-group", gid, "--seconds", "600", "--reason", "整改")
    assert rc == 0, err
    r = await owner.call("pin_message", group_id=gid, seq=seq, on=True)
    assert r["code"] == "group_suspended", r
    rc, out, err = await server.admin("sanctions", "--group", gid)
    [row] = [json.loads(x) for x in out.splitlines()]
    await server.admin("lift", str(row["id"]), "--reason", "已整改")
    assert (await owner.call("pin_message", group_id=gid, seq=seq, on=True))["ok"]


async def test_platform_notice_freeze_and_remove_term(server):
    owner, member, gid = await group(server)
    other_owner = await server.user()
    g2 = await open_group(other_owner, category="work")
    rc, _, _ = await server.admin("notice", "--text", "系统维护通知")
    assert rc == 0
    for c in (owner, member, other_owner):
        ev = await c.next_event("notice", timeout=2)
        assert ev["kind"] == "platform" and ev["text"] == "系统维护通知"
    rc, _, _ = await server.admin("notice", "--text", "工作群提醒", "--category", "work")
    assert (await other_owner.next_event("notice", timeout=2))["text"] == "工作群提醒"
    await asyncio.sleep(0.2)
    assert not [e for e in member.drain_events() if e.get("ev") == "notice"]

    rc, out, _ = await server.admin("freeze-category", "friends", "--seconds", "60", "--reason", "emergency")
    assert rc == 0 and "froze 1" in out
    assert (await member.next_event("group_suspended", timeout=2))["group_id"] == gid
    assert (await owner.call("send", group_id=gid, text="x"))["code"] == "group_suspended"
    assert (await other_owner.call("send", group_id=g2, text="x"))["ok"]

    s1 = (await other_owner.send(g2, "谣言：明天停水"))["seq"]
    s2 = (await other_owner.send(g2, "正常消息"))["seq"]
    rc, out, _ = await server.admin("remove-term", "明天 停水", "--reason", "rumour")
    assert rc == 0 and "removed 1" in out
    assert (await other_owner.next_event("message_deleted", timeout=2))["seq"] == s1
    hist = {m["seq"]: m for m in (await other_owner.request("history", group_id=g2))["messages"]}
    assert hist[s1].get("deleted") is True and hist[s2]["text"] == "正常消息"

    # the term is found as the word lists find it: in Cyrillic capitals (Н Т Т Р), rn for m
    s3 = (await other_owner.send(g2, "看 НТТР 链接"))["seq"]
    s4 = (await other_owner.send(g2, "rnail me"))["seq"]
    s5 = (await other_owner.send(g2, "нттр"))["seq"]  # (small Cyrillic н т pass for no Latin letter)
    for term in ("http", "mail"):
        rc, out, _ = await server.admin("remove-term", term, "--reason", "spam")
        assert rc == 0 and out.startswith("removed 1 messages"), out
    hist = {m["seq"]: m for m in (await other_owner.request("history", group_id=g2))["messages"]}
    assert hist[s3].get("deleted") is True and hist[s4].get("deleted") is True and hist[s5]["text"] == "нттр"


async def test_a_frozen_category_cannot_be_escaped_by_a_new_or_moved_group(server):
    """G5 emergency handling: while a category is frozen, no group is opened in it or moved into it
    (it would post freely), also after a restart; other categories and the end of the freeze are free."""
    owner, member, gid = await group(server)
    other = await server.user()
    g2 = await open_group(other, category="work")
    rc, out, err = await server.admin("freeze-category", "friends", "--seconds", "12", "--reason", "emergency")
    assert rc == 0, err
    until_ms = int(out.rsplit("(", 1)[1].split(")")[0])
    refused = await owner.call("create_group", name="new room", category="friends", join_policy="open")
    assert refused["code"] == "forbidden" and "frozen" in refused["reason"] and refused["until"] == until_ms
    moved = await other.call("update_group", group_id=g2, category="friends")
    assert moved["code"] == "forbidden" and moved["until"] == until_ms
    assert (await other.call("send", group_id=g2, text="still in work"))["ok"]
    # restating the category a frozen group has is no move; other changes still go through, but not
    # a new name (shown to every member, like a post)
    assert (await owner.call("update_group", group_id=gid, join_policy="approval", category="friends"))["ok"]
    assert (await owner.call("update_group", group_id=gid, name="renamed"))["code"] == "group_suspended"
    # the freeze is no sanction of the owner: a group elsewhere is theirs to open
    assert (await open_group(owner, category="work"))
    await server.stopped()
    server.start()
    again = await server.client()
    await again.login(owner.username, "password123")
    assert (await again.call("create_group", name="after restart", category="friends",
                             join_policy="open"))["code"] == "forbidden"
    await asyncio.sleep(max(0.0, until_ms / 1000 - time.time()) + 0.2)
    assert await open_group(again, category="friends")
    assert (await again.call("send", group_id=gid, text="thawed"))["ok"]


async def test_every_text_others_see_is_checked(make_server, tmp_path):
    """Group names, announcements and display names go through the same block lists as messages;
    a blocked text changes nothing (v2: "Text everywhere is checked")."""
    from tests.e2e.harness import new_phone

    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)

    def blocked(reply, noun):
        assert reply["code"] == "content_blocked", reply
        assert noun in reply["reason"] and "pyramid_gambling" in reply["reason"]

    blocked(await owner.call("create_group", name="赌博交流群", category="friends", join_policy="open"), "group name")
    blocked(await owner.call("update_group", group_id=gid, name="網上賭場"), "group name")
    blocked(await owner.call("set_announcement", group_id=gid, text="赌 博 规则"), "announcement")
    blocked(await member.call("set_profile", display_name="赌博大王"), "display name")
    c = await srv.client()
    phone = new_phone()
    await c.request("request_code", phone=phone)
    blocked(await c.call("register", username="gambler1", password="password123", phone=phone,
                         code=srv.last_code(phone), display_name="賭 博"), "display name")
    info = await owner.request("group_info", group_id=gid)
    assert info["name"] == "tea room" and info["announcement"] == ""
    assert [g["name"] for g in (await owner.request("my_groups"))["groups"]] == ["tea room"]
    assert (await member.request("me"))["display_name"] != "赌博大王"
    # A clean text in the same fields still goes through.
    await owner.request("set_announcement", group_id=gid, text="博物馆周六见")
    await member.request("set_profile", display_name="博物馆迷")
    assert (await owner.request("group_info", group_id=gid))["announcement"] == "博物馆周六见"


async def test_a_blocked_text_anywhere_costs_credit_and_is_recorded_with_its_field(make_server, tmp_path):
    """G10, Art. 7: a ``block`` hit on any text others would see costs its author
    ``credit.penalty_blocked_content`` and writes one ``content_blocked`` entry (actor ``system``, the
    author, the group when there is one, the category, the matched term and the ``field`` refused:
    never the text, nobody else's data), as a refused message does; at ``register`` there is no
    account yet, so it is only refused."""
    from tests.e2e.harness import new_phone

    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    seq = (await owner.send(gid, "hi"))["seq"]
    cases = [  # (field recorded, who writes it, the group recorded, the request)
        ("message", member, gid, ("send", {"group_id": gid, "text": "赌博"})),
        ("group_name", owner, None, ("create_group", {"name": "赌博交流群", "category": "friends",
                                                      "join_policy": "open"})),
        ("group_name", owner, gid, ("update_group", {"group_id": gid, "name": "網上賭場"})),
        ("announcement", owner, gid, ("set_announcement", {"group_id": gid, "text": "赌 博 规则"})),
        ("display_name", member, None, ("set_profile", {"display_name": "赌博大王"})),
        ("reaction", member, gid, ("react", {"group_id": gid, "seq": seq, "emoji": "赌博", "on": True})),
        ("file_name", member, None, ("upload_begin", {"mime": "image/png", "size": 68, "name": "赌博.png"})),
        ("ban_reason", owner, gid, ("ban", {"group_id": gid, "user_id": member.user_id, "reason": "赌博"})),
        ("invite_note", owner, gid, ("create_invite_link", {"group_id": gid, "note": "赌博群"})),
    ]
    nouns = {"message": "message", "group_name": "group name", "announcement": "announcement",
             "display_name": "display name", "reaction": "reaction", "file_name": "file name",
             "ban_reason": "ban's reason", "invite_note": "invite link's note"}
    for field, who, _, (op, args) in cases:
        before = (await who.request("me"))["credit_score"]
        refused = await who.call(op, **args)
        assert refused["code"] == "content_blocked", op
        assert refused["reason"] == f"the {nouns[field]} contains prohibited content (pyramid_gambling)", op
        assert (await who.request("me"))["credit_score"] == before - 2, op  # credit.penalty_blocked_content
    for _ in range(100):  # (the entries are written beside the refusal)
        rows = srv.db_rows("SELECT actor_type, actor_id, group_id, target_id, reason, detail FROM audit"
                           " WHERE action = 'content_blocked' ORDER BY id")
        if len(rows) >= len(cases):
            break
        await asyncio.sleep(0.02)
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("system", None, where, who.user_id, "pyramid_gambling") for _, who, where, _ in cases]
    details = [json.loads(r[5]) for r in rows]
    assert [d["field"] for d in details] == [field for field, *_ in cases]
    assert all(d.keys() == {"field", "term", "penalty"} and d["penalty"] == 2 for d in details), details
    # No account yet at register: refused, nothing recorded, nobody charged.
    c = await srv.client()
    phone = new_phone()
    await c.request("request_code", phone=phone)
    assert (await c.call("register", username="gambler1", password="password123", phone=phone,
                         code=srv.last_code(phone), display_name="賭 博"))["code"] == "content_blocked"
    await asyncio.sleep(0.1)
    assert len(srv.db_rows("SELECT id FROM audit WHERE action = 'content_blocked'")) == len(cases)


async def test_taking_back_a_reaction_or_restating_a_name_is_never_charged(make_server, tmp_path):
    """Only what is published now costs credit: a reaction taken back publishes nothing, so it is not
    refused for its emoji; a group or display name restated as it is (a term matching it listed since)
    is refused, but its author wrote nothing new, so nothing is charged or recorded."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    seq = (await owner.send(gid, "hi"))["seq"]
    await owner.request("update_group", group_id=gid, name="牌局之家")
    await member.request("set_profile", display_name="牌局达人")
    assert (await member.call("react", group_id=gid, seq=seq, emoji="牌局", on=True))["ok"]
    scores = [(await c.request("me"))["credit_score"] for c in (owner, member)]
    with open(srv.dir / "gambling.txt", "a", encoding="utf-8") as f:
        f.write("牌局\n")
    srv.proc.send_signal(signal.SIGHUP)
    for _ in range(100):  # until the reload took: the restated display name is refused
        restated = await member.call("set_profile", display_name="牌局达人")
        if restated.get("code") == "content_blocked":
            break
        await asyncio.sleep(0.05)
    assert restated["code"] == "content_blocked" and restated["reason"].startswith("the display name"), restated
    assert (await member.call("react", group_id=gid, seq=seq, emoji="牌局", on=False))["ok"]
    refused = await owner.call("update_group", group_id=gid, name="牌局之家", category="friends")
    assert refused["code"] == "content_blocked" and refused["reason"].startswith("the group name"), refused
    assert [(await c.request("me"))["credit_score"] for c in (owner, member)] == scores
    await asyncio.sleep(0.1)
    assert srv.db_rows("SELECT id FROM audit WHERE action = 'content_blocked'") == []
    # A new text with the term is charged as ever.
    assert (await member.call("react", group_id=gid, seq=seq, emoji="牌局", on=True))["code"] == "content_blocked"
    assert (await member.request("me"))["credit_score"] == scores[1] - 2


async def test_upload_file_names_are_screened(make_server, tmp_path):
    """A file name others will see is text like any other (G10): blocked words refuse the upload."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    for name in ("网上赌场.png", "刷单返利.png"):  # block; review (a name cannot wait for review)
        refused = await member.call("upload_begin", mime="image/png", size=68, name=name)
        assert refused["code"] == "content_blocked", (name, refused)
    assert (await member.call("upload_begin", mime="image/png", size=68, name="holiday.png"))["ok"]
    assert (await member.call("upload_begin", mime="image/png", size=68, name="a/b.png"))["code"] == "bad_request"


async def test_a_flagged_reaction_or_file_name_is_shown_and_recorded(make_server, tmp_path):
    """A ``flag`` hit is delivered and brought to the operators (G10). A reaction and a file name cannot
    be queued (nothing stands in for them while they wait): the hit went through and nobody learned of
    it. It is written to the enforcement record now, with the field, costing no credit, once what
    carries it is stored (not for a request refused, or one that changed nothing)."""
    from tests.e2e.test_media import pdf, upload

    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    seq = (await owner.send(gid, "hello"))["seq"]
    score = (await member.request("me"))["credit_score"]
    assert (await member.call("react", group_id=gid, seq=seq, emoji="vpn下载", on=True))["ok"]
    assert (await owner.next_event("reaction"))["emoji"] == "vpn下载"
    # The same reaction again changes nothing and shows nothing: not recorded again.
    assert (await member.call("react", group_id=gid, seq=seq, emoji="vpn下载", on=True))["ok"]
    assert (await upload(member, pdf(), "application/pdf", name="VPN下载.pdf"))["ok"]
    assert (await member.request("me"))["credit_score"] == score

    async def entries() -> list[tuple]:
        return srv.db_rows("SELECT group_id, target_id, reason, detail FROM audit WHERE action = 'content_flagged'"
                           " ORDER BY id")

    for _ in range(50):
        if len(await entries()) == 2:
            break
        await asyncio.sleep(0.1)
    found = [(g, t, r, json.loads(d)) for g, t, r, d in await entries()]
    assert found == [
        (gid, member.user_id, "pornography", {"field": "reaction", "penalty": 0, "term": "vpn下载"}),
        (None, member.user_id, "pornography", {"field": "file_name", "penalty": 0, "term": "vpn下载"})], found


async def test_the_group_log_tells_managers_of_no_filter_hit_and_no_held_message(make_server, tmp_path):
    """A reviewer read a member's flagged reaction (``content_flagged``, with its list) in the owner's
    group_log, and the sender's deletion of their own held message (``delete_message`` with its seq),
    which tells the managers a message was held that they were never to know of. Both are kept in
    the record for the operators, and neither is listed."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    seq = (await owner.send(gid, "hello"))["seq"]
    assert (await member.call("react", group_id=gid, seq=seq, emoji="vpn下载", on=True))["ok"]
    held = await member.send(gid, "刷单返利 加我")
    assert held["held"] is True
    await member.request("delete_message", group_id=gid, seq=held["seq"])
    for _ in range(50):  # (a flag hit is written once the reaction is stored)
        if srv.db_rows("SELECT 1 FROM audit WHERE action = 'content_flagged'"):
            break
        await asyncio.sleep(0.1)
    # nor the platform's rejection of a held message (a reviewer read it, with the operator's note)
    rejected = await member.send(gid, "刷单返利 再来")
    waiting = [json.loads(x) for x in (await srv.admin("review-queue", "--open"))[1].splitlines()]
    # the one its sender deleted waits no more: a release of it would mark it delivered, and its
    # record entry (listed, as a release shows the group a message) tell the group of it
    assert held["seq"] not in [i.get("seq") for i in waiting], waiting
    [item] = [i for i in waiting if i.get("seq") == rejected["seq"]]
    assert (await srv.admin("decide", str(item["item_id"]), "--decision", "reject", "--note", "no"))[0] == 0
    # nor a blocked message (its record entry names the sender and the filter's category)
    assert (await member.call("send", group_id=gid, text="一起来赌博吧"))["code"] == "content_blocked"
    for _ in range(50):  # (written with its penalty, after the refusal)
        if srv.db_rows("SELECT 1 FROM audit WHERE action = 'content_blocked'"):
            break
        await asyncio.sleep(0.1)
    actions = srv.db_rows("SELECT action FROM audit WHERE group_id = ? ORDER BY id", gid)
    assert {"content_flagged", "delete_message_held", "review_reject", "content_blocked"} <= {a for (a,) in actions}, \
        actions
    log = (await owner.request("group_log", group_id=gid))["entries"]
    assert [e["action"] for e in log] == ["create_group"], log  # (no hit, no held message)
    assert rejected["held"] is True


async def test_a_file_name_listed_since_its_upload_cannot_be_attached(make_server, tmp_path):
    """A file's name was screened only at ``upload_begin``: once its words were put on a list, the
    upload could still be attached to any number of messages, each showing the name. It is screened
    again when attached (refused, not charged: the uploader writes nothing new), as its bytes are."""
    from tests.e2e.test_media import pdf, upload

    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    media_id = (await upload(member, pdf(), "application/pdf", name="老地方见.pdf"))["media_id"]
    assert (await member.call("send", group_id=gid, text="看看", attachments=[media_id]))["ok"]
    (tmp_path / "srv" / "gambling.txt").write_text("赌博\n老地方\n", encoding="utf-8")
    srv.proc.send_signal(signal.SIGHUP)
    assert await srv.logged("config reloaded")
    score = (await member.request("me"))["credit_score"]
    refused = await member.call("send", group_id=gid, text="再看看", attachments=[media_id])
    assert refused["code"] == "content_blocked" and "file name" in refused["reason"], refused
    assert (await member.request("me"))["credit_score"] == score


async def test_a_file_name_put_on_a_review_list_since_its_upload_cannot_be_attached(make_server, tmp_path):
    """As for a ``block`` list (above), a term put on a ``review`` list after the upload refuses the
    upload's attachment, ``content_blocked`` naming the file name and not charged: a file name is
    shown with every message carrying it and cannot wait for review (nothing could stand in for it
    meanwhile), so upload_begin refuses a review hit and the attach-time check must too (docs/protocol.md
    ``upload_begin``'s ``name``). Ignoring review lists at attach would publish a name the operators
    have since asked to see before anyone else does."""
    from tests.e2e.test_media import pdf, upload

    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    media_id = (await upload(member, pdf(), "application/pdf", name="老地方见.pdf"))["media_id"]
    assert (await member.call("send", group_id=gid, text="看看", attachments=[media_id]))["ok"]
    (tmp_path / "srv" / "fraud.txt").write_text("刷单返利\n老地方\n", encoding="utf-8")  # (the review list)
    srv.proc.send_signal(signal.SIGHUP)
    assert await srv.logged("config reloaded")
    score = (await member.request("me"))["credit_score"]
    refused = await member.call("send", group_id=gid, text="再看看", attachments=[media_id])
    assert refused["code"] == "content_blocked" and "file name" in refused["reason"], refused
    assert "rumour_fraud" in refused["reason"], refused
    assert (await member.request("me"))["credit_score"] == score
    # nothing was stored or held for review: the group's last message is still the first one
    last = (await owner.request("history", group_id=gid))["messages"][-1]
    assert last["text"] == "看看", last
    assert not srv.db_rows("SELECT 1 FROM messages WHERE text = ?", "再看看")


ASCII_WORDS = """
[[content.lists]]
category = "fraud"
path = "block.txt"
action = "block"
[[content.lists]]
category = "rumour"
path = "review.txt"
action = "review"
"""


async def test_usernames_ban_reasons_and_link_notes_pass_the_lists_and_register_checks_the_code_first(
        make_server, tmp_path):
    """A username is what others see while a display name is held or once one is removed, and a
    ban's reason and a link's note are shown to the managers as written: nothing stands in for them
    while a text waits, so a ``review`` hit is refused like a ``block`` one (they were stored and
    shown). And register checks the phone's code before the lists, which it told about without one."""
    from tests.e2e.harness import new_phone

    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "block.txt").write_text("scam\n", encoding="utf-8")
    (d / "review.txt").write_text("rumor\n", encoding="utf-8")
    srv = make_server(ASCII_WORDS)
    c = await srv.client()
    phone = new_phone()
    await c.request("request_code", phone=phone)
    without = await c.call("register", username="scamking", password="password123", phone=phone, code="000000")
    assert without["code"] == "bad_code", without
    for username, category in (("scamking", "fraud"), ("rumormill", "rumour")):
        refused = await c.call("register", username=username, password="password123", phone=phone,
                               code=srv.last_code(phone))
        assert refused["code"] == "content_blocked", refused
        assert refused["reason"].endswith(f"({category})") and "username" in refused["reason"], refused
    owner, member, gid = await group(srv)
    for op, args in (("ban", {"group_id": gid, "user_id": member.user_id, "reason": "spreads rumors"}),
                     ("create_invite_link", {"group_id": gid, "note": "rumor mill"})):
        refused = await owner.call(op, **args)
        assert refused["code"] == "content_blocked" and "(rumour)" in refused["reason"], (op, refused)
    assert (await owner.request("bans", group_id=gid))["bans"] == []


async def test_restating_a_text_listed_since_is_refused_but_costs_nothing(make_server, tmp_path):
    """An announcement, or an account's name or intro, sent again as it already is, after its words
    were put on a block list: refused, as any listed text, but not charged (its author writes nothing
    new), as a group's name or a display name restated already was not."""
    srv = word_server(make_server, tmp_path)
    owner, _, gid = await group(srv)
    verified = await srv.user(verify_id=True)
    aid = (await verified.request("create_account", name="老字号", category="culture", intro="老店新开",
                                  subject_type="individual"))["account_id"]
    assert (await owner.request("set_announcement", group_id=gid, text="今晚老地方见"))
    (tmp_path / "srv" / "gambling.txt").write_text("赌博\n老地方\n老字号\n老店\n", encoding="utf-8")
    srv.proc.send_signal(signal.SIGHUP)
    assert await srv.logged("config reloaded")
    scores = [(await c.request("me"))["credit_score"] for c in (owner, verified)]
    r = await owner.call("set_announcement", group_id=gid, text="今晚老地方见")
    assert r["code"] == "content_blocked", r
    for args in ({"name": "老字号"}, {"intro": "老店新开"}):
        r = await verified.call("update_account", account_id=aid, **args)
        assert r["code"] == "content_blocked", (args, r)
    assert [(await c.request("me"))["credit_score"] for c in (owner, verified)] == scores


async def test_a_blocked_name_in_a_request_refused_anyway_costs_nothing(make_server, tmp_path):
    """create_group refuses a bad category or a revoked right first (the contract's order), and a
    rename of a suspended group is group_suspended: a blocked name in such a request was charged."""
    srv = word_server(make_server, tmp_path)
    owner, _, gid = await group(srv)
    score = (await owner.request("me"))["credit_score"]
    r = await owner.call("create_group", name="网上赌场", category="no-such-category", join_policy="open")
    assert r["code"] == "bad_request", r
    assert (await owner.request("me"))["credit_score"] == score
    rc, _, err = await srv.admin("suspend-group", gid, "--seconds", "600", "--reason", "x")
    assert rc == 0, err
    score = (await owner.request("me"))["credit_score"]  # (after the sanction's own penalty)
    r = await owner.call("update_group", group_id=gid, name="网上赌场")
    assert r["code"] == "group_suspended", r
    assert (await owner.request("me"))["credit_score"] == score
    rc, _, err = await srv.admin("revoke-create", owner.username, "--reason", "x")
    assert rc == 0, err
    score = (await owner.request("me"))["credit_score"]
    r = await owner.call("create_group", name="网上赌场", category="friends", join_policy="open")
    assert r["code"] == "forbidden", r
    assert (await owner.request("me"))["credit_score"] == score


async def test_a_blocked_group_name_costs_nothing_in_an_update_refused_for_its_category(make_server, tmp_path):
    """A reviewer's case: ``update_group`` screened the name (recording the hit, taking the points)
    before it found the category unknown, so a request refused anyway cost credit; ``create_group``
    checks first. The category is checked first now."""
    srv = word_server(make_server, tmp_path)
    owner, _, gid = await group(srv)
    score = (await owner.request("me"))["credit_score"]
    r = await owner.call("update_group", group_id=gid, name="赌博群", category="nope")
    assert r["code"] == "bad_request", r
    assert (await owner.request("me"))["credit_score"] == score
    assert srv.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'content_blocked'") == [(0,)]
    r = await owner.call("update_group", group_id=gid, name="赌博群")  # (the name alone costs what it costs)
    assert r["code"] == "content_blocked", r
    assert (await owner.request("me"))["credit_score"] < score


async def test_a_raids_queue_is_listed_by_page_and_sender_and_decided_many_at_a_time(make_server, tmp_path):
    """review-queue filters and pages by the database (--user, --group, --kind, --after, --limit), a
    listing of any size reaches the operator's terminal whole (it was cut at 64 KiB: exit 3), and
    decide takes several item ids, deciding each alone and saying which could not be."""
    srv = word_server(make_server, tmp_path)
    owner, raider, gid = await group(srv)
    other = await srv.user()
    await other.request("join_group", group_id=gid)
    long = "刷单返利" + "快来" * 1950  # about 11.7 KB each as UTF-8
    raided = [(await raider.send(gid, f"{i}{long}"))["seq"] for i in range(12)]
    await other.send(gid, "刷单返利 就一次")
    rc, out, err = await srv.admin("review-queue", "--open")
    assert rc == 0, err
    assert len(out.encode()) > 128 * 1024 and len(out.splitlines()) == 13
    items = [json.loads(line) for line in out.splitlines()]

    async def listed(*args: str) -> list[dict]:
        rc, out, err = await srv.admin("review-queue", "--open", *args)
        assert rc == 0, err
        return [json.loads(line) for line in out.splitlines()]

    first = await listed("--user", raider.username, "--limit", "5")
    assert [i["seq"] for i in first] == raided[:5] and {i["sender_id"] for i in first} == {raider.user_id}
    rest = await listed("--user", raider.user_id, "--after", str(first[-1]["item_id"]))
    assert [i["seq"] for i in rest] == raided[5:]
    assert len(await listed("--group", gid, "--kind", "message")) == 13
    assert await listed("--kind", "post") == []
    rc, _, err = await srv.admin("review-queue", "--group", "999999999")
    assert rc == 2 and "unknown group" in err

    ids = [str(i["item_id"]) for i in first]
    rc, out, err = await srv.admin("decide", *ids, "999999", ids[0], "--decision", "reject", "--note", "raid")
    assert rc == 2, (out, err)
    lines = out.splitlines()
    assert [line for line in lines if line.endswith(": reject")] == [f"review item {i}: reject" for i in ids]
    assert "unknown review item 999999" in lines and f"review item {ids[0]} is already decided" in lines
    assert lines[-1] == "2 of 7 review items not decided"
    left = await listed()
    assert [i["item_id"] for i in left] == [i["item_id"] for i in items[5:]]
    rc, _, err = await srv.admin("decide", "999999", "--decision", "reject", "--note", "x")  # one: as ever
    assert rc == 2 and "unknown review item 999999" in err


async def test_delete_user_messages_leaves_held_ones_and_what_the_caller_never_saw(make_server, tmp_path):
    """[ext] delete_user_messages deletes only delivered messages (a held one waits for the platform,
    which alone knows of it), only those sent after the caller joined, names in the record what it
    hid, and is refused to a manager whose powers the platform suspended."""
    srv = word_server(make_server, tmp_path)
    owner, raider, gid = await group(srv)
    early = (await raider.send(gid, "before the admin came"))["seq"]
    admin = await srv.user()
    await admin.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    late = (await raider.send(gid, "after"))["seq"]
    held = await raider.send(gid, "刷单返利 加我")
    assert held["held"] is True
    r = await admin.request("delete_user_messages", group_id=gid, user_id=raider.user_id)
    assert (r["deleted"], r["more"]) == (1, False)  # only `late`: `early` predates the admin, `held` is held
    rows = dict(srv.db_rows("SELECT seq, deleted_at IS NOT NULL FROM messages WHERE group_id = ?", gid))
    assert (bool(rows[early]), bool(rows[late]), bool(rows[held["seq"]])) == (False, True, False)
    rc, out, err = await srv.admin("review-queue", "--open", "--user", raider.username)
    assert rc == 0 and [json.loads(x)["seq"] for x in out.splitlines()] == [held["seq"]]  # (still the platform's)
    [(detail,)] = srv.db_rows("SELECT detail FROM audit WHERE action = 'delete_user_messages'")
    assert json.loads(detail) == {"removed": 1, "seqs": [late]}
    r = await owner.request("delete_user_messages", group_id=gid, user_id=raider.user_id)
    assert r["deleted"] == 1  # the owner saw `early`
    rc, _, err = await srv.admin("suspend-admin", admin.username, "--seconds", "600", "--reason", "abuse")
    assert rc == 0, err
    refused = await admin.call("delete_user_messages", group_id=gid, user_id=raider.user_id)
    assert refused["code"] == "forbidden"
