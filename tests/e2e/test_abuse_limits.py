"""What one account can make the server write, bounded (a review of resource exhaustion): a text the
word lists block writes a credit penalty and an enforcement-record entry kept for good, so it is held to
the message rate as a message that goes through is."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tests.e2e.harness import ServerProcess, close_all, closed_by_server, new_phone, open_group, restart

BLOCK = """
[[content.lists]]
category = "gambling"
path = "block.txt"
action = "block"
"""


def code(reply):
    return "ok" if reply.get("ok") else reply["code"]


def _server(tmp_path, started, backend, blocked: bool = False, **fmt):
    """A server on ``backend`` in a folder of its own; ``blocked``: its word lists block 赌场."""
    d = tmp_path / "srv"
    d.mkdir()
    if blocked:
        (d / "block.txt").write_text("赌场\n", encoding="utf-8")
    return started(ServerProcess(d, BLOCK if blocked else "", backend=backend, **fmt))


async def test_blocked_texts_are_held_to_the_message_rate(tmp_path, started, backend, monkeypatch):
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_MESSAGES_PER_SECOND", "0.05")  # (no token back within the test)
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_MESSAGE_BURST", "3")
    srv = _server(tmp_path, started, backend, blocked=True)
    owner = await srv.user()
    gid = await open_group(owner)
    assert (await owner.send(gid, "大家好"))["seq"] == 1  # one of the burst's three
    codes = [code(await owner.call("send", group_id=gid, text=f"来赌场 {i}", client_msg_id=f"b{i}"))
             for i in range(12)]
    # two more from the burst are refused for their words (each charged and recorded), the rest for the rate
    assert codes[:2] == ["content_blocked"] * 2 and set(codes[2:]) == {"rate_limited"}, codes
    # the same for an edit and a reaction: the bucket is the sender's, and empty now
    assert code(await owner.call("react", group_id=gid, seq=1, emoji="赌场", on=True)) == "rate_limited"
    assert code(await owner.call("edit_message", group_id=gid, seq=1, text="赌场")) == "rate_limited"
    for _ in range(100):  # (a penalty's record is written after the refusal is answered)
        if srv.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'content_blocked'") == [(2,)]:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # (and no more come)
    assert srv.db_rows("SELECT COUNT(*) FROM audit WHERE action = 'content_blocked'") == [(2,)]
    await close_all(owner)


async def test_a_connection_that_keeps_asking_is_closed_once_long_enough_without_a_login(
        tmp_path, started, backend, monkeypatch):
    """Each request restarts the authentication timer (the contract), so a client asking something
    every few seconds held a socket without a login for good. Past max_unauthenticated_seconds in all,
    it is closed as a silent one is; a login ends the count, and a logout starts it afresh."""
    monkeypatch.setenv("QUNGUAN_SERVER_MAX_UNAUTHENTICATED_SECONDS", "3")
    srv = _server(tmp_path, started, backend, auth_timeout=2.0)
    c = await srv.client()
    opened = time.monotonic()
    while not c.closed and time.monotonic() - opened < 10:
        with contextlib.suppress(Exception):
            await c.call("request_code", phone="12345", timeout=1)  # (well-formed: it restarts the timer)
        await asyncio.sleep(0.5)
    took = time.monotonic() - opened
    assert await closed_by_server(c) == (1008, "authentication timeout")
    assert 2.5 < took < 6, took
    # Logged in, the count stops: the connection stays past it.
    user = await srv.user()
    await asyncio.sleep(3.5)
    assert (await user.request("me"))["user_id"] == user.user_id
    await user.close()


async def test_management_acts_are_limited_per_minute(tmp_path, started, backend, monkeypatch):
    """A manager's acts each write a record entry kept for good and most are announced to the whole
    group; none had a limit (an announcement of 4,000 characters sent to 2,000 members in a loop)."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_MANAGING_PER_MINUTE", "5")
    srv = _server(tmp_path, started, backend)
    owner = await srv.user()
    gid = await open_group(owner)  # (create_group: one of the five)
    for i in range(4):
        await owner.request("set_announcement", group_id=gid, text=f"公告 {i}")
    refused = await owner.call("set_slow_mode", group_id=gid, seconds=10)
    assert refused["code"] == "rate_limited" and 0 < refused["retry_after_ms"] <= 60_000, refused
    assert (await owner.send(gid, "消息照发"))["seq"] == 1  # (messages have their own rate)
    assert (await owner.request("group_info", group_id=gid))["slow_mode_seconds"] == 0
    await owner.close()


async def test_cleaning_up_ones_own_messages_shares_the_message_rate(tmp_path, started, backend, monkeypatch):
    """docs/protocol.md, ``delete_user_messages``: "A member's clean-up of their own messages shares their
    message rate (each request walks the group's messages since they joined)", ``rate_limited`` with
    ``retry_after_ms`` when asked too fast. Each request reads the whole group's history since the caller
    joined: unlimited, any member could make the server walk it in a loop (only the far looser
    ``managing_per_minute`` would stop them). A manager's clean-up of someone else's messages is not
    held back by their own chatting."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_MESSAGES_PER_SECOND", "0.05")  # (no token back within the test)
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_MESSAGE_BURST", "3")
    srv = _server(tmp_path, started, backend)
    owner = await srv.user()
    gid = await open_group(owner)
    member = await srv.user()
    await member.request("join_group", group_id=gid)
    assert (await member.send(gid, "oops"))["seq"] == 1  # the burst's first
    assert (await member.request("delete_user_messages", group_id=gid, user_id=member.user_id))["deleted"] == 1
    assert (await member.request("delete_user_messages", group_id=gid, user_id=member.user_id))["deleted"] == 0
    refused = await member.call("delete_user_messages", group_id=gid, user_id=member.user_id)  # the fourth
    assert refused.get("code") == "rate_limited" and refused["retry_after_ms"] > 0, refused
    assert code(await member.call("send", group_id=gid, text="x")) == "rate_limited"  # one bucket for both
    # the owner, out of message tokens too, still cleans up the member's messages
    for i in range(3):
        await owner.send(gid, f"chat {i}")
    assert code(await owner.call("send", group_id=gid, text="one too many")) == "rate_limited"
    assert (await owner.request("delete_user_messages", group_id=gid, user_id=member.user_id))["deleted"] == 0
    await close_all(owner, member)


async def test_a_display_name_restated_writes_nothing(tmp_path, started, backend):
    """set_profile with the name already shown wrote the user's row and a network-log row (kept half a
    year) each time, with no limit (the renames limit counts only changes)."""
    srv = _server(tmp_path, started, backend)
    user = await srv.user()
    name = (await user.request("me"))["display_name"]
    before = srv.db_rows("SELECT COUNT(*) FROM netlog WHERE kind = 'profile'")
    for _ in range(5):
        assert (await user.call("set_profile", display_name=name))["ok"]
    assert srv.db_rows("SELECT COUNT(*) FROM netlog WHERE kind = 'profile'") == before
    await user.request("set_profile", display_name=name + "二")  # a change is written, and logged
    for _ in range(50):
        if srv.db_rows("SELECT COUNT(*) FROM netlog WHERE kind = 'profile'") != before:
            break
        await asyncio.sleep(0.05)
    assert srv.db_rows("SELECT COUNT(*) FROM netlog WHERE kind = 'profile'") == [(before[0][0] + 1,)]
    await user.close()


def test_the_docs_name_every_act_managing_per_minute_counts() -> None:
    """docs/config.md and docs/protocol.md list the acts the limit counts: the same set as the code."""
    import re
    from pathlib import Path

    from server.handlers.common import MANAGING_OPS

    root = Path(__file__).resolve().parents[2]
    config = (root / "docs" / "config.md").read_text(encoding="utf-8")
    [row] = [line for line in config.splitlines() if line.startswith("| `managing_per_minute` |")]
    protocol = (root / "docs" / "protocol.md").read_text(encoding="utf-8")
    listed = protocol.split("past `rate_limits.managing_per_minute` (", 1)[1].split(")", 1)[0]
    for text in (row.split("|")[5].split("(each", 1)[0], listed):
        assert set(re.findall(r"`([a-z_]+)`", text)) == set(MANAGING_OPS)


async def test_upload_names_the_lists_block_are_held_to_the_hours_uploads(tmp_path, started, backend, monkeypatch):
    """An upload refused for its file name (a penalty and a record entry) was screened before the hour's
    count, so it was never counted: begins with blocked names went on without end."""
    monkeypatch.setenv("QUNGUAN_MEDIA_UPLOADS_PER_HOUR", "2")
    srv = _server(tmp_path, started, backend, blocked=True)
    user = await srv.user()
    codes = [code(await user.call("upload_begin", mime="application/pdf", size=100, name=f"赌场{i}.pdf"))
             for i in range(4)]
    assert codes == ["content_blocked", "content_blocked", "rate_limited", "rate_limited"], codes
    await user.close()


async def test_sms_codes_are_held_to_the_services_budget_across_a_restart(tmp_path, started, backend, monkeypatch):
    """Codes per phone and per address do not bound a sender spread over many networks, and each
    code is a text message the platform pays for: code_requests_per_hour holds the whole service
    to its SMS budget, after a restart too (read back from the network log)."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_CODE_REQUESTS_PER_HOUR", "2")
    srv = _server(tmp_path, started, backend)
    first, second = await srv.client(), await srv.client()
    assert (await first.call("request_code", phone=new_phone()))["ok"]
    assert (await second.call("request_code", phone=new_phone()))["ok"]
    refused = await first.call("request_code", phone=new_phone())
    assert refused["code"] == "rate_limited" and "on this service" in refused["reason"], refused
    assert 3_000_000 < refused["retry_after_ms"] <= 3_600_001, refused
    assert await srv.logged("code_requests_per_hour (2) reached")  # (an operator hears of it)
    for _ in range(50):  # (the network log's rows are written in the next group commit)
        if srv.db_rows("SELECT COUNT(*) FROM netlog WHERE kind = 'code_request'") == [(2,)]:
            break
        await asyncio.sleep(0.1)
    await close_all(first, second)
    await restart(srv)
    again = await srv.client()
    assert (await again.call("request_code", phone=new_phone()))["code"] == "rate_limited"
    await again.close()


async def test_logins_naming_one_account_are_limited_per_hour(tmp_path, started, backend, monkeypatch):
    """Each login costs a password hash and a right one stores a token and a network-log row kept six
    months: a client holding the password looped login without end. The limit counts every login
    naming the account, is checked before the password, and leaves auth with a token alone."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_LOGINS_PER_ACCOUNT_PER_HOUR", "3")
    srv = _server(tmp_path, started, backend)
    me = await srv.user("looper")  # (its registration's login: one of the three)
    token = me.token
    assert (await me.call("login", username="looper", password="password123"))["user_id"]
    assert (await me.call("login", username="looper", password="wrong-password"))["code"] == "unauthenticated"
    refused = await me.call("login", username="looper", password="password123")
    assert refused["code"] == "rate_limited" and "logins for this account" in refused["reason"], refused
    assert refused["retry_after_ms"] > 3_000_000
    other = await srv.user("bystander")  # (another account has its own count)
    assert (await other.call("login", username="bystander", password="password123"))["user_id"]
    fresh = await srv.client()
    assert (await fresh.call("auth", token=token))["user_id"]  # (a token still signs in)
    await close_all(me, other, fresh)
