"""``GET /qr.svg``: a QR code of a short text, drawn on the server as SVG.

The web client shows invite links as QR codes. Drawing them here (with segno, pure
Python) keeps the page free of any script it did not ship itself and needs no
change to its Content-Security-Policy: the code is an image from this origin.
Only short texts are drawn (``MAX_TEXT`` characters); the SVG holds nothing but
one path, never the text itself as markup.

The text comes in the ``Qunguan-QR-Text`` request header, percent-encoded, or in
the ``text`` query parameter. The web client uses the header: an invite link is a
secret that lets anyone in, and a reverse proxy's access log keeps query strings,
not request headers. Answers are ``no-store``, so no browser cache keeps the link
either (and one URL never answers with another link's code from a cache).

segno is pure Python: a code of ``MAX_TEXT`` characters takes tens of milliseconds
of CPU, and anyone may ask for one. So :func:`draw` never runs on the event loop
(which every chat shares): codes are drawn by one worker thread of their own, one
at a time (a request that gives up does not free the worker early), and the last
``CACHE_SIZE`` are kept (a page asks for the same invite link's code again at
every redraw).
"""

from __future__ import annotations

import asyncio
import functools
import io
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, unquote, urlsplit

import segno

__all__ = ["CACHE_SIZE", "MAX_TEXT", "MAX_WAITING", "TEXT_HEADER", "Busy", "draw", "qr_svg", "text_of"]

MAX_TEXT = 512
TEXT_HEADER = "Qunguan-QR-Text"
CACHE_SIZE = 64
_DRAWER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qr")  # one code drawn at a time, off the loop


def text_of(path: str, headers: list[str]) -> str | None:
    """The text to draw: the one ``TEXT_HEADER`` value (percent-decoded) when the request has the
    header, else the ``text`` query parameter of ``path``. None when it is missing, given twice,
    empty, too long, or not UTF-8 once decoded."""
    if headers:
        if len(headers) != 1:
            return None
        try:
            text = unquote(headers[0], errors="strict")
        except UnicodeDecodeError:
            return None
        return text if 0 < len(text) <= MAX_TEXT else None
    try:
        query = parse_qs(urlsplit(path).query, keep_blank_values=False, max_num_fields=4, errors="strict")
    except ValueError:  # too many fields, or not UTF-8 (UnicodeDecodeError)
        return None
    values = query.get("text", [])
    if len(values) != 1 or not 0 < len(values[0]) <= MAX_TEXT:
        return None
    return values[0]


def qr_svg(text: str) -> bytes:
    """A QR code (error correction M, four-module quiet zone) of ``text`` as a standalone SVG."""
    code = segno.make_qr(text, error="m")
    out = io.BytesIO()
    code.save(out, kind="svg", scale=6, border=4, xmldecl=False, dark="#000", light="#fff")
    return out.getvalue()


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cached(text: str) -> bytes:
    return qr_svg(text)


# At most this many codes asked for and not drawn yet; more are refused (503, Retry-After) rather than
# queued: each takes the drawing thread tens of milliseconds of Python, with the interpreter's lock,
# so a flood of requests for new texts would slow every chat on the node however long it queued.
MAX_WAITING = 16
_waiting = 0


class Busy(Exception):
    """:data:`MAX_WAITING` codes are waiting to be drawn already."""


async def draw(text: str) -> bytes:
    """:func:`qr_svg` of ``text``, drawn by the one drawing thread unless it was drawn lately;
    :class:`Busy` when too many wait for it."""
    global _waiting
    if _waiting >= MAX_WAITING:
        raise Busy
    _waiting += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_DRAWER, _cached, text)
    finally:
        _waiting -= 1
