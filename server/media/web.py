"""``GET /media/{media_id}?e=...&s=...``: a file, to whoever holds a valid signed URL.

- No signature, a wrong one, or one past its expiry: 403 (nothing about the
  media is revealed, not even whether it exists).
- Signed, but no message or post still carries it (deleted, rejected, purged,
  or never attached), or only a post held for the platform's review: 404. The
  request names nobody, so a file is served only while everyone may see what
  carries it (``LIVE`` in server/storage/media.py).
- Otherwise 200 with the stored ``Content-Type``, ``X-Content-Type-Options:
  nosniff``, ``Content-Disposition: attachment`` for everything but images (so
  a PDF or an audio file is downloaded, never rendered as a page of this
  origin), and a sandboxing Content-Security-Policy on top.

The HTTP side of the WebSocket library answers with one body, so the file is
read whole (at most ``media.max_bytes``) in a worker thread; at most
``MAX_CONCURRENT_READS`` (server/media/service.py) files are read at once, further requests
wait their turn. A body stays in memory until its connection closes (a client that never reads
keeps it until the handshake timeout): past ``MAX_BODIES_IN_FLIGHT`` largest files' worth of
bodies held, the answer is 503 with ``Retry-After``, and so past ``MAX_BODIES_PER_ADDRESS`` of them
held for one client network (an address, an IPv6 /64; not the machine's own with
``rate_limits.spare_loopback``), so that one client's unread connections cannot hold them all.
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

from websockets.http11 import Request, Response

from governance.content import Action
from governance.ratelimit import is_loopback, network_key
from server.cluster.remote import HomeUnreachable
from server.media.service import MAX_BODIES_IN_FLIGHT, MAX_BODIES_PER_ADDRESS
from server.media.sniff import saved_name
from server.media.uploads import media_file
from server.web.routes import http_response

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from server.context import Context
    from server.media.service import MediaService

log = logging.getLogger("qunguan.media")

PREFIX = "/media/"
_PENDING: set[asyncio.Future[None]] = set()  # the waits for a body's connection to close
_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _text(status: http.HTTPStatus, text: str) -> Response:
    return http_response(status, text.encode(), "text/plain; charset=utf-8", "no-store",
                         (("X-Content-Type-Options", "nosniff"),))


def _disposition(kind: str, name: str | None, mime: str) -> str:
    how = "inline" if kind == "image" else "attachment"
    name = saved_name(name, mime)
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"{how}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def serve(ctx: Context, request: Request, conn: ServerConnection | None = None,
                ip: str | None = None) -> Response:
    """The answer to one ``GET /media/...`` request (on ``conn``, which holds its body until it closes),
    from the client at ``ip`` (its network's share of the bodies held: MAX_BODIES_PER_ADDRESS)."""
    parts = urlsplit(request.path)
    media_id = parts.path[len(PREFIX):]
    query = parse_qs(parts.query)
    expires = query["e"][0] if query.get("e") else None
    signature = query["s"][0] if query.get("s") else None
    carrier = query["c"][0] if query.get("c") else None
    now = ctx.now_ms()
    if not _MEDIA_ID.fullmatch(media_id) or not ctx.media.url_valid(media_id, expires, signature, now, carrier):
        return _text(http.HTTPStatus.FORBIDDEN, "missing, invalid or expired signature\n")
    # A cluster's gateway keeps no media index: it reads the entry (the file is on shared storage).
    e = ctx.state.media.get(media_id) or await ctx.store.media_entry(media_id)
    if e is None or not await ctx.store.media_live(media_id, carrier):
        return _text(http.HTTPStatus.NOT_FOUND, "no such media (or its message was deleted)\n")
    # put on a list after it was shared: as it is stored, or as it circulates (with its metadata)
    _, listed = ctx.media.lists.most_severe(*e.digests)
    if listed is not None and listed.action is Action.BLOCK:
        return _text(http.HTTPStatus.NOT_FOUND, "no such media\n")
    path = media_file(ctx.cfg.media.path, e.sha256)
    service, size = ctx.media, e.size
    # (One body is always let through: a file stored before media.max_bytes was lowered may be
    # larger than the whole allowance now, and would otherwise be refused for good.)
    if service.bodies and service.bodies + size > MAX_BODIES_IN_FLIGHT * ctx.cfg.media.max_bytes:
        return http_response(http.HTTPStatus.SERVICE_UNAVAILABLE, b"too many media downloads at once; try again\n",
                             "text/plain; charset=utf-8", "no-store", (("Retry-After", "1"),))
    rl = ctx.cfg.rate_limits
    network = None if ip is None or (rl.spare_loopback and is_loopback(ip)) else network_key(
        ip, rl.ipv6_prefix_length)
    mine = service.bodies_by.get(network, 0) if network is not None else 0
    if mine and mine + size > MAX_BODIES_PER_ADDRESS * ctx.cfg.media.max_bytes:
        return http_response(http.HTTPStatus.SERVICE_UNAVAILABLE,
                             b"too many media downloads from this address at once; try again\n",
                             "text/plain; charset=utf-8", "no-store", (("Retry-After", "1"),))
    service.bodies += size  # (claimed with no await since the checks)
    if network is not None:
        service.bodies_by[network] = mine + size
    if conn is None:
        held: asyncio.Future[None] | None = None
    else:
        held = asyncio.ensure_future(conn.wait_closed())
        _PENDING.add(held)
    release = _releaser(service, size, held, network)
    async with ctx.media.reads:
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            # A cluster's gateway whose [media] path is its own, not shared: the home has the file.
            try:
                found = await ctx.media_from_home(e.sha256, e.size)
            except HomeUnreachable:
                release()
                return http_response(http.HTTPStatus.SERVICE_UNAVAILABLE, b"the service is changing over; try "
                                     b"again\n", "text/plain; charset=utf-8", "no-store", (("Retry-After", "5"),))
            except BaseException:
                release()
                raise
            if found is None:
                log.error("media %s: its file %s is missing", media_id, path)
                release()
                return _text(http.HTTPStatus.NOT_FOUND, "no such media\n")
            body = found
        except BaseException:
            release()
            raise
    if held is None:
        release()
    left = max(0, int(expires or 0) - now // 1000)
    return http_response(http.HTTPStatus.OK, body, e.mime, f"private, max-age={left}", (
        ("Content-Disposition", _disposition(e.kind, e.name, e.mime)), ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'none'; sandbox"), ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Referrer-Policy", "no-referrer")))


def _releaser(service: MediaService, size: int, held: asyncio.Future[None] | None,
              network: str | None = None) -> Callable[[], None]:
    """What gives back a body's ``size`` bytes (the client ``network``'s share too): when its
    connection closes (``held``), or at once when called (the body was not sent); once either way."""
    done = False

    def release(_: object = None) -> None:
        nonlocal done
        if not done:
            done = True
            service.bodies -= size
            if network is not None:
                left = service.bodies_by.get(network, 0) - size
                if left > 0:
                    service.bodies_by[network] = left
                else:
                    service.bodies_by.pop(network, None)
        if held is not None:
            _PENDING.discard(held)
            if not held.done():
                held.cancel()  # (released before its connection closed: the body was not sent)

    if held is not None:
        held.add_done_callback(release)
    return release
