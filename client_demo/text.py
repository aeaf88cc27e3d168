"""Text from the server made safe and short for a terminal: :func:`clean` and :func:`hhmm`, shared by
the modules that word what the server sends (:mod:`client_demo.render`, :mod:`client_demo.notices`)."""

from __future__ import annotations

import time
from typing import Any


def clean(text: Any) -> str:
    """Server-supplied text made safe for a terminal: control characters (escape
    sequences included) are shown as ``\\xNN`` instead of being interpreted."""
    s = str(text)
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\n" or ch == "\t" or not (o < 32 or 127 <= o < 160 or ch in "\u2028\u2029"):
            out.append(ch)
        else:
            out.append(f"\\x{o:02x}" if o < 256 else f"\\u{o:04x}")
    return "".join(out)


def hhmm(ms: Any, now: float | None = None) -> str:
    """Local time ``HH:MM`` of a millisecond timestamp; with the date when not today."""
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return "--:--"
    t = time.localtime(ms / 1000)
    today = time.localtime(time.time() if now is None else now)
    if (t.tm_year, t.tm_yday) == (today.tm_year, today.tm_yday):
        return time.strftime("%H:%M", t)
    return time.strftime("%Y-%m-%d %H:%M", t)
