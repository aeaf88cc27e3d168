"""**[ext]** ``account_updated``: a public account's readers learn its new name, intro or organisation
name at once, through a real server on both backends.

Before it, the only event was ``self_changed`` to the owner's own other devices: a follower (with the
account in their list, or its page or a post of it open) kept the old name until they read the
account again. Now every change of what the account shows goes to its subscribers online and its
owner's and editors' connections (the audience of ``post_deleted``), and to the connections that have
it open without following it (the last account they read: ``account_info``, ``posts``, ``read_post``),
with the changed fields alone: the owner's ``update_account`` (not a restated text, nor one held for
review), the platform's ``grant-name`` (a name, an organisation's name), ``decide … release`` of a
held name or intro, ``decide … remove`` of a flagged one and ``remove-text``. A text held for review
is never sent; nobody else is told."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.e2e.admin_helpers import admin_ok

CONFIG = """
[public_accounts]
reserved_names = "reserved.txt"
[[content.lists]]
category = "rumour_fraud"
path = "review.txt"
action = "review"
[[content.lists]]
category = "pornography"
path = "flag.txt"
action = "flag"
"""


@pytest.fixture
def srv(tmp_path, make_server):
    d = tmp_path / "srv"
    d.mkdir()
    (d / "reserved.txt").write_text("新华\n", encoding="utf-8")
    (d / "review.txt").write_text("刷单返利\n", encoding="utf-8")
    (d / "flag.txt").write_text("vpn下载\n", encoding="utf-8")
    return make_server(CONFIG)


def updates(client: Any) -> list[dict[str, Any]]:
    """The ``account_updated`` events ``client`` has received and not read yet (the others are dropped)."""
    return [e for e in client.drain_events() if e.get("ev") == "account_updated"]


async def told(clients: list[Any], aid: str, **fields: str) -> None:
    """Each of ``clients`` gets exactly this ``account_updated`` next."""
    want = {"ev": "account_updated", "account_id": aid, **fields}
    for c in clients:
        assert await c.next_event("account_updated", timeout=2) == want, c.user_id


async def quiet(*clients: Any) -> None:
    """None of ``clients`` gets an ``account_updated`` (waited for a moment)."""
    await asyncio.sleep(0.3)
    for c in clients:
        assert updates(c) == [], c.user_id


async def open_items(srv: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (await admin_ok(srv, "review-queue", "--open")).splitlines()]


async def decide(srv: Any, item: dict[str, Any], decision: str) -> str:
    return await admin_ok(srv, "decide", str(item["item_id"]), "--decision", decision, "--note", "核实")


async def shown(client: Any, aid: str) -> tuple[str, str]:
    info = await client.request("account_info", account_id=aid)
    return info["name"], info["intro"]


async def test_followers_and_managers_learn_a_new_name_or_intro_at_once(srv):
    owner, editor = await srv.user(verify_id=True), await srv.user(verify_id=True)
    fan, stranger = await srv.user(), await srv.user()
    aid = (await owner.request("create_account", name="茶馆", category="culture", intro="喝茶",
                               subject_type="individual"))["account_id"]
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await fan.request("subscribe", account_id=aid)
    await asyncio.sleep(0.2)
    for c in (owner, editor, fan, stranger):
        c.drain_events()
    everyone = [fan, editor, owner]  # (the owner's own connection too, beside its reply)

    # the owner renames it: the changed field alone, as shown now
    await owner.request("update_account", account_id=aid, name="茶馆日报")
    await told(everyone, aid, name="茶馆日报")
    await owner.request("update_account", account_id=aid, intro="")
    await told(everyone, aid, intro="")
    # restating what it shows is no change: nothing
    await owner.request("update_account", account_id=aid, name="茶馆日报", intro="")
    await quiet(fan, editor, owner, stranger)

    # a name held for review is not shown, so not sent; its release is
    r = await owner.request("update_account", account_id=aid, name="刷单返利号")
    assert r["held"] is True
    await quiet(fan, editor, owner)
    assert await shown(fan, aid) == ("茶馆日报", "")
    [item] = await open_items(srv)
    assert "(applied)" in await decide(srv, item, "release")
    await told(everyone, aid, name="刷单返利号")

    # a flagged intro is shown at once (and sent); removed by the platform, it gives way to none
    await owner.request("update_account", account_id=aid, intro="vpn下载 教程")
    await told(everyone, aid, intro="vpn下载 教程")
    [item] = await open_items(srv)
    assert "(applied)" in await decide(srv, item, "remove")
    await told(everyone, aid, intro="")

    # remove-text: the stand-in name; grant-name: a reserved name the platform gives
    await admin_ok(srv, "remove-text", "account_name", aid, "--reason", "冒充")
    await told(everyone, aid, name=f"公众号 {aid}")
    await admin_ok(srv, "grant-name", aid, "--name", "新华茶馆", "--reason", "已核对")
    await told(everyone, aid, name="新华茶馆")
    assert await shown(fan, aid) == ("新华茶馆", "")

    # one who neither follows nor runs it nor has it open is told nothing; nor is a follower once they
    # unfollow and open another account (one who opens it is: the next test)
    other = (await editor.request("create_account", name="别的号", category="culture", intro="",
                                  subject_type="individual"))["account_id"]
    await fan.request("unsubscribe", account_id=aid)
    await fan.request("account_info", account_id=other)
    await owner.request("update_account", account_id=aid, intro="新简介")
    await told([editor, owner], aid, intro="新简介")
    await quiet(stranger, fan)


async def test_a_held_name_is_never_sent_even_when_rejected(srv):
    """A held name the operator rejects was never shown: its readers are told nothing at all."""
    owner, fan = await srv.user(verify_id=True), await srv.user()
    aid = (await owner.request("create_account", name="茶馆", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    await fan.request("subscribe", account_id=aid)
    await asyncio.sleep(0.2)
    fan.drain_events()
    r = await owner.request("update_account", account_id=aid, name="刷单返利号", intro="新的简介")
    assert r["held_ids"].keys() == {"name"}
    # the intro given beside it is shown, and sent alone
    await told([fan], aid, intro="新的简介")
    [item] = await open_items(srv)
    await decide(srv, item, "reject")
    await quiet(fan)
    assert await shown(fan, aid) == ("茶馆", "新的简介")


async def test_a_reader_with_the_account_open_learns_its_new_name_and_organisation_name(srv):
    """A reader who opened an organisation's account without following it (its page, its posts or one of
    its posts: the last account they read) is told as its followers are, ``org_name`` included when the
    platform grants one; one who has another account open since, or never opened it, is not."""
    from governance.public_accounts import org_check_char

    owner = await srv.user(verify_id=True)
    page, lister, post_reader, moved_on, stranger = [await srv.user() for _ in range(5)]
    first17 = "91310115MA1K4A0X2"
    aid = (await owner.request("create_account", name="茶馆", category="culture", intro="", subject_type="organization",
                               org_name="茶馆文化有限公司", org_code=first17 + org_check_char(first17)))["account_id"]
    other = (await owner.request("create_account", name="别的号", category="culture", intro="",
                                 subject_type="individual"))["account_id"]
    post_id = (await owner.request("publish", account_id=aid, title="开张", body="欢迎"))["post_id"]
    assert (await page.request("account_info", account_id=aid))["org_name"] == "茶馆文化有限公司"
    await lister.request("posts", account_id=aid)
    await post_reader.request("read_post", post_id=post_id)
    await moved_on.request("account_info", account_id=aid)
    await moved_on.request("account_info", account_id=other)  # (the page they show now)
    readers = [page, lister, post_reader, owner]  # (the owner's own connection too: a manager's)
    for c in (*readers, moved_on, stranger):
        c.drain_events()

    await owner.request("update_account", account_id=aid, name="茶馆日报", intro="每日一茶")
    await told(readers, aid, name="茶馆日报", intro="每日一茶")
    await admin_ok(srv, "grant-name", aid, "--name", "新华茶馆", "--org-name", "新华茶馆文化有限公司",
                   "--reason", "已核对")
    await told(readers, aid, name="新华茶馆", org_name="新华茶馆文化有限公司")
    await admin_ok(srv, "grant-name", aid, "--org-name", "新华茶馆（集团）有限公司", "--reason", "已核对")
    await told(readers, aid, org_name="新华茶馆（集团）有限公司")
    info = await page.request("account_info", account_id=aid)
    assert (info["name"], info["org_name"]) == ("新华茶馆", "新华茶馆（集团）有限公司")
    await quiet(moved_on, stranger)

    # a reader whose login ends has nothing open: logged in again, it is told nothing until it reads again
    await page.request("logout")
    await page.login(page.username, "password123")
    page.drain_events()
    await owner.request("update_account", account_id=aid, intro="")
    await told([lister, post_reader, owner], aid, intro="")
    await quiet(page)
