"""One person on several devices: what one connection does reaches the person's other connections,
which otherwise went on showing a group left, no group created, an account open after it was closed,
a follow or a verification not made (a reviewer's walk with a laptop and a phone logged in at once).
The connection that asked has its reply and gets no event for it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.e2e.harness import ServerProcess, new_id_number, open_group


async def _second_device(server: ServerProcess, c: Any) -> Any:
    other = await server.client()
    await other.login(c.username, "password123")
    return other


async def _nothing_for(c: Any, name: str) -> None:
    await asyncio.sleep(0.3)
    assert [e for e in c.drain_events() if e.get("ev") == name] == []


async def test_a_group_left_or_created_on_one_device_is_dropped_or_listed_on_the_other(server: ServerProcess) -> None:
    owner, alice = await server.user(), await server.user()
    gid = await open_group(owner)
    await alice.request("join_group", group_id=gid)
    phone = await _second_device(server, alice)
    owner.drain_events()

    await alice.request("leave_group", group_id=gid)
    assert await phone.next_event("member_left") == {"ev": "member_left", "group_id": gid, "user_id": alice.user_id}
    assert (await owner.next_event("member_left"))["user_id"] == alice.user_id
    await _nothing_for(alice, "member_left")

    made = (await alice.request("create_group", name="新群", category="friends", join_policy="open"))["group_id"]
    joined = await phone.next_event("member_joined")
    assert joined["group_id"] == made
    assert joined["user"]["user_id"] == alice.user_id and joined["user"]["role"] == "owner"
    assert [g["group_id"] for g in (await phone.request("my_groups"))["groups"]] == [made]
    await _nothing_for(alice, "member_joined")
    # and the other device hears the new group's traffic
    await owner.request("join_group", group_id=made)
    await owner.send(made, "你好")
    assert (await phone.next_event("message"))["text"] == "你好"


async def test_follows_accounts_identity_and_agreement_reach_the_other_device(server: ServerProcess,
                                                                               tmp_path: Path) -> None:
    alice = await server.user()
    phone = await _second_device(server, alice)
    await alice.request("verify_identity", legal_name="张三", id_number=new_id_number())
    assert await phone.next_event("self_changed") == {"ev": "self_changed", "what": "identity"}
    assert (await phone.request("me"))["id_verified"] is True

    aid = (await alice.request("create_account", name="茶馆日报", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    assert await phone.next_event("self_changed") == {"ev": "self_changed", "what": "accounts", "account_id": aid}
    assert [a["account_id"] for a in (await phone.request("my_accounts"))["accounts"]] == [aid]

    writer = await server.user(verify_id=True)
    other = (await writer.request("create_account", name="晚报", category="culture", intro="",
                                  subject_type="individual"))["account_id"]
    await alice.request("subscribe", account_id=other)
    assert await phone.next_event("self_changed") == {
        "ev": "self_changed", "what": "subscriptions", "account_id": other, "on": True}
    await alice.request("subscribe", account_id=other)  # (again: nothing changed, nothing told)
    await alice.request("unsubscribe", account_id=other)
    assert await phone.next_event("self_changed") == {
        "ev": "self_changed", "what": "subscriptions", "account_id": other, "on": False}
    assert (await phone.request("my_subscriptions"))["accounts"] == []
    await _nothing_for(phone, "self_changed")

    await alice.request("close_account", account_id=aid)
    closed = await phone.next_event("notice")
    assert (closed["kind"], closed["account_id"]) == ("account_closed", aid)

    (tmp_path / "rules.txt").write_text("友善发言", encoding="utf-8")
    rc, _, err = await server.admin("set-agreement", "--version", "v1", "--rules-file", str(tmp_path / "rules.txt"),
                                    "--agreement-file", str(tmp_path / "rules.txt"))
    assert rc == 0, err
    await alice.request("accept_agreement", version="v1")
    assert await phone.next_event("self_changed") == {"ev": "self_changed", "what": "agreement", "version": "v1"}
    assert (await phone.request("agreement"))["accepted"] is True
    await alice.request("accept_agreement", version="v1")  # (again: nothing to tell)
    await _nothing_for(phone, "self_changed")
    await _nothing_for(alice, "self_changed")


REVIEWED = """
[[content.lists]]
category = "rumour"
path = "review.txt"
action = "review"
"""


async def test_a_text_held_for_review_or_an_account_renamed_reaches_the_other_device(tmp_path: Path,
                                                                                      make_server: Any) -> None:
    """A reviewer's laptop and phone: a name or announcement held on one showed "waiting for review"
    there only, and a public account renamed on one kept its old name on the other, until a reload."""
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "review.txt").write_text("集会\n", encoding="utf-8")
    server = make_server(REVIEWED)
    alice = await server.user(verify_id=True)
    gid = await open_group(alice)
    phone = await _second_device(server, alice)
    held = lambda: phone.request("my_held_texts")  # noqa: E731

    for op, args in (("set_profile", {"display_name": "集会通知"}),
                     ("set_announcement", {"group_id": gid, "text": "周末集会"}),
                     ("update_group", {"group_id": gid, "name": "集会群"})):
        reply = await alice.request(op, **args)
        assert reply["held"] is True, op
        assert await phone.next_event("self_changed") == {"ev": "self_changed", "what": "held_texts"}, op
        assert (await held())["held"][0]["held_id"] == reply["held_id"], op
    made = await alice.request("create_group", name="集会", category="friends", join_policy="open")
    assert made["held"] is True
    assert await phone.next_event("self_changed") == {"ev": "self_changed", "what": "held_texts"}
    await _nothing_for(alice, "self_changed")

    aid = (await alice.request("create_account", name="茶馆日报", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    assert await phone.next_event("self_changed") == {"ev": "self_changed", "what": "accounts", "account_id": aid}
    await alice.request("update_account", account_id=aid, name="茶馆晚报")
    assert await phone.next_event("self_changed") == {"ev": "self_changed", "what": "accounts", "account_id": aid}
    assert [a["name"] for a in (await phone.request("my_accounts"))["accounts"]] == ["茶馆晚报"]
    await alice.request("update_account", account_id=aid, name="茶馆晚报")  # (as it is: nothing told)
    await _nothing_for(phone, "self_changed")
    reply = await alice.request("update_account", account_id=aid, intro="集会消息")
    assert reply["held"] is True
    assert await phone.next_event("self_changed") == {"ev": "self_changed", "what": "held_texts"}
    assert (await held())["held"][0]["kind"] == "account_intro"
    await _nothing_for(phone, "self_changed")
    await _nothing_for(alice, "self_changed")
