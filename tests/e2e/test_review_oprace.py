"""Review rv-oprace: platform (operator) measures racing what users do at the same moment, through
the real server and the real ``qunguan admin`` CLI."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import open_group
from tests.e2e.store_hold import until, until_write_waits, writes_held
from tests.e2e.test_races import ok_or_code, refuse_updates

# Level 1 (score 0..999) may own no group; level 2 (1000 up) the platform's caps.
CREATE_LEVELS = """
[[credit.levels]]
min_score = 0
max_groups_created = 0
[[credit.levels]]
min_score = 1000
"""


async def test_a_create_while_a_credit_raise_is_refused_by_the_store_stays_within_the_cap(make_server):
    """``credit --delta +N`` claims the higher score in memory before its write (architecture.md:
    "a change that loosens is applied to memory only once its write is stored"). A ``create_group``
    meanwhile is decided on the raised level and its write carries that level's cap to the store
    (``UserCaps``); the store then refuses the raise: the operator is told it failed, the user keeps
    level 1, whose cap is 0 groups, and owns a group all the same."""
    srv = make_server(CREATE_LEVELS)
    user = await srv.user(verify_id=True)
    assert ok_or_code(await user.call("create_group", name="before", category="friends",
                                      join_policy="open")) == "create_cap_reached"
    refuse_updates(srv, "no_raise", "users", "credit_score", f"NEW.user_id = '{user.user_id}'")
    start = (await user.request("me"))["credit_score"]

    async with writes_held(srv, "users"):
        raising = asyncio.ensure_future(srv.admin("credit", user.username, "--delta", "1000", "--reason", "良好"))
        await until_write_waits(srv, "users")  # past its checks; its write waits for the hold
        creating = asyncio.ensure_future(user.call("create_group", name="during", category="friends",
                                                   join_policy="open"))
        await asyncio.sleep(0.5)
    rc, out, err = await raising
    assert rc != 0, (rc, out, err)  # the store refused the raise: the operator is told so
    assert (await user.request("me"))["credit_score"] == start  # (a raise shows once stored)
    created = await creating
    [(score,)] = srv.db_rows("SELECT credit_score FROM users WHERE user_id = ?", user.user_id)
    assert score == start
    owned = srv.db_rows("SELECT COUNT(*) FROM groups WHERE owner_id = ? AND closed_at IS NULL"
                        " AND dissolved_at IS NULL", user.user_id)
    # At level 1 the user may own no group: the create decided on the refused raise must be refused too.
    assert ok_or_code(created) == "create_cap_reached" and owned == [(0,)], (created, owned)


async def _roles(viewer, gid: str) -> dict[str, str]:
    return {m["user_id"]: m["role"] for m in (await viewer.request("members", group_id=gid))["members"]}


async def test_close_group_while_a_refused_transfer_is_in_flight_penalises_the_owner_the_store_has(make_server):
    """``close-group`` penalises the group's owner as memory shows it. With a transfer in flight memory
    shows the heir from the transfer's claim on; the store then refuses the transfer. The closing was
    stored with the old owner owning the group, yet the heir, who never owned it, lost the points and
    was told "your group was closed"; the owner lost nothing. Now the store confirms the owner: that
    closing is refused, and run again it charges the owner."""
    from tests.e2e.test_races import refuse_transfer_to

    srv = make_server()
    owner, heir = await srv.user(verify_id=True), await srv.user(verify_id=True)
    gid = await open_group(owner)
    assert (await heir.request("join_group", group_id=gid))["status"] == "joined"
    refuse_transfer_to(srv, heir.user_id)
    score = {c.user_id: (await c.request("me"))["credit_score"] for c in (owner, heir)}

    async def handed_on() -> bool:
        return (await _roles(heir, gid)).get(heir.user_id) == "owner"

    async with writes_held(srv, "groups"):
        transfer = asyncio.ensure_future(owner.call("transfer_owner", group_id=gid, user_id=heir.user_id))
        await until(handed_on, timeout=5)
        closing = asyncio.ensure_future(srv.admin("close-group", gid, "--reason", "违规"))

        async def closed() -> bool:
            return ok_or_code(await heir.call("group_info", group_id=gid)) != "ok"

        await until(closed, timeout=10)  # the closing is claimed and queued behind the transfer
    assert ok_or_code(await transfer) == "internal"
    rc, out, err = await closing
    # The store confirms the owner in the closing's transaction: the heir it does not hold is refused,
    # nothing is closed nor charged, and the operator is told to run it again.
    assert rc != 0 and "changed owners while it was being closed" in out + err, (rc, out, err)
    assert srv.db_rows("SELECT owner_id, closed_at IS NULL FROM groups WHERE group_id = ?", gid) == [
        (owner.user_id, True)]
    assert (await heir.request("me"))["credit_score"] == score[heir.user_id]
    rc, out, err = await srv.admin("close-group", gid, "--reason", "违规")
    assert rc == 0, err
    assert srv.db_rows("SELECT owner_id, closed_at IS NOT NULL FROM groups WHERE group_id = ?", gid) == [
        (owner.user_id, True)]
    [(owner_score,)] = srv.db_rows("SELECT credit_score FROM users WHERE user_id = ?", owner.user_id)
    [(heir_score,)] = srv.db_rows("SELECT credit_score FROM users WHERE user_id = ?", heir.user_id)
    # The owner the store closed the group under pays; the heir of a refused transfer does not.
    assert (owner_score < score[owner.user_id], heir_score) == (True, score[heir.user_id]), (owner_score, heir_score)


async def test_a_post_published_while_a_news_licence_is_refused_by_the_store_is_refused_too(make_server):
    """``license-account --news`` adds the label in memory before its write; a news account's
    ``publish`` meanwhile passes the licence check (P8: news needs the licence) and is stored after it.
    When the store refuses the licence, the operator is told it failed and the account has no licence,
    yet its post was published and reaches readers: a loosening claimed before it is stored."""
    srv = make_server()
    owner = await srv.user(verify_id=True)
    news = (await owner.request("create_account", name="晚间新闻", category="news", intro="关于我们",
                                subject_type="individual"))["account_id"]
    assert ok_or_code(await owner.call("publish", account_id=news, title="t", body="b")) == "forbidden"
    refuse_updates(srv, "no_licence", "accounts", "labels", f"NEW.account_id = '{news}'")
    async with writes_held(srv, "accounts"):
        licensing = asyncio.ensure_future(srv.admin("license-account", news, "--news", "--reason", "许可证"))

        await until_write_waits(srv, "accounts")  # past its checks; its write waits for the hold
        publishing = asyncio.ensure_future(owner.call("publish", account_id=news, title="未经许可", body="b"))
        await asyncio.sleep(0.5)
    rc, out, err = await licensing
    assert rc != 0, (rc, out, err)  # the store refused the licence
    assert srv.db_rows("SELECT labels FROM accounts WHERE account_id = ?", news)[0][0] in ("[]", None, "")
    published = await publishing
    posts = srv.db_rows("SELECT COUNT(*) FROM posts WHERE account_id = ?", news)
    assert (ok_or_code(published), posts) == ("forbidden", [(0,)])
