"""What one running server holds for media: uploads in progress, the upload rate limit, the
known-file lists, and the key that signs media URLs.

Signed URLs: ``/media/{media_id}?e=<expiry, epoch seconds>&s=<signature>`` where the
signature is HMAC-SHA256 over ``media_id`` and ``e`` (base64url, no padding) under
a key derived from the identity key store's lookup secret. That secret is the
same on every node and survives identity-key rotation, so a URL stays valid for
its whole ``media.url_ttl_seconds`` whatever happens to the keys meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING

from governance.ratelimit import WindowCounter
from server.media.lists import MediaLists, build_media_lists
from server.media.uploads import Upload

if TYPE_CHECKING:
    from server.config import Config

HOUR = 3600.0
# What a signed URL was handed out with: a group's messages (g and its id) or a post (p and its id).
CARRIER = re.compile(r"g[0-9]{1,20}|p[0-9]{1,20}")


def group_carrier(group_id: str) -> str:
    """The carrier of a URL handed out with a group's messages (served while one of them shows the file)."""
    return "g" + group_id


def post_carrier(post_id: int) -> str:
    """The carrier of a URL handed out with a post (served while that post shows the file)."""
    return f"p{post_id}"
# Unfinished uploads one user may have at once; one more is refused (rate_limited).
MAX_OPEN_UPLOADS = 4
# An unfinished upload nobody wrote to for this long is dropped (its temp file removed).
UPLOAD_IDLE_MS = 10 * 60 * 1000
# A user at MAX_OPEN_UPLOADS who begins one more: their upload nobody wrote to for this long makes way
# for it (a client sends chunks back to back; one closed mid-upload, a tab or an app killed, left
# uploads that refused the user's next ones until the idle sweep, 10 to 20 minutes later).
UPLOAD_STALE_MS = 60 * 1000
# Files read whole for GET /media/... at once (server/media/web.py); more requests wait.
MAX_CONCURRENT_READS = 4
# The bodies of GET /media/... held until their connection closes, at most this many largest files'
# worth (media.max_bytes each): a client that asks and never reads holds its body until the
# handshake timeout; past the budget the answer is 503, so such clients cannot exhaust memory.
MAX_BODIES_IN_FLIGHT = 8
# Of those, what one client network (an address, an IPv6 /64) may hold: a few connections that never
# read their bodies would otherwise hold the whole allowance, and everyone else got 503.
MAX_BODIES_PER_ADDRESS = 2
# JSON frame around a chunk's data: op, rid, upload_id, offset, quotes and braces (generous).
CHUNK_FRAME_OVERHEAD = 512


class MediaService:
    def __init__(self, cfg: Config, url_key: Callable[[], bytes]) -> None:
        self.lists: MediaLists = build_media_lists(cfg)
        self.uploads: dict[str, Upload] = {}  # by upload id; changed by add_upload and drop_upload only
        # The same by user: a user's uploads are counted at each upload_begin, which read every open
        # upload of everyone (a soak's 4,700 abandoned ones; tens of thousands at scale).
        self._by_user: dict[str, dict[str, Upload]] = {}
        self.per_hour = WindowCounter(cfg.media.uploads_per_hour, HOUR)
        self._url_key = url_key
        self.reads = asyncio.Semaphore(MAX_CONCURRENT_READS)
        self.bodies = 0  # bytes of /media bodies whose connection has not closed yet (see MAX_BODIES_IN_FLIGHT)
        self.bodies_by: dict[Hashable, int] = {}  # the same by client network (see MAX_BODIES_PER_ADDRESS)

    # -- uploads ---------------------------------------------------------------------------
    def add_upload(self, up: Upload) -> None:
        self.uploads[up.upload_id] = up
        self._by_user.setdefault(up.user_id, {})[up.upload_id] = up

    def drop_upload(self, up: Upload) -> None:
        """Forget ``up`` (if it is still the upload of its id)."""
        if self.uploads.get(up.upload_id) is not up:
            return
        del self.uploads[up.upload_id]
        mine = self._by_user[up.user_id]
        del mine[up.upload_id]
        if not mine:
            del self._by_user[up.user_id]

    def _of(self, user_id: str) -> Iterable[Upload]:
        return self._by_user.get(user_id, {}).values()

    def open_uploads(self, user_id: str) -> int:
        return len(self._by_user.get(user_id, ()))

    def pending_bytes(self, user_id: str) -> int:
        """The declared bytes of ``user_id``'s unfinished uploads, counted against their storage quota
        at ``upload_begin`` (not one whose ``upload_end`` runs: its row may be stored already, and
        the store decides it at its insert anyway). Uploads that declared the same SHA-256 count once;
        one of content the user kept already when it began counts nothing (its file is in their
        stored bytes: counted again, a re-upload refused their next file for bytes they do not use)."""
        seen: set[str] = set()
        total = 0
        for u in self._of(user_id):
            if u.finishing or u.kept_already:
                continue
            if u.sha256 is not None:
                if u.sha256 in seen:
                    continue
                seen.add(u.sha256)
            total += u.size
        return total

    def pending_content(self, user_id: str, sha256: str) -> bool:
        """Is an unfinished upload of ``user_id``'s declared to be this content (and so counted already)?"""
        return any(not u.finishing and u.sha256 == sha256 for u in self._of(user_id))

    def stale_upload(self, user_id: str, now_ms: int) -> Upload | None:
        """The user's unfinished upload nobody wrote to for the longest, if that is over
        :data:`UPLOAD_STALE_MS` (and its end is not running), else None."""
        waiting = [u for u in self._of(user_id) if not u.finishing and now_ms - u.touched_ms > UPLOAD_STALE_MS]
        return min(waiting, key=lambda u: u.touched_ms, default=None)

    def idle_uploads(self, now_ms: int) -> list[Upload]:
        return [u for u in self.uploads.values() if not u.finishing and now_ms - u.touched_ms > UPLOAD_IDLE_MS]

    # -- signed URLs -----------------------------------------------------------------------
    def _signature(self, media_id: str, expires: int, carrier: str | None = None) -> str:
        signed = f"{media_id}\n{expires}" if carrier is None else f"{media_id}\n{expires}\n{carrier}"
        mac = hmac.new(self._url_key(), signed.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def url(self, media_id: str, now_ms: int, ttl_seconds: int, carrier: str | None = None) -> str:
        """A signed path to ``media_id``; ``carrier`` (``g<group id>``, ``p<post id>``): what the URL
        was handed out with, signed too, so that it serves the file only while that group's messages,
        or that post, still show it (:meth:`~server.storage.media.MediaReads.media_live`)."""
        expires = -(-(now_ms + ttl_seconds * 1000) // 1000)  # rounded up: valid at least ttl_seconds
        scope = f"&c={carrier}" if carrier is not None else ""
        return f"/media/{media_id}?e={expires}{scope}&s={self._signature(media_id, expires, carrier)}"

    def url_valid(self, media_id: str, expires: str | None, signature: str | None, now_ms: int,
                  carrier: str | None = None) -> bool:
        """Is this the signature we made for ``media_id``, ``expires`` and ``carrier``, and is it not past?"""
        if not expires or not signature or not expires.isascii() or not expires.isdigit() or len(expires) > 12:
            return False
        if not signature.isascii():  # never one of ours; compare_digest raises TypeError on such a str
            return False
        if carrier is not None and not CARRIER.fullmatch(carrier):
            return False
        e = int(expires)
        if e * 1000 <= now_ms:
            return False
        return hmac.compare_digest(self._signature(media_id, e, carrier), signature)


def chunk_bytes(max_frame_bytes: int) -> int:
    """The largest chunk whose frame fits ``server.max_frame_bytes`` also as JSON (base64: 4 characters
    per 3 bytes); a multiple of 3 (no base64 padding mid-file), and of 4096 when that large."""
    raw = max(3, (max_frame_bytes - CHUNK_FRAME_OVERHEAD) // 4 * 3)
    if raw >= 3 * 4096:
        return raw // (3 * 4096) * (3 * 4096)
    return raw
