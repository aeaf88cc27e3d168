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
(:data:`CANCELLED_NAME`) for cancelled accounts. Reasons never repeat the name.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from protocol.errors import ContractError

CANCELLED_NAME: Final = "已注销用户"
"""The display name of a cancelled account, everywhere it still appears (docs/protocol.md)."""

# The label in the forms a person might type to pose as it: the English words the contract gives
# it, and the traditional characters; compared with every space removed, NFKC, case-folded.
_CANCELLED_LABELS: Final = frozenset({CANCELLED_NAME, "已註銷用戶", "cancelleduser"})

MAX_MARKS_IN_A_ROW: Final = 4

BLANK_CHARS: Final = frozenset(
    "\u115f\u1160\u3164\uffa0"  # Hangul choseong / jungseong fillers, Hangul filler, halfwidth filler (Lo)
    "\u2800"  # braille pattern blank (So)
    "\u17b4\u17b5"  # Khmer inherent vowels, deprecated, invisible (Mn)
    "\u034f"  # combining grapheme joiner (Mn)
    "\u180e"  # Mongolian vowel separator (Cf)
    "\U0001d159"  # musical symbol null notehead (So)
)
"""Characters that render as nothing although Unicode does not call them space or format."""

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


def _bad(field: str, reason: str) -> ContractError:
    return ContractError("bad_request", reason, field=field)


def is_visible(ch: str) -> bool:
    """Whether ``ch`` shows something by itself (a mark only changes the character before it)."""
    return not ch.isspace() and ch not in BLANK_CHARS and unicodedata.category(ch)[0] not in "MCZ"


def check_name(name: str, field: str) -> str:
    """``name`` (already trimmed) when people can see it as it is; ``bad_request`` with ``field``
    otherwise (see the module's docstring)."""
    marks = 0
    for i, ch in enumerate(name):
        cat = unicodedata.category(ch)
        if ch in BLANK_CHARS or (cat in _CONTROL and not (ch == _ZWJ and _joins_emoji(name, i))):
            raise _bad(field, f"{field} must not contain control or invisible formatting characters")
        if cat in _NO_GLYPH:
            raise _bad(field, f"{field} must not contain private-use or unassigned characters")
        marks = marks + 1 if cat[0] == "M" else 0
        if marks > MAX_MARKS_IN_A_ROW:
            raise _bad(field, f"{field} has more than {MAX_MARKS_IN_A_ROW} combining marks in a row")
    if not any(is_visible(ch) for ch in name):
        raise _bad(field, f"{field} needs at least one visible character")
    return name


def is_cancelled_label(name: str) -> bool:
    """Whether ``name`` reads as the label of a cancelled account (spaces, width and case aside)."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split()) in _CANCELLED_LABELS


def check_display_name_label(name: str, field: str = "display_name") -> str:
    """``name`` unless it is the label of a cancelled account, which a live user may not take."""
    if is_cancelled_label(name):
        raise _bad(field, f"{field} is reserved for cancelled accounts")
    return name
