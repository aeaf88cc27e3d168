"""Public accounts against the wire contract, as an outside client developer reads it (audit of
the public-account section): error codes for every bad input whatever its size, what a report may
name, which labels an operator may grant, replies, and the identity rules for posting; through a
real server on both backends."""

from __future__ import annotations

import pytest

from governance.public_accounts import org_check_char

REVIEW_WORDS = "集会\n"
CONFIG = """
[[content.lists]]
category = "rumour"
path = "review.txt"
action = "review"
"""


@pytest.fixture
def srv(tmp_path, make_server):
    d = tmp_path / "srv"
    d.mkdir()
    (d / "review.txt").write_text(REVIEW_WORDS, encoding="utf-8")
    return make_server(CONFIG)


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


def org_code(serial: int) -> str:
    first17 = f"91310115MA{serial:07d}"
    return first17 + org_check_char(first17)


async def new_account(owner, name, category="culture", **kw):
    args = {"name": name, "category": category, "intro": "", "subject_type": "individual", **kw}
    return (await owner.request("create_account", **args))["account_id"]


async def close_all(*clients):
    for c in clients:
        await c.close()


async def test_a_name_org_name_or_title_too_long_is_too_large_at_any_length(srv):
    """``too_large`` names a text over its limit: an account name over 30 characters, an org_name
    over 100, a title over max_title_chars, however long (the decoder's 256 is no second limit
    with another code)."""
    owner = await srv.user(verify_id=True)
    for n in (31, 257, 5000):
        assert code(await owner.call("create_account", name="名" * n, category="culture", intro="",
                                     subject_type="individual")) == "too_large", n
    for n in (101, 300):
        assert code(await owner.call("create_account", name="某机构", category="culture", intro="",
                                     subject_type="organization", org_name="机" * n,
                                     org_code=org_code(1))) == "too_large", n
    aid = await new_account(owner, "Long Titles")
    assert code(await owner.call("update_account", account_id=aid, name="n" * 300)) == "too_large"
    for n in (129, 300, 10_000):
        assert code(await owner.call("publish", account_id=aid, title="t" * n, body="b")) == "too_large", n
    assert (await owner.request("account_info", account_id=aid))["name"] == "Long Titles"
    assert (await owner.request("posts", account_id=aid))["posts"] == []
    await close_all(owner)
