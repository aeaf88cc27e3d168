"""Names people see: what a display name and a group name may be made of (one rule for both).

A name must show something, and only what it shows: every other member reads it in lists, in
mentions and above messages, so one that looks blank, or like the server's own marker for a
cancelled account, misleads them. :func:`check_name` refuses, as ``bad_request`` with **[ext]**
``field`` (the argument's name):

- control, format and separator characters (Cc, Cf, Cs, Zl, Zp), and the letters and symbols
  Unicode counts as visible that render as nothing (:data:`BLANK_CHARS`: the Hangul fillers, the
  braille blank, ...); the one exception is the zero-width joiner inside an emoji sequence (👩‍💻,
  🏳️‍🌈), where it joins two emoji into one picture;
- private-use and unassigned code points (Co, Cn): they show as nothing, or as whatever a font
  puts there;
- a name with no visible character (only marks, such as a lone variation selector);
- more than :data:`MAX_MARKS_IN_A_ROW` combining marks in a row: a stack that overflows the line
  (no script writes that many on one letter; Thai, Devanagari and Tibetan need at most 3 or 4).

:func:`check_display_name_label` also keeps the label a cancelled account's name becomes
(:data:`CANCELLED_NAME`) for cancelled accounts, and :func:`is_stand_in` the platform's stand-ins
for names it holds back. Both read a name past what would let a copy look new (case, width, spaces,
punctuation, invisible characters, marks, traditional forms), letters of other scripts that pass for
Latin letters or digits included (Cyrillic ``а с е о р х``, Greek ``ο ν``: :func:`fold_lookalikes`).
Reasons never repeat the name.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from protocol.errors import BLANK_CHARS as BLANK_CHARS
from protocol.errors import ContractError
from protocol.errors import is_visible as is_visible

CANCELLED_NAME: Final = "已注销用户"
"""The display name of a cancelled account, everywhere it still appears (docs/protocol.md)."""

# The label in the forms a person might type to pose as it: the English words the contract gives
# it (and the US spelling), compared as :func:`_label_key` leaves a name.
_CANCELLED_LABELS: Final = frozenset({CANCELLED_NAME, "cancelleduser", "canceleduser"})

# Traditional forms of the label's characters, to the simplified ones it is written in (已 and 用
# are the same in both): a name mixing the two scripts reads as the label all the same.
# So are the characters that pass for the label's at a glance (己, 巳 for 已; 消 for 销).
_TO_SIMPLIFIED: Final = str.maketrans({"註": "注", "銷": "销", "戶": "户", "戸": "户", "己": "已", "巳": "已",
                                       "消": "销"})

# What a name may carry between or after the label's letters that nobody sees, or that reads past:
# spaces, punctuation (the separators a username allows, ``_ . -``, among them; ``·``, ``。``,
# ``！``...), symbols (``~``, ``★``, ``+``, emoji...), and the default-ignorable code points (ZW
# space / joiners, word joiner, BOM, soft hyphen, variation selectors, tag characters...).
def _reads_past(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def _is_ignorable(ch: str) -> bool:
    """Unicode's Default_Ignorable_Code_Point (the ranges a name can hold), or a combining mark."""
    return unicodedata.category(ch)[0] == "M" or is_default_ignorable(ch)


def is_default_ignorable(ch: str) -> bool:
    """Unicode's Default_Ignorable_Code_Point, the ranges a name can hold: what shows as nothing
    (variation selectors, fillers, joiners, tags), never a visible accent."""
    o = ord(ch)
    return (
        o in (0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFEFF, 0xFFA0)
        or 0x180B <= o <= 0x180F
        or 0x200B <= o <= 0x200F
        or 0x202A <= o <= 0x202E
        or 0x2060 <= o <= 0x206F
        or 0xFE00 <= o <= 0xFE0F
        or 0xFFF0 <= o <= 0xFFF8
        or 0x1BCA0 <= o <= 0x1BCA3
        or 0x1D173 <= o <= 0x1D17A
        or 0xE0000 <= o <= 0xE0FFF
    )


# Letters of other scripts that pass for a Latin letter or a digit, each as the one it passes for, in
# its case: the entries of Unicode's confusables data (UTS #39, confusables.txt) whose source is one
# Latin (beyond ASCII), Greek, Cyrillic, Armenian, Cherokee or Coptic letter that NFKC leaves as it is
# and whose target is one ASCII letter or digit. Full-width and mathematical letters need no entry
# (NFKC makes them ASCII), nor letters with accents (the comparisons drop marks or read them past).
# The case matters: Cyrillic Н passes for H, not н for h, so a name is folded before it is
# case-folded. Kept to what imitates Latin letters and digits: no CJK character, kana or Hangul is in
# it, and an ASCII letter never becomes another one (but see _I_LIKE).
_PASSES_FOR: Final = {
    "2": "ꝚƧϨꙄ", "3": "ꞫȜƷꝪⳌЗӠ", "4": "Ꮞ", "5": "Ƽ", "6": "ⳒбᏮ", "8": "ȣȢ", "9": "ꝮⳊ",
    "A": "ΑАᎪ", "a": "ɑαа", "B": "ꞴΒВᏴ", "b": "ƄЬᏏ", "C": "ⲤСᏟ", "c": "ᴄⲥсꮯ", "D": "Ꭰ", "d": "ԁᏧ",
    "E": "ΕЕᎬ", "e": "ꬲеҽ", "F": "ꞘϜ", "f": "ꬵꞙẝք", "G": "ԌᏀᏳ", "g": "ɡᶃƍց", "H": "ΗⲎНᎻ", "h": "һհᏂ",
    "i": "ıɪɩιіꙇꭵᎥ", "J": "ꞲͿЈᎫ", "j": "ϳј", "K": "ΚⲔКᏦ", "L": "ⳐᏞ", "M": "ΜϺⲘМᎷ", "N": "ΝⲚ", "n": "ոռ",
    "O": "ΟⲞОՕ", "o": "ᴏᴑꬽοσⲟоօ", "P": "ΡⲢРᏢ", "p": "ρⲣр", "q": "ԛգզ", "R": "ƦᎡᏒ", "r": "ꭇꭈᴦⲅгꮁ",
    "S": "ЅՏᏕᏚ", "s": "ꜱƽѕꮪ", "T": "ΤⲦТᎢ", "U": "Ս", "u": "ꞟᴜꭎꭒʋυս", "V": "ѴᏙ", "v": "ᴠνѵꮩ",
    "W": "ԜᎳᏔ", "w": "ɯᴡѡԝաꮃ", "X": "ꞳΧⲬХ", "x": "х", "Y": "ΥⲨУҮᎩᎽ", "y": "ɣᶌʏỿꭚγуү", "Z": "ΖᏃ", "z": "ᴢꮓ",
}

# What passes for a capital I and a small l alike (Greek Ι, Cyrillic І and the palochka Ӏ ӏ, ...),
# the Latin I among them: read once as I (as a Latin I compares: case-folded, i) and once as l, so
# ``ΑppӀe`` and ``AppIe`` read as Apple and ``ӀBM`` as IBM.
_I_LIKE: Final = "IƖǀΙⲒІӀӏ"

_AS_I: Final = str.maketrans({**{ch: latin for latin, chars in _PASSES_FOR.items() for ch in chars},
                              **dict.fromkeys(_I_LIKE, "I")})
_AS_L: Final = str.maketrans(dict.fromkeys(_I_LIKE, "l"))


def fold_lookalikes(text: str) -> tuple[str, ...]:
    """``text`` (NFKC, not case-folded) with every letter of another script that passes for a Latin
    letter or digit written as that one (``Аpple``, Cyrillic А, as ``Apple``; ``ССТV`` as ``CCTV``), in
    the spirit of UTS #39's skeletons, and nothing else changed: one reading, or two when it holds
    something that passes for I and l alike (the I reading first). The checks that keep a reserved
    name or the platform's own names from users compare these readings, and so do the public accounts'
    names (``governance.public_accounts.name_readings``, stored one account a reading). Folded
    before case folding, so a capital reads as the capital it passes for (Cyrillic ``НТТР`` as
    ``HTTP``), its small letter as its own. Latin ``rn`` for ``m`` is no reading here (an ASCII letter
    never becomes another): neither the label nor a stand-in has an ``m``, and the reserved names
    read it where they are compared (``governance.public_accounts.reserved_hit``)."""
    s = unicodedata.normalize("NFD", text)  # (an accent on a lookalike, Cyrillic ё, comes off it)
    as_i = s.translate(_AS_I)
    if not any(ch in _I_LIKE for ch in s):
        return (text,) if as_i == s else (unicodedata.normalize("NFC", as_i),)
    return tuple(unicodedata.normalize("NFC", r) for r in (as_i, s.translate(_AS_L).translate(_AS_I)))


def lookalike_keys(name: str) -> tuple[str, ...]:
    """The keys ``name`` is compared with the label and the stand-ins under (:func:`_label_key` of
    each reading of :func:`fold_lookalikes`)."""
    return tuple(_label_key(s) for s in fold_lookalikes(unicodedata.normalize("NFKC", name)))


def _label_key(name: str) -> str:
    """``name`` as compared with the label: NFKC, case-folded, traditional forms of the label's
    characters made simplified, without spaces, punctuation, symbols, default-ignorable characters and marks
    (NFD first, so an accent composed onto a letter goes too)."""
    s = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", name).casefold())
    s = "".join(ch for ch in s if not (ch.isspace() or _reads_past(ch) or _is_ignorable(ch)))
    return unicodedata.normalize("NFC", s).translate(_TO_SIMPLIFIED)


MAX_MARKS_IN_A_ROW: Final = 4


_CONTROL: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NO_GLYPH: Final = frozenset({"Co", "Cn"})
_ZWJ: Final = "\u200d"
_VS16: Final = "\ufe0f"


def _is_emoji_end(ch: str) -> bool:
    """What may come before a joiner in an emoji sequence: an emoji (So), its skin tone, or VS16."""
    return unicodedata.category(ch) == "So" or "\U0001f3fb" <= ch <= "\U0001f3ff" or ch == _VS16


def _joins_emoji(s: str, i: int) -> bool:
    """Whether ``s[i]``, a zero-width joiner, stands between two emoji."""
    return 0 < i < len(s) - 1 and _is_emoji_end(s[i - 1]) and unicodedata.category(s[i + 1]) == "So"


def bad_field(field: str, reason: str) -> ContractError:
    """``bad_request`` with **[ext]** ``field``, the argument refused: a client words the rule itself."""
    return ContractError("bad_request", reason, field=field)


def check_name(name: str, field: str) -> str:
    """``name`` (already trimmed) when people can see it as it is; ``bad_request`` with ``field``
    otherwise (see the module's docstring)."""
    marks = 0
    for i, ch in enumerate(name):
        cat = unicodedata.category(ch)
        if ch in BLANK_CHARS or (cat in _CONTROL and not (ch == _ZWJ and _joins_emoji(name, i))):
            raise bad_field(field, f"{field} must not contain control or invisible formatting characters")
        if cat in _NO_GLYPH:
            raise bad_field(field, f"{field} must not contain private-use or unassigned characters")
        marks = marks + 1 if cat[0] == "M" else 0
        if marks > MAX_MARKS_IN_A_ROW:
            raise bad_field(field, f"{field} has more than {MAX_MARKS_IN_A_ROW} combining marks in a row")
    if not any(is_visible(ch) for ch in name):
        raise bad_field(field, f"{field} needs at least one visible character")
    return name


def is_cancelled_label(name: str) -> bool:
    """Whether ``name`` reads as the label of a cancelled account (spaces, ``_ . -``, width, case,
    invisible characters, marks, traditional forms and letters of other scripts that pass for Latin
    ones aside): a display name, or a username, which others see in its place while a display name
    is held for review or was removed."""
    return any(key in _CANCELLED_LABELS for key in lookalike_keys(name))


def check_display_name_label(name: str, field: str = "display_name") -> str:
    """``name`` unless it is the label of a cancelled account, which a live user may not take, or
    the stand-in shown for another user's held or removed name (:func:`is_stand_in`)."""
    if is_cancelled_label(name):
        raise bad_field(field, f"{field} is reserved for cancelled accounts")
    if is_stand_in(name, "display_name"):
        raise bad_field(field, f"{field} is the form the platform shows for a user whose own name it holds back "
                               "(用户 and a user id): it would pass for that user")
    return name


# The stand-ins of governance.shown_text.neutral, as lookalike_keys reads them: 用户 <user id>, 群聊 <group
# id>; an o in the id passes for a 0 and an l for a 1 (a Latin O or l, or a Cyrillic О read as O).
_STAND_INS: Final = {"display_name": re.compile(r"用户u[0-9a-fol]{16}"), "group_name": re.compile(r"群聊[0-9ol]{9,12}")}


def is_stand_in(name: str, kind: str) -> bool:
    """Whether ``name`` reads (spaces, width, case, traditional forms and lookalike letters of other
    scripts aside, :func:`lookalike_keys`; an o or l in the id for a 0 or 1) as the stand-in the
    platform shows for another user's or group's name held or removed (``用户 u…``, ``群聊 123…``):
    taken by someone, it would show the same as the one it stands for (as public accounts'
    ``公众号 <id>``, governance.public_accounts.is_stand_in_name)."""
    return any(_STAND_INS[kind].fullmatch(key) for key in lookalike_keys(name))


def check_group_name_stand_in(name: str, field: str = "name") -> str:
    """``name`` unless it is the stand-in shown for a group whose name is held or removed."""
    if is_stand_in(name, "group_name"):
        raise bad_field(field, f"a group {field} may not be 群聊 and a group id: the platform shows that for a "
                               "group whose own name it holds back")
    return name
