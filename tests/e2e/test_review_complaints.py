"""Review of complaint handling and appeals end to end (rv-complaints): what the reporter, the person
reported and the operators are told, and what the store keeps, when measures meet. Each test failed
before its fix (server/handlers/common.py: give_back_credit)."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import close_all
from tests.e2e.test_operator import WITHIN, setup_group


async def _last_credit_notice(client, timeout: float = WITHIN) -> dict | None:
    """The last ``notice {kind: "credit"}`` the client got within ``timeout`` (None: none)."""
    await asyncio.sleep(timeout)
    told = [e for e in client.drain_events() if e.get("ev") == "notice" and e.get("kind") == "credit"]
    return told[-1] if told else None


async def test_two_reports_of_one_message_upheld_at_once_tell_the_sender_the_score_they_have(server):
    """Two witnesses report one message; two operators uphold their reports at the same moment. The
    message costs its sender once (the store decides), but each command claimed the points in memory
    first: the one whose write took them told the sender the score with the other's claim still in
    it (80, level 2), and the other gave its claim back without a word. The sender's screen says 80
    while ``me`` and the database say 90, and nothing ever corrects it (operator.md: every command that
    takes points tells the user "so their score and level on screen never go stale")."""
    owner, gid, [sender, w1, w2] = await setup_group(server, 3)
    seq = (await sender.send(gid, "加我微信买东西"))["seq"]
    r1 = (await w1.request("report", target_type="message", group_id=gid, seq=seq, reason="spam"))["report_id"]
    r2 = (await w2.request("report", target_type="message", group_id=gid, seq=seq, reason="spam"))["report_id"]
    sender.drain_events()
    before = (await sender.request("me"))["credit_score"]
    results = await asyncio.gather(server.admin("resolve", r1, "--outcome", "upheld", "--note", "属实"),
                                   server.admin("resolve", r2, "--outcome", "upheld", "--note", "属实"))
    assert [rc for rc, _, _ in results] == [0, 0], results
    told = await _last_credit_notice(sender)
    me = await sender.request("me")
    assert me["credit_score"] == before - 10  # paid once
    assert told is not None, "the sender was never told what the message cost them"
    assert (told["credit_score"], told["credit_level"]) == (me["credit_score"], me["credit_level"]), (told, me)
    await close_all(owner, sender, w1, w2)


async def test_an_upheld_report_and_remove_message_at_once_tell_the_sender_the_score_they_have(server):
    """The same when the operator answering the complaint upholds it while another removes the
    message (operator.md recommends both): one charge, but the notice sent says the score with the
    other command's claim, given back a moment later in silence."""
    owner, gid, [sender, witness] = await setup_group(server, 2)
    seq = (await sender.send(gid, "加我微信买东西"))["seq"]
    rid = (await witness.request("report", target_type="message", group_id=gid, seq=seq, reason="spam"))["report_id"]
    sender.drain_events()
    before = (await sender.request("me"))["credit_score"]
    results = await asyncio.gather(server.admin("resolve", rid, "--outcome", "upheld", "--note", "属实"),
                                   server.admin("remove-message", gid, str(seq), "--reason", "违规"))
    assert [rc for rc, _, _ in results] == [0, 0], results
    told = await _last_credit_notice(sender)
    me = await sender.request("me")
    assert me["credit_score"] == before - 10
    assert server.db_rows("SELECT credit_score FROM users WHERE user_id = ?", sender.user_id) == [(before - 10,)]
    assert told is not None
    assert (told["credit_score"], told["credit_level"]) == (me["credit_score"], me["credit_level"]), (told, me)
    await close_all(owner, sender, witness)


async def test_one_report_upheld_by_two_operators_at_once_tells_the_user_the_score_they_have(server):
    """Two operators uphold the same report about a user at the same moment: the store resolves it
    once (the other is told ``report N is already resolved``, exit 2) and takes the points once. But
    both claimed the points in memory first, so the one that resolved it told the user the score with
    the refused command's claim still in it, which was given back a moment later without a word."""
    owner, gid, [bad, witness] = await setup_group(server, 2)
    rid = (await witness.request("report", target_type="user", user_id=bad.user_id, group_id=gid,
                                 reason="harassment"))["report_id"]
    bad.drain_events()
    before = (await bad.request("me"))["credit_score"]
    results = await asyncio.gather(server.admin("resolve", rid, "--outcome", "upheld", "--note", "属实"),
                                   server.admin("resolve", rid, "--outcome", "upheld", "--note", "属实"))
    assert sorted(rc for rc, _, _ in results) == [0, 2], results
    told = await _last_credit_notice(bad)
    me = await bad.request("me")
    assert me["credit_score"] == before - 10
    assert told is not None
    assert (told["credit_score"], told["credit_level"]) == (me["credit_score"], me["credit_level"]), (told, me)
    await close_all(owner, bad, witness)
