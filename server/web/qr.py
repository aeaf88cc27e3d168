"""``GET /qr.svg?text=...``: a QR code of a short text, drawn on the server as SVG.

The web client shows invite links as QR codes. Drawing them here (with segno, pure
Python) keeps the page free of any script it did not ship itself and needs no
change to its Content-Security-Policy: the code is an ``<img>`` from this origin.
Only short texts are drawn (``MAX_TEXT`` characters), so a request costs little;
the SVG holds nothing but one path, never the text itself as markup.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import segno

__all__ = ["MAX_TEXT", "qr_svg", "text_of"]

MAX_TEXT = 512


def text_of(path: str) -> str | None:
    """The ``text`` query parameter of a request path; None when it is missing, empty or too long."""
    try:
        query = parse_qs(urlsplit(path).query, keep_blank_values=False, max_num_fields=4)
    except ValueError:  # too many fields
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
