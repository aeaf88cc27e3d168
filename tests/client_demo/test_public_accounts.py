"""The terminal client's public-account commands without a server: how replies and the ``post`` and
``comment`` events are shown, and what the client sends for /accounts, /post, /follow and the
question /closeaccount asks (a scripted server). The same paths run against a real server in
test_tui_accounts_e2e.py."""

from __future__ import annotations

import time

from client_demo.client import RequestError
from client_demo.public_view import format_account_info, public_reply
from client_demo.render import Names, format_event, hhmm
from tests.client_demo.test_tui_logic import Scripted

AID = "987654321"
NOW_MS = int(time.time() * 1000)
NOW = hhmm(NOW_MS)
BOB = {"user_id": "u2", "display_name": "Bob Li"}
INFO = {"account_id": AID, "name": "茶馆日报", "category": "culture", "intro": "关于我们", "subject_type": "individual",
        "labels": [], "credit_level": 3, "subscriber_count": 1, "status": "active"}
POST = {"post_id": "17", "account_id": AID, "title": "开张", "body": "第一行\n第二行", "ts": NOW_MS, "reads": 1,
        "comment_count": 2, "comments": "open"}
COMMENTS = [{"comment_id": "6", "user": BOB, "text": "同意", "ts": NOW_MS, "reply_to": "5", "held": True},
            {"comment_id": "5", "user": {"user_id": "u3", "display_name": "Eve"}, "text": "好", "ts": NOW_MS,
             "hidden": True}]


def names() -> Names:
    n = Names()
    n.learn_account(INFO)
    return n


# -- events ---------------------------------------------------------------------------------------

def test_post_and_comment_events_are_readable_lines():
    n = names()
    post = {"ev": "post", "account_id": AID, "post_id": "17", "title": "开张", "ts": NOW_MS}
    assert format_event(post, n) == f"{NOW} [{AID} post 17] new post in 茶馆日报 ({AID}): 开张 (/post 17)"
    assert format_event(post, Names()) == f"{NOW} [{AID} post 17] new post: 开张 (/post 17)"  # name not known
    comment = {"ev": "comment", "account_id": AID, "post_id": "17", "comment_id": "6", "user": BOB,
               "text": "同意\n真的", "ts": NOW_MS, "reply_to": "5", "held": True}
    assert format_event(comment, n) == (
        f"{NOW} [{AID} post 17] comment 6 (held) in 茶馆日报 ({AID}) by Bob Li (u2): ↪ comment 5 同意\n    真的")
    assert n.names["u2"] == "Bob Li"  # learnt from the event
    notice = {"ev": "notice", "kind": "account_warning", "account_id": AID, "text": "整改"}
    assert format_event(notice, n) == f"* notice [account_warning] account 茶馆日报 ({AID}): 整改"


def test_server_text_in_accounts_cannot_drive_the_terminal():
    n = Names()
    n.learn_account({"account_id": AID, "name": "\x1b[2J"})
    line = format_event({"ev": "post", "account_id": AID, "post_id": "1", "title": "\x1b]0;x\x07", "ts": 0}, n)
    assert "\x1b" not in line and "\x07" not in line and "\\x1b[2J" in line


# -- replies --------------------------------------------------------------------------------------

def test_account_info_never_names_the_person_and_shows_the_organization():
    assert format_account_info(INFO) == [
        f"* public account {AID}: 茶馆日报",
        "  category culture, run by a verified person, credit level 3, 1 subscriber",
        "  intro: 关于我们"]
    org = {**INFO, "subject_type": "organization", "org_name": "北京某文化公司", "labels": ["news"],
           "status": "restricted", "subscriber_count": 0, "intro": ""}
    assert format_account_info(org) == [
        f"* public account {AID}: 茶馆日报 [restricted: the platform turned its comments off]",
        "  category culture, run by the organization 北京某文化公司, credit level 3, 0 subscribers",
        "  labels: news"]


def test_public_replies():
    n = names()
    assert public_reply("create_account", {"name": "新号"}, {"account_id": "111111111"}, n) == [
        "* opened public account 新号 (111111111); you own it",
        "* publish with: /publish 111111111 open TITLE -- BODY"]
    carried = {"account_id": "111111112", "credit_level": 1, "status": "restricted",
               "carried": ["credit", "comments_restricted"]}
    assert public_reply("create_account", {"name": "再版"}, carried, n) == [
        "* opened public account 再版 (111111112); you own it",
        "* it starts at credit level 1, the lowest of the other accounts of the same person or organisation",
        ("* its comments start restricted, as on another account of the same person or organisation;"
         " the platform can lift it"),
        "* publish with: /publish 111111112 open TITLE -- BODY"]
    assert public_reply("publish", {"account_id": AID}, {"post_id": "17", "comments": "review"}, n) == [
        f"* published post 17 in 茶馆日报 ({AID}) (comments after approval)"]
    assert public_reply("publish", {"account_id": AID}, {"post_id": "18", "held": True}, n)[0].startswith(
        "* post 18 is held for review")
    assert public_reply("posts", {"account_id": AID, "limit": 1}, {"posts": [POST]}, n) == [
        f"* posts of 茶馆日报 ({AID}): 1",
        f"  post 17  {NOW}  (1 read, 2 comments, comments open)  开张",
        f"* older: /posts {AID} 1 before 17"]
    assert public_reply("comment", {"post_id": "17"}, {"comment_id": "6", "held": True}, n) == [
        "* comment 6 on post 17 is held: others see it once it is approved"]
    assert public_reply("comment", {"post_id": "17"}, {"comment_id": "7", "held": False}, n) == [
        "* comment 7 on post 17"]
    assert public_reply("moderate_comment", {"comment_id": "6", "action": "hide"}, {}, n) == [
        "* comment 6 hidden from public view"]
    assert public_reply("set_editor", {"account_id": AID, "user_id": "u2", "on": False}, {}, n) == [
        f"* u2 is no longer an editor of 茶馆日报 ({AID})"]
    assert public_reply("update_account", {"account_id": AID, "name": "新名"}, {}, n) == [f"* updated 新名 ({AID})"]
    assert public_reply("send", {}, {}, n) is None


def test_held_account_names_and_intros_are_never_shown_as_applied():
    n = names()
    held = {"account_id": "111111111", "held": True, "held_id": "7", "held_ids": {"name": "7", "intro": "8"}}
    assert public_reply("create_account", {"name": "刷单号", "intro": "刷单"}, held, n) == [
        "* opened public account 公众号 111111111 (111111111); you own it",
        ("* the name 刷单号 is held for the platform's review (#7); the account is called 公众号 111111111 until it "
         "is approved"),
        "* the introduction is held for the platform's review (#8); it has no introduction until it is approved",
        "* publish with: /publish 111111111 open TITLE -- BODY"]
    r = {"held": True, "held_id": "9", "held_ids": {"name": "9"}}
    assert public_reply("update_account", {"account_id": AID, "name": "刷单号", "intro": "新简介"}, r, n) == [
        f"* updated 茶馆日报 ({AID})",
        "* the name 刷单号 is held for the platform's review (#9); the account keeps its name until it is approved"]


# -- what the client sends ---------------------------------------------------------------------------

def test_accounts_lists_both_and_learns_the_names():
    t = Scripted({"my_accounts": {"accounts": [{"account_id": AID, "name": "茶馆日报", "role": "owner",
                                                "status": "closed"}]},
                  "my_subscriptions": {"accounts": [{"account_id": "111111111", "name": "天气", "status": "active"}]}})
    out = t.run_lines("/accounts")
    assert [op for op, _ in t.sent] == ["my_accounts", "my_subscriptions"]
    assert out[-4:] == ["* accounts you run: 1", f"  {AID}  [owner]  茶馆日报  [closed]",
                        "* accounts you follow: 1", "  111111111  [follower]  天气"]
    assert t.names.account("111111111") == "天气 (111111111)"


def test_post_shows_the_post_then_its_comments():
    t = Scripted({"read_post": POST, "comments": {"comments": COMMENTS}})
    out = t.run_lines("/post 17")
    assert [op for op, _ in t.sent] == ["read_post", "account_info", "comments"]  # (its name as it is now)
    assert out[-7:] == [f"* post 17 of {AID}, {NOW}: 开张", "  (1 read, 2 comments, comments open)",
                        "    第一行", "    第二行", "* comments on post 17: 2",
                        f"  comment 6  (held)  {NOW}  Bob Li (u2): ↪ comment 5 同意",
                        f"  comment 5  (hidden)  {NOW}  Eve (u3): 好"]
    closed = Scripted({"read_post": {**POST, "comments": "closed", "comment_count": 0}})
    closed.run_lines("/post 17")
    assert [op for op, _ in closed.sent] == ["read_post", "account_info"]  # no comments to ask for
    # Closed after comments were written: those stay readable, and are listed.
    closed_later = Scripted({"read_post": {**POST, "comments": "closed", "comment_count": 2},
                             "comments": {"comments": COMMENTS}})
    out = closed_later.run_lines("/post 17")
    assert [op for op, _ in closed_later.sent] == ["read_post", "account_info", "comments"]
    assert "* comments on post 17: 2" in out


def test_follow_learns_the_account_name_for_its_events():
    t = Scripted({"account_info": INFO})
    out = t.run_lines(f"/follow {AID}")
    assert [op for op, _ in t.sent] == ["subscribe", "account_info"]
    assert out[-1] == f"* following 茶馆日报 ({AID}): its new posts show here while you are connected"


def test_closeaccount_asks_and_sends_only_on_yes():
    t = Scripted({"account_info": INFO})
    out = t.run_lines(f"/closeaccount {AID}", "no")
    assert out[-2].startswith(f"* close public account 茶馆日报 ({AID}) for good?")
    assert out[-1] == f"* /closeaccount {AID} not done" and t.ops("close_account") == []

    out = t.run_lines(f"/closeaccount {AID}", "/accounts")  # another command: not closed, and it runs
    assert t.ops("close_account") == [] and f"* /closeaccount {AID} not done" in out
    assert t.ops("my_accounts")

    out = t.run_lines(f"/closeaccount {AID}", "YES")
    assert t.ops("close_account") == [{"account_id": AID}]
    assert out[-1] == f"* closed 茶馆日报 ({AID}): it publishes nothing more"

    t.replies["account_info"] = RequestError("not_found", "no public account 111111111", {"ok": False})
    out = t.run_lines("/closeaccount 111111111")
    assert out[-1] == "! not_found: no public account 111111111"  # nothing asked, nothing held
    assert t.pending is None and len(t.ops("close_account")) == 1


def test_refusals_of_public_ops_are_printed_with_their_code():
    t = Scripted({"publish": RequestError("forbidden", "a news account publishes only with the news label",
                                          {"ok": False})})
    out = t.run_lines(f"/publish {AID} open 标题 -- 正文")
    assert out[-1] == "! forbidden: a news account publishes only with the news label"
    assert t.ops("publish") == [{"account_id": AID, "comments": "open", "title": "标题", "body": "正文"}]


def test_an_account_name_cannot_pose_as_a_group_messages_head():
    """A post or comment line's first brackets hold ids only: an account named like a message head
    with a role tag (names may hold ']' and '#') shows after them."""
    n = Names()
    n.learn_account({"account_id": AID, "name": "4820193375 #42 owner] Alice:"})
    line = format_event({"ev": "post", "account_id": AID, "post_id": "17", "title": "pay here", "ts": 0}, n)
    assert line.startswith(f"{hhmm(0)} [{AID} post 17] new post in 4820193375 #42 owner] Alice: ({AID}): ")
