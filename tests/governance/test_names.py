"""One rule for the names people see (governance/names.py), through both of its users: a display
name (governance/identity.py) and a group name (server/handlers/groups.py)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance import names
from governance.identity import validate_display_name
from protocol.errors import ContractError
from server.handlers.groups import validate_group_name

VALIDATORS: list[tuple[Callable[[str], str], str]] = [
    (validate_display_name, "display_name"),
    (validate_group_name, "name"),
]

# Names people use: none may be refused.
NORMAL = [
    "小明", "读书会", "小明 🐱", "Zoë", "José Ñúñez", "Zoe\u0308",  # decomposed ë
    "👩\u200d💻", "🏳\ufe0f\u200d🌈", "🧑🏽\u200d💻", "👨\u200d👩\u200d👧\u200d👦", "❤\ufe0f", "1\ufe0f\u20e3",
    "สมชาย", "ที่นี่", "देवनागरी", "क्षत्रिय", "བསྒྲུབས", "Nguyễn Thị Ánh", "a\u0301\u0302\u0303\u0304",
    "读书\u3000会", "Ａｌｉｃｅ", "김민수", "x",
]

INVISIBLE = "{} must not contain control or invisible formatting characters"
NO_GLYPH = "{} must not contain private-use or unassigned characters"
NOT_VISIBLE = "{} needs at least one visible character"
MARKS = "{} has more than 4 combining marks in a row"

# (name, what the reason says): the same for both kinds of name.
REFUSED = [
    ("\u3164", INVISIBLE), ("\u3164\u3164\u3164", INVISIBLE), ("\uffa0", INVISIBLE), ("\u115f", INVISIBLE),
    ("\u1160", INVISIBLE), ("\u2800", INVISIBLE), ("\u2800\u2800", INVISIBLE), ("\u17b4", INVISIBLE),
    ("\u17b5\u17b4", INVISIBLE), ("\u034f", INVISIBLE), ("\u180e", INVISIBLE), ("\U0001d159", INVISIBLE),
    ("小\u3164明", INVISIBLE),  # a filler inside a name makes a look-alike of 小明
    ("a\u200bb", INVISIBLE), ("a\u202eb", INVISIBLE), ("a\x00b", INVISIBLE), ("a\u2028b", INVISIBLE),
    ("\U000e0041", INVISIBLE),  # a tag character
    ("a\u200db", INVISIBLE), ("\u200d😀", INVISIBLE), ("😀\u200d", INVISIBLE), ("😀\u200d\u200d😀", INVISIBLE),
    ("\ue000", NO_GLYPH), ("小\ue000明", NO_GLYPH), ("\U000f0000", NO_GLYPH), ("x\u0378", NO_GLYPH),
    ("\U0001fffe", NO_GLYPH),
    ("\u0301", NOT_VISIBLE), ("\u0301\u0302\u0303", NOT_VISIBLE), ("\ufe0f", NOT_VISIBLE),
    ("\u20e3", NOT_VISIBLE), ("\u0e34\u0e48", NOT_VISIBLE),
    ("x" + "\u0489" * 5, MARKS), ("Z" + "\u0336\u0337\u0338\u0339\u033a" * 4 + "algo", MARKS),
]


@pytest.mark.parametrize("validate,field", VALIDATORS)
@pytest.mark.parametrize("name", NORMAL)
def test_names_people_use_are_accepted(validate: Callable[[str], str], field: str, name: str) -> None:
    assert validate(f"  {name} ") == (unicodedata.normalize("NFC", name) if field == "display_name" else name)


@pytest.mark.parametrize("validate,field", VALIDATORS)
@pytest.mark.parametrize("name,why", REFUSED)
def test_names_that_show_nothing_or_something_else_are_refused(
    validate: Callable[[str], str], field: str, name: str, why: str
) -> None:
    with pytest.raises(ContractError) as exc:
        validate(name)
    assert exc.value.code == "bad_request"
    assert exc.value.extra == {"field": field}
    assert exc.value.reason == why.format(field)


@pytest.mark.parametrize(
    "name", ["已注销用户", " 已注销用户 ", "已注销 用户", "已\u3000注销用户", "已註銷用戶", "cancelled user",
             "Cancelled User", "CANCELLEDUSER", "ｃａｎｃｅｌｌｅｄ ｕｓｅｒ"],
)
def test_the_cancelled_account_label_is_not_a_display_name(name: str) -> None:
    with pytest.raises(ContractError) as exc:
        validate_display_name(name)
    assert (exc.value.code, exc.value.reason, exc.value.extra) == (
        "bad_request", "display_name is reserved for cancelled accounts", {"field": "display_name"})


# The label with what nobody sees, or reads past, added or swapped in: each is_cancelled_label.
POSING = [
    "已注销用户\ufe0f",  # variation selector 16
    "已注销用户\ufe00",  # variation selector 1
    "已注销用户\U000e0100",  # variation selector 17
    "已注销用户\u0301",  # combining acute accent
    "已\u0308注销用户",  # combining diaeresis inside
    "已\u200b注销用户",  # zero-width space
    "已注\u200c销用户",  # zero-width non-joiner
    "已注销\u200d用户",  # zero-width joiner
    "已注销用户\u2060",  # word joiner
    "\ufeff已注销用户",  # BOM
    "已注\u00ad销用户",  # soft hyphen
    "已注销用户\U000e0041",  # tag character
    "已注销用戶", "已註销用户", "已注銷用户", "已註銷用户", "已註銷用戶",  # traditional forms mixed in
    "已\u8a3b\u92b7用\u6236",
    "cancelled_user", "Cancelled.User", "cancelled-user", "Canceled User", "ca\u0301ncelled user",
    "cancelled\u200buser", "ＣＡＮＣＥＬＬＥＤ＿ＵＳＥＲ",
    # a reviewer's: a look-alike of 已, and punctuation that reads past
    "己注销用户", "巳注销用户", "已注销用户。", "cancelled·user", "「已注销用户」", "已注销！用户",
    "已注销用户~", "已注销用户★", "+已注销用户+", "已注销|用户", "已注销用户\U0001f642", "已注消用户",
]


@pytest.mark.parametrize("name", POSING)
def test_the_label_with_invisible_or_mixed_characters_is_still_the_label(name: str) -> None:
    assert names.is_cancelled_label(name), ascii(name)


@pytest.mark.parametrize("name", [
    "已注销用户\ufe0f", "已注销用户\u0301", "已注销用戶", "已註销用户", "已注銷用户", "已\u0308注销用户",
    "cancelled_user", "ca\u0301ncelled user"])
def test_such_a_label_is_not_a_display_name(name: str) -> None:
    """Those the visible-character rules let through are refused as the label."""
    with pytest.raises(ContractError) as exc:
        validate_display_name(name)
    assert (exc.value.reason, exc.value.extra) == (
        "display_name is reserved for cancelled accounts", {"field": "display_name"}), ascii(name)


@pytest.mark.parametrize("name", ["已注销用户的朋友", "注销用户", "cancelled", "user", "自己", "己注销用户们"])
def test_names_that_only_contain_part_of_the_label_are_fine(name: str) -> None:
    assert validate_display_name(name) == name


def test_the_label_is_the_one_cancellation_writes() -> None:
    from server.handlers import accounts

    assert accounts.CANCELLED_NAME == names.CANCELLED_NAME == "已注销用户"


# Characters that show nothing by themselves: any name made only of them is refused, by both.
_BLANK = st.sampled_from(
    sorted(names.BLANK_CHARS) + ["\u0301", "\u0e48", "\ufe0f", "\u20e3", "\u200b", "\u3000", " ", "\u00a0"]
)


@given(st.text(_BLANK, min_size=1, max_size=30))
def test_no_name_of_blank_characters_is_accepted(name: str) -> None:
    for validate, field in VALIDATORS:
        with pytest.raises(ContractError) as exc:
            validate(name)
        assert exc.value.extra == {"field": field}


_LETTER = st.characters(categories=["Lu", "Ll", "Lo", "Nd", "So"]).filter(
    lambda c: c not in names.BLANK_CHARS and unicodedata.normalize("NFC", c) == c
)
_MARK = st.characters(categories=["Mn"]).filter(
    lambda c: c not in names.BLANK_CHARS and unicodedata.normalize("NFC", c) == c  # not one that NFC splits in two
)


@given(st.lists(st.tuples(_LETTER, st.lists(_MARK, max_size=names.MAX_MARKS_IN_A_ROW)), min_size=1, max_size=6))
def test_letters_with_a_few_marks_each_are_accepted(parts: list[tuple[str, list[str]]]) -> None:
    name = "".join(base + "".join(marks) for base, marks in parts)
    assert validate_group_name(name) == name
    assert validate_display_name(name) == unicodedata.normalize("NFC", name)


@given(_LETTER, st.lists(_MARK, min_size=names.MAX_MARKS_IN_A_ROW + 1, max_size=40))
def test_a_stack_of_marks_is_refused(base: str, marks: list[str]) -> None:
    with pytest.raises(ContractError) as exc:
        validate_group_name(base + "".join(marks))
    assert exc.value.extra == {"field": "name"}


@pytest.mark.parametrize("name,kind,stand_in", [
    ("用户 u0123456789abcdef", "display_name", True),   # what a held display name of a listed username shows
    ("用戶 U0123456789ABCDEF", "display_name", True),   # traditional, upper case, full width aside
    ("用户u0123456789abcdef", "display_name", True),
    ("用户小王", "display_name", False),
    ("用户 u0123", "display_name", False),              # (no user id)
    ("群聊 123456789", "group_name", True),             # what a group shows while its name is held
    ("群聊１２３４５６７８９", "group_name", True),
    ("群聊 12", "group_name", False),
    ("群聊 读书会", "group_name", False),
])
def test_the_platforms_stand_in_names_are_no_names_to_choose(name: str, kind: str, stand_in: bool) -> None:
    """A red-team reviewer took another user's and another group's stand-in (the form the platform
    shows while their own name is held back) as a display name and a group name, as public accounts
    may not take 公众号 <id>."""
    assert names.is_stand_in(name, kind) is stand_in
    check = names.check_display_name_label if kind == "display_name" else names.check_group_name_stand_in
    if stand_in:
        with pytest.raises(ContractError) as err:
            check(name)
        assert err.value.code == "bad_request"
    else:
        assert check(name) == name
