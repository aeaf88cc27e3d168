"""Operators act on the people their listings name: ``reports`` and ``review-queue`` carry each person's
username beside their user id, and every people command takes either (docs/operator.md, People).

Before, the listings named people by id alone and the commands took usernames alone: acting on a
reported user meant reading the database. Only the username is shown: never a phone, a legal name or
an ID number."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.admin_helpers import admin_ok, admin_refused
from tests.e2e.harness import open_group
from tests.e2e.test_content import word_server

LEGAL_NAME = "张三"  # what ServerProcess.user(verify_id=True) verifies


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def nothing_personal(out: str, *people: Any) -> None:
    for p in people:
        assert p.phone not in out
    assert LEGAL_NAME not in out


async def test_reports_name_people_by_username_and_id_and_commands_take_either(server):
    owner = await server.user()
    gid = await open_group(owner)
    spammer, witness = await server.user(verify_id=True), await server.user(verify_id=True)
    for c in (spammer, witness):
        await c.request("join_group", group_id=gid)
    seq = (await spammer.send(gid, "buy stuff"))["seq"]
    await witness.request("report", target_type="message", group_id=gid, seq=seq, reason="spam")
    await witness.request("report", target_type="group", group_id=gid, reason="bad group")

    out = await admin_ok(server, "reports", "--open")
    nothing_personal(out, spammer, witness)
    on_message, on_group = lines(out)
    assert (on_message["reporter_id"], on_message["reporter_username"]) == (witness.user_id, witness.username)
    assert (on_message["user_id"], on_message["username"]) == (spammer.user_id, spammer.username)
    assert list(on_message).index("username") == list(on_message).index("user_id") + 1  # beside the id
    assert (on_group["user_id"], on_group["username"]) == (None, None)  # a report on a group names nobody

    # The id from the listing is enough for every people command.
    uid = on_message["user_id"]
    await admin_ok(server, "credit", uid, "--delta", "1", "--reason", "x")
    assert (await spammer.request("me"))["credit_score"] == 101
    await admin_ok(server, "suspend-admin", uid, "--seconds", "600", "--reason", "x")
    await admin_ok(server, "revoke-create", uid, "--reason", "x")
    sanctions = lines(await admin_ok(server, "sanctions", "--user", uid))
    assert [s["kind"] for s in sanctions] == ["suspend_admin", "revoke_create"]
    assert lines(await admin_ok(server, "sanctions", "--user", spammer.username.upper())) == sanctions
    lifted = await admin_ok(server, "lift", sanctions[0]["id"], "--reason", "x")
    assert f"suspend_admin on user {spammer.username} ({uid})" in lifted, lifted
    assert (await admin_ok(server, "accounts", "--subject", uid)) == ""
    held = await admin_ok(server, "hold", "--user", uid, "--reason", "case 1")
    assert f"on user {spammer.username} ({uid})" in held, held
    [hold] = lines(await admin_ok(server, "holds"))
    assert (hold["target_id"], hold["username"]) == (uid, spammer.username)
    await admin_ok(server, "export", "--user", uid, "--out", str(server.dir / "export"))
    await admin_ok(server, "blacklist", uid, "--reason", "x")
    err = await admin_refused(server, "credit", "u0000000000000000", "--delta", "1", "--reason", "x")
    assert "unknown user u0000000000000000" in err, err


async def test_a_username_that_is_another_users_id_names_neither(server):
    """Usernames may look like user ids: one user taking another's id as their username could turn a
    measure meant for the other on themselves, or away from themselves. Such a text is refused, naming
    both and what names each alone."""
    victim = await server.user()
    twin = await server.user(victim.user_id)
    err = await admin_refused(server, "credit", victim.user_id, "--delta", "-5", "--reason", "x")
    assert f"{victim.user_id} names two users" in err and victim.username in err and twin.user_id in err, err
    await admin_ok(server, "credit", victim.username, "--delta", "-5", "--reason", "x")
    await admin_ok(server, "credit", twin.user_id, "--delta", "-1", "--reason", "x")
    assert (await victim.request("me"))["credit_score"] == 95
    assert (await twin.request("me"))["credit_score"] == 99


async def test_the_review_queue_names_authors_by_username_and_id(make_server, tmp_path):
    srv = word_server(make_server, tmp_path)
    owner, member = await srv.user(), await srv.user(verify_id=True)
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    await member.send(gid, "刷单返利 今天", client_msg_id="held")
    await member.request("set_profile", display_name="刷单返利达人")
    out = await admin_ok(srv, "review-queue", "--open")
    nothing_personal(out, member)
    message, name = lines(out)
    assert (message["kind"], message["sender_id"], message["sender_username"]) == (
        "message", member.user_id, member.username)
    assert list(message).index("sender_username") == list(message).index("sender_id") + 1
    assert (name["kind"], name["user_id"], name["username"], name["sender_username"]) == (
        "display_name", member.user_id, member.username, member.username)
    await admin_ok(srv, "credit", message["sender_id"], "--delta", "-3", "--reason", "刷单")
    assert (await member.request("me"))["credit_score"] == 97
