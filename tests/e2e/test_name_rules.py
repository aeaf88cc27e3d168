"""Names people see, through a real server: a display name, group name, public-account name or
organisation name that shows nothing, a stack of marks, a private-use character (or, for a
display name, the cancelled-account label) is refused with ``field``; malformed identity
arguments name their field at decode time too; and a MessagePack frame whose op is not UTF-8 is
answered with its rid."""

from __future__ import annotations

import asyncio

import msgpack

from governance.public_accounts import org_check_char
from tests.e2e.harness import close_all, new_phone

BLANK_NAMES = ["\u3164", "\uffa0", "\u115f", "\u2800\u2800", "\u17b4\u17b5", "\u034f", "\u0301\u0302",
               "Z" + "\u0336" * 12]


async def test_names_that_show_nothing_or_pose_as_a_cancelled_account_are_refused(server):
    owner = await server.user(verify_id=True)
    for name in [*BLANK_NAMES, "\ue000", "已注销用户", " 已注销 用户 "]:
        r = await owner.call("set_profile", display_name=name)
        assert (r["ok"], r["code"], r["field"]) == (False, "bad_request", "display_name"), (name, r)
    for name in BLANK_NAMES:
        r = await owner.call("create_group", name=name, category="family", join_policy="open")
        assert (r["ok"], r["code"], r["field"]) == (False, "bad_request", "name"), (name, r)
    r = await owner.call("register", username="newcomer", password="password123", phone=new_phone(),
                         code="123456", display_name="\u3164")
    assert (r["code"], r["field"]) == ("bad_request", "display_name"), r
    # The label with an invisible character or a traditional form mixed in is the label all the same.
    for name in ["已注销用户\ufe0f", "已注销用户\u0301", "已注销用戶", "已註销用户"]:
        r = await owner.call("set_profile", display_name=name)
        assert (r["ok"], r["code"], r["field"]) == (False, "bad_request", "display_name"), (ascii(name), r)
    # The username shows where a held or removed display name would: it may not be the label either,
    # and without a display name the refusal names the argument sent (username), not display_name.
    for username in ["CancelledUser", "cancelled_user"]:
        r = await owner.call("register", username=username, password="password123", phone=new_phone(),
                             code="123456")
        assert (r["ok"], r["code"], r["field"]) == (False, "bad_request", "username"), (username, r)
    # Names people use still work: emoji joined by ZWJ, with a variation selector, Thai marks.
    for name in ["👩\u200d💻 小明", "🏳\ufe0f\u200d🌈", "สมชาย", "Zoë"]:
        assert (await owner.call("set_profile", display_name=name))["ok"], name
    assert (await owner.request("me"))["display_name"] == "Zoë"
    r = await owner.call("create_group", name="👩\u200d💻 读书会", category="family", join_policy="open")
    assert r["ok"], r
    await close_all(owner)


async def test_public_account_and_organisation_names_that_show_nothing_are_refused(server):
    owner = await server.user(verify_id=True)
    first17 = "91310115MA0000042"
    org = {"subject_type": "organization", "org_code": first17 + org_check_char(first17)}
    for name in [*BLANK_NAMES, "\ue000\ue001", "\U000f0000"]:
        r = await owner.call("create_account", name=name, category="culture", intro="", subject_type="individual")
        assert (r["ok"], r["code"], r.get("field")) == (False, "bad_request", "name"), (name, r)
        r = await owner.call("create_account", name="某公司号", category="culture", intro="", org_name=name, **org)
        assert (r["ok"], r["code"], r.get("field")) == (False, "bad_request", "org_name"), (name, r)
    r = await owner.call("create_account", name="读书号", category="culture", intro="", subject_type="individual")
    assert r["ok"], r
    aid = r["account_id"]
    for name in [*BLANK_NAMES, "\ue000"]:
        r = await owner.call("update_account", account_id=aid, name=name)
        assert (r["ok"], r["code"], r.get("field")) == (False, "bad_request", "name"), (name, r)
    assert (await owner.request("account_info", account_id=aid))["name"] == "读书号"
    # Names people use still work, for accounts and organisations alike.
    assert (await owner.call("update_account", account_id=aid, name="👩\u200d💻 Zoë 读书"))["ok"]
    r = await owner.call("create_account", name="สมชาย号", category="culture", intro="",
                         org_name="某某 科技公司", **org)
    assert r["ok"], r
    await close_all(owner)


async def test_malformed_identity_arguments_name_their_field(server):
    c = await server.client()
    for op, args, field in [
        ("register", {"username": "x" * 300, "password": "password123", "phone": new_phone(), "code": "1"},
         "username"),
        ("request_code", {"phone": 12345}, "phone"),
        ("login", {"username": "x" * 300, "password": "password123"}, "username"),
    ]:
        r = await c.call(op, **args)
        assert (r["ok"], r["code"], r.get("field")) == (False, "bad_request", field), (op, r)
    u = await server.user()
    for op, args, field in [
        ("set_profile", {"display_name": "x" * 300}, "display_name"),
        ("verify_identity", {"legal_name": "x" * 300, "id_number": "110105199001011234"}, "legal_name"),
        ("verify_identity", {"legal_name": "张三"}, "id_number"),
    ]:
        r = await u.call(op, **args)
        assert (r["ok"], r["code"], r.get("field")) == (False, "bad_request", field), (op, r)
    await close_all(c, u)


async def test_a_frame_whose_op_is_not_utf8_is_answered_with_its_rid(server):
    c = await server.client()
    frame = b"\x82" + msgpack.packb("op") + b"\xa2\xff\xfe" + msgpack.packb("rid") + msgpack.packb(4242)
    reply = asyncio.get_running_loop().create_future()
    c._pending[4242] = reply
    await c.ws.send(frame)
    r = await asyncio.wait_for(reply, 10)
    assert (r["re"], r["ok"], r["code"]) == (4242, False, "bad_request"), r
    assert (await c.call("request_code", phone=new_phone()))["ok"]  # the connection stays usable
    await close_all(c)
