"""Public identifiers. Randomness is passed in (``secrets.randbelow``, ``secrets.token_hex``)."""

from __future__ import annotations

import re
from collections.abc import Callable

from protocol.messages import is_group_id as is_group_id_text

_USER_ID = re.compile(r"u[0-9a-f]{16}")


def new_group_id(randbelow: Callable[[int], int], digits: int = 10) -> str:
    """Uniform over all ``digits``-digit numbers, so unrelated to any earlier ID.

    Uniqueness for all time is the caller's: retry on collision with any ID ever issued.
    """
    if not 9 <= digits <= 12:
        raise ValueError("group IDs have 9 to 12 digits")
    low = 10 ** (digits - 1)
    return str(low + randbelow(9 * low))


def is_group_id(s: object) -> bool:
    """A group id's form, as the request decoder checks it (issued ones never start with 0)."""
    return isinstance(s, str) and is_group_id_text(s)


def serial_id(s: str) -> int | None:
    """A stored item's serial id (a post, comment, report, appeal, sanction or held text) as it
    was issued: 1 to 18 ASCII digits, no leading zero; None for anything else (" 7", "07", "７",
    "-7"), so that one item has one spelling and every op reads an id the same way."""
    if s.isascii() and s.isdigit() and 0 < len(s) <= 18 and s[0] != "0":
        return int(s)
    return None


def new_user_id(token_hex: Callable[[int], str]) -> str:
    return "u" + token_hex(8)


def is_user_id(s: object) -> bool:
    return isinstance(s, str) and _USER_ID.fullmatch(s) is not None


def new_account_id(randbelow: Callable[[int], int], digits: int = 10) -> str:
    """A public account's id (P7): drawn like a group id, from its own space (the accounts table),
    so an account id and a group id may be equal; never reused, uniqueness is the caller's."""
    return new_group_id(randbelow, digits)


def is_account_id(s: object) -> bool:
    return is_group_id(s)
