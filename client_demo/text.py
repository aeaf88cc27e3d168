"""Text from the server made safe and short for a terminal: :func:`clean`, :func:`clean_lines` and
:func:`hhmm`, shared by the modules that word what the server sends (:mod:`client_demo.render`,
:mod:`client_demo.notices`, :mod:`client_demo.public_view`)."""

from __future__ import annotations

import time
from typing import Any

INDENT = "    "  # what a line break in server text is shown as: "\n" then this, never a line of its own

# The Unicode Bidi_Control characters: they reorder what follows them on the line (U+202E shows
# "txt.exe" as "exe.txt"), so a name could make a line read as something else. Shown escaped.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


TAB = "    "  # what a tab in server text is shown as


def _escaped(text: Any) -> str:
    """``text`` with control characters (escape sequences included), line and paragraph separators
    and bidi controls as ``\\xNN`` / ``\\uNNNN``; ``\\n`` kept, a tab as :data:`TAB`. (A tab kept
    as it is takes up to eight columns that the folding of long lines counts as one: a reviewer's
    message of tabs ran past the terminal's edge, which broke it itself, and its rest started a
    line of its own that read as another member's message.)"""
    out = []
    for ch in str(text):
        o = ord(ch)
        if ch == "\t":
            out.append(TAB)
        elif ch == "\n" or not (o < 32 or 127 <= o < 160 or ch in "\u2028\u2029" or ch in BIDI_CONTROLS):
            out.append(ch)
        else:
            out.append(f"\\x{o:02x}" if o < 256 else f"\\u{o:04x}")
    return "".join(out)


def clean(text: Any) -> str:
    """Server-supplied text made safe for a terminal: control characters (escape sequences
    included) and bidi controls are shown as ``\\xNN`` / ``\\uNNNN`` instead of being interpreted,
    and each line break starts an indented continuation line (:data:`INDENT`), so no text from
    another user (an announcement, a name, a title, a reason) can print a line of its own that
    looks like a message or a notice of the client's. Every server text printed goes through it."""
    return _escaped(text).replace("\n", "\n" + INDENT)


def clean_lines(text: Any) -> list[str]:
    """A multi-line server text (an agreement, a post's body) as cleaned lines, for a caller that
    indents each one itself (a ``\\r\\n`` counts as one line break)."""
    return _escaped(str(text).replace("\r\n", "\n")).split("\n")


def hhmm(ms: Any, now: float | None = None) -> str:
    """Local time ``HH:MM`` of a millisecond timestamp; with the date when not today."""
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return "--:--"
    try:
        t = time.localtime(ms / 1000)
    except (OverflowError, OSError, ValueError):  # (a time no calendar shows: said as none)
        return "--:--"
    today = time.localtime(time.time() if now is None else now)
    if (t.tm_year, t.tm_yday) == (today.tm_year, today.tm_yday):
        return time.strftime("%H:%M", t)
    return time.strftime("%Y-%m-%d %H:%M", t)
