"""What review and flag hits do to group names, announcements and display names (G10)."""

from __future__ import annotations

import pytest

from governance.content import Action, Verdict
from governance.shown_text import KINDS, Outcome, neutral, neutral_name_key, outcome, settle

REVIEW = Verdict(Action.REVIEW, "rumour", "刷单")
FLAG = Verdict(Action.FLAG, "porn", "vpn")


@pytest.mark.parametrize("verdict,text,shown,expected", [
    (None, "tea", "old", Outcome.APPLY),
    (FLAG, "vpn room", "old", Outcome.APPLY_AND_QUEUE),
    (REVIEW, "刷单 room", "old", Outcome.HOLD),
    # holding a text equal to what would be shown meanwhile changes nothing: applied and queued
    (REVIEW, "user1", "user1", Outcome.APPLY_AND_QUEUE),
])
def test_outcome(verdict, text, shown, expected):
    assert outcome(verdict, text, shown) is expected


def test_outcome_values_are_the_queue_actions():
    assert (Outcome.HOLD.value, Outcome.APPLY_AND_QUEUE.value) == ("review", "flag")


def test_neutral_values():
    assert neutral("group_name", group_id="123456789") == "群聊 123456789"
    assert neutral("announcement") == ""
    assert neutral("display_name", username="alice") == "alice"
    # a username the word lists hold stands in for nothing: the user id does
    assert neutral("display_name", username="flagme", user_id="u1f", username_listed=True) == "用户 u1f"
    assert neutral("account_name", account_id="1234567890") == "公众号 1234567890"
    assert neutral("account_intro") == ""
    assert set(KINDS) == {"group_name", "announcement", "display_name", "account_name", "account_intro"}
    with pytest.raises(TypeError):
        neutral("group_name")
    with pytest.raises(TypeError):
        neutral("display_name")
    with pytest.raises(TypeError):
        neutral("display_name", username="flagme", username_listed=True)
    with pytest.raises(TypeError):
        neutral("account_name")
    with pytest.raises(ValueError):
        neutral("message")


@pytest.mark.parametrize("action,decision,expected", [
    ("review", "release", ("held text", "shown before")),  # the held text, over what was shown
    ("review", "reject", None),  # discarded: the field keeps what it shows
    ("flag", "keep", None),
    ("flag", "remove", ("neutral", "shown before")),  # the neutral value, over the flagged text
])
def test_settle(action, decision, expected):
    assert settle(action, decision, "held text", "shown before", "neutral") == expected


@pytest.mark.parametrize("action,decision", [("review", "keep"), ("flag", "release"), ("flag", "reject"),
                                             ("review", "remove"), ("block", "release")])
def test_settle_refuses_a_decision_the_action_does_not_take(action, decision):
    with pytest.raises(ValueError):
        settle(action, decision, "t", "e", "n")


def test_an_accounts_neutral_name_key_is_no_key_a_chosen_name_can_have():
    """An account shown under its neutral name holds a key (``accounts.name_key``, unique) that no
    name a user picks normalizes to, so nobody can take it first, not even by typing the name."""
    from governance.public_accounts import normalize_name

    key = neutral_name_key("1234567890")
    assert key == "公众号 1234567890"
    assert normalize_name(neutral("account_name", account_id="1234567890")) != key
    assert normalize_name("公众号\u30001234567890") != key and normalize_name("公众号 1234567890 ") != key
