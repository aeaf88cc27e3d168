"""The public-account policy (P4-P13): org codes, names, credit levels, publishing, classes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.public_accounts import (
    DEFAULT_ACCOUNT_LEVELS,
    ORG_CODE_CHARSET,
    AccountLevel,
    ReadClass,
    SubscriberClass,
    account_classes,
    account_level,
    check_editor,
    check_org_code,
    check_publish,
    is_stand_in_name,
    may_open_comments,
    normalize_name,
    org_check_char,
    publish_interval_seconds,
    reserved_hit,
    shown_labels,
    starting_standing,
)
from protocol.errors import ContractError

# Codes published by real organisations (their registration certificates).
REAL_CODES = ["91350100M000100Y43", "91110000100015058K", "12100000400000624D", "11100000000013127D"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_pass(code):
    check_org_code(code)


@pytest.mark.parametrize(
    "code,why",
    [
        ("", "18 characters"),
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y433", "18 characters"),
        ("91350100M000100Y44", "check character"),  # last character changed
        ("91350100M000100Y34", "check character"),  # two characters swapped
        ("91350100m000100y43", "upper-case"),  # only the canonical form passes
        ("91350100M000I00Y43", "upper-case"),  # I is not in the charset
        ("91350100M000100O43", "upper-case"),  # neither is O
        ("913501 0M000100Y43", "upper-case"),
        ("B1350100M000100Y43", "registration authority"),
        ("94350100M000100Y43", "category"),  # market regulation issues 1, 2, 3 only
        ("Y2350100M000100Y43", "category"),
        ("91A50100M000100Y43", "region"),
        ("91050100M000100Y43", "region"),
        ("91950100M000100Y43", "region"),
    ],
)
def test_bad_codes_are_refused(code, why):
    with pytest.raises(ContractError) as e:
        check_org_code(code)
    assert e.value.code == "bad_request"
    assert why in e.value.reason


def test_check_character_31_maps_to_zero():
    # a body whose weighted sum is a multiple of 31 has check character '0', never a 32nd symbol
    for c in ORG_CODE_CHARSET:
        first17 = "91110000" + "00000000" + c
        if org_check_char(first17) == "0":
            check_org_code(first17 + "0")
            return
    pytest.fail("no 17th character gives a multiple of 31")


_AUTH_CAT = [
    ("1", "1239"), ("2", "19"), ("3", "1234569"), ("4", "19"), ("5", "1239"), ("6", "129"),
    ("7", "129"), ("8", "19"), ("9", "123"), ("A", "19"), ("N", "1239"), ("Y", "1"),
]  # fmt: skip


@st.composite
def valid_codes(draw: st.DrawFn) -> str:
    auth, cats = draw(st.sampled_from(_AUTH_CAT))
    cat = draw(st.sampled_from(cats))
    region = draw(st.sampled_from("12345678")) + draw(st.text("0123456789", min_size=5, max_size=5))
    org = draw(st.text(ORG_CODE_CHARSET, min_size=9, max_size=9))
    first17 = auth + cat + region + org
    return first17 + org_check_char(first17)


@given(valid_codes())
def test_generated_valid_codes_pass(code):
    check_org_code(code)


@given(valid_codes(), st.integers(0, 17), st.sampled_from(ORG_CODE_CHARSET))
def test_any_single_substitution_is_caught(code, pos, c):
    # a weighted mod-31 check with weights coprime to 31 detects every single-character error
    changed = code[:pos] + c + code[pos + 1 :]
    if changed == code:
        return
    with pytest.raises(ContractError):
        check_org_code(changed)


@pytest.mark.parametrize(
    "a,b",
    [
        ("Tech News", "technews"),
        ("ＴＥＣＨ　ＮＥＷＳ", "tech news"),  # full width letters and ideographic space
        ("Tech\u200bNews", "TechNews"),  # zero-width space
        ("Straße", "STRASSE"),
        ("科技 日报", "科技日报"),
        ("Café", "Cafe\u0301"),  # composed and decomposed
        ("Tea\ufe00 House", "Tea House"),  # a variation selector: shows as nothing
        ("新\U000e0100华", "新华"), ("新\u180b华", "新华"), ("新\u034f华", "新华"),  # so do these
    ],
)
def test_normalize_name_ignores_case_width_and_spaces(a, b):
    assert normalize_name(a) == normalize_name(b)


@pytest.mark.parametrize(("name", "stand_in"), [
    ("公众号 123456789", True), ("公众号123456789", True), ("公众号　１２３", True), (" 公众号 7 ", True),
    ("公众号", False), ("公众号 12a", False), ("我的公众号 123", False), ("公众号 ١٢٣", False), ("Tea", False),
])
def test_the_stand_in_of_a_held_name_is_not_available(name, stand_in):
    """``公众号 <id>`` is what an account shows while its name is held: however it is spaced or
    written (full width), nobody may choose it, or two accounts would show one name."""
    assert is_stand_in_name(name) is stand_in


def test_a_name_with_something_visible_has_a_key():
    """Every character :func:`names.is_visible` counts keeps something in :func:`normalize_name`
    (NFKC and casefold never turn it into spaces or format characters alone), so a name that
    passed :func:`names.check_name` always has a non-empty key: ``grant-name`` needs no check of its own."""
    import sys

    from governance.names import is_visible

    empty = [hex(cp) for cp in range(sys.maxunicode + 1) if is_visible(chr(cp)) and not normalize_name(chr(cp))]
    assert empty == []


def test_normalize_name_keeps_different_names_apart():
    assert normalize_name("科技日报") != normalize_name("科技月报")
    assert normalize_name("abc") != normalize_name("abd")


@pytest.mark.parametrize(
    "name,hit",
    [
        ("人民日报", "人民日报"),
        ("人民 日报 官方", "人民日报"),  # contained, across a space
        ("Ｐｏｌｉｃｅ Station", "police"),
        ("Daily Planet", None),
        ("", None),
        ("人民日報", "人民日报"),  # traditional characters, as the word lists read them
        ("人民-日报·官方", "人民日报"),  # punctuation between its characters
        ("人民\ufe00日报", "人民日报"),
        ("Роlісе Station", "police"),  # Cyrillic Р, о, і, с, е: look-alikes, as the word lists read them
    ],
)
def test_reserved_hit(name, hit):
    assert reserved_hit(name, ["人民日报", "police", "", "   "]) == hit


@pytest.mark.parametrize("score,level", [(-10, 1), (0, 1), (39, 1), (40, 2), (79, 2), (80, 3), (100, 3), (10_000, 3)])
def test_account_level(score, level):
    assert account_level(score) == level


@pytest.mark.parametrize("level,interval,comments", [(1, 86400, False), (2, 3600, True), (3, 0, True), (9, 0, True)])
def test_default_levels_allow(level, interval, comments):
    assert publish_interval_seconds(level) == interval
    assert may_open_comments(level) is comments


def test_custom_levels_and_empty_table():
    levels = (AccountLevel(min_score=0, publish_interval_seconds=5, comments=False), AccountLevel(min_score=10))
    assert account_level(9, levels) == 1 and account_level(10, levels) == 2
    assert publish_interval_seconds(1, levels) == 5 and not may_open_comments(1, levels)
    assert publish_interval_seconds(2, levels) == 0 and may_open_comments(2, levels)
    assert account_level(50, ()) == 1
    assert publish_interval_seconds(1, ()) == 0 and may_open_comments(1, ())


def _publish(**kw):
    args = {"status": "active", "category": "culture", "labels": (), "level": 3, "last_post_at": 0, "now": 10_000_000,
            "publisher_verified": True}
    args.update(kw)
    check_publish(**args, levels=DEFAULT_ACCOUNT_LEVELS)


@pytest.mark.parametrize(
    "kw,code",
    [
        ({}, None),
        ({"status": "restricted"}, None),  # restricted comments still publish
        ({"status": "suspended"}, "forbidden"),
        ({"status": "closed"}, "forbidden"),
        ({"category": "news"}, "forbidden"),
        ({"category": "news", "labels": ("news",)}, None),
        ({"category": "government"}, "forbidden"),
        ({"category": "government", "labels": ("government",)}, None),
        ({"category": "news", "labels": ("government",)}, "forbidden"),
        ({"level": 2, "last_post_at": 10_000_000 - 3_599_000}, "rate_limited"),
        ({"level": 2, "last_post_at": 10_000_000 - 3_600_000}, None),
        ({"level": 3, "last_post_at": 9_999_999}, None),
        ({"level": 1, "last_post_at": 0}, None),  # first post
        ({"level": 2, "last_post_at": 10_000_000 + 3_600_000}, None),  # the clock stepped back: not an hour's wait
        ({"publisher_verified": False}, "verification_required"),  # an editor without a verified identity
        ({"status": "suspended", "publisher_verified": False}, "forbidden"),  # the account's state first
    ],
)
def test_check_publish(kw, code):
    if code is None:
        _publish(**kw)
        return
    with pytest.raises(ContractError) as e:
        _publish(**kw)
    assert e.value.code == code


def test_rate_limited_says_when():
    with pytest.raises(ContractError) as e:
        _publish(level=2, last_post_at=10_000_000 - 600_000)
    assert e.value.extra["retry_after_ms"] == 3_000_000


@pytest.mark.parametrize(
    "subs,reads,sub_cls,read_cls",
    [
        (0, 0, "small", "dormant"),
        (999, 99, "small", "dormant"),
        (1000, 100, "medium", "read"),
        (100_000, 10_000, "large", "popular"),
        (5_000_000, 2_000_000, "major", "influential"),
    ],
)
def test_account_classes(subs, reads, sub_cls, read_cls):
    assert account_classes(subs, reads) == {"subscriber_class": sub_cls, "read_class": read_cls}


def test_account_classes_custom_tables():
    got = account_classes(
        5, 5, subscriber_classes=(SubscriberClass("a", 0), SubscriberClass("b", 5)), read_classes=(ReadClass("x", 10),)
    )
    assert got == {"subscriber_class": "b", "read_class": ""}


def test_shown_labels():
    """A person's account is verified (its subject is the ID-verified opener); an organisation's is
    labelled ``organization`` and verified only once the platform confirmed it; licences follow."""
    assert shown_labels("individual", ()) == ["verified"]
    assert shown_labels("individual", ("news",)) == ["verified", "news"]
    assert shown_labels("organization", ()) == ["organization"]
    assert shown_labels("organization", ("government", "verified")) == ["organization", "verified", "government"]


@pytest.mark.parametrize(("initial", "lowest", "restricted", "expected"), [
    (100, None, False, (100, False)),  # the subject's first account
    (100, 100, False, (100, False)),
    (100, 35, False, (35, False)),     # a lowered score is carried
    (100, 140, False, (100, False)),   # a higher one is not: a new account earns its own
    (100, 35, True, (35, True)),       # and a restriction of theirs
    (60, -20, True, (-20, True)),
])
def test_a_new_account_starts_no_better_than_its_subjects_worst(initial, lowest, restricted, expected) -> None:
    assert starting_standing(initial, lowest, restricted) == expected


def test_an_editor_needs_a_verified_identity():
    check_editor(id_verified=True)
    with pytest.raises(ContractError) as err:
        check_editor(id_verified=False)
    assert err.value.code == "verification_required"
