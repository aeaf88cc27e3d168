"""What the terminal client sends for the v2 commands, against a scripted server (no network):
mentions from typed text, /read's default seq, /unban @name via the bans, /upload then send,
and how refusals are printed. The same paths run against a real server in test_tui_v2_e2e.py."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import pytest

from client_demo.client import RequestError
from client_demo.render import hhmm
from client_demo.tui import ChatTUI

GID = "123456789"
MEMBERS = [{"user_id": "u1", "display_name": "Alice", "role": "owner"},
           {"user_id": "u2", "display_name": "Bob Li", "role": "member"}]


class Scripted(ChatTUI):
    """A ChatTUI whose requests are answered from ``replies`` (op -> reply or RequestError)."""

    def __init__(self, replies: dict[str, Any]) -> None:
        self.buf = io.StringIO()
        super().__init__("ws://127.0.0.1:1/ws", out=self.buf, token_file=Path("/nonexistent/token"))
        self.replies = replies
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.current = GID
        self.user_id = "u1"

    async def request(self, op: str, **params: Any) -> dict[str, Any]:
        self.sent.append((op, params))
        reply = self.replies.get(op, {"ok": True})
        if isinstance(reply, RequestError):
            raise reply
        return reply(params) if callable(reply) else reply

    def run_lines(self, *lines: str) -> list[str]:
        async def go() -> None:
            for line in lines:
                await self.handle_line(line)
        asyncio.run(go())
        return self.buf.getvalue().splitlines()

    def ops(self, op: str) -> list[dict[str, Any]]:
        return [p for o, p in self.sent if o == op]


def test_mentions_go_into_send_only_when_there_is_an_at():
    t = Scripted({"members": {"members": MEMBERS}})
    t.run_lines("no mentions here", "hi @Bob Li", "/reply 5 @所有人 开会")
    sends = t.ops("send")
    assert "mentions" not in sends[0] and "mention_all" not in sends[0]
    assert sends[1]["mentions"] == ["u2"] and "mention_all" not in sends[1]
    assert sends[2]["reply_to"] == 5 and sends[2]["mention_all"] is True and "mentions" not in sends[2]
    assert len(t.ops("members")) == 2  # looked up for the two lines with an @


def test_a_shared_name_is_said_and_not_mentioned():
    twins = MEMBERS + [{"user_id": "u3", "display_name": "Bob Li", "role": "member"}]
    t = Scripted({"members": {"members": twins}})
    out = t.run_lines("hi @Bob Li")
    assert "mentions" not in t.ops("send")[0]
    assert "* @Bob Li is the name of several members: not mentioned (write @USER_ID)" in out


def test_read_defaults_to_the_last_message_shown():
    t = Scripted({})
    out = t.run_lines("/read")
    assert out[-1].startswith("! nothing_shown: ") and t.ops("mark_read") == []
    t.show_event({"ev": "message", "group_id": GID, "seq": 7, "ts": 0, "text": "x",
                  "sender": MEMBERS[1]})
    t.show_event({"ev": "message", "group_id": "987654321", "seq": 99, "ts": 0, "text": "x",
                  "sender": MEMBERS[1]})
    out = t.run_lines("/read", "/read 3")
    assert t.ops("mark_read") == [{"group_id": GID, "seq": 7}, {"group_id": GID, "seq": 3}]
    assert out[-2:] == [f"* read {GID} up to #7", f"* read {GID} up to #3"]


def test_unban_by_name_uses_the_names_seen_before():
    t = Scripted({"bans": {"bans": [{"user_id": "u2", "until": 0, "by": "u1"}]},
                  "members": {"members": MEMBERS}})
    out = t.run_lines("/unban @Bob Li")
    assert out[-1].startswith("! not_found: nobody in the bans of")  # never seen: no name to match
    t.run_lines("/members")
    out = t.run_lines("/unban @Bob Li")
    assert t.ops("unban") == [{"group_id": GID, "user_id": "u2"}]
    assert out[-1] == f"* unbanned Bob Li (u2) in {GID}"


def test_upload_then_send_with_the_attachment(tmp_path: Path):
    f = tmp_path / "a.pdf"
    f.write_bytes(b"%PDF-1.7\n" + b"x" * 100)
    t = Scripted({
        "upload_begin": {"upload_id": "up", "chunk_bytes": 64},
        "upload_chunk": lambda p: {"received": p["offset"] + len(p["data"])},
        "upload_end": {"media_id": "m9", "kind": "file", "mime": "application/pdf", "size": 109},
        "members": {"members": MEMBERS},
    })
    out = t.run_lines(f"/upload {f} for @Alice")
    assert [o for o, _ in t.sent] == ["upload_begin", "upload_chunk", "upload_chunk", "upload_end",
                                      "members", "send"]
    send = t.ops("send")[0]
    assert send["attachments"] == ["m9"] and send["text"] == "for @Alice" and send["mentions"] == ["u1"]
    assert "* uploaded a.pdf (application/pdf, 109 B) as m9" in out


def test_a_held_upload_message_is_said_to_wait_for_review(tmp_path: Path):
    """/upload sends its message itself: a held one is said like a typed one (nothing else shows it)."""
    f = tmp_path / "a.pdf"
    f.write_bytes(b"%PDF-1.7\n")
    t = Scripted({
        "upload_begin": {"upload_id": "up", "chunk_bytes": 64},
        "upload_chunk": lambda p: {"received": p["offset"] + len(p["data"])},
        "upload_end": {"media_id": "m9", "kind": "file", "mime": "application/pdf", "size": 9},
        "send": {"seq": 57, "ts": 1, "held": True},
    })
    out = t.run_lines(f"/upload {f} 刷单返利", f"/upload {f}")
    wait = f"* your message #57 to {GID} is held for the platform's review: nobody sees it (you neither) until"
    assert out[1] == f"{wait} an operator releases it: 刷单返利"
    assert out[3] == f"{wait} an operator releases it"


def test_agreement_shows_both_texts_and_a_bare_accept_takes_the_version_shown():
    t = Scripted({"agreement": {"version": "v2", "rules": "一\n二", "agreement": "", "accepted": False}})
    out = t.run_lines("/accept", "/agreement", "/accept")
    assert out == ["! usage: read the rules and agreement first: /agreement (then /accept), or /accept VERSION",
                   "* the platform's rules and service agreement, version v2 (not accepted yet)",
                   "  -- rules --", "    一", "    二", "  -- service agreement --", "    (empty)",
                   "* /accept v2 accepts them",
                   "* you accepted the platform's rules and service agreement (version v2); you may send again"]
    assert t.ops("accept_agreement") == [{"version": "v2"}]
    none = Scripted({"agreement": {"version": None, "rules": "", "agreement": "", "accepted": True}})
    assert none.run_lines("/agreement", "/accept") == [
        "* the platform has published no rules or service agreement: nothing to accept",
        "! usage: read the rules and agreement first: /agreement (then /accept), or /accept VERSION"]


def test_a_refusal_for_the_agreement_says_how_to_read_and_accept_it():
    t = Scripted({"send": RequestError("forbidden", "accept the platform rules and service agreement (version v2) "
                                       "first", {"ok": False, "agreement_version": "v2"})})
    assert t.run_lines("hello") == [("! forbidden: accept the platform rules and service agreement (version v2) "
                                     "first - read them with /agreement, then accept them with /accept v2")]


def test_refusals_are_printed_with_code_reason_and_wait():
    t = Scripted({"send": RequestError("rate_limited", "slow mode", {"ok": False, "retry_after_ms": 2500}),
                  "ban": RequestError("forbidden", "admins may not ban admins", {"ok": False})})
    out = t.run_lines("hello", "/ban u2 1d")
    assert out[-2:] == ["! rate_limited: slow mode (try again in 2.5 s)",
                        "! forbidden: admins may not ban admins"]
    assert t.ops("ban") == [{"group_id": GID, "user_id": "u2", "seconds": 86400}]


def test_join_by_code_makes_the_group_current():
    t = Scripted({"join_group": {"status": "joined", "group_id": "555555555"}})
    out = t.run_lines("/join Ab-9_xYzAb-9_xYzQ")
    assert t.ops("join_group") == [{"invite_code": "Ab-9_xYzAb-9_xYzQ"}]
    assert out[-1] == "* joined 555555555; it is the current group" and t.current == "555555555"


def test_v2_replies():
    t = Scripted({
        "create_invite_link": {"code": "Ab-9_xYzAb-9_xYzQ"},
        "bans": {"bans": [{"user_id": "u2", "until": 0, "by": "u1", "reason": "spam"}]},
        "invite_links": {"links": [
            {"link_id": "3f2a9c01de", "created_by": "u1", "created_at": 0, "expires_at": None, "max_uses": 10,
             "uses": 2, "note": "for the team"},
            {"link_id": "0123456789", "created_by": "u2", "created_at": 0, "expires_at": None, "max_uses": None,
             "uses": 0, "note": None}]},
        "group_log": {"entries": [{"id": 5, "ts": 0, "actor": "u1", "action": "ban", "target_user_id": "u2"}]},
        "search": {"messages": [{"group_id": GID, "seq": 4, "ts": 0, "text": "tea?", "sender": MEMBERS[1]}]},
        "group_info": {"group_id": GID, "name": "tea", "owner": MEMBERS[0], "pinned": [4, 9],
                       "slow_mode_seconds": 60},
        "my_groups": {"groups": [{"group_id": GID, "name": "tea", "role": "owner", "unread": 3}]},
    })
    out = t.run_lines("/link 3", "/bans", "/links", "/revoke 3f2a9c01de", "/log 1", "/search tea", "/info",
                      "/groups", "/slow 1m", "/pin 4",
                      "/react 4 👍", "/edit 4 x")
    text = "\n".join(out)
    assert f"* invite code for {GID}: Ab-9_xYzAb-9_xYzQ (3 uses, no expiry)" in out
    assert "* to join, type: /join Ab-9_xYzAb-9_xYzQ" in out
    assert f"* bans in {GID}: 1" in out and "  u2  until unbanned  by u1  reason: spam" in text
    assert f"* invite links in {GID}: 2" in out
    assert "  3f2a9c01de  2/10 uses  no expiry  by u1  note: for the team" in out
    assert "  0123456789  0 uses  no expiry  by u2" in out
    assert t.ops("revoke_invite_link") == [{"group_id": GID, "link_id": "3f2a9c01de"}]
    assert "* revoked invite link 3f2a9c01de" in out
    assert f"* log of {GID}: 1 entry" in out and "* older: /log 1 before 5" in out
    assert f"* 1 message in {GID} contains 'tea'" in out
    assert "  pinned: #4, #9" in out and "  slow mode: a member may send once per 1m" in out
    assert f" *{GID}  [owner]  tea  3 unread" in out
    assert f"* slow mode in {GID}: a member may send once per 1m" in out
    assert f"* pinned #4 in {GID}" in out and "* reacted 👍 to #4" in out and "* edited #4" in out
    assert GID not in t.last_seq  # a search hit is no page: it moves no read point


def test_a_held_text_is_said_to_wait_for_review_and_not_shown_as_applied():
    """``held: true`` (names and announcements under review): one line says the text waits for the
    platform's review, and the held text is never printed as if it were the name or announcement."""
    t = Scripted({
        "register": {"ok": True, "user_id": "u9", "held": True},
        "set_profile": {"ok": True, "held": True},
        "create_group": {"ok": True, "group_id": "987654321", "held": True},
        "update_group": {"ok": True, "held": True},
        "set_announcement": {"ok": True, "held": True},
    })
    out = t.run_lines("/register alice secret123 13800138000 123456 茶友", "/nick 茶友二", "/announce 周末聚会",
                      "/rename 新茶馆", "/create 茶馆 friends")
    wait = "is held for the platform's review"
    assert out == [
        "* registered alice (user_id u9); now /login alice PASSWORD",
        f"* the display name 茶友 {wait}; you are shown as alice until it is approved",
        f"* the display name 茶友二 {wait}; your name stays as it was until it is approved",
        f"* the announcement {wait}; the group keeps its announcement until it is approved",
        f"* the new name 新茶馆 {wait}; the group keeps its name until it is approved",
        "* created group 987654321 (群聊 987654321); it is the current group",
        f"* the group name 茶馆 {wait}; the group is called 群聊 987654321 until it is approved",
    ]
    assert t.current == "987654321"
    assert not any("display name set to" in line or "announcement set" in line for line in out)


def test_a_reply_that_is_not_held_reads_as_before():
    t = Scripted({"set_profile": {"ok": True}, "update_group": {"ok": True}})
    assert t.run_lines("/nick 茶友", "/rename 新茶馆") == ["* display name set to 茶友", "* group updated"]


def test_held_lists_ones_own_texts_under_review_and_withdraw_takes_one_back():
    t = Scripted({
        "my_held_texts": {"ok": True, "held": [
            {"held_id": "13", "kind": "display_name", "text": "茶友二", "created_at": 0},
            {"held_id": "12", "kind": "group_name", "group_id": GID, "text": "新茶馆", "created_at": 0}]},
    })
    out = t.run_lines("/held 2", "/withdraw 12")
    assert out[0] == "* waiting for review: 2 (/withdraw ID takes one back)"
    assert out[1].startswith("  #13 ") and out[1].endswith(" display name: 茶友二")
    assert out[2].startswith("  #12 ") and out[2].endswith(f" group name of {GID}: 新茶馆")
    assert out[3:] == ["* older: /held 2 before 12", "* withdrew held text 12: it no longer waits for review"]
    assert t.ops("withdraw_held_text") == [{"held_id": "12"}]
    assert Scripted({"my_held_texts": {"ok": True, "held": []}}).run_lines("/held") == [
        "* nothing of yours waits for review"]


def test_groups_shows_what_keeps_one_from_posting_and_categories_lists_the_servers():
    """my_groups gives each group's posting state (the caller's mute, mute-all, the platform's
    suspension); /groups shows it, so a user who was away sees it without a refused send."""
    soon = int(time.time() * 1000) + 3_600_000
    t = Scripted({
        "my_groups": {"groups": [
            {"group_id": GID, "name": "tea", "role": "member", "muted_until": soon, "mute_all": True,
             "suspended_until": 0},
            {"group_id": "222222222", "name": "chess", "role": "member", "muted_until": 0, "mute_all": True,
             "suspended_until": soon, "suspension_cause": "category_freeze"},
            {"group_id": "333333333", "name": "go", "role": "owner", "muted_until": 0, "mute_all": True,
             "suspended_until": 0},
        ]},
        "categories": {"groups": ["sports", "other"], "accounts": ["weather", "other"]},
    })
    out = t.run_lines("/groups", "/categories")
    at = hhmm(soon)
    assert f" *{GID}  [member]  tea  [muted until {at}]" in out
    assert f"  222222222  [member]  chess  [suspended until {at} (category frozen); everyone muted]" in out
    assert "  333333333  [owner]  go" in out  # mute-all does not hold the owner
    assert out[-2:] == ["* group categories: sports, other", "* public-account categories: weather, other"]


def test_a_ban_refusal_says_until_when_as_a_time_not_in_milliseconds():
    """The server's reason spells the end of a timed ban in epoch ms (and the refusal carries
    ``banned_until``): the client shows a local time, and says no time twice."""
    until = int(time.time() * 1000) + 3_600_000
    t = Scripted({"join_group": RequestError("forbidden", f"banned from this group until {until} (epoch ms)",
                                             {"ok": False, "banned_until": until})})
    assert t.run_lines("/join 555555555") == [f"! forbidden: banned from this group until {hhmm(until)}"]
    # a reason that does not say it: the time follows, as for a mute's `until`
    t = Scripted({"join_group": RequestError("forbidden", "banned from this group",
                                             {"ok": False, "banned_until": until})})
    assert t.run_lines("/join 555555555") == [f"! forbidden: banned from this group (until {hhmm(until)})"]
    # the refusal as the server words it (governance's own text and fields)
    from governance.moderation import check_not_banned
    from protocol.errors import ContractError

    try:
        check_not_banned(until, until - 1000)
    except ContractError as exc:
        refusal = RequestError(exc.code, exc.reason, {"ok": False, **exc.extra})
    assert Scripted({"join_group": refusal}).run_lines("/join 555555555") == [
        f"! forbidden: banned from this group until {hhmm(until)}"]
    # until unbanned: nothing to format
    t = Scripted({"join_group": RequestError("forbidden", "banned from this group",
                                             {"ok": False, "banned_until": 0})})
    assert t.run_lines("/join 555555555") == ["! forbidden: banned from this group"]


def test_a_short_wait_is_rounded_up_not_said_as_zero():
    for ms, said in ((1, "in 0.1 s"), (49, "in 0.1 s"), (101, "in 0.2 s"), (2500, "in 2.5 s"), (0, "now")):
        t = Scripted({"send": RequestError("rate_limited", "sending too fast", {"ok": False, "retry_after_ms": ms})})
        assert t.run_lines("hello") == [f"! rate_limited: sending too fast (try again {said})"]


def test_read_says_where_the_marker_stands_from_the_reply():
    """``mark_read`` answers with ``read_seq``: the marker only moves forward and stops at the last
    message, so the SEQ typed is not always where it ends."""
    t = Scripted({"mark_read": lambda p: {"read_seq": {3: 7, 50: 12, 9: 9}[p["seq"]]}})
    out = t.run_lines("/read 3", "/read 50", "/read 9")
    assert out == [f"* nothing moved: {GID} is read up to #7 already",
                   f"* read {GID} up to #12 (its last message)",
                   f"* read {GID} up to #9"]


def test_report_user_takes_a_display_name_with_spaces():
    """``/report user @Bob Li spam ...``: where the name ends is found among the members (the longest
    name that fits), as every other command that takes USER resolves @names."""
    members = MEMBERS + [{"user_id": "u3", "display_name": "Bob", "role": "member"}]
    t = Scripted({"members": {"members": members}, "report": {"report_id": "9"}})
    out = t.run_lines("/report user @Bob Li spam 发广告 很多次", "/report user @Bob abuse", "/report user @Bob Li",
                      "/report user @Carol spam")
    assert t.ops("report") == [
        {"target_type": "user", "group_id": GID, "user_id": "u2", "reason": "spam", "detail": "发广告 很多次"},
        {"target_type": "user", "group_id": GID, "user_id": "u3", "reason": "abuse"}]
    assert out[:2] == ["* report filed (id 9)"] * 2
    assert out[2].startswith("! usage: give the REASON after @name; /report ")
    assert out[3] == f"! not_found: nobody in {GID} members has a name that @Carol spam starts with (use a user_id)"


def test_requests_lists_requesters_with_when_they_asked_not_a_role():
    at = int(time.time() * 1000)
    t = Scripted({"join_requests": {"requests": [{"user_id": "u7", "display_name": "Eve", "role": "member",
                                                   "requested_at": at}]}})
    assert t.run_lines("/requests") == [f"* join requests for {GID}: 1", f"  u7  Eve  asked {hhmm(at)}"]


def test_an_edit_highlights_ones_own_mention():
    t = Scripted({"me": {"user_id": "u1", "display_name": "Alice"}})
    t.run_lines("/me")
    t.show_event({"ev": "message_edited", "group_id": GID, "seq": 4, "text": "ask @Alice or @Bob Li",
                  "edited_at": 0})
    assert t.buf.getvalue().splitlines()[-1].endswith(" edited: ask *@Alice* or @Bob Li")


def test_a_group_or_account_name_cannot_pose_as_your_role():
    """/groups and /accounts show your own role in brackets before the name: a group called
    "tea  (owner)" (names may hold brackets) does not tell a plain member that they own it."""
    t = Scripted({
        "my_groups": {"groups": [{"group_id": GID, "name": "tea  (owner)", "role": "member", "muted_until": 0,
                                  "mute_all": False, "suspended_until": 0}]},
        "my_accounts": {"accounts": [{"account_id": "555555555", "name": "日报  (owner)", "role": "editor",
                                      "status": "active"}]},
        "my_subscriptions": {"accounts": []},
    })
    out = t.run_lines("/groups", "/accounts")
    assert f" *{GID}  [member]  tea  (owner)" in out
    assert "  555555555  [editor]  日报  (owner)" in out


def test_groups_says_when_an_unread_message_mentions_you():
    t = Scripted({"my_groups": {"groups": [
        {"group_id": GID, "name": "tea", "role": "member", "unread": 3, "mentioned": True, "muted_until": 0,
         "mute_all": False, "suspended_until": 0},
        {"group_id": "222222222", "name": "chess", "role": "member", "unread": 2, "mentioned": False,
         "muted_until": 0, "mute_all": False, "suspended_until": 0}]}})
    out = t.run_lines("/groups")
    assert f" *{GID}  [member]  tea  3 unread, you are mentioned" in out
    assert "  222222222  [member]  chess  2 unread" in out


def test_invite_and_ban_find_a_name_this_client_has_seen_outside_the_group():
    """A reviewer's case: /invite @Carol looked Carol up among the group's members, where someone to
    invite never is, and /ban @Carol right after her kick could not find her either."""
    t = Scripted({"members": {"members": MEMBERS}})
    t.names.learn({"user_id": "u7", "display_name": "Carol"})  # seen in another group
    t.run_lines("/invite @Carol", "/ban @Carol 1h spam")
    assert t.ops("invite") == [{"group_id": GID, "user_id": "u7"}]
    assert t.ops("ban") == [{"group_id": GID, "user_id": "u7", "seconds": 3600, "reason": "spam"}]
    out = t.run_lines("/invite @Nobody")
    assert "! not_found: nobody in the people this client has seen is called @Nobody (use a user_id)" in out


def test_leaving_on_another_device_forgets_the_group_here_too():
    """``member_left`` of oneself comes from one's other device: the group is no longer current."""
    t = Scripted({})
    t.show_event({"ev": "member_left", "group_id": "999999999", "user_id": "u1"})
    assert t.current == GID  # (another group's)
    t.show_event({"ev": "member_left", "group_id": GID, "user_id": "u2"})
    assert t.current == GID  # (someone else left)
    t.show_event({"ev": "member_left", "group_id": GID, "user_id": "u1"})
    assert t.current is None


def test_a_line_with_a_password_is_masked_and_kept_out_of_the_history():
    from client_demo.tui import holds_secret

    for line in ("/login alice pw", "/password old new", "/deleteaccount pw", "/auth tok", "/PASSWORD a b"):
        assert holds_secret(line), line
    assert not holds_secret("/logout all") and not holds_secret("hello /password")


def test_upload_refuses_what_is_not_a_regular_file(tmp_path):
    """(From a review: a named pipe blocked the client for ever.) A directory or a FIFO is no_file, at once."""
    import os

    from client_demo.commands import CommandError
    from client_demo.upload import open_regular

    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    for path in (tmp_path, fifo):
        with pytest.raises(CommandError) as exc:
            open_regular(path)
        assert exc.value.code == "no_file" and "not a regular file" in exc.value.message
    (tmp_path / "f").write_bytes(b"x")
    with open_regular(tmp_path / "f") as f:
        assert f.read() == b"x"
