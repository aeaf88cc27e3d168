"""Contract error codes (docs/protocol.md, "Error codes") and the exception that carries one."""

from __future__ import annotations

import unicodedata
from typing import Final

ERROR_CODES = frozenset(
    {
        "bad_request",
        "unknown_op",
        "unauthenticated",
        "forbidden",
        "not_found",
        "not_member",
        "conflict",
        "bad_code",
        "verification_required",
        "member_cap_reached",
        "create_cap_reached",
        "join_cap_reached",
        "admin_cap_reached",
        "credit_too_low",
        "muted",
        "group_suspended",
        "group_closed",
        "blacklisted",
        "content_blocked",
        "rate_limited",
        "too_large",
        "storage_quota_reached",
        "internal",
    }
)


class ContractError(Exception):
    """A refusal the client sees as ``{"ok": false, "code": code, "reason": reason}``.

    ``extra`` carries additional reply fields (e.g. ``retry_after_ms`` for
    ``rate_limited``).
    """

    def __init__(self, code: str, reason: str, **extra: object) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"not a contract error code: {code!r}")
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.extra = extra


class FrameError(ContractError):
    """A frame that is not a valid request (``bad_request`` or ``unknown_op``).

    ``rid`` is the frame's ``rid`` when it could be read (a 64-bit integer), else
    ``None``: the reply's ``re``. It is not a reply field. ``field`` is **[ext]** the
    refused argument's name, for the arguments whose refusals name it (see
    :func:`protocol.messages.argument_field`): the reply's only extra field.
    """

    def __init__(self, code: str, reason: str, *, rid: int | None = None, field: str | None = None) -> None:
        if field is None:
            super().__init__(code, reason)
        else:
            super().__init__(code, reason, field=field)
        self.rid = rid


def shown(value: str, limit: int = 64) -> str:
    """A client's own text as a reason quotes it: control and format characters (NUL, a line break,
    a bidi override) written as ``\\uXXXX``, so that no reason can spoof a line of a log or flip the
    text of another user's screen, and at most ``limit`` characters (then ``…``)."""
    cut = value[:limit]
    out = "".join(_escaped(ch) if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") else ch
                  for ch in cut)
    return out + ("…" if len(value) > limit else "")


def shown_id(value: str) -> str:
    """An id (a user's, an upload's, a comment's) as a reason names it: bare, as :func:`shown` writes
    it, or in quotes when nothing of it would show (empty, blank, a Hangul filler), which bare would
    vanish from the sentence ("no user ", " is not a member of group 1234567890")."""
    return shown(value) if any(is_visible(ch) for ch in value) else f"'{shown(value)}'"


BLANK_CHARS: Final = frozenset(
    "\u115f\u1160\u3164\uffa0"  # Hangul choseong / jungseong fillers, Hangul filler, halfwidth filler (Lo)
    "\u2800"  # braille pattern blank (So)
    "\u17b4\u17b5"  # Khmer inherent vowels, deprecated, invisible (Mn)
    "\u034f"  # combining grapheme joiner (Mn)
    "\u180e"  # Mongolian vowel separator (Cf)
    "\U0001d159"  # musical symbol null notehead (So)
)
"""Characters that render as nothing although Unicode does not call them space or format."""


def is_visible(ch: str) -> bool:
    """Whether ``ch`` shows something by itself (a mark only changes the character before it): the
    names' rule (governance/names.py), here for the reasons to use too."""
    return not ch.isspace() and ch not in BLANK_CHARS and unicodedata.category(ch)[0] not in "MCZ"


def _escaped(ch: str) -> str:
    """``\\uXXXX``, as JSON writes it: a character beyond U+FFFF (a tag character) as its UTF-16 pair, never
    five digits that a reader of ``\\uXXXX`` takes for another character and a digit."""
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"
