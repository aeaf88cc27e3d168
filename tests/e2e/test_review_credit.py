"""Review of the credit system (rv-credit): levels, penalties, give-backs and what the user is told."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.store_hold import until_operator_connections, until_write_waits, writes_held
from tests.e2e.test_content import group, word_server


def credit_notices(client: Any) -> list[dict[str, Any]]:
    return [e for e in client.drain_events() if e.get("ev") == "notice" and e.get("kind") == "credit"]


async def test_the_last_credit_notice_gives_the_score_after_a_blocked_send_and_a_credit_command_at_once(
        make_server, tmp_path):
    """A blocked ``send`` and an operator's ``credit`` on the same user, stored in one group commit: the
    notices must leave the client with the score ``me`` gives (protocol.md: the score and level a client
    shows never go stale; the notices of changes taken in a row say each step, in order)."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    score = (await member.request("me"))["credit_score"]
    credit_notices(member)
    async with writes_held(srv, "users"):
        # a write in flight (the owner's blocked send), so the two below are queued for one batch
        first = asyncio.ensure_future(owner.call("send", group_id=gid, text="赌博", client_msg_id="a"))
        await until_write_waits(srv, "users")
        blocked = asyncio.ensure_future(member.call("send", group_id=gid, text="网上赌场", client_msg_id="b"))
        await asyncio.sleep(0.3)  # its penalty claimed (-2) and its write queued
        raised = asyncio.ensure_future(srv.admin("credit", member.username, "--delta", "50", "--reason", "纠正"))
        await until_operator_connections(srv, 1)  # claimed (+50) and queued behind it
    assert (await first)["code"] == "content_blocked"
    assert (await blocked)["code"] == "content_blocked"
    assert (await raised)[0] == 0
    await asyncio.sleep(0.5)
    told = credit_notices(member)
    me = await member.request("me")
    assert me["credit_score"] == score - 2 + 50
    assert sorted(n["delta"] for n in told) == [-2, 50], told
    print("ORDER", [(n["delta"], n["credit_score"]) for n in told])
    # what the client shows is the last notice it got
    assert told[-1]["credit_score"] == me["credit_score"], [(n["delta"], n["credit_score"]) for n in told]


LOW_LEVELS = """
[[credit.levels]]
min_score = 0
max_groups_created = 0
max_groups_joined = 1
[[credit.levels]]
min_score = 1000
[[public_accounts.levels]]
min_score = 0
publish_interval_seconds = 86400
comments = false
[[public_accounts.levels]]
min_score = 1000
"""


async def test_a_reload_of_the_credit_levels_applies_at_once_to_every_cap_and_right(make_server, tmp_path):
    """config.md: credit levels are reloaded by SIGHUP; every cap and right a level gates follows the
    level as the new config gives it, from the next request, without a restart."""
    import signal

    srv = make_server()
    owner = await srv.user(verify_id=True)
    other = await srv.user()
    gid = (await owner.request("create_group", name="before", category="friends", join_policy="open"))["group_id"]
    aid = (await owner.request("create_account", name="重载号", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    assert (await owner.request("me"))["credit_level"] == 3
    before = (await srv.admin("ping"))
    with open(srv.config, "a", encoding="utf-8") as f:
        f.write(LOW_LEVELS)
    srv.proc.send_signal(signal.SIGHUP)
    assert await srv.logged("config reloaded"), before
    me = await owner.request("me")
    assert me["credit_level"] == 1, me
    refused = await owner.call("create_group", name="after", category="friends", join_policy="open")
    assert refused["code"] in ("create_cap_reached", "join_cap_reached"), refused
    assert (await owner.request("account_info", account_id=aid))["credit_level"] == 1
    refused = await other.call("comment", post_id=post, text="hi")
    assert refused["code"] == "forbidden" and refused.get("cause") == "credit", refused
    refused = await owner.call("publish", account_id=aid, title="t2", body="b2")
    assert refused["code"] == "rate_limited", refused
    # the other user (level 1 now, joined cap 1) may join one group, not two
    assert (await other.call("join_group", group_id=gid))["ok"]


def notices_of(client: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(e.get("kind"), e) for e in client.drain_events() if e.get("ev") == "notice"]


async def after(client: Any, seconds: float = 0.6) -> list[tuple[str, dict[str, Any]]]:
    await asyncio.sleep(seconds)
    return notices_of(client)


async def test_each_penalty_is_told_after_the_commands_own_notice_and_survives_a_restart(make_server, tmp_path):
    """protocol.md: the ``credit`` notice comes right after the command's own notice, and the score it
    gives is ``me``'s; a restart keeps every change (each stored as it was told)."""
    from tests.e2e.admin_helpers import admin_ok
    from tests.e2e.harness import restart

    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    notices_of(member)
    notices_of(owner)

    async def check(client: Any, own: str, delta: int) -> None:
        got = await after(client)
        kinds = [k for k, _ in got]
        assert kinds[-1] == "credit" and own in kinds[:-1], kinds
        me = await client.request("me")
        assert (got[-1][1]["credit_score"], got[-1][1]["credit_level"], got[-1][1]["delta"]) == (
            me["credit_score"], me["credit_level"], delta), got[-1][1]

    seq = (await member.send(gid, "普通"))["seq"]
    await admin_ok(srv, "remove-message", gid, str(seq), "--reason", "违法")
    await check(member, "content_removed", -10)
    await admin_ok(srv, "suspend-admin", owner.username, "--seconds", "600", "--reason", "滥用")
    await check(owner, "sanction", -20)
    await admin_ok(srv, "revoke-create", owner.username, "--reason", "滥建")
    await check(owner, "sanction", -20)
    await admin_ok(srv, "remove-text", "display_name", member.username, "--reason", "不当")
    await check(member, "content_removed", -10)
    rows = srv.db_rows("SELECT id FROM sanctions WHERE kind = 'revoke_create'")
    await admin_ok(srv, "lift", str(rows[0][0]), "--reason", "错了", "--restore-credit")
    await check(owner, "sanction_lifted", 20)
    scores = [(await c.request("me"))["credit_score"] for c in (owner, member)]
    assert scores == [80, 80]
    owner, member = await restart(srv, owner, member)
    assert [(await c.request("me"))["credit_score"] for c in (owner, member)] == scores



async def _listed_since(srv: Any, term: str) -> None:
    """``term`` put on the ``block`` list (gambling) and the lists reloaded (SIGHUP)."""
    import signal

    with open(srv.dir / "gambling.txt", "a", encoding="utf-8") as f:
        f.write(term + "\n")
    srv.proc.send_signal(signal.SIGHUP)
    assert await srv.logged("config reloaded")


async def uncharged(srv: Any, client: Any, score: int, answer: dict[str, Any]) -> None:
    """Refused (the term is listed now) but charged nothing: no penalty, no record entry, no notice."""
    assert answer["code"] == "content_blocked", answer
    await asyncio.sleep(0.5)
    assert (await client.request("me"))["credit_score"] == score
    assert srv.db_rows("SELECT detail FROM audit WHERE action = 'content_blocked'") == []
    assert credit_notices(client) == []


async def test_adding_again_a_reaction_one_already_has_is_not_charged(make_server, tmp_path):
    """The same for ``react`` with ``on: true`` of an emoji the user already has on the message: it changes
    nothing and tells nobody (members are told only when something changed), so it publishes nothing new,
    as taking it back publishes nothing (never charged); a term listed since must not cost credit."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    seq = (await owner.send(gid, "好"))["seq"]
    assert (await member.call("react", group_id=gid, seq=seq, emoji="牌局", on=True))["ok"]
    score = (await member.request("me"))["credit_score"]
    await _listed_since(srv, "牌局")
    credit_notices(member)
    await uncharged(srv, member, score, await member.call("react", group_id=gid, seq=seq, emoji="牌局", on=True))


async def test_remove_post_of_a_post_its_account_deleted_costs_nothing_and_announces_nothing(server):
    """``remove-post`` takes a post down (it "leaves posts at once") and costs the account
    ``credit.penalty_sanction``; ``remove-message`` and ``remove-comment`` refuse content already deleted
    (exit 2: "already deleted or rejected"), and a remove that finds a text gone charges nobody
    (operator.md, decide). A post its account deleted has left ``posts`` already: removing it again takes
    nothing down, yet the account lost 20 points and its subscribers got a second ``post_deleted``."""
    from tests.e2e.admin_helpers import admin_refused

    owner = await server.user(verify_id=True)
    reader = await server.user()
    aid = (await owner.request("create_account", name="删帖号", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    await reader.request("subscribe", account_id=aid)
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    await owner.request("delete_post", post_id=post)
    await asyncio.sleep(0.3)
    reader.drain_events()
    owner.drain_events()
    await admin_refused(server, "remove-post", post, "--reason", "违规")
    await asyncio.sleep(0.3)
    assert [e for e in reader.drain_events() if e.get("ev") == "post_deleted"] == []
    assert [e.get("kind") for e in owner.drain_events() if e.get("ev") == "notice"] == []
    assert server.db_rows("SELECT credit_score FROM accounts WHERE account_id = ?", aid) == [(100,)]



async def test_a_slowed_member_is_answered_rate_limited_before_the_word_lists_and_not_charged(make_server, tmp_path):
    """protocol.md, send: the checks run in order, the first that fails answers; step 8 is ``rate_limited``
    "when the group has slow mode and the caller, a plain member, had a message accepted there less than
    that many seconds ago", step 9 the content filter, whose ``block`` costs credit. A slowed member's
    blocked text must be answered ``rate_limited`` and cost nothing (a request refused anyway is not charged,
    as create_group and create_account order their word lists last)."""
    srv = word_server(make_server, tmp_path)
    owner, member, gid = await group(srv)
    await owner.request("set_slow_mode", group_id=gid, seconds=600)
    assert (await member.call("send", group_id=gid, text="第一条"))["ok"]
    score = (await member.request("me"))["credit_score"]
    credit_notices(member)
    slowed = await member.call("send", group_id=gid, text="赌博")
    await asyncio.sleep(0.5)
    assert (slowed["code"], (await member.request("me"))["credit_score"], credit_notices(member)) == (
        "rate_limited", score, []), slowed
    assert srv.db_rows("SELECT detail FROM audit WHERE action = 'content_blocked'") == []


async def test_a_blocked_send_resent_with_its_id_is_refused_again_but_not_charged_again(make_server, tmp_path):
    """A connection dropped after a blocked send's penalty was stored and before its refusal came: the
    client sends the message again with its ``client_msg_id`` (a retry, as for any unanswered send), and
    one typed message cost its sender twice, with two record entries. The resend is refused again and
    charges nothing; the same text under a new id is a new send, charged as ever."""
    srv = word_server(make_server, tmp_path)
    owner, _, gid = await group(srv)
    before = (await owner.request("me"))["credit_score"]
    for _ in range(2):
        r = await owner.call("send", group_id=gid, text="网上赌场 开业", client_msg_id="typed-once")
        assert r["code"] == "content_blocked", r
    once = (await owner.request("me"))["credit_score"]
    assert once < before
    assert srv.db_rows("SELECT count(*) FROM audit WHERE action = 'content_blocked'") == [(1,)]
    r = await owner.call("send", group_id=gid, text="网上赌场 开业", client_msg_id="typed-again")
    assert r["code"] == "content_blocked", r
    assert (await owner.request("me"))["credit_score"] == once - (before - once)
    assert srv.db_rows("SELECT count(*) FROM audit WHERE action = 'content_blocked'") == [(2,)]
    # Another text under a used id is charged too: the lists are not probed for free by reusing one id.
    r = await owner.call("send", group_id=gid, text="网上赌场 今天开业", client_msg_id="typed-once")
    assert r["code"] == "content_blocked", r
    assert srv.db_rows("SELECT count(*) FROM audit WHERE action = 'content_blocked'") == [(3,)]
