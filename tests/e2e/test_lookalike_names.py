"""Lookalike letters of other scripts, through a real server on both backends: a public account
named, renamed or with an organisation name that is a reserved name written with Cyrillic or Greek
letters (``Аpple``, ``ССТV``) is refused as the plain name is (``forbidden``), and so is the stand-in
``公众号 <id>`` written with them; a public account named or renamed so that it reads as another
account's name (``Аpple`` beside an account ``Apple``) is refused as a taken name is (``conflict``); a
display name or group name that is the cancelled-account label or a stand-in written with them is
``bad_request`` with its field. Russian and Greek names are still names like any other."""

from __future__ import annotations

import pytest

from governance.public_accounts import org_check_char
from server.storage.public import READING_TAKEN
from tests.e2e.admin_helpers import admin_ok, admin_refused
from tests.e2e.harness import close_all

CONFIG = """
[public_accounts]
reserved_names = "reserved.txt"
"""


@pytest.fixture
def srv(tmp_path, make_server):
    d = tmp_path / "srv"
    d.mkdir()
    (d / "reserved.txt").write_text("Apple\nCCTV\n", encoding="utf-8")
    return make_server(CONFIG)


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


def org(serial: int, **kw):
    first17 = f"91310115MA{serial:07d}"
    return {"subject_type": "organization", "org_code": first17 + org_check_char(first17), **kw}


async def create(owner, name, **kw):
    args = {"name": name, "category": "culture", "intro": "", "subject_type": "individual", **kw}
    return await owner.call("create_account", **args)


async def test_a_reserved_name_in_lookalike_letters_is_refused_as_the_name_itself(srv):
    owner = await srv.user(verify_id=True)
    plain = await create(owner, "Apple")
    assert code(plain) == "forbidden", plain
    for name in ("\u0410pple", "\u0410\u0420\u0420LE 官方", "\u0391\u03a1\u03a1LE", "\u0421\u0421\u0422V 新闻",
                 "\u0441\u0441t\u03bd"):
        refused = await create(owner, name)
        assert code(refused) == code(plain), (ascii(name), refused)
        assert "reserved and not available" in refused["reason"]
    # The organisation's name, and a rename, the same.
    refused = await create(owner, "某科技号", **org(71, org_name="\u0410pple Inc."))
    assert code(refused) == "forbidden" and "org_name" in refused["reason"], refused
    made = await create(owner, "Новости Москвы")  # a Russian name is a name like any other
    assert code(made) == "ok", made
    aid = made["account_id"]
    for name in ("Apple", "\u0410pple", "\u0421\u0421\u0422V"):
        refused = await owner.call("update_account", account_id=aid, name=name)
        assert code(refused) == "forbidden", (ascii(name), refused)
    # The stand-in of an account whose name is held, written with a Cyrillic О for a 0.
    refused = await create(owner, f"公众号 {aid}\u041e")
    assert code(refused) == "forbidden" and "under review" in refused["reason"], refused
    assert (await owner.request("account_info", account_id=aid))["name"] == "Новости Москвы"
    assert code(await create(owner, "Ελληνικά νέα")) == "ok"
    await close_all(owner)


async def test_a_name_that_reads_as_another_accounts_is_taken(server):
    """Account ``Apple`` exists: ``Аpple`` with a Cyrillic А (and the other forms that read as it) is
    refused to anyone else as ``APPLE`` is, on create and on rename, by the same code (``conflict``);
    once ``Apple`` is renamed, what it read as is free. A Russian name beside it is a name of its own."""
    owner, other = await server.user(verify_id=True), await server.user(verify_id=True)
    made = await create(owner, "Apple")
    assert code(made) == "ok", made
    apple = made["account_id"]
    plain = await create(other, "APPLE")
    assert (code(plain), plain["reason"]) == ("conflict", "that account name is taken"), plain
    for name in ("\u0410pple", "\u0410\u0420\u0420LE", "\u0391\u03a1\u03a1LE", "AppIe", "App\u04cfe"):
        refused = await create(other, name)
        assert (code(refused), refused["reason"]) == ("conflict", READING_TAKEN), (ascii(name), refused)
    made = await create(other, "Новости")
    assert code(made) == "ok", made
    theirs = made["account_id"]
    refused = await other.call("update_account", account_id=theirs, name="\u0410pple")
    assert (code(refused), refused["reason"]) == ("conflict", READING_TAKEN), refused
    assert (await other.request("account_info", account_id=theirs))["name"] == "Новости"
    # the owner restates its name beside a new intro: no new choice, nothing refused
    assert code(await owner.call("update_account", account_id=apple, name="Apple", intro="水果")) == "ok"
    # renamed, Apple frees what it read as
    assert code(await owner.call("update_account", account_id=apple, name="Apple Pie")) == "ok"
    assert code(await other.call("update_account", account_id=theirs, name="\u0410pple")) == "ok"
    refused = await create(owner, "Apple")  # now it is the other account that reads as apple
    assert (code(refused), refused["reason"]) == ("conflict", READING_TAKEN), refused
    await close_all(owner, other)


async def test_the_platform_grants_no_name_that_reads_as_another_accounts(srv):
    """``grant-name`` gives a reserved name to the account entitled to it, under the same uniqueness:
    ``Аpple`` with a Cyrillic А is refused once another account holds ``Apple``, naming that account."""
    owner = await srv.user(verify_id=True)
    first = (await create(owner, "某科技号"))["account_id"]
    second = (await create(owner, "某科技二号"))["account_id"]
    await admin_ok(srv, "grant-name", first, "--name", "Apple", "--reason", "已核对商标")
    refused = await admin_refused(srv, "grant-name", second, "--name", "\u0410pple", "--reason", "已核对商标")
    assert f"read as the name of account {first}" in refused, refused
    assert (await owner.request("account_info", account_id=second))["name"] == "某科技二号"
    await close_all(owner)


async def test_the_label_and_stand_ins_in_lookalike_letters_are_no_display_or_group_names(srv):
    user = await srv.user(verify_id=True)
    for name in ("\u0441\u0430n\u0441\u0435ll\u0435d us\u0435r", "用户 u0123456789\u0430b\u0441d\u0435f",
                 "用户 u\u041e123456789abcdef"):
        r = await user.call("set_profile", display_name=name)
        assert (r["ok"], r["code"], r.get("field")) == (False, "bad_request", "display_name"), (ascii(name), r)
    for name in ("群聊 12345678\u041e", "群聊 1234\u03bf6789"):
        r = await user.call("create_group", name=name, category="family", join_policy="open")
        assert (r["ok"], r["code"], r.get("field")) == (False, "bad_request", "name"), (ascii(name), r)
    assert (await user.call("set_profile", display_name="Алексей"))["ok"]
    assert (await user.request("me"))["display_name"] == "Алексей"
    assert (await user.call("create_group", name="Клуб книги", category="family", join_policy="open"))["ok"]
    await close_all(user)
