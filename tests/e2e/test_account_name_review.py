"""The word lists' review and flag hits on a public account's name and introduction (P10, as G10 on a
group's name and announcement): a held text waits in the operators' review queue while the account
shows what it showed (a new account: ``公众号 ID``, no intro); a flagged one is shown and queued;
``decide`` settles either, never over a later change or a name another account took meanwhile."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.admin_helpers import admin_ok, admin_refused, notice
from tests.e2e.test_content import word_server


async def open_items(srv: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (await admin_ok(srv, "review-queue", "--open")).splitlines()]


async def decide(srv: Any, item: dict[str, Any], decision: str, note: str = "checked") -> str:
    return await admin_ok(srv, "decide", str(item["item_id"]), "--decision", decision, "--note", note)


async def create(owner: Any, name: str, intro: str = "") -> dict[str, Any]:
    return await owner.request("create_account", name=name, category="culture", intro=intro,
                               subject_type="individual")


async def shown(client: Any, aid: str) -> tuple[str, str]:
    info = await client.request("account_info", account_id=aid)
    return info["name"], info["intro"]


async def settled(client: Any) -> dict[str, Any]:
    return await client.next_event("held_text_settled", timeout=2)


async def test_a_held_account_name_and_intro_wait_for_the_operator(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, reader = await srv.user(verify_id=True), await srv.user()

    # create_account: the name is held, the account opens under its neutral name; nobody sees the text
    r = await create(owner, "刷单返利号", intro="每日好文")
    aid = r["account_id"]
    assert r["held"] is True and r["held_ids"] == {"name": r["held_id"]}
    assert await shown(reader, aid) == (f"公众号 {aid}", "每日好文")
    assert (await owner.request("my_held_texts"))["held"] == [
        {"held_id": r["held_id"], "kind": "account_name", "account_id": aid, "text": "刷单返利号",
         "created_at": (await owner.request("my_held_texts"))["held"][0]["created_at"]}]
    [item] = await open_items(srv)
    assert {k: item[k] for k in ("kind", "account_id", "sender_id", "action", "category", "text")} == {
        "kind": "account_name", "account_id": aid, "sender_id": owner.user_id, "action": "review",
        "category": "rumour_fraud", "text": "刷单返利号"}
    assert "group_id" not in item and "post_id" not in item

    # release: the name is shown, and taken (no other account may have it)
    assert "(applied)" in await decide(srv, item, "release")
    assert (await settled(owner)) == {"ev": "held_text_settled", "held_id": r["held_id"], "kind": "account_name",
                                      "account_id": aid, "outcome": "released", "applied": True}
    assert await shown(reader, aid) == ("刷单返利号", "每日好文")
    other = await srv.user(verify_id=True)
    assert (await other.call("create_account", name="刷单返利号", category="culture", intro="",
                             subject_type="individual"))["code"] == "conflict"

    # update_account: a held name and a held intro leave both as they were; the record keeps both
    score = (await owner.request("me"))["credit_score"]
    r = await owner.request("update_account", account_id=aid, name="刷单返利二号", intro="刷单返利教程")
    assert r["held"] is True and set(r["held_ids"]) == {"name", "intro"} and r["held_id"] == r["held_ids"]["name"]
    assert await shown(reader, aid) == ("刷单返利号", "每日好文")
    name_item, intro_item = await open_items(srv)
    assert (name_item["kind"], intro_item["kind"]) == ("account_name", "account_intro")
    [detail] = [json.loads(d) for (d,) in srv.db_rows(
        "SELECT detail FROM audit WHERE action = 'update_account' ORDER BY id")][-1:]
    assert detail == {"held_name": "刷单返利二号", "held_intro": "刷单返利教程"}

    # reject: discarded, the owner told (content_removed, then credit) and penalised
    await decide(srv, name_item, "reject", "不实名称")
    assert (await settled(owner))["outcome"] == "rejected"
    removed = await notice(owner, "content_removed")
    assert removed["account_id"] == aid and "不实名称" in removed["text"]
    assert (await notice(owner, "credit"))["delta"] == -10
    assert (await owner.request("me"))["credit_score"] == score - 10
    # withdrawn by its author: settled, and the operator can no longer release it
    await owner.request("withdraw_held_text", held_id=r["held_ids"]["intro"])
    assert (await settled(owner)) == {"ev": "held_text_settled", "held_id": r["held_ids"]["intro"],
                                      "kind": "account_intro", "account_id": aid, "outcome": "withdrawn"}
    assert "withdrawn" in await admin_refused(srv, "decide", str(intro_item["item_id"]), "--decision", "release",
                                              "--note", "x")
    assert await shown(reader, aid) == ("刷单返利号", "每日好文")
    assert (await owner.request("my_held_texts"))["held"] == []


async def test_a_flagged_account_name_is_shown_and_queued_and_removed_to_the_neutral_name(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, reader = await srv.user(verify_id=True), await srv.user()
    r = await create(owner, "vpn下载站")
    aid = r["account_id"]
    assert "held" not in r
    assert await shown(reader, aid) == ("vpn下载站", "")
    assert (await owner.call("update_account", account_id=aid, intro="vpn下载 教程"))["ok"]
    assert await shown(reader, aid) == ("vpn下载站", "vpn下载 教程")
    name_item, intro_item = await open_items(srv)
    assert (name_item["kind"], name_item["action"], intro_item["kind"], intro_item["action"]) == (
        "account_name", "flag", "account_intro", "flag")
    assert "(applied)" in await decide(srv, name_item, "remove", "违规名称")
    assert "(applied)" in await decide(srv, intro_item, "remove", "违规简介")
    assert await shown(reader, aid) == (f"公众号 {aid}", "")
    # the flagged name is free again; the stand-in is nobody's to take (two accounts would show it)
    other = await srv.user(verify_id=True)
    assert (await other.call("create_account", name=f"公众号 {aid}", category="culture", intro="",
                             subject_type="individual"))["code"] == "forbidden"
    assert (await create(other, "vpn下载站"))["account_id"]


async def test_a_held_name_another_account_took_meanwhile_is_not_applied(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    first, second = await srv.user(verify_id=True), await srv.user(verify_id=True)
    a = (await create(first, "刷单返利号"))["account_id"]
    b = (await create(second, "刷 单 返 利 号"))["account_id"]  # the same name by its key, held too
    item_a, item_b = await open_items(srv)
    assert "(applied)" in await decide(srv, item_b, "release")
    out = await decide(srv, item_a, "release")
    assert "not applied" in out and "taken" in out
    assert (await settled(first))["applied"] is False
    assert (await first.request("account_info", account_id=a))["name"] == f"公众号 {a}"
    assert (await first.request("account_info", account_id=b))["name"] == "刷 单 返 利 号"
    # the same for a name that reads as the one another account took meanwhile (a Cyrillic А for the A)
    c = (await create(first, "刷单返利 Apple"))["account_id"]
    d = (await create(second, "刷单返利 \u0410pple"))["account_id"]
    item_c, item_d = await open_items(srv)
    assert "(applied)" in await decide(srv, item_d, "release")
    assert "not applied" in await decide(srv, item_c, "release")
    assert (await settled(first))["applied"] is False
    assert (await first.request("account_info", account_id=c))["name"] == f"公众号 {c}"
    assert (await first.request("account_info", account_id=d))["name"] == "刷单返利 \u0410pple"
    # and a name changed since it was held is not overwritten: the newer name closes the held one
    r = await first.request("update_account", account_id=a, name="刷单返利三号")
    assert r["held"] is True
    assert (await first.call("update_account", account_id=a, name="茶馆日报"))["ok"]
    assert (await settled(first))["outcome"] == "superseded"
    assert await open_items(srv) == []
    rc, _, err = await srv.admin("decide", r["held_id"], "--decision", "release", "--note", "ok")
    assert rc != 0 and "superseded" in err, err
    assert (await first.request("account_info", account_id=a))["name"] == "茶馆日报"


async def test_only_the_owner_is_shown_what_waits_of_the_account(make_server, tmp_path):
    """What the web client's 我的账号 and 我运营的 show of an account's held name and intro comes from
    the owner's ``my_held_texts`` alone: the account's editor, a subscriber and a stranger learn
    nothing of it from any op or event; a settled one leaves the owner's list."""
    srv = word_server(make_server, tmp_path)
    owner, editor = await srv.user(verify_id=True), await srv.user(verify_id=True)
    fan, stranger = await srv.user(), await srv.user()
    aid = (await create(owner, "茶馆日报", intro="每日好文"))["account_id"]
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await fan.request("subscribe", account_id=aid)
    r = await owner.request("update_account", account_id=aid, name="刷单返利日报", intro="刷单返利教程")
    assert set(r["held_ids"]) == {"name", "intro"}
    listed = {h["kind"]: h for h in (await owner.request("my_held_texts"))["held"]}
    assert {k: (h["account_id"], h["text"]) for k, h in listed.items()} == {
        "account_name": (aid, "刷单返利日报"), "account_intro": (aid, "刷单返利教程")}

    for who in (editor, fan, stranger):
        seen = [await who.request("my_held_texts"), await who.request("account_info", account_id=aid),
                await who.request("my_accounts"), await who.request("my_subscriptions")]
        assert seen[0]["held"] == []
        assert "刷单返利" not in repr(seen), who.user_id
        assert (await who.call("withdraw_held_text", held_id=r["held_ids"]["name"]))["code"] == "not_found"
    # The owner's my_accounts does not carry it either: it is the held-text ops' alone.
    assert "刷单返利" not in repr(await owner.request("my_accounts"))

    name_item, intro_item = await open_items(srv)
    await decide(srv, name_item, "release")
    await decide(srv, intro_item, "reject", "广告")
    assert (await owner.request("my_held_texts"))["held"] == []
    for who in (editor, fan, stranger):
        assert [e for e in who.drain_events() if e.get("ev") == "held_text_settled"] == []


async def test_nothing_held_is_released_through_a_suspension(make_server, tmp_path):
    """While the platform suspends an account, its owner may not change its name (P13), nor the owner of
    a suspended group its name, nor may its members post: a release by the operator would do either
    through the measure. It is refused, saying why (exit 2); the item stays open, and a rejection works."""
    from tests.e2e.harness import open_group

    srv = word_server(make_server, tmp_path)
    owner, reader = await srv.user(verify_id=True), await srv.user()
    aid = (await create(owner, "刷单返利号"))["account_id"]
    gid = await open_group(owner)
    await reader.request("join_group", group_id=gid)
    assert (await owner.request("update_group", group_id=gid, name="刷单返利群"))["held"] is True
    held_seq = (await reader.send(gid, "刷单返利，稳赚"))["seq"]
    await admin_ok(srv, "suspend-account", aid, "--seconds", "600", "--reason", "整改")
    await admin_ok(srv, "suspend-group", gid, "--seconds", "600", "--reason", "整改")
    items = {i["kind"]: i for i in await open_items(srv)}
    assert set(items) == {"account_name", "group_name", "message"} and items["message"]["seq"] == held_seq
    for kind in ("account_name", "group_name", "message"):
        why = await admin_refused(srv, "decide", str(items[kind]["item_id"]), "--decision", "release",
                                  "--note", "ok")
        assert "suspended" in why and "reject" in why, (kind, why)
    assert await shown(reader, aid) == (f"公众号 {aid}", "")
    assert (await reader.request("group_info", group_id=gid))["name"] != "刷单返利群"
    assert [m["seq"] for m in (await owner.request("history", group_id=gid))["messages"]] == []
    assert {i["kind"] for i in await open_items(srv)} == {"account_name", "group_name", "message"}
    for kind in ("account_name", "group_name", "message"):
        await decide(srv, items[kind], "reject")
    assert await open_items(srv) == []


async def test_an_organisation_name_the_lists_hold_is_refused_for_nothing_stands_in_for_it(make_server, tmp_path):
    """``account_info`` shows ``org_name`` to anyone, and nothing can be shown instead while it would
    wait for review: a ``review`` hit is refused (``content_blocked``, no credit taken), as a username's.
    Before, it was stored and shown at once."""
    from governance.public_accounts import org_check_char

    srv = word_server(make_server, tmp_path)
    owner = await srv.user(verify_id=True)
    first17 = "91310115MA0000042"
    code = first17 + org_check_char(first17)
    score = (await owner.request("me"))["credit_score"]
    refused = await owner.call("create_account", name="好公司号", category="culture", intro="",
                               subject_type="organization", org_name="刷单返利有限公司", org_code=code)
    assert (refused["code"], refused.get("field")) == ("content_blocked", "org_name"), refused
    assert (await owner.request("me"))["credit_score"] == score
    r = await owner.request("create_account", name="好公司号", category="culture", intro="",
                            subject_type="organization", org_name="好公司有限公司", org_code=code)
    assert (await owner.request("account_info", account_id=r["account_id"]))["org_name"] == "好公司有限公司"
