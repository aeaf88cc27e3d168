"""redact: a phone or ID number is masked whatever separators its digits are written with
(punctuation, spaces, invisible format characters, marks), and in Chinese numerals; a text with
fewer than 11 digits is left exactly as written."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from governance.moderation import REDACTED, redact

# the documented sets (docs/operator.md, "reason"), written out here rather than taken from the module
NUMERALS = {c: str(i) for i, cs in enumerate(
    ("〇零", "一幺壹", "二贰貳", "三叁參", "四肆", "五伍", "六陆陸", "七柒", "八捌", "九玖")) for c in cs}
SEPARATOR_CATEGORIES = ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Zs", "Zl", "Zp", "Cf", "Mn", "Mc", "Me")


@pytest.mark.parametrize(("text", "shown"), [
    # what an exploratory test sent through `admin notice --text` and saw arrive unmasked
    ("139.0000.4094", REDACTED),
    ("139/0000/4094", REDACTED),
    ("(139)00004094", f"({REDACTED}"),
    ("139_0000_4094", REDACTED),
    ("139\u200b0000\u200b4094", REDACTED),  # zero-width space
    ("110105.19900101.3326", REDACTED),
    # the rest of the separator set: other invisible characters, full-width punctuation, brackets
    ("1\u200c3\u200d9\u20600\ufeff0\u00ad0\u200e0\u20664\u200f0\u20699\u202a4", REDACTED),
    ("１３９．００００．４０９４", REDACTED),
    ("１３９／００００／４０９４", REDACTED),
    ("（１３９）００００＿４０９４", f"（{REDACTED}"),
    ("【139】0000·4094", f"【{REDACTED}"),
    ("139・0000・4094", REDACTED),
    ("139,0000,4094", REDACTED),
    ("139、0000、4094。", f"{REDACTED}。"),
    ("139\\0000\\4094", REDACTED),
    ("1 3 9 0 0 0 0 4 0 9 4", REDACTED),
    ("1.3.9.0.0.0.0.4.0.9.4", REDACTED),
    ("139\n0000\n4094", REDACTED),
    ("1\u03323\u03329\u03320\u03320\u03320\u03320\u03324\u03320\u03329\u03324\u0332", REDACTED),  # the last mark too
    ("".join(d + "\ufe0f\u20e3" for d in "13900004094"), REDACTED),  # keycaps
    ("一三九○○○○四○九四", REDACTED),  # ○, the everyday stand-in for 〇
    ("+86 (139) 0000-4094", REDACTED),
    ("+86.139.0000.4094", REDACTED),
    ("电话:(0086)139_0000_4094!", f"电话:({REDACTED}!"),
    ("110105/19900101/3326", REDACTED),
    ("(110105)19900101_332X", f"({REDACTED}"),
    ("110105\u200b19900101\u200b3326", REDACTED),
    # Chinese numerals, alone or mixed with digits, in phone and ID numbers
    ("一三九〇〇〇〇四〇九四", REDACTED),
    ("幺三九 零零零零 四零九四", REDACTED),
    ("壹叁玖零零零零肆零玖肆", REDACTED),
    ("139八八八八四〇九四", REDACTED),
    ("身份证一一〇一〇五一九九〇〇一〇一三三二六号", f"身份证{REDACTED}号"),
    # ID numbers of people born in 2000 and later; a phone number ending in three Chinese numerals
    ("id 110105 20050307 1232 end", f"id {REDACTED} end"),
    ("110105.20050307.1232", REDACTED),
    ("call 13912345〇九四 now", f"call {REDACTED} now"),
    # a numeral right beside a number written in digits does not make it one digit too long
    ("张三13912345678", f"张三{REDACTED}"),
    ("王五139.0000.4094，李四110105199001013326", f"王五{REDACTED}，李四{REDACTED}"),
    # two numbers side by side are both masked, and neither mask swallows the other
    ("13900004094/13800004094", f"{REDACTED}/{REDACTED}"),
    ("110105.19900101.3326.13900004094", f"{REDACTED}.{REDACTED}"),
    # written together with nothing between, or with a digit more: more digits in one piece than
    # one number has are masked whole, and an ID number's X ends it even with a digit right after
    ("11010519900307123413912345678", REDACTED),
    ("id 1101051990030712341 end", f"id {REDACTED} end"),
    ("11010519900307123X13912345678", f"{REDACTED}{REDACTED}"),
    ("身份证11010519900307123x1", f"身份证{REDACTED}1"),
    # 两, the everyday "two", among the numerals of a number written out
    ("电话139两两两两五六七八", f"电话{REDACTED}"),
    ("幺三九两两两两四〇九四", REDACTED),
])
def test_redact_masks_numbers_whatever_separators_join_their_digits(text, shown):
    assert redact(text) == shown


@pytest.mark.parametrize("text", [
    # dates, times, prices, versions: fewer than 11 digits, or not a mobile range
    "2024.05.01", "2024/05/01", "2024_05_01 13:45:12", "¥1,399.00", "价格 13.99 元", "v1.3.9", "(2024)",
    "seq 12,345,678,901", "12.345.678.901", "1391.234.567", "139.1234.56789",
    # 18 digits in groups with no birth date in them are not an ID number, whatever the separator
    "2024.05.01/2024.05.31/10", "orders (101)(102)(103)(104)(105)(106)", "score 10/20/30/40/50/60/70/80/90",
    # list marks and symbols are not separators: 139 and 00004094 stay two numbers
    "139+00004094", "139=0000=4094", "139¥0000¥4094",
    # a text of numerals that is not a number written out: place values are not digits
    "一百三十九万零四千零九十四", "三三两两", "一二三四五六七八九十",
    # ids and amounts beside a word that starts with a numeral, lists and addresses split by punctuation
    "群1523456789一直发广告", "公众号1623456789一再违规", "群号 1523456789。一起加油", "订单12345678901234567一直没到",
    "13,800,000,000 元", "192.168.10.100", "seqs 13,14,15,16,17,8", "第13、14、15、16、17、8条",
    "13.5，14.2，15.8，16.1", "1,3,5,7,9,11,13,15",
])
def test_redact_leaves_ordinary_numbers_as_written(text):
    assert redact(text) == text


SEPARATORS = st.one_of(
    st.sampled_from(" -./_()[]（）【】．／＿，,、·・\\\t\n\u3000\u00a0\u200b\u200c\u200d\u2060\ufeff\u00ad\u0332"),
    st.characters(categories=SEPARATOR_CATEGORIES),
)
DIGIT_FORMS = {d: [str(d), chr(0xFF10 + d), chr(0x0660 + d)] + [c for c, v in NUMERALS.items() if v == str(d)]
               for d in range(10)}


PLAIN = st.sampled_from(" -\u3000")


@st.composite
def written_phone(draw: st.DrawFn) -> str:
    """A mobile number (1, then 3 to 9, then 9 digits), its digits all in one form (digits of any
    script, or Chinese numerals), maybe +86 or 0086 in front, split the way people write one: plain
    spaces and dashes anywhere; any other separators (one to three) after its 3rd and 7th digits, or
    after its 3rd alone, or between every two digits."""
    digits = [1, draw(st.integers(3, 9))] + draw(st.lists(st.integers(0, 9), min_size=9, max_size=9))
    prefix = draw(st.sampled_from(["", "+86", "0086", "86", "+86 ", "(+86)", "+8 6-"]))
    form = draw(st.integers(0, 3))  # 0-2: digits of a script, 3: Chinese numerals
    splits = draw(st.sampled_from(["plain", "3-4-4", "3-8", "every"]))
    parts = [prefix]
    for i, d in enumerate(digits):
        if i:
            if splits == "plain":
                parts.append("".join(draw(st.lists(PLAIN, max_size=2))))
            elif splits == "every" or i == 3 or (i == 7 and splits == "3-4-4"):
                parts.append("".join(draw(st.lists(SEPARATORS, min_size=1, max_size=3))))
        forms = DIGIT_FORMS[d]
        parts.append(forms[form] if form < 3 else draw(st.sampled_from(forms[3:])))
    return "".join(parts)


@given(written_phone(), st.sampled_from(["call ", "电话", "tel", "号码：", "(", ""]),
       st.sampled_from([" now", "，谢谢", "end", ")", ""]))
@example("139.0000.4094", "", "")
@example("(139)00004094", "", "")
def test_any_mobile_number_joined_by_any_separators_is_masked(phone, before, after):
    shown = redact(before + phone + after)
    if phone.startswith("("):  # the bracket before +86 is punctuation of the text, not of the number
        phone, before = phone[1:], before + "("
    assert shown == before + REDACTED + after


def digit_count(text: str) -> int:
    return sum(1 for c in text if unicodedata.decimal(c, None) is not None or c in NUMERALS)


@given(st.text(st.one_of(st.characters(), st.sampled_from("0123456789１３９一三九〇 .-/_()\u200b+xX")),
               max_size=80).filter(lambda t: digit_count(t) < 11))
def test_a_text_without_11_digits_is_left_as_written(text):
    assert redact(text) == text


@given(st.text(st.one_of(st.characters(), st.sampled_from("0123456789一三九〇 .-/_()\u200b+xX")), max_size=120))
def test_redacting_twice_changes_nothing_more(text):
    once = redact(text)
    assert redact(once) == once


@pytest.mark.parametrize(
    "text,name,masked",
    [
        ("fraud by 王五 again", "王五", f"fraud by {REDACTED} again"),
        ("王 五、王·五 and 王-五", "王五", f"{REDACTED}、{REDACTED} and {REDACTED}"),
        ("Wang Wu and WANGWU", "Wang Wu", f"{REDACTED} and {REDACTED}"),
        ("赵六欺诈", "赵六", f"{REDACTED}欺诈"),
        ("王是姓", "王", "王是姓"),  # one character: it would mask words
        ("nothing of the name", "王五", "nothing of the name"),
        ("王六 is not 王五", "王五", f"王六 is not {REDACTED}"),
        # a Han name is looked for only where each of its characters is in the text: in any order there
        ("五王 and 王 ·五", "王五", f"五王 and {REDACTED}"),
        ("欧阳娜娜 and 欧阳", "欧阳娜娜", f"{REDACTED} and 欧阳"),
        ("𠀋一 wrote", "𠀋一", f"{REDACTED} wrote"),  # (beyond the basic plane)
        ("李Na and 李 na", "李NA", f"{REDACTED} and {REDACTED}"),  # (a cased letter in it: the pattern decides)
        # a legal name's middle dot typed as input methods type it (the name itself is stored with "·")
        ("阿依古丽・买买提、阿依古丽．买买提", "阿依古丽·买买提", f"{REDACTED}、{REDACTED}"),
    ],
)
def test_mask_name(text: str, name: str, masked: str) -> None:
    from governance.moderation import mask_name

    assert mask_name(text, name) == masked
