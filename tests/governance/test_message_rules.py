"""Rules for editing, reacting to and pinning messages (governance/message_rules.py)."""

from __future__ import annotations

import pytest

from governance.message_rules import MAX_EMOJI_BYTES, check_edit, check_emoji, check_pin_room, was_member_at
from protocol.errors import ContractError

SENT = 1_700_000_000_000
WINDOW = 172_800


def refused(fn, *args, **kw) -> tuple[str, str]:
    with pytest.raises(ContractError) as err:
        fn(*args, **kw)
    return err.value.code, err.value.reason


def test_own_delivered_message_within_the_window_may_be_edited():
    check_edit(own=True, held=False, now=SENT, sent_at=SENT, window_seconds=WINDOW)
    check_edit(own=True, held=False, now=SENT + WINDOW * 1000, sent_at=SENT, window_seconds=WINDOW)


def test_edit_refusals_in_order():
    code, reason = refused(check_edit, own=False, held=True, now=SENT + 10**10, sent_at=SENT, window_seconds=WINDOW)
    assert code == "forbidden" and "sender" in reason
    code, reason = refused(check_edit, own=True, held=True, now=SENT + 10**10, sent_at=SENT, window_seconds=WINDOW)
    assert code == "forbidden" and "review" in reason
    code, reason = refused(check_edit, own=True, held=False, now=SENT + WINDOW * 1000 + 1, sent_at=SENT,
                           window_seconds=WINDOW)
    assert code == "forbidden" and str(WINDOW) in reason


@pytest.mark.parametrize("now", [SENT - 30_000, SENT, SENT + 1])  # (before: a clock behind the sender's home's)
def test_a_zero_window_turns_editing_off(now):
    code, reason = refused(check_edit, own=True, held=False, now=now, sent_at=SENT, window_seconds=0)
    assert code == "forbidden" and "turned off" in reason


@pytest.mark.parametrize("emoji", ["👍", "❤️", "👨\u200d👩\u200d👧", "+1", "ok", "赞", "x" * MAX_EMOJI_BYTES, "🇨🇳",
                                   "1\ufe0f\u20e3", "👍🏽",
                                   "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"])
def test_reactions_are_short_visible_strings(emoji):
    assert check_emoji(emoji) == emoji


@pytest.mark.parametrize("emoji", ["", " ", "\u3000", "x" * (MAX_EMOJI_BYTES + 1), "赞" * 11, "\n", "a\x00", "a\x7f",
                                   # invisible alone: zero-width joiner and space, variation selector, bidi override
                                   "\u200d", "\u200b", "\ufe0f", "\u202e", "\u2060\u200d", "\u20e3",
                                   # a bidi control beside something visible: it turns the text around it
                                   "\u202eevil", "👍\u2067", "\u200f赞", "ok\u061c"])
def test_bad_reactions(emoji):
    assert refused(check_emoji, emoji)[0] == "bad_request"


def test_pin_room():
    check_pin_room(0, 10)
    check_pin_room(9, 10)
    code, reason = refused(check_pin_room, 10, 10)
    assert code == "conflict" and "10" in reason
    assert refused(check_pin_room, 0, 0)[0] == "conflict"


# A membership log (action, ts) and the times at which it shows the user a member, or not.
SPANS = [
    ([("join", 10)], {9: False, 10: True, 10**12: True}),
    ([("create", 10), ("admin", 20), ("kick", 30)], {15: True, 25: True, 30: True, 31: False}),
    ([("join", 10), ("leave", 20), ("invite_link", 40), ("ban", 50)], {15: True, 30: False, 45: True, 51: False}),
    ([("approve", 10), ("owner", 12), ("owner_handed_on", 14), ("member", 16)], {11: True, 17: True}),
    ([("leave", 20)], {10: False, 20: False}),  # (the start purged: nothing to stand on)
    ([], {5: False}),
]


@pytest.mark.parametrize(("log", "times"), SPANS)
def test_was_member_at(log, times):
    assert {ts: was_member_at(log, ts) for ts in times} == times
