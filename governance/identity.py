"""Identity data checks (Art. 6): phone, username, password, names, resident ID number.

Every refusal is ``ContractError("bad_request", reason)`` with **[ext]** ``field``, the
argument's name (``phone``, ``username``, ``password``, ``display_name``, ``legal_name``,
``id_number``), so a client states the rule in its reader's language from the field, never
from the reason's wording. Reasons say what is wrong but never repeat the value (it may
be personal data that ends up in logs).
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from governance import names
from governance.countries import ISO_3166_NUMERIC
from protocol.errors import BLANK_CHARS

_PHONE = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{2,31}")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
# The province-level codes of GB/T 2260 on the mainland: a resident ID number's first two digits.
_MAINLAND_PROVINCES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66)]
)
# ... with 81, 82, 83: the numbers of the residence permits of Hong Kong, Macao and Taiwan residents
# (810000, 820000, 830000 and the birth date, issued since 2018). Not 71, GB/T 2260's code for Taiwan:
# no resident ID card is issued with it (a Taiwan resident living on the mainland holds the residence
# permit, 83...).
_ID_PROVINCES = _MAINLAND_PROVINCES | {81, 82, 83}
# A foreign permanent resident ID card since its 2023 version carries an 18-digit number of the same
# form (birth date in the same place, the same MOD 11-2 check digit): "9", the province-level code of
# where it was first issued, the holder's country by its 3-digit ISO 3166-1 numeric code (as GB/T 2659
# gives it), ... So its first two digits are 91 to 96, its second and third a mainland province's code
# and its fourth to sixth a country's code. (91 alone was accepted as a region code before, of whatever
# followed it, and 92 to 96 were refused: a card issued in Shanghai, 931..., could not be verified.) The
# 2017 version's number, 3 letters and 12 digits, is not an id_number here.
_FOREIGN_PERMANENT_RESIDENT = "9"
# The countries such a card can name: every code of ISO 3166-1 (governance/countries.py) but China's own
# and those of Hong Kong, Macao and Taiwan, whose residents hold no foreign permanent resident card.
_NOT_FOREIGN = frozenset({156, 344, 446, 158})  # CHN, HKG, MAC, TWN
_FOREIGN_COUNTRIES = frozenset(ISO_3166_NUMERIC) - _NOT_FOREIGN


def _known_region(body: str) -> bool:
    """Whether ``body`` (17 ASCII digits) starts as a resident ID number or a residence permit's, or a
    foreign permanent resident ID card's, can."""
    if body[0] == _FOREIGN_PERMANENT_RESIDENT:
        return int(body[1:3]) in _MAINLAND_PROVINCES and int(body[3:6]) in _FOREIGN_COUNTRIES
    return int(body[:2]) in _ID_PROVINCES


# The middle dot between the parts of a name (阿依古丽·买买提), as input methods type it: · • ‧, the
# katakana ・ and the full-width ． some of them give, ∙ and ⋅. Each is written as the register's "·".
_NAME_DOTS = frozenset("\u00b7\u2022\u2027\u30fb\uff0e\u2219\u22c5")
_NAME_DOT = "\u00b7"
_NAME_LETTERS = frozenset("\u3007")  # 〇, a number to Unicode (Nl), a character of some Chinese names
_NAME_SPACES = frozenset(" \u3000")


def _require_str(raw: object, what: str) -> str:
    if not isinstance(raw, str):
        raise names.bad_field(what, f"{what} must be a string")
    return raw


def normalize_phone(raw: str) -> str:
    """Mainland China mobile number, with optional +86/86/0086 prefix, to its 11 digits."""
    s = _require_str(raw, "phone").strip().replace(" ", "").replace("-", "")
    m = _PHONE.fullmatch(s)
    if m is None:
        raise names.bad_field("phone", "phone must be a mainland China mobile number (11 digits starting 13-19)")
    return m.group(1)


def validate_username(raw: str) -> str:
    s = _require_str(raw, "username")
    if _USERNAME.fullmatch(s) is None:
        raise names.bad_field(
            "username", "username must be 3-32 characters of letters, digits, '_', '.', '-', starting with a letter"
        )
    # Others see the username where the display name would be while that is held for review or
    # was removed (server.screening), so it may not pose as a cancelled account either.
    return names.check_display_name_label(s, "username")


def username_key(username: str) -> str:
    return username.casefold()


def validate_password(raw: str) -> None:
    s = _require_str(raw, "password")
    if not 8 <= len(s) <= 128:
        raise names.bad_field("password", "password must be 8-128 characters")


def validate_display_name(raw: str, current: str | None = None) -> str:
    """1 to 32 characters (NFC, trimmed) that people can see as they are (:func:`names.check_name`),
    and not the label of a cancelled account nor another's stand-in; the name shown now (``current``)
    may be restated, whatever it is (the platform may have given the user a stand-in)."""
    s = unicodedata.normalize("NFC", _require_str(raw, "display_name")).strip()
    if not 1 <= len(s) <= 32:
        raise names.bad_field("display_name", "display_name must be 1-32 characters")
    s = names.check_name(s, "display_name")
    return s if s == current else names.check_display_name_label(s)


MAX_DEVICE_CHARS = 64


def validate_device(raw: str | None) -> str:
    """The name a client gives the device it logs in from (``login``'s **[ext]** ``device``), shown to
    the account alone: up to 64 characters (NFC, trimmed) that can be read as they are; none, or
    only spaces: ``""`` (the client shows "unknown device")."""
    if raw is None:
        return ""
    s = unicodedata.normalize("NFC", _require_str(raw, "device")).strip()
    if not s:
        return ""
    if len(s) > MAX_DEVICE_CHARS:
        raise names.bad_field("device", f"device must be at most {MAX_DEVICE_CHARS} characters")
    return names.check_name(s, "device")


def validate_legal_name(raw: str) -> str:
    """Letters of any script, spaces and middle dots (as in 阿依古丽·买买提), each dot written as "·".

    Combining marks are allowed after a letter, for scripts that need them. The characters Unicode
    counts as letters or marks that show nothing (``BLANK_CHARS``: the Hangul fillers, ...)
    are not: a legal name of them would pass for a name while showing none.
    """
    s = unicodedata.normalize("NFC", _require_str(raw, "legal_name")).strip()
    if not 2 <= len(s) <= 64:
        raise names.bad_field("legal_name", "legal_name must be 2-64 characters")
    prev_letter = False
    has_letter = False
    for c in s:
        cat = unicodedata.category(c)
        if c in BLANK_CHARS:
            raise names.bad_field("legal_name", "legal_name may contain only letters, spaces and middle dots")
        if cat[0] == "L" or c in _NAME_LETTERS:
            prev_letter = has_letter = True
        elif cat[0] == "M" and prev_letter:
            pass
        elif c in _NAME_DOTS or c in _NAME_SPACES:
            prev_letter = False
        else:
            raise names.bad_field("legal_name", "legal_name may contain only letters, spaces and middle dots")
    if not has_letter:
        raise names.bad_field("legal_name", "legal_name must contain letters")
    return "".join(_NAME_DOT if c in _NAME_DOTS else c for c in s)


def id_check_char(first17: str) -> str:
    """GB 11643-1999 check character (ISO 7064 MOD 11-2) for 17 ASCII digits."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def validate_id_number(raw: str, today: datetime.date) -> str:
    """18-character resident ID number (GB 11643-1999), or a number of its form: a residence permit's of
    Hong Kong, Macao and Taiwan residents, a foreign permanent resident ID card's (:func:`_known_region`);
    returns it with an uppercase X."""
    s = _require_str(raw, "id_number").strip().upper()
    if len(s) != 18:
        raise names.bad_field("id_number", "id_number must be 18 characters")
    body, check = s[:17], s[17]
    if not (body.isascii() and body.isdigit()) or check not in "0123456789X":
        raise names.bad_field("id_number", "id_number must be 17 digits followed by a digit or X")
    if not _known_region(body):
        raise names.bad_field("id_number", "id_number has an unknown region code")
    try:
        birth = datetime.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        raise names.bad_field("id_number", "id_number has an invalid birth date") from None
    if birth.year < 1900:
        raise names.bad_field("id_number", "id_number has a birth date before 1900")
    if birth > today:
        raise names.bad_field("id_number", "id_number has a birth date in the future")
    if id_check_char(body) != check:
        raise names.bad_field("id_number", "id_number check digit does not match")
    return s


def id_number_key(normalized: str) -> str:
    """The form keyed hashes (uniqueness, blacklist) are computed over."""
    return normalized.strip().upper()
