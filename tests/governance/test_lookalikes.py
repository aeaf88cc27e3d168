"""Letters of other scripts that pass for Latin letters or digits (Cyrillic а с е о р х, Greek ο ν,
Armenian ս, ...): a name written with them reads as the reserved name or the platform's stand-in it
imitates, so the checks that keep those from users compare names with such letters read as the ones
they pass for (governance/names.py: ``lookalike_keys``, in the spirit of Unicode's UTS #39
confusables). Names that only use such letters as their own script (a Russian or Greek name) are
still names like any other, and names in Chinese compare as before."""

from __future__ import annotations

import pytest

from governance import names
from governance.identity import validate_display_name, validate_username
from governance.public_accounts import is_stand_in_name, name_readings, normalize_name, reserved_hit
from protocol.errors import ContractError
from server.handlers.groups import validate_group_name

RESERVED = ["Apple", "CCTV", "Nike", "IBM", "人民日报", "Сбербанк"]


@pytest.mark.parametrize("name,hit", [
    ("\u0410pple", "Apple"),                      # Cyrillic А
    ("App\u04cfe", "Apple"),                      # Cyrillic palochka for the l
    ("\u0410\u0420\u0420LE Store", "Apple"),      # Cyrillic А Р Р
    ("\u0391\u03a1\u03a1LE", "Apple"),            # Greek Α Ρ Ρ
    ("\u0430\u0440\u0440l\u0435 官方", "Apple"),  # Cyrillic а р р е, lower case
    ("AppIe", "Apple"),                           # a Latin capital I for the l
    ("\u0421\u0421\u0422V新闻", "CCTV"),           # Cyrillic С С Т
    ("cc\u0442\u03bd", None),                     # (lower-case т passes for no t)
    ("\u0441\u0441t\u03bd", "CCTV"),              # Cyrillic с с, Greek ν
    ("\u039d\u0399\u039a\u0395", "Nike"),         # Greek Ν Ι Κ Ε
    ("\u04c0BM", "IBM"),                          # Cyrillic palochka for the I
    ("Ａ\u0440ple", "Apple"),                     # full width and Cyrillic mixed
    ("СБЕРБАНК", "Сбербанк"),                     # a Cyrillic entry, in either case
    ("сбербанк онлайн", "Сбербанк"),
    ("Cбepбahk", None),                           # (Latin letters do not become Cyrillic ones)
])
def test_a_reserved_name_written_with_lookalike_letters_is_reserved(name: str, hit: str | None) -> None:
    assert reserved_hit(name, RESERVED) == hit


@pytest.mark.parametrize("name", [
    "Алексей", "Наталья Петрова", "Новости Москвы", "Ελένη", "Αθήνα", "Երևան", "Сбер", "新华书店", "人民 日子",
    "Applied", "ccty", "Ibis", "lbis",
])
def test_names_in_their_own_script_are_not_reserved(name: str) -> None:
    assert reserved_hit(name, RESERVED) is None


@pytest.mark.parametrize("text,readings", [
    ("\u041d\u0422\u0422\u0420", ("HTTP",)),           # Cyrillic capitals Н Т Т Р
    ("\u0397\u03a4\u03a4\u03a1", ("HTTP",)),           # Greek capitals Η Τ Τ Ρ
    ("\u0412\u041c\u041a", ("BMK",)),                  # Cyrillic В М К
    ("\u039d\u0392\u0391", ("NBA",)),                  # Greek Ν Β Α: Ν is N, not the v its ν is
    ("\u043d\u0442\u0442\u0440", ("\u043d\u0442\u0442p",)),  # small н т pass for nothing, р for p
])
def test_capitals_read_as_the_capitals_they_pass_for(text: str, readings: tuple[str, ...]) -> None:
    """The names' fold reads a letter before case folding, so an all-capital spelling (``НТТР``) reads as
    the Latin capitals it imitates while the small letters keep their own reading (what the word lists
    needed a second reading for: governance/content.py ``_CAPITAL_LOOKALIKES``)."""
    assert names.fold_lookalikes(text) == readings


RN_RESERVED = ["Microsoft", "Tmall", "Corning", "Apple"]


@pytest.mark.parametrize("name,hit", [
    ("Rnicrosoft", "Microsoft"),                   # rn for the m
    ("rnicro soft 官方", "Microsoft"),
    ("\u0433nicrosoft", "Microsoft"),              # Cyrillic г for the r of the rn
    ("\u041c\u0406\u0421R\u041e\u0405\u041eF\u0422", "Microsoft"),  # all capitals: Cyrillic М І С О Ѕ О Т
    ("Trnall", "Tmall"),
    ("Corning Glass", "Corning"),                  # an entry's own rn is as it is
    ("Coming soon", None),                         # ... and not read as an m: Corning reserves no coming
    ("Modern Apparel", None),                      # an rn that spells no entry
    ("Mirror", None),
])
def test_rn_written_for_m_reads_as_m_in_a_reserved_name(name: str, hit: str | None) -> None:
    """``rn`` passes for ``m`` (``rnicrosoft``): a name's ``rn`` is read as ``m`` against the reserved
    names, as the word lists read it (``governance.content.rn_spellings``)."""
    assert reserved_hit(name, RN_RESERVED) == hit


@pytest.mark.parametrize("name", [
    "公众号 1234\u041e",      # Cyrillic О for the 0
    "公众号 12\u03bf4",       # Greek ο
    "公众号 l234",            # Latin l for the 1
    "公众号 O123",            # Latin O for the 0
    "公众号 \u04c0\u0417",    # Cyrillic palochka and Ze: 13
])
def test_the_stand_in_of_an_account_written_with_lookalikes_is_a_stand_in(name: str) -> None:
    assert is_stand_in_name(name)


@pytest.mark.parametrize("name", ["公众号 小王", "公众号 Ivan", "公众号 Олег", "我的公众号 О123", "公众号 lol"])
def test_names_that_only_start_like_the_stand_in_are_fine(name: str) -> None:
    assert not is_stand_in_name(name)


def test_the_unique_key_of_an_account_name_is_unchanged() -> None:
    """The plain comparison key stored for every account (``accounts.name_key``, unique) is not folded:
    no stored key changes meaning. The lookalike readings are kept beside it (``name_readings``)."""
    assert normalize_name("Сбербанк") == "сбербанк"
    assert normalize_name("\u0410pple") != normalize_name("Apple")


def _alike(a: str, b: str) -> bool:
    """Whether two account names are one name under the readings (they share one)."""
    return bool(name_readings(a) & name_readings(b))


@pytest.mark.parametrize("name", [
    "\u0410pple",                    # Cyrillic А
    "\u0430pple",                    # Cyrillic а
    "\u0391\u03a1\u03a1LE",          # Greek Α Ρ Ρ
    "App\u04cfe",                    # Cyrillic palochka for the l
    "AppIe",                         # a Latin capital I for the l
    "Ａ\u0440ple",                   # full width and Cyrillic mixed
    " a p p l e ",                   # case, spaces (the plain key already)
])
def test_a_name_in_lookalike_letters_reads_as_the_latin_name(name: str) -> None:
    """An account named ``Apple`` keeps every other account from a name that reads as it: the readings
    of both share ``apple``."""
    assert "apple" in name_readings(name)
    assert _alike(name, "Apple") and _alike("Apple", name)


def test_a_capital_i_reads_as_i_and_as_l_so_it_is_taken_by_either() -> None:
    """``AppIe`` (a Latin capital I) reads as ``appie`` and as ``apple``: taken when either exists, while
    ``Apple`` and ``Appie`` stay two names (sharing a reading is no equivalence: the store keeps a
    row per reading, not one folded key per name)."""
    assert name_readings("AppIe") == {"appie", "apple"}
    assert name_readings("\u0399BM") == {"ibm", "lbm"}  # Greek Iota
    assert _alike("AppIe", "Apple") and _alike("AppIe", "Appie")
    assert not _alike("Apple", "Appie")
    assert _alike("lntel", "Intel") and not _alike("lntel", "intel")


@pytest.mark.parametrize("a,b", [
    ("Сбербанк", "Сбер"), ("Новости Москвы", "Новости Питера"), ("Ελένη", "Αθήνα"), ("Алексей", "Alex"),
    ("新华书店", "新华日报"), ("Applied", "Apple"), ("Сбербанк", "Cбepбahk"), ("Tea House", "Tea Horse"),
])
def test_different_names_stay_apart_under_the_readings(a: str, b: str) -> None:
    """Two different names stay two names under the readings, in any script (``Cбepбahk``, Latin letters
    with Cyrillic б, is no ``Сбербанк``: Cyrillic н and к pass for no Latin letter)."""
    assert not _alike(a, b)


def test_a_name_without_lookalike_letters_reads_as_its_plain_key() -> None:
    for name in ("新华书店", "Tea House", "ＴＥＡ ＨＯＵＳＥ", "人民 日子 2024"):
        assert name_readings(name) == {normalize_name(name)}


CANCELLED = [
    "\u0441\u0430n\u0441\u0435ll\u0435d us\u0435r",  # Cyrillic с а с е е
    "C\u0391NCELLED USER",                            # Greek Α
    "canc\u0435\u04cf\u04cfed_user",                  # Cyrillic е and palochkas
    "CancelIedUser",                                  # Latin capital I for an l
]


@pytest.mark.parametrize("name", CANCELLED)
def test_the_cancelled_label_written_with_lookalikes_is_the_label(name: str) -> None:
    assert names.is_cancelled_label(name)
    with pytest.raises(ContractError) as err:
        validate_display_name(name)
    assert (err.value.code, err.value.extra) == ("bad_request", {"field": "display_name"})


def test_a_username_imitating_the_label_with_a_capital_i_is_refused() -> None:
    with pytest.raises(ContractError) as err:
        validate_username("CancelIedUser")
    assert err.value.extra == {"field": "username"}


@pytest.mark.parametrize("name,kind", [
    ("用户 u0123456789\u0430b\u0441d\u0435f", "display_name"),   # Cyrillic а с е
    ("用户 \u03c5\u041e123456789abcdef", "display_name"),        # Greek υ for the u, Cyrillic О for a 0
    ("用户 u\u04c0\u0417456789abcdef00", "display_name"),        # palochka for 1, Ze for 3
    ("用户 uO123456789abcdef", "display_name"),                  # Latin O for the 0
    ("群聊 12345678\u041e", "group_name"),                       # Cyrillic О
    ("群聊 1234\u03bf6789", "group_name"),                       # Greek ο
    ("群聊 l23456789", "group_name"),                            # Latin l
    ("群聊 \u0417\u0431\u0417\u0431\u0417\u0431\u0417\u0431\u0417", "group_name"),  # З б: 3 6
])
def test_a_stand_in_written_with_lookalikes_is_a_stand_in(name: str, kind: str) -> None:
    assert names.is_stand_in(name, kind)
    with pytest.raises(ContractError) as err:
        if kind == "display_name":
            validate_display_name(name)
        else:
            validate_group_name(name)
    assert err.value.code == "bad_request"


@pytest.mark.parametrize("name", [
    "Алексей", "Наталья Петрова", "Ελένη Παπαδοπούλου", "Олег Иванов", "Երևան", "用户小王", "群聊 读书会",
    "用户 Олег", "群聊 Олег", "Сергей 123456789", "小明", "读书会",
])
def test_names_in_their_own_script_are_names_like_any_other(name: str) -> None:
    assert not names.is_cancelled_label(name)
    assert validate_display_name(name) == name
    assert validate_group_name(name) == name


def test_chinese_japanese_and_korean_characters_are_never_folded() -> None:
    """The fold only touches letters of other scripts that pass for Latin ones (and digits): no CJK
    ideograph, kana or Hangul syllable changes, so names in Chinese compare as they did."""
    for lo, hi in ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x20000, 0x2A6DF)):
        text = "".join(map(chr, range(lo, hi + 1)))
        assert names.fold_lookalikes(text) == (text,)
    assert names.fold_lookalikes("Apple 1230") == ("Apple 1230",)  # ASCII is left as it is
