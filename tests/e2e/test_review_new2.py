"""Review of the newest commits (rv-new2): credit notices corrected when points are given back,
blocked resends, logins refused after their row, carried suspensions and answer writes."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.harness import close_all


def notices(client: Any, kind: str) -> list[dict[str, Any]]:
    return [e for e in client.drain_events() if e.get("ev") == "notice" and e.get("kind") == kind]


async def _account_with_post(server: Any) -> tuple[Any, str, int]:
    owner = await server.user(verify_id=True)
    aid = (await owner.request("create_account", name="双删号", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    post = (await owner.request("publish", account_id=aid, title="t", body="b"))["post_id"]
    return owner, aid, post


async def test_two_remove_posts_of_one_post_at_once_tell_the_account_the_score_it_has(server):
    """Two operators take one post down at the same moment (a report each): the store removes it once
    and charges the account once; the other is refused (exit 2). Each command claimed the account's
    ``penalty_sanction`` in memory first, so the one stored told the owner the score with the refused
    one's claim still in it, and the refused one gave its claim back without a word: the owner's
    screen says 20 points below ``account`` and the database for good (the user's twin of this race is
    corrected by give_back_credit; an account's is not)."""
    owner, aid, post = await _account_with_post(server)
    await asyncio.sleep(0.3)
    owner.drain_events()
    from tests.e2e.store_hold import until_operator_connections, until_write_waits, writes_held

    async with writes_held(server, "posts"):
        first = asyncio.ensure_future(server.admin("remove-post", str(post), "--reason", "违规"))
        await until_write_waits(server, "posts")
        second = asyncio.ensure_future(server.admin("remove-post", str(post), "--reason", "违规"))
        await until_operator_connections(server, 2)
    results = [await first, await second]
    assert sorted(rc for rc, _, _ in results) == [0, 2], results
    await asyncio.sleep(0.5)
    told = notices(owner, "account_credit")
    stored = server.db_rows("SELECT credit_score FROM accounts WHERE account_id = ?", aid)[0][0]
    assert stored == 80
    assert told, "the owner was never told"
    assert told[-1]["credit_score"] == stored, [(n["delta"], n["credit_score"]) for n in told]
    await close_all(owner)


async def test_a_credit_given_back_by_lift_while_a_claim_is_in_flight_is_corrected(server):
    """``lift --restore-credit`` tells the user their score (``notice {kind: "credit"}``) with
    ``publish`` of its own, not ``tell_credit``: ``credit_told`` does not count it. A report about a
    message already removed, upheld meanwhile, claimed 10 points in memory that the store then
    finds taken: the lift's notice said the score with that claim in it, and give_back_credit, seeing
    no notice counted since the claim, gives the 10 back in silence. The screen stays 10 below ``me``."""
    from tests.e2e.store_hold import until_operator_connections, until_write_waits, writes_held
    from tests.e2e.test_measures import one_sanction
    from tests.e2e.test_operator import setup_group

    owner, gid, [sender, witness] = await setup_group(server, 2)
    seq = (await sender.send(gid, "加我微信买东西"))["seq"]
    rid = (await witness.request("report", target_type="message", group_id=gid, seq=seq, reason="spam"))["report_id"]
    assert (await server.admin("remove-message", gid, str(seq), "--reason", "违规"))[0] == 0
    assert (await server.admin("revoke-create", sender.username, "--reason", "滥建群"))[0] == 0
    sid = (await one_sanction(server, "revoke_create", "--user", sender.username))["id"]
    await asyncio.sleep(0.3)
    sender.drain_events()
    async with writes_held(server, "users"):
        lift = asyncio.ensure_future(server.admin("lift", str(sid), "--reason", "误判", "--restore-credit"))
        await until_write_waits(server, "users")
        resolve = asyncio.ensure_future(server.admin("resolve", str(rid), "--outcome", "upheld", "--note", "属实"))
        await until_operator_connections(server, 2)
    results = [await lift, await resolve]
    assert [rc for rc, _, _ in results] == [0, 0], results
    await asyncio.sleep(0.5)
    told = notices(sender, "credit")
    me = await sender.request("me")
    assert server.db_rows("SELECT credit_score FROM users WHERE user_id = ?", sender.user_id) == [(me["credit_score"],)]
    assert told, "never told"
    assert told[-1]["credit_score"] == me["credit_score"], ([(n["delta"], n["credit_score"]) for n in told], me)
    await close_all(owner, sender, witness)


async def test_a_different_blocked_text_under_a_refused_client_msg_id_is_charged_and_recorded(make_server, tmp_path):
    """protocol.md, send step 9: a blocked text's ``client_msg_id`` "is not used up" (a client may send
    its next message under it), and "the refusal is written to the enforcement record ... and costs
    the sender" its points; only the same send again within 10 minutes (a retry whose refusal was lost)
    is spared. The server remembers the id alone, not what was sent under it: a client reusing one id
    (as "not used up" allows) sends blocked text after blocked text, each a different term, and only the
    first costs anything or reaches the enforcement record: the word lists can be probed for free and
    the record misses the refusals."""
    from tests.e2e.test_content import group, word_server

    srv = word_server(make_server, tmp_path)
    owner, _, gid = await group(srv)
    before = (await owner.request("me"))["credit_score"]
    for text in ("赌博", "网上赌场", "一起来赌博吧"):
        r = await owner.call("send", group_id=gid, text=text, client_msg_id="compose-box")
        assert r["code"] == "content_blocked", r
    await asyncio.sleep(0.3)
    assert srv.db_rows("SELECT count(*) FROM audit WHERE action = 'content_blocked'") == [(3,)]
    assert (await owner.request("me"))["credit_score"] == before - 3 * 2


async def test_a_claim_given_back_before_a_credit_command_tells_its_score_is_corrected(server):
    """An operator's ``credit`` takes the score it will tell when it claims its delta, before its write;
    give_back_credit corrects only notices *sent* since a claim. A report about a message already removed
    is upheld (claims 10, in flight, then finds the points taken and gives them back: no notice had gone
    out, so in silence); a ``credit --delta 50`` claimed meanwhile, stored after, tells the score it
    captured, with the 10 given back still taken: the screen stays 10 below ``me`` for good."""
    from tests.e2e.store_hold import until_operator_connections, until_write_waits, writes_held
    from tests.e2e.test_operator import setup_group

    owner, gid, [sender, witness] = await setup_group(server, 2)
    seq = (await sender.send(gid, "加我微信买东西"))["seq"]
    rid = (await witness.request("report", target_type="message", group_id=gid, seq=seq, reason="spam"))["report_id"]
    assert (await server.admin("remove-message", gid, str(seq), "--reason", "违规"))[0] == 0
    await asyncio.sleep(0.3)
    sender.drain_events()
    async with writes_held(server, "reports"):
        resolve = asyncio.ensure_future(server.admin("resolve", str(rid), "--outcome", "upheld", "--note", "属实"))
        await until_write_waits(server, "reports")
        credit = asyncio.ensure_future(server.admin("credit", sender.username, "--delta", "50", "--reason", "纠正"))
        await until_operator_connections(server, 2)
    results = [await resolve, await credit]
    assert [rc for rc, _, _ in results] == [0, 0], results
    await asyncio.sleep(0.5)
    told = notices(sender, "credit")
    me = await sender.request("me")
    assert server.db_rows("SELECT credit_score FROM users WHERE user_id = ?", sender.user_id) == [(me["credit_score"],)]
    assert told, "never told"
    assert told[-1]["credit_score"] == me["credit_score"], ([(n["delta"], n["credit_score"]) for n in told], me)
    await close_all(owner, sender, witness)


async def test_the_owner_shown_a_carried_suspension_may_appeal_it(server):
    """P13: an organisation's suspension follows it to the account another of its people opens. The
    new owner's ``my_sanctions`` lists it (with ``carried_from``), as standing on their live account,
    and the commit says "an owner sees and may appeal" it; but ``appeal`` checks ownership against the
    closed account it was taken on (another user's), so the owner it is shown to is answered
    ``not_found`` ("no sanction ... against ... a public account you own"), and the closed account's
    owner is answered "closed, which is final": nobody can appeal it."""
    from tests.e2e.test_review_pubacct import org_code

    org = org_code(4242)
    first_owner, new_owner = await server.user(verify_id=True), await server.user(verify_id=True)
    first = (await first_owner.request("create_account", name="某某文化", category="culture", intro="",
                                       subject_type="organization", org_name="某某文化有限公司",
                                       org_code=org))["account_id"]
    assert (await server.admin("suspend-account", first, "--seconds", "3600", "--reason", "误判"))[0] == 0
    await first_owner.request("close_account", account_id=first)
    second = (await new_owner.request("create_account", name="某某文化二号", category="culture", intro="",
                                      subject_type="organization", org_name="某某文化有限公司",
                                      org_code=org))["account_id"]
    assert (await new_owner.request("account_info", account_id=second))["status"] == "suspended"
    [shown] = (await new_owner.request("my_sanctions"))["sanctions"]
    assert (shown["account_id"], shown.get("carried_from")) == (second, first), shown
    appealed = await new_owner.call("appeal", sanction_id=shown["sanction_id"], text="请复核")
    assert appealed.get("ok"), appealed
    assert (await server.admin("decide-appeal", appealed["appeal_id"], "--outcome", "upheld", "--note", "误判"))[0] == 0
    assert (await new_owner.request("account_info", account_id=second))["status"] == "active"
    assert (await new_owner.request("my_sanctions"))["sanctions"] == []
    await close_all(first_owner, new_owner)


async def test_a_blocked_send_told_after_a_claim_given_back_tells_the_score_the_user_has(make_server, tmp_path):
    """The same on the user's own path: a blocked send's penalty notice (record_penalized) says the
    score its claim left, captured before its write and told after the answer. A report about a message
    already removed, upheld meanwhile, claimed 10 points that the store finds taken and gives back
    before the blocked send's notice goes (no notice sent since its claim: in silence). The notice then
    says a score 10 below ``me``, and nothing corrects it."""
    from tests.e2e.store_hold import until_operator_connections, until_write_waits, writes_held
    from tests.e2e.test_content import word_server

    srv = word_server(make_server, tmp_path)
    from tests.e2e.test_operator import setup_group

    owner, gid, [sender, witness] = await setup_group(srv, 2)
    seq = (await sender.send(gid, "加我微信买东西"))["seq"]
    rid = (await witness.request("report", target_type="message", group_id=gid, seq=seq, reason="spam"))["report_id"]
    assert (await srv.admin("remove-message", gid, str(seq), "--reason", "违规"))[0] == 0
    await asyncio.sleep(0.3)
    sender.drain_events()
    async with writes_held(srv, "reports"):
        resolve = asyncio.ensure_future(srv.admin("resolve", str(rid), "--outcome", "upheld", "--note", "属实"))
        await until_operator_connections(srv, 1)
        await until_write_waits(srv, "reports")
        blocked = asyncio.ensure_future(sender.call("send", group_id=gid, text="赌博", client_msg_id="b1"))
        await asyncio.sleep(0.3)  # its penalty claimed and its write queued behind the resolve's
    assert (await resolve)[0] == 0
    assert (await blocked)["code"] == "content_blocked"
    await asyncio.sleep(0.5)
    told = notices(sender, "credit")
    me = await sender.request("me")
    assert told, "never told"
    assert told[-1]["credit_score"] == me["credit_score"], ([(n["delta"], n["credit_score"]) for n in told], me)
    await close_all(owner, sender, witness)


async def test_a_login_refused_for_the_connections_taken_meanwhile_is_not_listed_as_a_login(
        tmp_path, backend, started, monkeypatch):
    """A login whose connections were taken while its token was stored is refused (``rate_limited``,
    ``connections_per_user``; the network log says ``login_refused``), but its token "stays unused":
    still good, so ``my_logins`` ("the account's logins whose tokens are still good") lists a login, with
    the device it named, that never signed in, until the token expires; the user sees a sign-in that
    did not happen. (A login refused for a logout everywhere has its token revoked.)"""
    from tests.e2e.store_hold import CountedServer, until_write_waits, until_writes_queued, writes_held

    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_CONNECTIONS_PER_USER", "2")
    srv = started(CountedServer(tmp_path, backend=backend))
    alice = await srv.user()
    refused, late = await srv.client(), await srv.client()
    await asyncio.sleep(0.5)  # (the login's rows stored)
    # The sign-in by token stores its network-log row before it takes the connection: held there first,
    # it takes the last one as soon as the hold ends, while the login's token, queued behind the row,
    # is being stored (the login checked the connections before, when one was free).
    async with writes_held(srv, "netlog"):
        signing_in = asyncio.ensure_future(late.call("auth", token=alice.token))
        await until_write_waits(srv, "netlog")
        login = asyncio.ensure_future(refused.call("login", username=alice.username, password="password123",
                                                   device="幽灵设备"))
        await until_writes_queued(srv)  # (its password checked, its token's write queued behind the row)
    assert (await signing_in).get("ok")
    answer = await login
    assert answer.get("code") == "rate_limited", answer
    logins = (await alice.request("my_logins"))["logins"]
    assert [x["device"] for x in logins if x["device"] == "幽灵设备"] == [], logins
    await close_all(alice, refused, late)
