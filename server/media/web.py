"""``GET /media/{media_id}?e=...&s=...``: a file, to whoever holds a valid signed URL.

- No signature, a wrong one, or one past its expiry: 403 (nothing about the
  media is revealed, not even whether it exists).
- Signed, but no message or post still carries it (deleted, rejected, purged,
  or never attached): 404.
- Otherwise 200 with the stored ``Content-Type``, ``X-Content-Type-Options:
  nosniff``, ``Content-Disposition: attachment`` for everything but images (so
  a PDF or an audio file is downloaded, never rendered as a page of this
  origin), and a sandboxing Content-Security-Policy on top.

The HTTP side of the WebSocket library answers with one body, so the file is
read whole (at most ``media.max_bytes``) in a worker thread; at most
``MAX_CONCURRENT_READS`` (server/media/service.py) files are held in memory at once, further requests
wait their turn.
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

from websockets.http11 import Request, Response

from server.media.uploads import media_file
from server.web.routes import http_response

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.media")

PREFIX = "/media/"
_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _text(status: http.HTTPStatus, text: str) -> Response:
    return http_response(status, text.encode(), "text/plain; charset=utf-8", "no-store",
                         (("X-Content-Type-Options", "nosniff"),))


def _disposition(kind: str, name: str | None) -> str:
    how = "inline" if kind == "image" else "attachment"
    if not name:
        return how
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"{how}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def serve(ctx: Context, request: Request) -> Response:
    """The answer to one ``GET /media/...`` request."""
    parts = urlsplit(request.path)
    media_id = parts.path[len(PREFIX):]
    query = parse_qs(parts.query)
    expires = query["e"][0] if query.get("e") else None
    signature = query["s"][0] if query.get("s") else None
    now = ctx.now_ms()
    if not _MEDIA_ID.fullmatch(media_id) or not ctx.media.url_valid(media_id, expires, signature, now):
        return _text(http.HTTPStatus.FORBIDDEN, "missing, invalid or expired signature\n")
    # A cluster's gateway keeps no media index: it reads the entry (the file is on shared storage).
    e = ctx.state.media.get(media_id) or await ctx.store.media_entry(media_id)
    if e is None or not await ctx.store.media_live(media_id):
        return _text(http.HTTPStatus.NOT_FOUND, "no such media (or its message was deleted)\n")
    path = media_file(ctx.cfg.media.path, e.sha256)
    async with ctx.media.reads:
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            log.error("media %s: its file %s is missing", media_id, path)
            return _text(http.HTTPStatus.NOT_FOUND, "no such media\n")
    left = max(0, int(expires or 0) - now // 1000)
    return http_response(http.HTTPStatus.OK, body, e.mime, f"private, max-age={left}", (
        ("Content-Disposition", _disposition(e.kind, e.name)), ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'none'; sandbox"), ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Referrer-Policy", "no-referrer")))
