"""A person's verified legal name typed by an operator into a reason or note never reaches other users.

An operator reads the case with the people's identities beside it and may write a name into the
reason. Every command whose reason or note is told to people, or kept in a record that a group's
managers read, masks the legal names of everyone around what it acts on: the person it names, a
group's members, a public account's owner and editors, the author of what it takes down, the
appellant (server/operator/common.py: without_names_around). Found by a privacy review: these
commands masked phone and ID numbers only, or the current owner's name only.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.admin_helpers import admin_ok, notice
from tests.e2e.harness import close_all, new_id_number, open_group


async def verified_as(srv: Any, legal_name: str) -> Any:
    c = await srv.user()
    await c.request("verify_identity", legal_name=legal_name, id_number=new_id_number())
    return c


def dumped(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


async def account_of(owner: Any, name: str) -> str:
    return (await owner.request("create_account", name=name, category="culture", intro="简介",
                                subject_type="individual"))["account_id"]


async def test_remove_message_masks_the_senders_name_in_the_group_log(server):
    owner = await server.user()
    gid = await open_group(owner)
    sender = await verified_as(server, "李四")
    await sender.request("join_group", group_id=gid)
    seq = (await sender.request("send", group_id=gid, text="hello"))["seq"]
    await admin_ok(server, "remove-message", gid, str(seq), "--reason", "李四发布诈骗信息")
    told = await notice(sender, "content_removed")
    log = (await owner.request("group_log", group_id=gid))["entries"]
    [entry] = [e for e in log if e["action"] == "remove_message"]
    assert "李四" not in dumped(entry) and "诈骗信息" in dumped(entry), entry
    assert "李四" not in dumped(told), told
    await close_all(owner, sender)


async def test_decide_masks_the_senders_name_in_the_group_log(make_server, tmp_path):
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "flag.txt").write_text("vpn下载\n", encoding="utf-8")
    srv = make_server('[[content.lists]]\ncategory = "pornography"\npath = "flag.txt"\naction = "flag"\n')
    owner = await srv.user()
    gid = await open_group(owner)
    sender = await verified_as(srv, "李四")
    await sender.request("join_group", group_id=gid)
    await sender.request("send", group_id=gid, text="VPN 下载 地址")
    [item] = [json.loads(x) for x in (await admin_ok(srv, "review-queue", "--open")).splitlines()]
    await admin_ok(srv, "decide", str(item["item_id"]), "--decision", "keep", "--note", "李四所发内容核实无违规")
    log = (await owner.request("group_log", group_id=gid))["entries"]
    [entry] = [e for e in log if e["action"] == "review_keep"]
    assert "李四" not in dumped(entry) and "核实无违规" in dumped(entry), entry
    await close_all(owner, sender)


async def test_account_measures_mask_the_owners_and_editors_names(server):
    owner = await verified_as(server, "王五")
    editor = await verified_as(server, "赵六")
    fan = await server.user()
    aid = await account_of(owner, "晨报")
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    await fan.request("subscribe", account_id=aid)
    await admin_ok(server, "warn-account", aid, "--reason", "王五与赵六发布标题党")
    warned = await notice(editor, "account_warning")
    assert "王五" not in dumped(warned) and "赵六" not in dumped(warned) and "标题党" in warned["text"], warned
    post_id = (await editor.request("publish", account_id=aid, title="快讯", body="正文"))["post_id"]
    await admin_ok(server, "remove-post", str(post_id), "--reason", "赵六所写不实")
    removed = await notice(owner, "post_removed")
    assert "赵六" not in dumped(removed), removed
    await admin_ok(server, "close-account", aid, "--reason", "王五传播谣言")
    closed = await notice(fan, "account_closed")
    assert "王五" not in dumped(closed) and "传播谣言" in closed["text"], closed
    await close_all(owner, editor, fan)


async def test_lift_masks_the_name_of_an_owner_who_handed_the_group_on(server):
    """warn-group masked the owner's name; after a transfer, the lift's reason, told to every member,
    masks the former owner's too (a member still), not only the new owner's."""
    owner = await verified_as(server, "张三")
    gid = await open_group(owner)
    heir = await verified_as(server, "钱七")
    member = await server.user()
    for c in (heir, member):
        await c.request("join_group", group_id=gid)
    await admin_ok(server, "warn-group", gid, "--reason", "群主张三发布违规内容")
    warned = await notice(member, "warning")
    assert "张三" not in dumped(warned), warned
    await owner.request("transfer_owner", group_id=gid, user_id=heir.user_id)
    await admin_ok(server, "lift", warned["sanction_id"], "--reason", "张三已整改，钱七接任")
    lifted = await notice(member, "sanction_lifted")
    assert "张三" not in dumped(lifted) and "钱七" not in dumped(lifted) and "已整改" in lifted["text"], lifted
    await close_all(owner, heir, member)


async def test_a_group_measure_masks_a_members_name(server):
    """A member named in a group's warning (not its owner) is masked for the others too."""
    owner = await server.user()
    gid = await open_group(owner)
    named = await verified_as(server, "孙八")
    member = await server.user()
    for c in (named, member):
        await c.request("join_group", group_id=gid)
    await admin_ok(server, "warn-group", gid, "--reason", "成员孙八多次刷屏，群主未管理")
    warned = await notice(member, "warning")
    assert "孙八" not in dumped(warned) and "刷屏" in warned["text"], warned
    await close_all(owner, named, member)


async def test_a_blacklisting_masks_the_name_another_login_of_the_person_verified(make_server, monkeypatch):
    """A person with two logins of one ID number, verified under two spellings of their name (the
    checksum verifier compares the name with nothing): the reason, told to the members of the groups
    the other login's blacklisting closes, masks that login's spelling too."""
    monkeypatch.setenv("QUNGUAN_IDENTITY_MAX_ACCOUNTS_PER_ID", "2")
    srv = make_server()
    number = new_id_number()
    first, second, member = await srv.user(), await srv.user(), await srv.user()
    await first.request("verify_identity", legal_name="张三", id_number=number)
    await second.request("verify_identity", legal_name="张叁", id_number=number)
    gid = await open_group(second)
    await member.request("join_group", group_id=gid)
    await admin_ok(srv, "blacklist", first.username, "--reason", "张三即张叁，多号诈骗")
    closed = await member.next_event("group_closed", timeout=5)
    assert "张叁" not in dumped(closed) and "张三" not in dumped(closed) and "多号诈骗" in dumped(closed), closed
    await close_all(first, second, member)

