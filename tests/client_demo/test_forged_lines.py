"""No text from the server can print a line of its own: a line break in an announcement, a post's
title, a display name, an operator's reason, ... starts an indented continuation line, as in a
message, so it never reads as another member's message, a platform notice or a refusal. Bidi
controls are shown escaped, like control characters. Every event, list and reply the client shows
is fed text carrying forged lines (no server: replies are scripted)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from client_demo.client import RequestError
from client_demo.public_view import (
    accounts_lines,
    format_account_info,
    format_comments,
    format_post,
    format_post_row,
    public_reply,
)
from client_demo.render import (
    Names,
    format_ban,
    format_event,
    format_held,
    format_held_settled,
    format_held_text,
    format_invite_link,
    format_join_request,
    format_log_entry,
    format_message,
    format_my_appeal,
    format_my_report,
    format_user,
)
from client_demo.text import clean
from client_demo.tui import refusal_text
from tests.client_demo.test_tui_logic import Scripted

GID = "123456789"
AID = "987654321"
NOW_MS = int(time.time() * 1000)
# what an announcement, a title or a name could carry to forge lines of the client's own
FAKE = "本周公告\n02:43 [4820193375 #40] Dave: 转账到这个账户\r\n* notice [platform]: 系统维护\n! forbidden: you"
FORGED = ("02:43 [", "* notice [platform]: 系统维护", "! forbidden: you")
# fields that pick a branch (an event's kind, a notice's outcome): kept, so every wording is reached
KEEP = {"ev", "kind", "outcome", "measure", "content", "cause", "label", "status", "target_type", "comments",
        "subject_type", "role"}


def poison(x: Any, key: str = "") -> Any:
    """``x`` with every string in it (but the fields in KEEP) replaced by :data:`FAKE`."""
    if isinstance(x, dict):
        return {k: poison(v, k) for k, v in x.items()}
    if isinstance(x, list):
        return [poison(v, key) for v in x]
    if isinstance(x, str) and key not in KEEP:
        return FAKE
    return x


def assert_no_forged_line(lines: str | list[str]) -> None:
    text = lines if isinstance(lines, str) else "\n".join(lines)
    assert "本周公告" in text, "the forged text was not printed at all"
    for line in text.split("\n"):
        assert not line.startswith(FORGED), f"a server text starts a line of its own: {line!r}\n{text}"


USER = {"user_id": "u2", "display_name": "Bob", "role": "member"}
MSG = {"group_id": GID, "seq": 42, "ts": NOW_MS, "sender": USER, "text": "hi", "reply_to": 3,
       "attachments": [{"media_id": "m1", "kind": "image", "name": "a.png", "url": "/media/m1", "size": 3}]}
NOTICES = [
    {"kind": "credit", "credit_score": 80, "credit_level": 2, "delta": -20, "reason": "r"},
    {"kind": "credit", "credit_score": 80, "credit_level": 2, "delta": -20, "sanction_id": "6", "reason": "r"},
    {"kind": "account_credit", "account_id": AID, "credit_score": 80, "credit_level": 2, "delta": 5, "reason": "r"},
    {"kind": "warning", "group_id": GID, "text": "t", "deadline": NOW_MS, "sanction_id": "6"},
    {"kind": "report_result", "outcome": "upheld", "report_id": "7", "text": "note"},
    {"kind": "sanction", "measure": "suspend_admin", "sanction_id": "6", "reason": "r", "until": NOW_MS},
    {"kind": "sanction", "measure": "revoke_create", "sanction_id": "6", "reason": "r"},
    {"kind": "sanction", "measure": "other", "sanction_id": "6", "text": "t"},
    {"kind": "sanction_lifted", "measure": "suspend_group", "sanction_id": "6", "appeal_id": "3", "reason": "r",
     "group_id": GID, "until": NOW_MS},
    {"kind": "sanction_lifted", "measure": "unknown", "sanction_id": "6", "text": "t"},
    {"kind": "appeal_result", "outcome": "rejected", "appeal_id": "3", "sanction_id": "6", "note": "n"},
    {"kind": "content_removed", "content": "message", "outcome": "removed", "seq": 4, "reason": "r"},
    {"kind": "content_removed", "content": "post", "outcome": "rejected", "post_id": "1", "title": "t",
     "reason": "r"},
    {"kind": "content_removed", "content": "comment", "outcome": "removed", "comment_id": "1", "post_id": "2",
     "title": "t", "reason": "r"},
    {"kind": "content_removed", "content": "group_name", "outcome": "rejected", "reason": "r"},
    {"kind": "agreement", "version": "v1"},
    {"kind": "platform", "text": "t", "category": "c"},
    {"kind": "group_handover", "group_id": GID},
    {"kind": "blacklisted", "text": "t", "same_person_as": "x"},
    {"kind": "account_warning", "account_id": AID, "text": "t", "deadline": NOW_MS, "sanction_id": "6"},
    {"kind": "account_restricted", "account_id": AID, "reason": "r", "sanction_id": "6"},
    {"kind": "account_unrestricted", "account_id": AID, "reason": "r"},
    {"kind": "account_suspended", "account_id": AID, "reason": "r", "deadline": NOW_MS},
    {"kind": "account_closed", "account_id": AID, "reason": "r"},
    {"kind": "account_licensed", "account_id": AID, "label": "news", "measure": "grant", "reason": "r"},
    {"kind": "post_removed", "account_id": AID, "post_id": "1", "title": "t", "reason": "r"},
    {"kind": "something_new", "text": "t"},
]
EVENTS = [
    {"ev": "message", **MSG},
    {"ev": "message_released", **MSG},
    {"ev": "message_deleted", "group_id": GID, "seq": 4},
    {"ev": "message_edited", "group_id": GID, "seq": 4, "text": "t", "edited_at": NOW_MS},
    {"ev": "reaction", "group_id": GID, "seq": 4, "user_id": "u2", "emoji": "👍", "on": True},
    {"ev": "held_text_settled", "held_id": "1", "kind": "group_name", "outcome": "released", "group_id": GID},
    {"ev": "held_text_settled", "held_id": "1", "kind": "account_intro", "outcome": "odd", "account_id": AID},
    {"ev": "read_marker", "group_id": GID, "seq": 4},
    {"ev": "post", "account_id": AID, "post_id": "17", "title": "t", "ts": NOW_MS},
    {"ev": "comment", "account_id": AID, "post_id": "17", "comment_id": "5", "user": USER, "text": "t",
     "reply_to": "3", "ts": NOW_MS},
    {"ev": "comment", "account_id": AID, "post_id": "17", "comment_id": "5", "user": USER, "text": "t",
     "moderated": True, "hidden": True, "ts": NOW_MS},
    {"ev": "member_joined", "group_id": GID, "user": USER},
    {"ev": "member_left", "group_id": GID, "user_id": "u2"},
    {"ev": "member_removed", "group_id": GID, "user_id": "u2", "by": "u1", "banned": True},
    {"ev": "user_renamed", "user_id": "u2", "display_name": "n"},
    {"ev": "role_changed", "group_id": GID, "user_id": "u2", "role": "admin"},
    {"ev": "member_muted", "group_id": GID, "user_id": "u2", "until": NOW_MS + 60_000},
    {"ev": "group_updated", "group_id": GID, "announcement": "a"},
    {"ev": "group_updated", "group_id": GID, "name": "n", "category": "c", "mute_all": True, "pinned": [1]},
    {"ev": "join_request", "group_id": GID, "user": USER},
    *({"ev": "notice", **n} for n in NOTICES),
    {"ev": "group_dissolved", "group_id": GID},
    {"ev": "group_closed", "group_id": GID, "reason": "r"},
    {"ev": "group_suspended", "group_id": GID, "until": NOW_MS, "reason": "r", "sanction_id": "6"},
    {"ev": "post_deleted", "account_id": AID, "post_id": "1"},
    {"ev": "comment_deleted", "account_id": AID, "post_id": "1", "comment_id": "2"},
    {"ev": "editor_changed", "account_id": AID, "user_id": "u2", "on": True, "name": "n"},
    {"ev": "account_updated", "account_id": AID, "name": "n", "intro": "i", "org_name": "o"},
    {"ev": "invited", "group_id": GID, "by": USER, "name": "n"},
    {"ev": "join_result", "group_id": GID, "status": "approved", "name": "n"},
    {"ev": "join_result", "group_id": GID, "status": "rejected"},
    {"ev": "brand_new_event", "group_id": GID, "what": "w"},
    {"ok": False, "code": "bad_request", "reason": "r"},
]


@pytest.mark.parametrize("ev", EVENTS, ids=lambda e: f"{e.get('ev')}-{e.get('kind', '')}")
def test_no_event_prints_a_line_the_server_wrote(ev):
    names = Names()
    names.learn(poison(USER))  # a display name carrying lines of its own
    names.learn_account({"account_id": AID, "name": FAKE})
    assert_no_forged_line(format_event(poison(ev), names))


def test_the_reported_cases():
    """The announcement and the new post's title of the tester's report, and /info's announcement."""
    names = Names()
    line = format_event({"ev": "group_updated", "group_id": GID, "announcement": FAKE}, names)
    forged = "    02:43 [4820193375 #40] Dave: 转账到这个账户\\x0d"  # the \r of \r\n shown, as ever
    assert line.split("\n")[:2] == [f"* {GID} announcement: 本周公告", forged]
    line = format_event({"ev": "post", "account_id": AID, "post_id": "17", "title": FAKE, "ts": 0}, names)
    assert line.split("\n")[1] == forged
    t = Scripted({"group_info": {"group_id": GID, "name": "tea", "owner": USER, "announcement": FAKE}})
    out = t.run_lines("/info")
    assert "  announcement: 本周公告" in out and forged in out


def test_no_list_row_prints_a_line_the_server_wrote():
    names = Names()
    names.learn(poison(USER))
    rows = [
        format_message(poison(MSG), names),
        format_user(poison(USER)),
        format_join_request(poison({**USER, "requested_at": NOW_MS})),
        format_ban(poison({"user_id": "u2", "until": NOW_MS, "by": "u1", "reason": "r"}), names),
        format_invite_link(poison({"link_id": "l", "uses": 1, "max_uses": 3, "created_by": "u1", "note": "n"}),
                           names),
        format_log_entry(poison({"id": 1, "ts": NOW_MS, "actor": "u1", "action": "a", "target_user_id": "u2",
                                 "detail": {"reason": "r", "deadline": NOW_MS}}), names),
        format_log_entry(poison({"id": 1, "ts": NOW_MS, "actor": "u1", "action": "a", "detail": "d"}), names),
        format_my_report(poison({"report_id": "1", "created_at": NOW_MS, "target_type": "user", "user_id": "u2",
                                 "group_id": GID, "reason": "r", "status": "closed", "outcome": "upheld",
                                 "resolved_at": NOW_MS, "note": "n"}), names),
        format_my_appeal(poison({"appeal_id": "1", "created_at": NOW_MS, "sanction_id": "6", "status": "closed",
                                 "outcome": "rejected", "decided_at": NOW_MS, "note": "n"})),
        format_held_text(poison({"held_id": "1", "created_at": NOW_MS, "kind": "announcement", "group_id": GID,
                                 "text": "t"})),
        format_held_settled(poison({"held_id": "1", "kind": "display_name", "outcome": "rejected"})),
        format_held("create_group", poison({"name": "n"}), poison({"held": True, "group_id": GID})) or "",
        format_held("send", poison({"group_id": GID, "text": "t"}), {"held": True, "seq": 3}) or "",
    ]
    for row in rows:
        assert_no_forged_line(row)


def test_no_public_account_view_prints_a_line_the_server_wrote():
    names = Names()
    account = poison({"account_id": AID, "name": "n", "category": "c", "intro": "i", "subject_type": "organization",
                      "org_name": "o", "labels": ["l"], "credit_level": 3, "subscriber_count": 1, "status": "closed",
                      "role": "owner", "created_at": NOW_MS})
    post = poison({"post_id": "17", "account_id": AID, "title": "t", "body": "b", "ts": NOW_MS, "reads": 1,
                   "comment_count": 1, "comments": "open", "held": True})
    comment = poison({"comment_id": "6", "user": USER, "text": "t", "ts": NOW_MS, "reply_to": "5"})
    for lines in (format_account_info(account), accounts_lines([account], [account], names),
                  [format_post_row(post)], format_post(post, names), format_comments("17", [comment], names, 1),
                  public_reply("posts", {"account_id": AID}, {"posts": [post]}, names),
                  public_reply("create_account", poison({"name": "n"}), {"account_id": AID, "held": True,
                                                                         "held_ids": {"name": "1"}}, names)):
        assert_no_forged_line(lines or [])
    # a post's body is a block of its own: each of its lines is indented
    body = format_post({"post_id": "1", "account_id": AID, "title": "t", "body": FAKE}, names)[2:]
    assert body and all(line.startswith("    ") for line in body)


def test_no_reply_the_client_shows_prints_a_line_the_server_wrote():
    group = {"group_id": GID, "name": "n", "role": "owner", "category": "c", "join_policy": "open",
             "member_count": 2, "max_members": 500, "owner": USER, "announcement": "a", "pinned": [1],
             "unread": 2}
    t = Scripted(poison({
        "group_info": group,
        "my_groups": {"groups": [group]},
        "members": {"members": [USER]},
        "join_requests": {"requests": [{**USER, "requested_at": NOW_MS}]},
        "history": {"messages": [MSG]},
        "search": {"messages": [MSG]},
        "bans": {"bans": [{"user_id": "u2", "until": 0, "by": "u1", "reason": "r"}]},
        "invite_links": {"links": [{"link_id": "l", "uses": 1, "created_by": "u1", "note": "n"}]},
        "group_log": {"entries": [{"id": 1, "ts": NOW_MS, "actor": "u1", "action": "a", "detail": {"x": "y"}}]},
        "my_held_texts": {"held": [{"held_id": "1", "kind": "display_name", "text": "t", "created_at": NOW_MS}]},
        "categories": {"groups": ["g"], "accounts": ["a"]},
        "me": {"user_id": "u1", "username": "alice", "display_name": "d", "id_verified": True},
        "agreement": {"version": "v1", "rules": "r", "agreement": "a", "accepted": False},
        "create_group": {"group_id": GID},
    }))
    out = t.run_lines("/info", "/groups", "/members", "/requests", "/history", "/search x", "/bans", "/links",
                      "/log", "/held", "/categories", "/me", "/agreement", f"/use {GID}")
    assert_no_forged_line(out)


def test_refusal_reasons_cannot_print_a_line_of_their_own():
    t = Scripted({"send": RequestError(
        "forbidden", FAKE, {"ok": False})})
    assert_no_forged_line(t.run_lines("hello"))
    assert_no_forged_line(clean(refusal_text(FAKE, {"until": NOW_MS})))


@pytest.mark.parametrize("ch", ["\u202e", "\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068",
                                "\u2069", "\u200e", "\u200f", "\u061c"])
def test_bidi_controls_are_shown_escaped(ch):
    """U+202E and its kin reorder the rest of the line (``exe.txt`` shown as ``txt.exe``): shown as
    ``\\uNNNN`` like any control character, in a name as in a message."""
    assert clean(f"a{ch}b") == f"a\\u{ord(ch):04x}b"
    names = Names()
    names.learn({"user_id": "u2", "display_name": f"Bob{ch}nimda"})
    line = format_event({"ev": "member_left", "group_id": GID, "user_id": "u2"}, names)
    assert ch not in line and f"\\u{ord(ch):04x}" in line
