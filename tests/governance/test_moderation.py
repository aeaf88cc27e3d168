"""Moderation rules: ban and link lifetimes, slow mode, and what the group log lets through."""

from __future__ import annotations

import json

import pytest

from governance import moderation as mod
from governance.identity import id_check_char
from protocol.errors import ContractError


def refused(fn, *args) -> ContractError:
    with pytest.raises(ContractError) as err:
        fn(*args)
    return err.value


def test_bans_last_until_their_end_or_for_good():
    assert mod.ban_in_force(0, 10**13)
    assert mod.ban_in_force(2000, 1999) and not mod.ban_in_force(2000, 2000)
    mod.check_not_banned(None, 5)
    mod.check_not_banned(4, 5)
    assert refused(mod.check_not_banned, 0, 5).code == "forbidden"
    own = refused(mod.check_not_banned, 9000, 5)  # the banned user asked: their ban's end with it
    assert "banned from this group until 9000" in own.reason and own.extra["banned_until"] == 9000
    managed = refused(mod.check_not_banned, 9000, 5, False)  # a manager acted on them: only that they are
    assert (managed.code, managed.reason) == ("forbidden", "that user is banned from this group")
    assert "banned_until" not in managed.extra
    assert mod.check_ban_seconds(None) == 0 and mod.check_ban_seconds(60) == 60
    assert refused(mod.check_ban_seconds, -1).code == "bad_request"
    assert refused(mod.check_ban_seconds, mod.MAX_BAN_SECONDS + 1).code == "bad_request"


def test_slow_mode_slot():
    assert mod.slow_mode_slot(0, 10, 5000) == 5000  # never sent
    assert mod.slow_mode_slot(1000, 10, 11000) == 11000
    err = refused(mod.slow_mode_slot, 1000, 10, 4000)
    assert err.code == "rate_limited" and err.extra == {"retry_after_ms": 7000}
    # the clock stepped back an hour: the last send, now in the future, held the member for the hour
    assert mod.slow_mode_slot(3_601_000, 10, 1000) == 1000
    assert mod.check_slow_mode_seconds(3600) == 3600
    assert refused(mod.check_slow_mode_seconds, 3601).code == "bad_request"


def test_slowed_follows_the_acting_role():
    from protocol.enums import Role

    assert mod.slowed(Role.MEMBER, 0, 5000)
    assert not mod.slowed(Role.ADMIN, 0, 5000) and not mod.slowed(Role.OWNER, 4000, 5000)
    assert mod.slowed(Role.ADMIN, 6000, 5000) and mod.slowed(Role.OWNER, 6000, 5000)  # powers suspended


def test_links():
    assert mod.link_usable(0, None, None, False, 1)
    assert not mod.link_usable(3, 3, None, False, 1)
    assert not mod.link_usable(0, None, 100, False, 100)
    assert not mod.link_usable(0, None, None, True, 1)
    mod.check_link_limits(None, None)
    assert refused(mod.check_link_limits, 0, None).code == "bad_request"
    assert refused(mod.check_link_limits, None, 0).code == "bad_request"
    mod.check_link_limits(mod.MAX_LINK_USES, mod.MAX_LINK_SECONDS)
    assert refused(mod.check_link_limits, None, mod.MAX_LINK_SECONDS + 1).code == "bad_request"
    assert refused(mod.check_link_limits, mod.MAX_LINK_USES + 1, None).code == "bad_request"
    h = mod.code_hash("abc")
    assert len(h) == 64 and mod.link_id(h) == h[:10]


def test_log_entry_shows_only_what_managers_may_see():
    first17 = "11010519900101123"
    number = first17 + id_check_char(first17)
    entry = mod.log_entry(1, 2, "operator", "alice-the-operator", "warn_group", "123456789",
                          f"owner {number} warned, phone +86 13912345678",
                          json.dumps({"phone": "13912345678", "legal_name": "张三", "seconds": 5,
                                      "note": "ring 13800000000", "nested": {"x": 1},
                                      "role": {"phone": "13912345678"}}))  # (an object, under a key shown)
    assert entry == {"id": "1", "ts": 2, "action": "warn_group", "actor": "platform",
                     "detail": {"seconds": 5, "note": "ring [redacted]", "role": None,
                                "reason": "owner [redacted] warned, phone [redacted]"}}
    by_user = mod.log_entry(3, 4, "user", "u0123456789abcdef", "kick", "ufedcba9876543210", "", "{}")
    assert by_user == {"id": "3", "ts": 4, "action": "kick", "actor": "u0123456789abcdef",
                       "target_user_id": "ufedcba9876543210"}
    assert mod.log_entry(5, 6, "system", None, "x", None, "", None)["actor"] == "platform"


def test_log_entry_ids_in_detail_are_strings_as_every_id_of_the_contract():
    entry = mod.log_entry(7, 8, "operator", "op", "suspend_group", "123456789", "",
                          {"sanction_id": 41, "sanctions_lifted": [39, 40], "item_id": 12, "seconds": 60})
    assert entry["detail"] == {"sanction_id": "41", "sanctions_lifted": ["39", "40"], "item_id": "12",
                               "seconds": 60}


@pytest.mark.parametrize("phone", [
    "13912345678", "+86 13912345678", "8613912345678", "0086 13912345678", "008613912345678",
    "139 1234 5678", "139-1234-5678", "+86 139 1234 5678", "+86-139-1234-5678", "0086 139-1234-5678",
])
def test_redact_masks_a_phone_number_in_every_form_the_server_takes_one(phone):
    from governance.identity import normalize_phone

    assert normalize_phone(phone) == "13912345678"  # a form request_code and register accept
    assert mod.redact(f"call {phone} now") == "call [redacted] now"
    assert mod.redact(f"({phone})") == "([redacted])"


@pytest.mark.parametrize(("text", "shown"), [
    # full-width digits and signs, the ideographic space, other dashes: the same numbers
    ("call １３９１２３４５６７８ now", "call [redacted] now"),
    ("＋８６ １３９ １２３４ ５６７８。", "[redacted]。"),
    ("139\u30001234\u30005678", "[redacted]"),
    ("139–1234—5678", "[redacted]"),
    ("电话１３９-１２３４-５６７８，好", "电话[redacted]，好"),
    ("\u0661\u0663\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", "[redacted]"),  # Arabic-Indic
    # an ID number with spaces or dashes: all of it, region code and check character too
    ("110105 19900307 123X", "[redacted]"),
    ("身份证 110105-1990-0307-123x 号", "身份证 [redacted] 号"),
    ("id 1101 0519 9003 0712 34", "id [redacted]"),
    ("１１０１０５１９９００３０７１２３Ｘ", "[redacted]"),
    # glued to letters (or Chinese) before or after
    ("id110105199003071234", "id[redacted]"),
    ("ID11010519900307123x.", "ID[redacted]."),
    ("11010519900307123Xabc", "[redacted]abc"),
    ("tel13912345678", "tel[redacted]"),
    ("abc13912345678def", "abc[redacted]def"),
    ("phone+8613912345678end", "phone[redacted]end"),
    # both in one text; the text around them stays as written (full-width punctuation too)
    ("骚扰，电话１３９ １２３４ ５６７８，身份证110105 19900307 1234。", "骚扰，电话[redacted]，身份证[redacted]。"),
    # numbered-list marks are not digits: the numbers beside them are masked all the same
    ("①13912345678 ②13812345678", "①[redacted] ②[redacted]"),
    ("①110105199003071234", "①[redacted]"),
    ("13912345678²", "[redacted]²"),
    # groups of numbers that add up to 18 digits but hold no birth date are not an ID number
    ("spam in seqs 101 102 103 104 105 106", "spam in seqs 101 102 103 104 105 106"),
    ("timestamps 1717000000000 17170", "timestamps 1717000000000 17170"),
    ("group 1234567890 20240501", "group 1234567890 20240501"),
    ("orders 2024-05-01 2024-05-31 10", "orders 2024-05-01 2024-05-31 10"),
    ("score 10 20 30 40 50 60 70 80 90", "score 10 20 30 40 50 60 70 80 90"),
    # one character whose NFKC form is several is read as itself: the masks never cut each other
    ("id 11010519900307123X⅞13912345678 end", "id [redacted]⅞[redacted] end"),
])
def test_redact_masks_numbers_however_their_digits_are_written(text, shown):
    assert mod.redact(text) == shown


def test_redact_leaves_other_numbers_alone():
    for text in ("group 4821093312", "at 1796038010909 ms", "seq 12345678901", "1391234567", "139123456789",
                 "2030-01-15", "+86 10 1234 5678"):
        assert mod.redact(text) == text


def test_log_limit():
    assert mod.log_limit(None) == mod.LOG_DEFAULT
    assert mod.log_limit(10_000) == mod.LOG_MAX
    assert mod.log_limit(0) == mod.log_limit(-3) == 1  # clamped, as every paged op's


@pytest.mark.parametrize(("rejected_at", "cooldown", "now", "wait"), [
    (None, 3600, 10_000, 0),  # never rejected
    (10_000, 3600, 10_000, 3_600_000),  # just rejected
    (10_000, 3600, 10_000 + 3_599_999, 1),
    (10_000, 3600, 10_000 + 3_600_000, 0),  # the cooldown is over
    (10_000, 0, 10_000, 0),  # no cooldown
])
def test_request_again_in(rejected_at, cooldown, now, wait):
    assert mod.request_again_in(rejected_at, cooldown, now) == wait


def test_slow_mode_holds_to_the_last_millisecond_of_its_period():
    """One send per ``seconds``: refused until the period is over, to the millisecond, with the wait."""
    assert refused(mod.slow_mode_slot, 10_000, 30, 39_999).extra["retry_after_ms"] == 1
    assert mod.slow_mode_slot(10_000, 30, 40_000) == 40_000
