"""Slash-command parsing of the terminal client: every command, good and bad input."""

from __future__ import annotations

import pytest

from client_demo.commands import (
    COMMANDS,
    DEVICE,
    CommandError,
    bind,
    find_mentions,
    format_duration,
    help_text,
    needs_resolving,
    parse_command,
    parse_duration,
    pick_user,
)

GID = "123456789"
AID = "987654321"  # a public account

# -- durations -------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1h30m", 5400),
    ("1d2h3m4s", 93784), ("45", 45), ("0", 0), ("off", 0), ("OFF", 0), ("0s", 0),
    (" 10M ", 600), ("00", 0),
])
def test_parse_duration_good(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [
    "", "  ", "10x", "m", "-5m", "1.5h", "10 m", "h10", "1h1h", "10mm", "on", "forever",
    "99999999999d",
])
def test_parse_duration_bad(text):
    with pytest.raises(ValueError) as exc:
        parse_duration(text)
    assert "duration" in str(exc.value)


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (45, "45s"), (600, "10m"), (5400, "1h30m"),
                                           (86400, "1d")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


# -- good commands: (line, op, params, group, user_param) ------------------------------

GOOD = [
    # accounts
    ("/code 13900001111", "request_code", {"phone": "13900001111"}, "none", None),
    ("/register alice pw 13900001111 123456", "register",
     {"username": "alice", "password": "pw", "phone": "13900001111", "code": "123456"}, "none", None),
    ("/register alice pw 139 123456 Alice Liddell", "register",
     {"username": "alice", "password": "pw", "phone": "139", "code": "123456",
      "display_name": "Alice Liddell"}, "none", None),
    ("/login alice pw", "login", {"username": "alice", "password": "pw", "device": DEVICE}, "none", None),
    ("/auth", "auth", {}, "none", None),
    ("/auth tok123", "auth", {"token": "tok123"}, "none", None),
    ("/logout", "logout", {}, "none", None),
    ("/logout all", "logout", {"everywhere": True}, "none", None),
    ("/logout 0123456789abcdef", "logout", {"login_id": "0123456789abcdef"}, "none", None),
    ("/logins", "my_logins", {}, "none", None),
    ("/password old-one new-one", "change_password", {"password": "old-one", "new_password": "new-one"}, "none", None),
    ("/deleteaccount s3cret", "delete_account", {"password": "s3cret"}, "none", None),
    ("/verify 张三 110105199001010011", "verify_identity",
     {"legal_name": "张三", "id_number": "110105199001010011"}, "none", None),
    ("/verify John Smith X123", "verify_identity",
     {"legal_name": "John Smith", "id_number": "X123"}, "none", None),
    ("/nick Big Al", "set_profile", {"display_name": "Big Al"}, "none", None),
    ("/me", "me", {}, "none", None),
    ("/agreement", "agreement", {}, "none", None),
    ("/accept", "accept_agreement", {}, "none", None),  # the TUI fills in the version /agreement showed
    ("/accept 2026-11", "accept_agreement", {"version": "2026-11"}, "none", None),
    # groups
    ("/create tea friends", "create_group",
     {"name": "tea", "category": "friends", "join_policy": "open"}, "none", None),
    ("/create tea room work approval", "create_group",
     {"name": "tea room", "category": "work", "join_policy": "approval"}, "none", None),
    ("/create club study INVITE", "create_group",
     {"name": "club", "category": "study", "join_policy": "invite"}, "none", None),
    (f"/join {GID}", "join_group", {"group_id": GID}, "none", None),
    ("/join 000", "join_group", {"group_id": "000"}, "none", None),  # the server judges the id
    ("/join Ab-9_xYzAb-9_xYzQ", "join_group", {"invite_code": "Ab-9_xYzAb-9_xYzQ"}, "none", None),
    ("/join 12345678901234567890", "join_group", {"invite_code": "12345678901234567890"}, "none", None),
    ("/joinlink Ab-9_xYzAb-9_xYzQ", "join_group", {"invite_code": "Ab-9_xYzAb-9_xYzQ"}, "none", None),
    (f"/leave {GID}", "leave_group", {"group_id": GID}, "none", None),
    ("/leave", "leave_group", {}, "current", None),
    ("/groups", "my_groups", {}, "none", None),
    ("/categories", "categories", {}, "none", None),
    ("/info", "group_info", {}, "current", None),
    (f"/info {GID}", "group_info", {"group_id": GID}, "none", None),
    ("/members", "members", {}, "current", None),
    (f"/members {GID}", "members", {"group_id": GID}, "none", None),
    ("/history", "history", {}, "current", None),
    ("/history 20", "history", {"limit": 20}, "current", None),
    ("/history 20 before 105", "history", {"limit": 20, "before_seq": 105}, "current", None),
    ("/history before 105", "history", {"before_seq": 105}, "current", None),
    ("/history 5 after 3", "history", {"limit": 5, "after_seq": 3}, "current", None),
    ("/history 5 after 3 before 9", "history", {"limit": 5, "after_seq": 3, "before_seq": 9},
     "current", None),
    ("/reports", "my_reports", {}, "none", None),
    ("/reports 5 before 42", "my_reports", {"limit": 5, "before": "42"}, "none", None),
    ("/appeals before 7", "my_appeals", {"before": "7"}, "none", None),
    ("/sanctions", "my_sanctions", {}, "none", None),
    ("/notices", "platform_notices", {}, "none", None),
    ("/held", "my_held_texts", {}, "none", None),
    ("/held 5 before 12", "my_held_texts", {"limit": 5, "before": "12"}, "none", None),
    ("/withdraw 12", "withdraw_held_text", {"held_id": "12"}, "none", None),
    ("/appeal 17 广告 是新成员发的", "appeal", {"sanction_id": "17", "text": "广告 是新成员发的"}, "none", None),
    ("/report message 42 spam", "report", {"target_type": "message", "seq": 42, "reason": "spam"},
     "current", None),
    ("/report message 42 fraud asks for money", "report",
     {"target_type": "message", "seq": 42, "reason": "fraud", "detail": "asks for money"}, "current", None),
    ("/report user u0123456789abcdef abuse", "report",
     {"target_type": "user", "user_id": "u0123456789abcdef", "reason": "abuse"}, "optional", "user_id"),
    ("/report group gambling", "report", {"target_type": "group", "reason": "gambling"}, "current", None),
    ("/report GROUP rumour spreads rumours", "report",
     {"target_type": "group", "reason": "rumour", "detail": "spreads rumours"}, "current", None),
    # messages
    ("/reply 42 me too", "send", {"text": "me too", "reply_to": 42}, "current", None),
    ("/reply 7 @Bob 你好", "send", {"text": "@Bob 你好", "reply_to": 7}, "current", None),
    ("/edit 42 fixed typo", "edit_message", {"seq": 42, "text": "fixed typo"}, "current", None),
    ("/react 42 👍", "react", {"seq": 42, "emoji": "👍", "on": True}, "current", None),
    ("/unreact 42 👍", "react", {"seq": 42, "emoji": "👍", "on": False}, "current", None),
    ("/search 读书 会", "search", {"query": "读书 会"}, "current", None),
    ("/read", "mark_read", {}, "current", None),
    ("/read 17", "mark_read", {"seq": 17}, "current", None),
    # management
    ("/kick u1", "kick", {"user_id": "u1"}, "current", "user_id"),
    ("/kick @Bob Smith", "kick", {"user_id": "@Bob Smith"}, "current", "user_id"),
    ("/mute u1 10m", "mute", {"user_id": "u1", "seconds": 600}, "current", "user_id"),
    ("/mute @Bob Smith 1d", "mute", {"user_id": "@Bob Smith", "seconds": 86400}, "current", "user_id"),
    ("/mute u1 off", "mute", {"user_id": "u1", "seconds": 0}, "current", "user_id"),
    ("/mute u1 0", "mute", {"user_id": "u1", "seconds": 0}, "current", "user_id"),
    ("/unmute u1", "mute", {"user_id": "u1", "seconds": 0}, "current", "user_id"),
    ("/muteall on", "mute_all", {"on": True}, "current", None),
    ("/muteall OFF", "mute_all", {"on": False}, "current", None),
    ("/admin add u1", "set_role", {"user_id": "u1", "role": "admin"}, "current", "user_id"),
    ("/admin remove @Bob", "set_role", {"user_id": "@Bob", "role": "member"}, "current", "user_id"),
    ("/transfer u1", "transfer_owner", {"user_id": "u1"}, "current", "user_id"),
    ("/announce tea at five", "set_announcement", {"text": "tea at five"}, "current", None),
    ("/invite u1", "invite", {"user_id": "u1"}, "current", "user_id"),
    ("/requests", "join_requests", {}, "current", None),
    ("/approve u1", "approve_join", {"user_id": "u1"}, "current", "user_id"),
    ("/reject @Eve", "reject_join", {"user_id": "@Eve"}, "current", "user_id"),
    ("/rename tea house", "update_group", {"name": "tea house"}, "current", None),
    ("/category work", "update_group", {"category": "work"}, "current", None),
    ("/policy approval", "update_group", {"join_policy": "approval"}, "current", None),
    ("/delete 42", "delete_message", {"seq": 42}, "current", None),
    (f"/dissolve {GID}", "dissolve_group", {}, "current", None),
    ("/pin 42", "pin_message", {"seq": 42, "on": True}, "current", None),
    ("/unpin 42", "pin_message", {"seq": 42, "on": False}, "current", None),
    ("/ban u1", "ban", {"user_id": "u1"}, "current", "user_id"),
    ("/clean u1", "delete_user_messages", {"user_id": "u1"}, "current", "user_id"),
    ("/ban u1 1d", "ban", {"user_id": "u1", "seconds": 86400}, "current", "user_id"),
    ("/ban u1 0 spam links", "ban", {"user_id": "u1", "reason": "spam links"}, "current", "user_id"),
    ("/ban u1 forever", "ban", {"user_id": "u1"}, "current", "user_id"),
    ("/ban u1 spam links", "ban", {"user_id": "u1", "reason": "spam links"}, "current", "user_id"),
    ("/ban u1 30m flooding", "ban", {"user_id": "u1", "seconds": 1800, "reason": "flooding"},
     "current", "user_id"),
    ("/ban @Bob Li", "ban", {"user_id": "@Bob Li"}, "current", "user_id"),
    ("/ban @Bob Li 2h ads", "ban", {"user_id": "@Bob Li", "seconds": 7200, "reason": "ads"},
     "current", "user_id"),
    ("/unban u1", "unban", {"user_id": "u1"}, "current", "user_id"),
    ("/unban @Bob Li", "unban", {"user_id": "@Bob Li"}, "current", "user_id"),
    ("/bans", "bans", {}, "current", None),
    ("/slow 30s", "set_slow_mode", {"seconds": 30}, "current", None),
    ("/slow 45", "set_slow_mode", {"seconds": 45}, "current", None),
    ("/slow off", "set_slow_mode", {"seconds": 0}, "current", None),
    ("/link", "create_invite_link", {}, "current", None),
    ("/link 5", "create_invite_link", {"max_uses": 5}, "current", None),
    ("/link 5 1d", "create_invite_link", {"max_uses": 5, "expires_in_seconds": 86400}, "current", None),
    ("/link 0 3600", "create_invite_link", {"expires_in_seconds": 3600}, "current", None),
    ("/link 2h", "create_invite_link", {"expires_in_seconds": 7200}, "current", None),
    ("/link 1 never", "create_invite_link", {"max_uses": 1}, "current", None),
    ("/link note 给新同学", "create_invite_link", {"note": "给新同学"}, "current", None),
    ("/link 5 1d Note for the team", "create_invite_link",
     {"max_uses": 5, "expires_in_seconds": 86400, "note": "for the team"}, "current", None),
    ("/link 2h note note: 2 links", "create_invite_link", {"expires_in_seconds": 7200, "note": "note: 2 links"},
     "current", None),
    ("/revoke Ab-9_xYzAb-9_xYzQ", "revoke_invite_link", {"code": "Ab-9_xYzAb-9_xYzQ"}, "current", None),
    ("/revoke 3f2a9c01de", "revoke_invite_link", {"link_id": "3f2a9c01de"}, "current", None),
    ("/links", "invite_links", {}, "current", None),
    ("/log", "group_log", {}, "current", None),
    ("/log 20", "group_log", {"limit": 20}, "current", None),
    ("/log 20 before 310", "group_log", {"limit": 20, "before_id": 310}, "current", None),
    ("/log before 310", "group_log", {"before_id": 310}, "current", None),
    # public accounts
    (f"/account {AID}", "account_info", {"account_id": AID}, "none", None),
    ("/newaccount 茶馆日报 culture individual -- 关于我们 \\n 第二行", "create_account",
     {"name": "茶馆日报", "category": "culture", "subject_type": "individual", "intro": "关于我们\n第二行"},
     "none", None),
    ("/newaccount Tea House Daily lifestyle PERSON", "create_account",
     {"name": "Tea House Daily", "category": "lifestyle", "subject_type": "individual", "intro": ""}, "none", None),
    ("/newaccount 某文化 culture organization 北京 某文化公司 91110108MA00000019 -- hi", "create_account",
     {"name": "某文化", "category": "culture", "subject_type": "organization", "intro": "hi",
      "org_name": "北京 某文化公司", "org_code": "91110108MA00000019"}, "none", None),
    ("/newaccount individual news individual", "create_account",  # the first subject word after two
     {"name": "individual", "category": "news", "subject_type": "individual", "intro": ""}, "none", None),
    (f"/editaccount {AID} name Tea House", "update_account", {"account_id": AID, "name": "Tea House"},
     "none", None),
    (f"/editaccount {AID} INTRO", "update_account", {"account_id": AID, "intro": ""}, "none", None),
    (f"/editaccount {AID} intro a \\n b", "update_account", {"account_id": AID, "intro": "a\nb"}, "none", None),
    (f"/follow {AID}", "subscribe", {"account_id": AID}, "none", None),
    (f"/unfollow {AID}", "unsubscribe", {"account_id": AID}, "none", None),
    (f"/posts {AID}", "posts", {"account_id": AID}, "none", None),
    (f"/posts {AID} 5", "posts", {"account_id": AID, "limit": 5}, "none", None),
    (f"/posts {AID} 5 before 17", "posts", {"account_id": AID, "limit": 5, "before": "17"}, "none", None),
    (f"/posts {AID} before 17", "posts", {"account_id": AID, "before": "17"}, "none", None),
    (f"/publish {AID} open Hello world -- first \\n second", "publish",
     {"account_id": AID, "comments": "open", "title": "Hello world", "body": "first\nsecond"}, "none", None),
    (f"/publish {AID} REVIEW 新闻 -- 正文", "publish",
     {"account_id": AID, "comments": "review", "title": "新闻", "body": "正文"}, "none", None),
    ("/delpost 17", "delete_post", {"post_id": "17"}, "none", None),
    ("/postcomments 17 Closed", "set_post_comments", {"post_id": "17", "comments": "closed"}, "none", None),
    ("/comment 17 well said", "comment", {"post_id": "17", "text": "well said"}, "none", None),
    ("/recomment 17 5 thanks", "comment", {"post_id": "17", "reply_to": "5", "text": "thanks"}, "none", None),
    ("/comments 17", "comments", {"post_id": "17"}, "none", None),
    ("/comments 17 10 before 40", "comments", {"post_id": "17", "limit": 10, "before": "40"}, "none", None),
    ("/modcomment 17 5 hide", "moderate_comment", {"post_id": "17", "comment_id": "5", "action": "hide"},
     "none", None),
    ("/modcomment 17 5 Approve", "moderate_comment", {"post_id": "17", "comment_id": "5", "action": "approve"},
     "none", None),
    (f"/editor {AID} u2 on", "set_editor", {"account_id": AID, "user_id": "u2", "on": True}, "none", None),
    (f"/editor {AID} u2 OFF", "set_editor", {"account_id": AID, "user_id": "u2", "on": False}, "none", None),
    (f"/closeaccount {AID}", "close_account", {"account_id": AID}, "none", None),
    (f"/report account {AID} fraud fake news", "report",
     {"target_type": "account", "account_id": AID, "reason": "fraud", "detail": "fake news"}, "none", None),
    ("/report post 17 rumour", "report", {"target_type": "post", "post_id": "17", "reason": "rumour"},
     "none", None),
    ("/report COMMENT 5 abuse", "report", {"target_type": "comment", "comment_id": "5", "reason": "abuse"},
     "none", None),
    # chat
    ("hello world", "send", {"text": "hello world"}, "current", None),
    ("  indented  ", "send", {"text": "  indented  "}, "current", None),
    ("//me waves", "send", {"text": "/me waves"}, "current", None),
    ("你好\n", "send", {"text": "你好"}, "current", None),
    # text after a command as typed: a full-width space or several spaces inside kept
    ("/reply 12 你好\u3000世界", "send", {"text": "你好\u3000世界", "reply_to": 12}, "current", None),
    ("/edit 5 a    b", "edit_message", {"seq": 5, "text": "a    b"}, "current", None),
    ("/nick 小\u3000明", "set_profile", {"display_name": "小\u3000明"}, "none", None),
]


@pytest.mark.parametrize("line, op, params, group, user_param", GOOD)
def test_good_commands(line, op, params, group, user_param):
    cmd = parse_command(line)
    assert cmd is not None
    assert cmd.op == op and cmd.action is None
    assert cmd.params == params
    assert cmd.group == group
    assert cmd.user_param == user_param


def test_every_command_has_a_good_case():
    covered = {parse_command(line).name for line, *_ in GOOD}  # type: ignore[union-attr]
    local = {"help", "quit", "use", "upload", "accounts", "post", "retry"}
    assert set(COMMANDS) - local <= covered


@pytest.mark.parametrize("line, action, params", [
    ("/help", "help", {}), ("/HELP", "help", {}), ("/h", "help", {}), ("/?", "help", {}),
    ("/quit", "quit", {}), ("/exit", "quit", {}), ("/q", "quit", {}),
    (f"/use {GID}", "use", {"group_id": GID}),
    ("/upload cat.png", "upload", {"path": "cat.png", "text": ""}),
    ("/accounts", "accounts", {}),
    ("/post 17", "post", {"post_id": "17"}),
    ("/retry", "retry", {}), ("/RETRY", "retry", {}),
    ("/upload ~/pics/cat.png look at this", "upload", {"path": "~/pics/cat.png", "text": "look at this"}),
    ('/upload "~/My Photos/cat.png" look', "upload", {"path": "~/My Photos/cat.png", "text": "look"}),
    ("/upload 'a b.pdf'", "upload", {"path": "a b.pdf", "text": ""}),
])
def test_local_actions(line, action, params):
    cmd = parse_command(line)
    assert cmd is not None and cmd.op is None
    assert cmd.action == action and cmd.params == params


@pytest.mark.parametrize("line", ["", "   ", "\n", "\t \r\n"])
def test_blank_lines_do_nothing(line):
    assert parse_command(line) is None


# -- bad commands ----------------------------------------------------------------------

BAD = [
    # (line, code, a fragment of the message)
    ("/frobnicate", "unknown_command", "/frobnicate"),
    ("/", "unknown_command", "empty"),
    ("/ code", "unknown_command", "empty"),
    ("/code", "usage", "/code PHONE"),
    ("/retry 12", "usage", "/retry"),
    ("/code 1 2", "usage", "/code PHONE"),
    ("/register alice pw 139", "usage", "/register"),
    ("/login alice", "usage", "/login USERNAME PASSWORD"),
    ("/login alice pw extra", "usage", "/login"),
    ("/auth a b", "usage", "/auth"),
    ("/verify 110105199001010011", "usage", "/verify"),
    ("/nick", "usage", "/nick"),
    ("/me now", "usage", "/me"),
    ("/agreement v1", "usage", "/agreement"),
    ("/accept v1 v2", "usage", "/accept [VERSION]"),
    ("/create tea", "usage", "/create"),
    ("/create tea open", "usage", "/create"),
    ("/create", "usage", "/create"),
    ("/join", "usage", "/join GID"),
    ("/join abc", "usage", "neither a group id"),
    ("/join code/with/slashes-long-enough", "usage", "neither a group id"),
    ("/joinlink 123456789", "usage", "not an invite code"),
    ("/joinlink", "usage", "/joinlink CODE"),
    (f"/join {GID} {GID}", "usage", "/join"),
    ("/leave abc", "usage", "not a group id"),
    ("/groups all", "usage", "/groups"),
    ("/categories groups", "usage", "/categories"),
    ("/use", "usage", "/use GID"),
    ("/use tea", "usage", "not a group id"),
    ("/info x", "usage", "not a group id"),
    ("/members 1 2", "usage", "/members"),
    ("/history 0", "usage", "N must be"),
    ("/history 20 before", "usage", "/history"),
    ("/history 20 before x", "usage", "SEQ"),
    ("/history 20 since 5", "usage", "/history"),
    ("/history before 5 before 6", "usage", "/history"),
    ("/history -5", "usage", "/history"),
    ("/reports 0", "usage", "N must be"),
    ("/reports since 5", "usage", "/reports"),
    ("/appeals 5 before", "usage", "/appeals"),
    ("/withdraw x1", "usage", "/withdraw"),
    ("/withdraw", "usage", "/withdraw"),
    ("/appeal 17", "usage", "/appeal SANCTION_ID"),
    ("/appeal x why", "usage", "not a sanction id"),
    ("/report", "usage", "/report"),
    ("/report spam", "usage", "/report"),
    ("/report message 42", "usage", "/report"),
    ("/report message x spam", "usage", "SEQ"),
    ("/report user u1", "usage", "/report"),
    ("/report group", "usage", "/report"),
    ("/kick", "usage", "/kick USER"),
    ("/kick u1 u2", "usage", "one word"),
    ("/kick @", "usage", "display name"),
    ("/mute u1", "usage", "/mute USER DURATION"),
    ("/mute u1 10x", "usage", "bad duration"),
    ("/mute u1 -1m", "usage", "bad duration"),
    ("/mute 10m", "usage", "/mute"),
    ("/unmute", "usage", "/unmute"),
    ("/muteall", "usage", "/muteall on|off"),
    ("/muteall yes", "usage", "/muteall"),
    ("/admin u1", "usage", "/admin add|remove"),
    ("/admin promote u1", "usage", "/admin"),
    ("/admin add", "usage", "/admin"),
    ("/transfer", "usage", "/transfer"),
    ("/announce", "usage", "/announce TEXT"),
    ("/invite", "usage", "/invite"),
    ("/requests all", "usage", "/requests"),
    ("/approve", "usage", "/approve"),
    ("/reject", "usage", "/reject"),
    ("/rename", "usage", "/rename NAME"),
    ("/category", "usage", "/category"),
    ("/category a b", "usage", "/category"),
    ("/policy", "usage", "/policy"),
    ("/policy closed", "usage", "join policy must be"),
    ("/delete", "usage", "/delete SEQ"),
    ("/delete x", "usage", "SEQ"),
    ("/dissolve", "usage", "confirm"),
    ("/dissolve tea", "usage", "not a group id"),
    ("/quit now", "usage", "/quit"),
    ("/reply 42", "usage", "/reply SEQ TEXT"),
    ("/reply x hi", "usage", "SEQ"),
    ("/edit 42", "usage", "/edit SEQ TEXT"),
    ("/edit -1 hi", "usage", "SEQ"),
    ("/react 42", "usage", "/react SEQ EMOJI"),
    ("/react 42 👍 ❤", "usage", "/react"),
    ("/react x 👍", "usage", "SEQ"),
    ("/unreact 42", "usage", "/unreact"),
    ("/search", "usage", "/search QUERY"),
    ("/read x", "usage", "SEQ"),
    ("/read 1 2", "usage", "/read"),
    ("/upload", "usage", "/upload PATH"),
    ("/pin", "usage", "/pin SEQ"),
    ("/pin x", "usage", "SEQ"),
    ("/unpin 1 2", "usage", "/unpin"),
    ("/ban", "usage", "/ban USER"),
    ("/ban @", "usage", "display name"),
    ("/unban", "usage", "/unban"),
    ("/bans all", "usage", "/bans"),
    ("/slow", "usage", "/slow DURATION"),
    ("/slow fast", "usage", "bad duration"),
    ("/link 1 2 3", "usage", "/link"),
    ("/link soon", "usage", "EXPIRES must be"),
    ("/link 5 soon", "usage", "EXPIRES must be"),
    ("/link 5 note", "usage", "give the note's text"),
    ("/link 1 2 3 note x", "usage", "/link"),
    ("/revoke", "usage", "/revoke CODE"),
    ("/links all", "usage", "/links"),
    ("/log 0", "usage", "N must be"),
    ("/log 5 after 3", "usage", "/log"),
    ("/log before", "usage", "/log"),
    ("/log before x", "usage", "ID"),
    ("/report account", "usage", "/report"),
    ("/report post x spam", "usage", "'x' is not a post id"),
    ("/report account x spam", "usage", "not an account id"),
    ("/report comment 5", "usage", "/report"),
    ("/accounts all", "usage", "/accounts"),
    ("/account", "usage", "/account AID"),
    ("/account tea", "usage", "not an account id"),
    ("/newaccount", "usage", "/newaccount"),
    ("/newaccount tea culture", "usage", "/newaccount"),
    ("/newaccount culture individual", "usage", "/newaccount"),  # NAME missing
    ("/newaccount tea culture individual 北京某公司 X -- hi", "usage", "organizations only"),
    ("/newaccount tea culture organization 北京某公司", "usage", "ORG_NAME and ORG_CODE"),
    ("/newaccount tea culture organization -- hi", "usage", "ORG_NAME and ORG_CODE"),
    ("/editaccount 123456789", "usage", "/editaccount"),
    ("/editaccount 123456789 title x", "usage", "/editaccount"),
    ("/editaccount 123456789 name", "usage", "name is missing"),
    ("/editaccount x name tea", "usage", "not an account id"),
    ("/follow", "usage", "/follow AID"),
    ("/follow 1 2", "usage", "/follow"),
    ("/unfollow tea", "usage", "not an account id"),
    ("/posts", "usage", "/posts"),
    ("/posts 123456789 0", "usage", "N must be"),
    ("/posts 123456789 before", "usage", "/posts"),
    ("/posts 123456789 before x", "usage", "not a post id"),
    ("/posts 123456789 after 3", "usage", "/posts"),
    ("/post", "usage", "/post POST_ID"),
    ("/post x", "usage", "not a post id"),
    ("/publish 123456789 open title", "usage", "BODY goes after --"),
    ("/publish 123456789 open title --", "usage", "/publish"),
    ("/publish 123456789 open -- body", "usage", "/publish"),
    ("/publish 123456789 public title -- body", "usage", "comments must be one of open, review, closed"),
    ("/publish tea open title -- body", "usage", "not an account id"),
    ("/delpost", "usage", "/delpost"),
    ("/delpost x", "usage", "not a post id"),
    ("/postcomments 17", "usage", "/postcomments"),
    ("/postcomments x open", "usage", "not a post id"),
    ("/postcomments 17 sometimes", "usage", "comments must be one of open, review, closed"),
    ("/comment 17", "usage", "/comment POST_ID TEXT"),
    ("/comment x hi", "usage", "not a post id"),
    ("/recomment 17 5", "usage", "/recomment"),
    ("/recomment 17 x hi", "usage", "not a comment id"),
    ("/comments", "usage", "/comments"),
    ("/comments 17 before x", "usage", "not a comment id"),
    ("/modcomment 17 5", "usage", "/modcomment"),
    ("/modcomment 17 5 remove", "usage", "approve|hide|delete"),
    ("/modcomment 17 x hide", "usage", "not a comment id"),
    ("/editor 123456789 u2", "usage", "/editor"),
    ("/editor 123456789 u2 yes", "usage", "on|off"),
    ("/editor x u2 on", "usage", "not an account id"),
    ("/closeaccount", "usage", "/closeaccount AID"),
    ("/closeaccount x", "usage", "not an account id"),
    # an input method's full-width digits are no id, and ² is no number (int() would raise)
    ("/use \uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19", "usage", "not a group id"),
    ("/history \u00b2", "usage", "/history"),  # (a usage line, not a client_error)
    # numbers no id or count reaches: a usage line, not the encoder's OverflowError (a reviewer's case)
    ("/history 999999999999999999999", "usage", "too large"),
    ("/react 99999999999999999999999 x", "usage", "too large"),
    ("/history " + "9" * 5000, "usage", "too large"),
    ("/logout now", "usage", "/logout"),
    ("/deleteaccount", "usage", "/deleteaccount PASSWORD"),
]


@pytest.mark.parametrize("line, code, fragment", BAD)
def test_bad_commands(line, code, fragment):
    with pytest.raises(CommandError) as exc:
        parse_command(line)
    assert exc.value.code == code
    assert fragment in exc.value.message
    assert isinstance(exc.value, ValueError)


# -- binding to the current group -----------------------------------------------------------

def test_bind_adds_the_current_group():
    assert bind(parse_command("/kick u1"), GID) == {"group_id": GID, "user_id": "u1"}
    assert bind(parse_command("hi"), GID) == {"group_id": GID, "text": "hi"}
    assert bind(parse_command("/history 20 before 105"), GID) == {
        "group_id": GID, "limit": 20, "before_seq": 105}


def test_bind_keeps_an_explicit_group():
    assert bind(parse_command("/info 987654321"), GID) == {"group_id": "987654321"}
    assert bind(parse_command("/join 987654321"), None) == {"group_id": "987654321"}
    assert bind(parse_command("/login a b"), GID) == {"username": "a", "password": "b", "device": DEVICE}


@pytest.mark.parametrize("line", ["hi", "/kick u1", "/history", "/members", "/muteall on",
                                  "/report group spam", f"/dissolve {GID}", "/leave"])
def test_bind_needs_a_current_group(line):
    with pytest.raises(CommandError) as exc:
        bind(parse_command(line), None)
    assert exc.value.code == "no_group"


def test_report_user_group_is_optional():
    cmd = parse_command("/report user u1 abuse")
    assert bind(cmd, None) == {"target_type": "user", "user_id": "u1", "reason": "abuse"}
    assert bind(cmd, GID)["group_id"] == GID


def test_dissolve_needs_the_current_group_repeated():
    assert bind(parse_command(f"/dissolve {GID}"), GID) == {"group_id": GID}
    with pytest.raises(CommandError) as exc:
        bind(parse_command("/dissolve 987654321"), GID)
    assert exc.value.code == "bad_command" and "987654321" in exc.value.message


# -- @display name references ---------------------------------------------------------------

USERS = [
    {"user_id": "u1", "display_name": "Alice", "role": "owner"},
    {"user_id": "u2", "display_name": "Bob Smith", "role": "member"},
    {"user_id": "u3", "display_name": "Twin", "role": "member"},
    {"user_id": "u4", "display_name": "Twin", "role": "admin"},
]


@pytest.mark.parametrize("line, name, source", [
    ("/kick @Bob Smith", "Bob Smith", "members"),
    ("/mute @Alice 10m", "Alice", "members"),
    ("/approve @Eve", "Eve", "join_requests"),
    ("/reject @Eve", "Eve", "join_requests"),
    ("/ban @Bob Li 1d", "Bob Li", "members+seen"),
    ("/unban @Bob Li", "Bob Li", "bans"),
    ("/report user @Bob abuse", "Bob abuse", "members"),  # where the name ends: among the members
    ("/kick u1", None, "members"),
    ("/history", None, "members"),
])
def test_needs_resolving(line, name, source):
    cmd = parse_command(line)
    assert needs_resolving(cmd) == name
    if name is not None:
        assert cmd.user_source == source


def test_pick_user():
    assert pick_user(USERS, "Bob Smith", GID) == "u2"
    assert pick_user(USERS, "Alice", GID) == "u1"
    with pytest.raises(CommandError) as exc:
        pick_user(USERS, "alice", GID)  # exact match only
    assert exc.value.code == "not_found"
    with pytest.raises(CommandError) as exc:
        pick_user(USERS, "Twin", GID)
    assert exc.value.code == "conflict" and "u3" in exc.value.message and "u4" in exc.value.message


def test_help_documents_every_command():
    text = help_text()
    for name in COMMANDS:
        assert f"/{name}" in text
    for needed in ("/code", "/register", "/login", "/auth", "/verify", "/nick", "/me", "/create",
                   "/join", "/leave", "/groups", "/use", "/info", "/members", "/history", "/report",
                   "/kick", "/mute", "/muteall", "/admin", "/transfer", "/announce", "/invite",
                   "/requests", "/approve", "/reject", "/rename", "/policy", "/delete", "/dissolve",
                   "/help", "/quit", "/reply", "/edit", "/react", "/unreact", "/pin", "/unpin", "/ban",
                   "/unban", "/bans", "/slow", "/link", "/links", "/revoke", "/join GID|CODE", "/search", "/upload",
                   "/read", "/log", "/accounts", "/account", "/newaccount", "/editaccount", "/follow",
                   "/unfollow", "/posts", "/post", "/publish", "/delpost", "/comment", "/recomment",
                   "/comments", "/modcomment", "/editor", "/closeaccount", "account AID", "post POST_ID",
                   "comment COMMENT_ID", "/agreement", "/accept", "/retry", "/logout", "/deleteaccount", "/password",
                   "/logins"):
        assert needed in text


# -- @mentions in typed text -------------------------------------------------------------------

MEMBERS = [
    {"user_id": "u1", "display_name": "Alice", "role": "owner"},
    {"user_id": "u2", "display_name": "Bob", "role": "member"},
    {"user_id": "u3", "display_name": "Bob Li", "role": "member"},
    {"user_id": "u4", "display_name": "张三", "role": "member"},
    {"user_id": "u5", "display_name": "Twin", "role": "member"},
    {"user_id": "u6", "display_name": "Twin", "role": "member"},
]


@pytest.mark.parametrize("text, ids, everyone", [
    ("hello", [], False),
    ("@Alice hi", ["u1"], False),
    ("hi @Bob", ["u2"], False),
    ("hi @Bob Li and @Bob", ["u3", "u2"], False),        # the longest name wins
    ("@Bobby is not Bob", [], False),                     # a Latin name does not run on
    ("@Bob, @Bob! (@Alice)", ["u2", "u1"], False),        # once each; punctuation ends a name
    ("@张三你好", ["u4"], False),                          # Chinese has no spaces
    ("@u6 only this twin", ["u6"], False),                # by user_id
    ("@所有人 开会了", [], True),
    ("meeting @all", [], True),
    ("@allison is not everyone", [], False),
    ("mail me at bob@example.com", [], False),
    ("@Nobody here", [], False),
    ("@ alone", [], False),
])
def test_find_mentions(text, ids, everyone):
    found = find_mentions(text, MEMBERS)
    assert found.user_ids == ids
    assert found.everyone is everyone
    assert found.ambiguous == []


def test_find_mentions_reports_a_shared_name_instead_of_guessing():
    found = find_mentions("@Twin and @Alice", MEMBERS)
    assert found.user_ids == ["u1"] and found.ambiguous == ["Twin"]


def test_docs_list_every_error_code_of_the_clients_own():
    """docs/terminal.md names each code the client prints for a line it does not send (a
    CommandError), a client error (``self.error``) or a request that got no answer (``no_answer``)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    source = "\n".join(p.read_text(encoding="utf-8") for p in (root / "client_demo").glob("*.py"))
    codes = set(re.findall(r'CommandError\(\s*"([a-z_]+)"', source))
    codes |= set(re.findall(r'self\.error\("([a-z_]+)"', source))
    codes |= set(re.findall(r'return "([a-z_]+)", ', source))  # no_answer: (code, reason)
    assert {"usage", "bad_command", "timeout", "disconnected", "connect_failed"} <= codes
    doc = (root / "docs" / "terminal.md").read_text(encoding="utf-8")
    assert not sorted(c for c in codes if f"`{c}`" not in doc)


@pytest.mark.parametrize("line", [" /login alice pw", "\t/login alice pw", "／login alice pw", "　／login alice pw"])
def test_a_command_after_white_space_or_a_full_width_slash_is_a_command(line):
    """(From a review: " /login USER PASSWORD" was sent to the group as chat, the password included.)"""
    from client_demo.commands import command_text
    from client_demo.tui import holds_secret

    cmd = parse_command(line)
    assert cmd is not None and cmd.op == "login", cmd
    assert command_text(line) is not None and holds_secret(line)


@pytest.mark.parametrize("line, text", [("//x", "/x"), (" //x", " /x"), ("／/x", "/x"),
                                        ("hello /login a b", "hello /login a b")])
def test_chat_text_keeps_its_slash_escape(line, text):
    cmd = parse_command(line)
    assert cmd is not None and cmd.op == "send" and cmd.params["text"] == text
