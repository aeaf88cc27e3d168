"""How the terminal client shows the v2 message fields and events, and how /upload sends a file
(no server: the upload runs against a fake that checks what a server checks)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from client_demo.commands import CommandError
from client_demo.render import (
    ANSI,
    Names,
    clean,
    format_attachment,
    format_ban,
    format_event,
    format_log_entry,
    format_message,
    format_my_report,
    format_my_sanction,
    format_reactions,
    hhmm,
    human_size,
)
from client_demo.text import INDENT
from client_demo.tui import http_base
from client_demo.upload import sniff_mime, upload_file

GID = "123456789"
NOW_MS = int(time.time() * 1000)
NOW = hhmm(NOW_MS)
ALICE = {"user_id": "u1", "display_name": "Alice", "role": "owner"}
BOB = {"user_id": "u2", "display_name": "Bob", "role": "member"}
PNG = {"media_id": "m1", "kind": "image", "mime": "image/png", "size": 2048, "name": "cat.png",
       "url": "/media/m1?exp=1&sig=abc", "width": 640, "height": 480}


def names() -> Names:
    n = Names()
    n.learn(ALICE)
    n.learn(BOB)
    return n


def msg(**kw: Any) -> dict[str, Any]:
    return {"group_id": GID, "seq": 42, "ts": NOW_MS, "sender": BOB, "text": "hi", **kw}


# -- messages -----------------------------------------------------------------------------------

@pytest.mark.parametrize("m, line", [
    (msg(reply_to=40), f"{NOW} [{GID} #42] Bob: ↪ #40 hi"),
    (msg(edited_at=NOW_MS), f"{NOW} [{GID} #42] Bob: hi (edited)"),
    (msg(reactions={"❤": 1, "👍": 2}), f"{NOW} [{GID} #42] Bob: hi\n  + reactions: 👍 2, ❤ 1"),
    (msg(text="hi @Alice", mentions=["u1"]), f"{NOW} [{GID} #42] Bob: hi *@Alice*"),
    (msg(text="hi @u1", mentions=["u1"]), f"{NOW} [{GID} #42] Bob: hi *@u1*"),
    # @Alices is not @Alice (as the sending side decides it): only the whole name is marked
    (msg(text="hi @Alices and @Alice", mentions=["u1"]), f"{NOW} [{GID} #42] Bob: hi @Alices and *@Alice*"),
    (msg(text="hi @Alices", mentions=["u1"]), f"{NOW} [{GID} #42] Bob: hi @Alices *@Alice*"),
    (msg(text="hi", mentions=["u1"]), f"{NOW} [{GID} #42] Bob: hi *@Alice*"),    # not spelt out
    (msg(text="hi", mentions=["u9"]), f"{NOW} [{GID} #42] Bob: hi *@u9*"),       # unknown name
    (msg(text="@所有人 开会", mention_all=True), f"{NOW} [{GID} #42] Bob: *@所有人* 开会"),
    (msg(text="@all meet", mention_all=True), f"{NOW} [{GID} #42] Bob: *@all* meet"),
    (msg(text="meet", mention_all=True), f"{NOW} [{GID} #42] Bob: meet *@所有人*"),
    (msg(text="", attachments=[PNG]),
     f"{NOW} [{GID} #42] Bob:\n  + [image 640x480 cat.png] /media/m1?exp=1&sig=abc"),
    (msg(text="look", reply_to=1, edited_at=NOW_MS, reactions={"👍": 1}, attachments=[PNG, PNG]),
     f"{NOW} [{GID} #42] Bob: ↪ #1 look (edited)"
     + "\n  + [image 640x480 cat.png] /media/m1?exp=1&sig=abc" * 2 + "\n  + reactions: 👍 1"),
    ({"group_id": GID, "seq": 42, "ts": NOW_MS, "sender": BOB, "deleted": True, "reply_to": 3},
     f"{NOW} [{GID} #42] (deleted)"),
    ({"group_id": GID, "seq": 42, "ts": NOW_MS, "sender": BOB, "deleted": True, "deleted_by": "sender"},
     f"{NOW} [{GID} #42] (recalled by Bob)"),
    ({"group_id": GID, "seq": 42, "ts": NOW_MS, "sender": BOB, "deleted": True, "deleted_by": "manager"},
     f"{NOW} [{GID} #42] (deleted by a group manager)"),
    ({"group_id": GID, "seq": 42, "ts": NOW_MS, "sender": BOB, "deleted": True, "deleted_by": "platform"},
     f"{NOW} [{GID} #42] (removed by the platform)"),
])
def test_format_message_v2_fields(m, line):
    assert format_message(m, names()) == line


def test_mention_highlight_on_a_terminal_is_ours_and_server_text_stays_clean():
    m = msg(text="\x1b[31m@Alice", mentions=["u1"])
    assert format_message(m, names(), hl=ANSI) == f"{NOW} [{GID} #42] Bob: \\x1b[31m\x1b[1;33m@Alice\x1b[0m"
    evil = Names()
    evil.learn({"user_id": "u1", "display_name": "\x1b]0;x\x07"})
    line = format_message(msg(text="hi", mentions=["u1"]), evil)
    assert "\x1b" not in line and "\x07" not in line


@pytest.mark.parametrize("a, base, text", [
    (PNG, "http://h:1", "[image 640x480 cat.png] http://h:1/media/m1?exp=1&sig=abc"),
    ({"media_id": "m2", "kind": "file", "mime": "application/pdf", "size": 1536, "name": "a.pdf"}, "",
     "[file 1.5 KB a.pdf]"),
    ({"media_id": "m3", "kind": "audio", "mime": "audio/ogg", "size": 300, "url": "https://cdn/x"}, "http://h",
     "[audio 300 B m3] https://cdn/x"),
])
def test_format_attachment(a, base, text):
    assert format_attachment(a, base) == text


def test_sizes_and_reactions():
    assert human_size(10) == "10 B" and human_size(3 * 1024 * 1024) == "3.0 MB"
    assert format_reactions({}) == "" and format_reactions(None) == ""
    assert format_reactions({"b": 1, "a": 1, "c": 0}) == "reactions: a 1, b 1"
    # (from a review: one reaction "👍 99, ❤" read as 99 thumbs up and a heart)
    assert format_reactions({"👍 99, ❤": 1, "❤": 2}) == 'reactions: ❤ 2, "👍 99, ❤" 1'
    assert format_reactions({'a"b': 1}) == r'reactions: "a\"b" 1'



# -- events -------------------------------------------------------------------------------------

@pytest.mark.parametrize("ev, line", [
    ({"ev": "message", **msg(text="@Alice look", mentions=["u1"], reply_to=7)},
     f"{NOW} [{GID} #42] Bob: ↪ #7 *@Alice* look"),
    ({"ev": "message_edited", "group_id": GID, "seq": 42, "text": "fixed", "edited_at": NOW_MS},
     f"{NOW} [{GID} #42] edited: fixed"),
    ({"ev": "reaction", "group_id": GID, "seq": 42, "user_id": "u2", "emoji": "👍", "on": True},
     f"* Bob (u2) reacted 👍 to [{GID} #42]"),
    ({"ev": "reaction", "group_id": GID, "seq": 42, "user_id": "u2", "emoji": "👍", "on": False},
     f"* Bob (u2) took back 👍 on [{GID} #42]"),
    ({"ev": "read_marker", "group_id": GID, "seq": 9}, f"* read {GID} up to #9 (on another device)"),
    # a mute until a time this machine's clock has passed (it runs ahead of the server's): still a mute
    ({"ev": "member_muted", "group_id": GID, "user_id": "u2", "until": NOW_MS - 60_000},
     f"* Bob (u2) was muted in {GID} until {hhmm(NOW_MS - 60_000)}"),
    ({"ev": "member_muted", "group_id": GID, "user_id": "u2", "until": 0}, f"* Bob (u2) was unmuted in {GID}"),
    ({"ev": "self_changed", "what": "subscriptions", "account_id": "987654321", "on": True},
     "* followed public account 987654321 (on another device)"),
    ({"ev": "self_changed", "what": "subscriptions", "account_id": "987654321", "on": False},
     "* unfollowed public account 987654321 (on another device)"),
    ({"ev": "self_changed", "what": "accounts", "account_id": "987654321"},
     "* opened or changed public account 987654321 (/accounts lists it) (on another device)"),
    ({"ev": "self_changed", "what": "held_texts"},
     "* a name or announcement of yours waits for the platform's review (/held lists it) (on another device)"),
    ({"ev": "self_changed", "what": "identity"}, "* your identity was verified (on another device)"),
    ({"ev": "self_changed", "what": "agreement", "version": "v1"},
     "* accepted the platform's rules and agreement, version v1 (on another device)"),
    ({"ev": "group_updated", "group_id": GID, "pinned": [3, 7]}, f"* {GID} updated: pinned #3, #7"),
    ({"ev": "group_updated", "group_id": GID, "pinned": []}, f"* {GID} updated: nothing pinned"),
    ({"ev": "group_updated", "group_id": GID, "slow_mode_seconds": 30},
     f"* {GID} updated: slow mode: a member may send once per 30s"),
    ({"ev": "group_updated", "group_id": GID, "slow_mode_seconds": 0}, f"* {GID} updated: slow mode off"),
    ({"ev": "member_removed", "group_id": GID, "user_id": "u2", "by": "u1", "banned": True},
     f"* Bob (u2) was banned from {GID} by Alice (u1)"),
    ({"ev": "member_removed", "group_id": GID, "user_id": "u2", "by": "u1"},
     f"* Bob (u2) was removed from {GID} by Alice (u1)"),
    # [ext] the managers' events: who, by whom, and what the lists (/requests, /bans, /links) now show
    ({"ev": "join_request_decided", "group_id": GID, "user_id": "u2", "status": "approved", "by": "u1"},
     f"* Bob (u2)'s request to join {GID} was approved by Alice (u1)"),
    ({"ev": "join_request_decided", "group_id": GID, "user_id": "u2", "status": "joined", "by": "u2"},
     f"* Bob (u2)'s request to join {GID} ended: they joined without one (invited, a link, or the group is open)"),
    ({"ev": "join_request_decided", "group_id": GID, "user_id": "u2", "status": "dropped", "by": "u2"},
     f"* Bob (u2)'s request to join {GID} ended: their account is gone (cancelled or closed)"),
    ({"ev": "join_request_decided", "group_id": GID, "user_id": "u2", "status": "dropped", "by": "u1"},
     f"* Bob (u2)'s request to join {GID} was dropped by Alice (u1): the account is closed"),
    ({"ev": "ban_changed", "group_id": GID, "user_id": "u2", "by": "u1",
      "ban": {"user_id": "u2", "until": 0, "by": "u1", "reason": "spam"}},
     f"* Alice (u1) banned Bob (u2) from {GID} until unbanned: spam"),
    ({"ev": "ban_changed", "group_id": GID, "user_id": "u2", "by": "u1"},
     f"* Alice (u1) lifted Bob (u2)'s ban from {GID}"),
    ({"ev": "invite_link_changed", "group_id": GID, "link_id": "3f2a9c01de", "by": "u1",
      "link": {"link_id": "3f2a9c01de", "created_by": "u1", "uses": 0, "max_uses": 5, "expires_at": None}},
     f"* Alice (u1) made an invite link for {GID}: 3f2a9c01de  0/5 uses  no expiry  by Alice (u1)"),
    ({"ev": "invite_link_changed", "group_id": GID, "link_id": "3f2a9c01de", "by": "u1"},
     f"* Alice (u1) revoked invite link 3f2a9c01de of {GID}"),
    ({"ev": "group_suspended", "group_id": GID, "until": NOW_MS, "cause": "sanction"},
     f"* group {GID} is suspended until {NOW} (it cannot be renamed, dissolved or handed on meanwhile)"),
    ({"ev": "group_suspended", "group_id": GID, "until": NOW_MS, "cause": "category_freeze"},
     f"* group {GID} is suspended until {NOW} with its whole category (it cannot be renamed meanwhile)"),
    ({"ev": "group_suspended", "group_id": GID, "until": NOW_MS}, f"* group {GID} is suspended until {NOW}"),
    ({"ev": "notice", "kind": "blacklisted", "text": "诈骗", "same_person_as": "bad1"},
     "* notice [blacklisted]: 诈骗 (the same verified identity as bad1)"),
    # credit notices are said from their fields: a server that words `text` otherwise reads the same
    ({"ev": "notice", "kind": "credit", "text": "reworded", "credit_score": 40, "credit_level": 1, "delta": -60,
      "reason": "violations"},
     "* notice [credit]: your credit score changed by -60 to 40 (level 1): violations"),
    ({"ev": "notice", "kind": "credit", "text": "reworded", "credit_score": 100, "credit_level": 3, "delta": 20,
      "sanction_id": "7"},
     "* notice [credit]: 20 credit points taken with sanction 7 were given back: your score is now 100 (level 3)"),
    ({"ev": "notice", "kind": "credit", "text": "reworded", "credit_score": 98, "credit_level": 3, "delta": -2,
      "cause": "content_blocked", "group_id": GID},
     (f"* notice [credit] {GID}: your credit score changed by -2 to 98 (level 3): what you sent contained "
      "prohibited content and was refused")),
    ({"ev": "notice", "kind": "account_credit", "text": "reworded", "account_id": "123456789", "credit_score": 30,
      "credit_level": 1, "delta": -70, "reason": "多次违规"},
     ("* notice [account_credit] account 123456789: the account's credit score changed by -70 to 30 (level 1): "
      "多次违规")),
    ({"ev": "notice", "kind": "account_credit", "text": "reworded", "account_id": "123456789", "credit_score": 100,
      "credit_level": 3, "delta": 20, "sanction_id": "9"},
     ("* notice [account_credit] account 123456789: 20 credit points taken with sanction 9 were given back: "
      "the account's score is now 100 (level 3)")),
    # an older server sends no fields: its text as it is
    ({"ev": "notice", "kind": "credit", "text": "your credit score is now 40 (level 1): x"},
     "* notice [credit]: your credit score is now 40 (level 1): x"),
])
def test_format_v2_events(ev, line):
    assert format_event(ev, names()) == line


# -- the platform's notices: each kind said from its fields, with what the user needs to act ---------

LATER_MS = NOW_MS + 7_200_000
LATER = hhmm(LATER_MS)
APPEAL = "(sanction 6; contest it with /appeal 6 REASON)"
OWNER_APPEAL = "(sanction 6; the group's owner may contest it with /appeal 6 REASON)"


@pytest.mark.parametrize("ev, line", [
    # the points a sanction takes carry its id too, with a negative delta: taken, not given back
    ({"ev": "notice", "kind": "credit", "text": "reworded", "credit_score": 80, "credit_level": 2, "delta": -20,
      "reason": "x", "sanction_id": "6", "by": "operator"},
     "* notice [credit]: sanction 6 took 20 credit points: your score is now 80 (level 2): x"),
    ({"ev": "notice", "kind": "account_credit", "text": "reworded", "account_id": "123456789", "credit_score": 80,
      "credit_level": 2, "delta": -20, "sanction_id": "9"},
     ("* notice [account_credit] account 123456789: sanction 9 took 20 credit points: the account's score is "
      "now 80 (level 2)")),
    ({"ev": "notice", "kind": "credit", "text": "reworded", "credit_score": 95, "credit_level": 3, "delta": -5,
      "report_id": "4"},
     "* notice [credit]: a report about you was upheld: 5 credit points taken; your score is now 95 (level 3)"),
    # a warning: the operator's reason, the rectification deadline, the sanction its owner may appeal
    ({"ev": "notice", "kind": "warning", "group_id": GID, "text": "整改", "deadline": LATER_MS, "sanction_id": "6"},
     f"* notice [warning] {GID}: 整改; rectify by {LATER} {OWNER_APPEAL}"),
    ({"ev": "notice", "kind": "report_result", "text": "已删除", "report_id": "7", "outcome": "upheld"},
     "* notice [report_result]: your report 7 was upheld (note: 已删除)"),
    ({"ev": "notice", "kind": "report_result", "text": "", "report_id": "8", "outcome": "rejected"},
     "* notice [report_result]: your report 8 was rejected"),
    ({"ev": "notice", "kind": "sanction", "text": "your management powers are suspended: spam",
      "measure": "suspend_admin", "reason": "spam", "sanction_id": "6", "until": LATER_MS},
     f"* notice [sanction]: the platform suspended your owner and admin powers until {LATER}: spam {APPEAL}"),
    ({"ev": "notice", "kind": "sanction", "text": "your right to create groups is revoked: x",
      "measure": "revoke_create", "reason": "x", "sanction_id": "6"},
     f"* notice [sanction]: the platform revoked your right to create groups: x {APPEAL}"),
    ({"ev": "notice", "kind": "sanction_lifted", "group_id": GID, "text": "t", "sanction_id": "6",
      "measure": "suspend_group", "reason": "改好了", "until": 0},
     (f"* notice [sanction_lifted] {GID}: the platform lifted sanction 6 (the suspension of the group): 改好了; "
      "posting in the group works again")),
    ({"ev": "notice", "kind": "sanction_lifted", "group_id": GID, "text": "t", "sanction_id": "6",
      "measure": "suspend_group", "reason": "ok", "until": LATER_MS, "cause": "category_freeze", "appeal_id": "3"},
     (f"* notice [sanction_lifted] {GID}: the platform lifted sanction 6 (the suspension of the group) as appeal "
      f"3 was upheld: ok; the group stays suspended with its whole category until {LATER}")),
    ({"ev": "notice", "kind": "sanction_lifted", "text": "t", "sanction_id": "6", "measure": "suspend_admin",
      "reason": "核实", "until": LATER_MS, "still": True},
     (f"* notice [sanction_lifted]: the platform lifted sanction 6 (the suspension of your owner and admin "
      f"powers): 核实; your management powers stay suspended until {LATER}")),
    ({"ev": "notice", "kind": "sanction_lifted", "text": "t", "sanction_id": "7", "measure": "revoke_create",
      "reason": "ok", "still": True},
     ("* notice [sanction_lifted]: the platform lifted sanction 7 (the revocation of your right to create "
      "groups): ok; another sanction still holds")),
    ({"ev": "notice", "kind": "appeal_result", "text": "t", "appeal_id": "3", "sanction_id": "6",
      "outcome": "rejected", "note": "证据确凿"},
     "* notice [appeal_result]: your appeal 3 against sanction 6 was rejected: the sanction stands (note: 证据确凿)"),
    ({"ev": "notice", "kind": "appeal_result", "text": "t", "appeal_id": "3", "sanction_id": "6",
      "outcome": "upheld", "note": "属实", "lifted": True},
     "* notice [appeal_result]: your appeal 3 against sanction 6 was upheld: the sanction is lifted (note: 属实)"),
    ({"ev": "notice", "kind": "appeal_result", "text": "t", "appeal_id": "3", "sanction_id": "6",
      "outcome": "upheld", "note": "属实", "lifted": False},
     ("* notice [appeal_result]: your appeal 3 against sanction 6 was upheld: the sanction had already ended "
      "(note: 属实)")),
    ({"ev": "notice", "kind": "content_removed", "group_id": GID, "text": "t", "content": "message",
      "outcome": "rejected", "reason": "刷单", "seq": 12},
     f"* notice [content_removed] {GID}: your message #12 was rejected after the platform's review: 刷单"),
    ({"ev": "notice", "kind": "content_removed", "account_id": "123456789", "post_id": "17", "comment_id": "5",
      "text": "t", "content": "comment", "outcome": "removed", "reason": "x", "title": "开张"},
     ("* notice [content_removed] account 123456789: your comment 5 on post 17 “开张” was taken down by the "
      "platform: x")),
    ({"ev": "notice", "kind": "agreement", "text": "t", "version": "v1"},
     ("* notice [agreement]: the platform published its rules and service agreement, version v1: read them with "
      "/agreement, then /accept v1 (until then nothing you send is accepted)")),
    ({"ev": "notice", "kind": "platform", "text": "今晚维护", "category": "friends"},
     "* notice [platform]: 今晚维护 (to the groups of category friends)"),
    ({"ev": "notice", "kind": "group_handover", "group_id": GID, "text": "t"},
     (f"* notice [group_handover] {GID}: you now own group {GID}: the platform closed its owner's account and you "
      "were its longest-serving admin")),
    ({"ev": "notice", "kind": "account_warning", "account_id": "123456789", "text": "整改", "deadline": LATER_MS,
      "sanction_id": "9"},
     (f"* notice [account_warning] account 123456789: 整改; rectify by {LATER} "
      "(sanction 9; the account's owner may contest it with /appeal 9 REASON)")),
    ({"ev": "notice", "kind": "account_restricted", "account_id": "123456789", "text": "t", "sanction_id": "9",
      "reason": "引战"},
     ("* notice [account_restricted] account 123456789: the platform turned off comments on this account's posts "
      "(sanction 9; the account's owner may contest it with /appeal 9 REASON): 引战")),
    ({"ev": "notice", "kind": "account_suspended", "account_id": "123456789", "text": "t", "reason": "x",
      "deadline": LATER_MS},
     (f"* notice [account_suspended] account 123456789: the platform suspended this account until {LATER}: no "
      "posts, no new name or introduction: x")),
    ({"ev": "notice", "kind": "account_licensed", "account_id": "123456789", "text": "t", "reason": "ok",
      "label": "news", "measure": "grant"},
     "* notice [account_licensed] account 123456789: the platform granted the news licence: ok"),
    ({"ev": "notice", "kind": "post_removed", "account_id": "123456789", "post_id": "17", "text": "t",
      "reason": "谣言", "title": "开张"},
     "* notice [post_removed] account 123456789: the platform removed post 17 “开张”: 谣言"),
    # a kind this client does not know, or one without its fields (an older server): the text as it is
    ({"ev": "notice", "kind": "something_new", "text": "plain words"}, "* notice [something_new]: plain words"),
    ({"ev": "notice", "kind": "report_result", "text": "已删除"}, "* notice [report_result]: 已删除"),
    # events that were printed as raw fields
    ({"ev": "group_suspended", "group_id": GID, "until": LATER_MS, "cause": "sanction", "reason": "整顿",
      "sanction_id": "6"},
     (f"* group {GID} is suspended until {LATER} (it cannot be renamed, dissolved or handed on meanwhile): 整顿 "
      f"{OWNER_APPEAL}")),
    ({"ev": "post_deleted", "account_id": "123456789", "post_id": "1"}, "* post 1 of 123456789 was deleted"),
    ({"ev": "post_comments", "account_id": "123456789", "post_id": "1", "comments": "closed",
      "comments_closed_by": "post"}, "* post 1 of 123456789: comments closed (by the account)"),
    ({"ev": "post_comments", "account_id": "123456789", "post_id": "1", "comments": "review"},
     "* post 1 of 123456789: comments shown after approval"),
    ({"ev": "comment_deleted", "account_id": "123456789", "post_id": "1", "comment_id": "5"},
     "* comment 5 on post 1 of 123456789 was taken away"),
    ({"ev": "comment", "account_id": "123456789", "post_id": "1", "comment_id": "5", "ts": 0,
      "user": BOB, "text": "好文", "moderated": True},
     f"{hhmm(0)} [123456789 post 1] comment 5 is shown now: Bob (u2): 好文"),
    ({"ev": "comment", "account_id": "123456789", "post_id": "1", "comment_id": "5", "ts": 0,
      "user": BOB, "text": "好文", "moderated": True, "hidden": True},
     f"{hhmm(0)} [123456789 post 1] comment 5 is hidden now: Bob (u2): 好文"),
    ({"ev": "editor_changed", "account_id": "123456789", "user_id": "u2", "on": True, "name": "茶馆日报"},
     "* Bob (u2) is now an editor of 茶馆日报 (123456789)"),
    ({"ev": "editor_changed", "account_id": "123456789", "user_id": "u2", "on": False, "name": "茶馆日报"},
     "* Bob (u2) is no longer an editor of 茶馆日报 (123456789)"),
    ({"ev": "invited", "group_id": GID, "name": "tea", "by": ALICE},
     f"* Alice (u1) invited you to {GID} (tea): /join {GID} to join"),
    ({"ev": "join_result", "group_id": GID, "status": "approved", "name": "tea"},
     f"* your request to join {GID} (tea) was approved: /use {GID}"),
    ({"ev": "join_result", "group_id": GID, "status": "rejected"}, f"* your request to join {GID} was rejected"),
])
def test_notices_and_events_are_said_with_what_the_user_needs_to_act(ev, line):
    assert format_event(ev, names()) == line


def test_a_notice_cannot_drive_the_terminal_through_its_fields():
    ev = {"ev": "notice", "kind": "sanction", "text": "t", "measure": "revoke_create", "reason": "\x1b[2J",
          "sanction_id": "\x07"}
    assert "\x1b" not in format_event(ev, names()) and "\x07" not in format_event(ev, names())


def test_a_public_account_renamed_is_said_under_its_old_name_and_then_learnt():
    n = names()
    n.learn_account({"account_id": "123456789", "name": "茶馆"})
    line = format_event({"ev": "account_updated", "account_id": "123456789", "name": "茶馆日报"}, n)
    assert line == "* public account 茶馆 (123456789) is now called 茶馆日报"
    assert n.account("123456789") == "茶馆日报 (123456789)"
    line = format_event({"ev": "account_updated", "account_id": "123456789", "intro": "每日\n一茶"}, n)
    assert line == f"* public account 茶馆日报 (123456789) has a new introduction: 每日\n{INDENT}一茶"
    line = format_event({"ev": "account_updated", "account_id": "123456789", "name": "x", "intro": ""}, n)
    assert line == "* public account 茶馆日报 (123456789) is now called x and has no introduction now"
    line = format_event({"ev": "account_updated", "account_id": "123456789", "org_name": "茶馆文化有限公司"}, n)
    assert line == "* public account x (123456789) is run by 茶馆文化有限公司 now"


def test_a_rename_is_said_under_the_old_name_and_then_learnt():
    n = names()
    line = format_event({"ev": "user_renamed", "user_id": BOB["user_id"], "display_name": "小明"}, n)
    assert line == f"* {BOB['display_name']} ({BOB['user_id']}) is now called 小明"
    assert n(BOB["user_id"]) == f"小明 ({BOB['user_id']})"


def test_format_ban_and_log_entry():
    n = names()
    assert format_ban({"user_id": "u2", "until": 0, "by": "u1", "reason": "spam"}, n) == (
        "  Bob (u2)  until unbanned  by Alice (u1)  reason: spam")
    assert format_ban({"user_id": "u9", "until": NOW_MS + 60_000, "by": "u1"}, n) == (
        f"  u9  until {hhmm(NOW_MS + 60_000)}  by Alice (u1)")
    assert format_log_entry({"id": 12, "ts": NOW_MS, "actor": "u1", "action": "ban",
                             "target_user_id": "u2", "detail": {"seconds": 600}}, n) == (
        f"  #12 {NOW} Alice (u1) ban Bob (u2): seconds=600")
    until = NOW_MS + 3_600_000
    assert format_log_entry({"id": 14, "ts": NOW_MS, "actor": "u1", "action": "ban", "target_user_id": "u2",
                             "detail": {"until": until, "expires_at": until, "seconds": 3600}}, n) == (
        f"  #14 {NOW} Alice (u1) ban Bob (u2): until={hhmm(until)}, expires_at={hhmm(until)}, seconds=3600")
    assert format_log_entry({"id": 13, "ts": NOW_MS, "actor": "platform", "action": "warn_group",
                             "detail": "\x1b[2J"}, n) == f"  #13 {NOW} platform warn_group: {clean(chr(27))}[2J"



def test_yes_no_and_times_are_words_and_clock_times_not_raw_values():
    """/muteall's ``group_updated`` and the log's details: no ``mute_all=False``, ``on=True`` or
    ``deadline=1894636800000``."""
    n = names()
    assert format_event({"ev": "group_updated", "group_id": GID, "mute_all": True}, n) == (
        f"* {GID} updated: everyone but the owner and admins muted")
    assert format_event({"ev": "group_updated", "group_id": GID, "mute_all": False}, n) == (
        f"* {GID} updated: mute-all off: everyone may speak")
    deadline = NOW_MS + 86_400_000
    assert format_log_entry({"id": 15, "ts": NOW_MS, "actor": "platform", "action": "warn_group",
                             "detail": {"deadline": deadline, "reason": "整改"}}, n) == (
        f"  #15 {NOW} platform warn_group: deadline={hhmm(deadline)}, reason=整改")
    assert format_log_entry({"id": 16, "ts": NOW_MS, "actor": "u1", "action": "pin_message",
                             "detail": {"seq": 4, "on": True}}, n) == (
        f"  #16 {NOW} Alice (u1) pin_message: seq=4, on=yes")
    assert format_log_entry({"id": 17, "ts": NOW_MS, "actor": "u1", "action": "mute_all",
                             "detail": {"mute_all": False, "muted_until": deadline}}, n) == (
        f"  #17 {NOW} Alice (u1) mute_all: mute_all=no, muted_until={hhmm(deadline)}")
    # an event this client does not know: its fields the same way
    assert format_event({"ev": "later", "on": False, "ends_at": deadline}, n) == (
        f"* later: on=no, ends_at={hhmm(deadline)}")

def test_http_base():
    assert http_base("ws://127.0.0.1:8765/ws") == "http://127.0.0.1:8765"
    assert http_base("wss://chat.example.com/ws") == "https://chat.example.com"
    assert http_base("nonsense") == ""


# -- /upload --------------------------------------------------------------------------------------

@pytest.mark.parametrize("head, name, mime", [
    (b"\x89PNG\r\n\x1a\n....", "x.bin", "image/png"),
    (b"\xff\xd8\xff\xe0", "x", "image/jpeg"),
    (b"GIF89a..", "x", "image/gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "x", "image/webp"),
    (b"%PDF-1.7", "x", "application/pdf"),
    (b"OggS\x00", "x", "audio/ogg"),
    (b"#!AMR\n", "x", "audio/amr"),
    (b"ID3\x04", "x", "audio/mpeg"),
    (b"\xff\xfb\x90", "x", "audio/mpeg"),
    (b"\x00\x00\x00\x18ftypmp42", "x", "video/mp4"),
    (b"plain text", "notes.txt", "text/plain"),        # by name when the bytes say nothing
    (b"\x89PNG\r\n\x1a\n", "photo.jpg", "image/png"),  # the bytes win over the name
    (b"???", "x", "application/octet-stream"),
])
def test_sniff_mime(head, name, mime):
    assert sniff_mime(head, name) == mime


class FakeUploads:
    """What the server does with upload_begin/chunk/end, enough to check the client's side."""

    def __init__(self, chunk_bytes: int) -> None:
        self.chunk_bytes = chunk_bytes
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.data = b""

    async def request(self, op: str, **p: Any) -> dict[str, Any]:
        self.calls.append((op, p))
        if op == "upload_begin":
            return {"upload_id": "up1", "chunk_bytes": self.chunk_bytes}
        if op == "upload_chunk":
            assert p["offset"] == len(self.data) and len(p["data"]) <= self.chunk_bytes
            self.data += p["data"]
            return {"received": len(self.data)}
        assert op == "upload_end"
        assert p["sha256"] == hashlib.sha256(self.data).hexdigest()
        return {"media_id": "m1", "kind": "image", "mime": "image/png", "size": len(self.data)}


def test_upload_sends_chunks_and_the_hash(tmp_path: Path):
    body = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    f = tmp_path / "cat.png"
    f.write_bytes(body)
    fake = FakeUploads(chunk_bytes=1000)
    end = asyncio.run(upload_file(fake.request, f))
    assert end == {"media_id": "m1", "kind": "image", "mime": "image/png", "size": len(body), "name": "cat.png"}
    assert fake.data == body
    assert fake.calls[0] == ("upload_begin", {"mime": "image/png", "size": len(body), "name": "cat.png"})
    assert [op for op, _ in fake.calls].count("upload_chunk") == -(-len(body) // 1000)


def test_upload_of_a_missing_file_is_said_plainly(tmp_path: Path):
    fake = FakeUploads(chunk_bytes=1000)
    with pytest.raises(CommandError) as exc:
        asyncio.run(upload_file(fake.request, tmp_path / "nope.png"))
    assert exc.value.code == "no_file" and "nope.png" in exc.value.message
    assert fake.calls == []


@pytest.mark.parametrize("ev,line", [
    ({"ev": "held_text_settled", "held_id": "12", "kind": "group_name", "group_id": "123456789",
      "outcome": "released", "applied": True}, "* your held group name for 123456789 (#12) was approved"),
    ({"ev": "held_text_settled", "held_id": "12", "kind": "announcement", "group_id": "123456789",
      "outcome": "released", "applied": False},
     "* your held announcement for 123456789 (#12) was approved, but not applied: it was changed since"),
    ({"ev": "held_text_settled", "held_id": "13", "kind": "display_name", "outcome": "rejected"},
     "* your held display name (#13) was rejected"),
    ({"ev": "held_text_settled", "held_id": "13", "kind": "display_name", "outcome": "withdrawn"},
     "* your held display name (#13) was withdrawn"),
    ({"ev": "held_text_settled", "held_id": "15", "kind": "group_name", "group_id": "123456789",
      "outcome": "superseded"}, "* your held group name for 123456789 (#15) was replaced by a newer change"),
    ({"ev": "held_text_settled", "held_id": "14", "kind": "account_name", "account_id": "987654321",
      "outcome": "rejected"}, "* your held account name for account 987654321 (#14) was rejected"),
])
def test_format_held_text_settled(ev, line):
    assert format_event(ev, names()) == line


def test_format_held_text_names_the_account_of_a_held_account_name():
    from client_demo.render import format_held_text

    line = format_held_text({"held_id": "14", "kind": "account_intro", "account_id": "987654321", "text": "刷单",
                             "created_at": 0})
    assert line.startswith("  #14 ") and line.endswith(" account introduction of account 987654321: 刷单")


def test_a_text_cannot_fake_an_attachment_line() -> None:
    """Every line of a message's text after the first starts with four spaces; an attachment's line
    starts with two and a "+": no sender can print one of their own with a link of their choosing."""
    fake = {"seq": 7, "ts": 0, "sender": {"user_id": "u2", "display_name": "Eve", "role": "member"},
            "text": "see\n+ [image 640x480 cat.png] http://evil.example/x\n  + [image 1x1 a.png] http://evil.example/y"}
    lines = format_message(fake, Names()).splitlines()
    assert all(line.startswith("    ") for line in lines[1:]), lines
    real = {**fake, "text": "cat", "attachments": [{"kind": "image", "width": 1, "height": 1, "name": "a.png",
                                                     "url": "/media/m"}]}
    assert format_message(real, Names()).splitlines()[1].startswith("  + [image")


# -- role tags a display name cannot fake ---------------------------------------------------------

# Display names a member could choose to look like the owner or an admin: a display name may hold any
# visible character (governance.names.check_name), brackets, parentheses and look-alikes included.
SPOOFS = ["Alice (owner)", "Alice (admin)", "Alice  (owner)", "Alice [owner]", "Alice owner", "Alice（owner）",
          "owner Alice", f"[{GID} #42 owner] Alice", "[owner]  Alice", "[admin] Alice"]
# How a reader finds the role of a message line's sender: in the line's head, the first brackets.
MESSAGE_ROLE = rf"^{NOW} \[{GID} #42(?: (owner|admin))?\] "


def role_read(line: str) -> str | None:
    import re

    m = re.match(MESSAGE_ROLE, line)
    assert m is not None, line
    return m.group(1)


@pytest.mark.parametrize("spoof", SPOOFS)
def test_a_display_name_cannot_pose_as_a_role_tag(spoof: str) -> None:
    """A member called "Alice (owner)" must not look like the owner Alice: the role is shown inside
    the line's head, which holds only the server's ids and the role, and a name comes after it."""
    owner = format_message(msg(sender={**ALICE}))
    admin = format_message(msg(sender={**ALICE, "role": "admin"}))
    fake = format_message(msg(sender={"user_id": "u9", "display_name": spoof, "role": "member"}))
    assert fake not in (owner, admin)
    assert (role_read(owner), role_read(admin), role_read(fake)) == ("owner", "admin", None)
    assert owner == f"{NOW} [{GID} #42 owner] Alice: hi"
    assert fake == f"{NOW} [{GID} #42] {spoof}: hi"  # the name as it is, after the head


@pytest.mark.parametrize("spoof", SPOOFS)
def test_a_members_list_shows_the_role_where_no_name_is_printed(spoof: str) -> None:
    """``/members``: the role between the user_id and the name, so a member's name never stands in
    the role's place."""
    import re

    from client_demo.render import format_user

    real = format_user({"user_id": "u1", "display_name": "Alice", "role": "owner"})
    fake = format_user({"user_id": "u9", "display_name": spoof, "role": "member"})
    nameless = format_user({"user_id": "u8", "display_name": spoof})
    assert real == "  u1  [owner]  Alice"
    rows = [re.fullmatch(r"  (\S+)  \[([a-z?]+)\]  (.+)", line) for line in (real, fake, nameless)]
    assert [m.groups() if m else None for m in rows] == [
        ("u1", "owner", "Alice"), ("u9", "member", spoof), ("u8", "?", spoof)]


@pytest.mark.parametrize("ev,line", [
    ({"ev": "group_closed", "group_id": "123456789", "reason": "赌博"},
     "* group 123456789 was closed by the platform: 赌博"),
    ({"ev": "group_closed", "group_id": "123456789", "reason": "诈骗", "cause": "owner_blacklisted"},
     "* group 123456789 was closed by the platform (its owner was blacklisted): 诈骗"),
])
def test_format_group_closed(ev, line):
    assert format_event(ev, names()) == line


def test_a_permanent_ban_in_the_log_says_never():
    """A reviewer saw ``until=0`` for a ban with no end in /log."""
    from client_demo.render import format_log_entry

    entry = {"id": 7, "ts": NOW_MS, "actor": "u1", "action": "ban", "target_user_id": "u2",
             "detail": {"until": 0, "reason": "spam"}}
    assert format_log_entry(entry, names()) == f"  #7 {NOW} Alice (u1) ban Bob (u2): until=never, reason=spam"


def test_a_measure_on_ones_public_account_is_named_by_the_account() -> None:
    """my_sanctions lists a public account's measures (with account_id and account_name, no group)."""
    line = format_my_sanction({"sanction_id": "9", "measure": "suspend_account", "account_id": "100000001",
                               "account_name": "茶馆\x1b[2J周报", "starts_at": NOW_MS, "until": NOW_MS,
                               "status": "in_force", "reason": "标题党"})
    assert line.startswith("  #9 publishing suspended for account 100000001 (茶馆")
    assert "\x1b" not in line and "group" not in line and line.endswith(": 标题党")
    group = format_my_sanction({"sanction_id": "3", "measure": "warning", "group_id": GID, "group_name": "茶话",
                                "starts_at": NOW_MS, "deadline": None, "status": "in_force", "reason": "r"})
    assert group.startswith(f"  #3 warning to group {GID} (茶话)")


@pytest.mark.parametrize(("report", "target"), [
    ({"target_type": "post", "post_id": 12, "post_title": "本周\x1b[2J书单", "account_name": "茶馆周报"},
     "post 12 《本周\\x1b[2J书单》 of 茶馆周报"),  # (an escape shown, not run)
    ({"target_type": "comment", "comment_id": 5, "post_id": 12, "post_title": "本周书单", "account_name": "茶馆周报"},
     "comment 5 on 《本周书单》 of 茶馆周报"),
    ({"target_type": "post", "post_id": 13, "account_name": "公众号 700000001"}, "post 13 of 公众号 700000001"),
    ({"target_type": "account", "account_id": "700000001", "account_name": "茶馆周报"}, "account 700000001 (茶馆周报)"),
    ({"target_type": "post", "post_id": 14}, "post 14"),
])
def test_my_reports_name_the_account_and_the_posts_title_as_the_server_gives_them(report: dict[str, Any],
                                                                                  target: str) -> None:
    """my_reports carries account_name (as the account shows now) and post_title (while the reporter may
    read the post): /reports says which post and account a report was about, not only their numbers."""
    line = format_my_report({"report_id": "7", "created_at": NOW_MS, "reason": "spam", "status": "open", **report},
                            names())
    assert line == f"  #7 {NOW} {target}: spam  -> open"
