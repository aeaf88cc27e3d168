"""A gateway's memory of the stored files it relayed from the home (:meth:`ClusterNode.media_bytes`).

A gateway whose ``[media] path`` is its own (no shared storage) reads every download's bytes from the
home over NATS, a piece at a time. A picture posted in a group of 2,000 is then asked for by hundreds
of members within seconds, through each gateway: without this, each of those downloads read the whole
file from the home again, the home reading one piece at a time for all gateways (its bound,
``Home.on_media``), so a popular picture queued every other download behind it.

Here a gateway keeps the files it relayed, by their SHA-256 (a stored file's name: its bytes never
change), in memory, up to ``cluster.media_cache_mb``, each for :data:`KEPT_SECONDS` at most, and asks
the home once for a file however many of its downloads want it at the same moment. It holds bytes
only: whether a file may be served (its signed URL, whether its message or post is still there, the
media lists) is decided for each download before its bytes are asked for (server/media/web.py), so a
file taken down is never served from here, and it leaves this memory within :data:`KEPT_SECONDS`.
Nothing is written to the gateway's disk: the home's folder is the one its cleanup and the retention
purge sweep.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from server.metrics import METRICS

# How long a relayed file is kept at most: long enough for a group's members to download a new
# picture (they do within minutes of its message), short enough that a file the service removed
# is gone from every gateway's memory soon after.
KEPT_SECONDS = 600.0
# A file larger than this share of the memory is relayed but not kept: one video would otherwise push
# out every picture.
LARGEST_SHARE = 4


class RelayCache:
    """The files a gateway relayed, oldest first (each kept :data:`KEPT_SECONDS` from when it came, so
    the oldest is also the first to expire), and the reads from the home under way."""

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.size = 0  # the bytes kept
        self.hits = 0  # downloads served from here or from a read another download started
        self._clock = clock
        self._files: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # sha256 -> (until, bytes)
        self._reading: dict[str, asyncio.Future[bytes | None]] = {}  # sha256 -> the read from the home

    def __len__(self) -> int:
        return len(self._files)

    def get(self, sha256: str) -> bytes | None:
        """The kept bytes of ``sha256``, or None (never kept, pushed out, or past its time)."""
        self.sweep()
        kept = self._files.get(sha256)
        return kept[1] if kept is not None else None

    def put(self, sha256: str, data: bytes) -> None:
        """Keep ``data`` (unless it is larger than its share), pushing out the oldest past the bound."""
        self.sweep()
        if not data or len(data) > self.max_bytes // LARGEST_SHARE or sha256 in self._files:
            return
        self._files[sha256] = (self._clock() + KEPT_SECONDS, data)
        self.size += len(data)
        while self.size > self.max_bytes:
            self._drop_oldest()
        METRICS.media_relay_kept.set(self.size)

    def sweep(self) -> None:
        """Let go of the files past their time (the oldest first: all were kept for as long)."""
        now = self._clock()
        if self._files and next(iter(self._files.values()))[0] <= now:
            while self._files and next(iter(self._files.values()))[0] <= now:
                self._drop_oldest()
            METRICS.media_relay_kept.set(self.size)

    def clear(self) -> None:
        self._files.clear()
        self.size = 0
        METRICS.media_relay_kept.set(0)

    async def read(self, sha256: str, size: int, read_from_home: Callable[[], Awaitable[bytes | None]]
                   ) -> bytes | None:
        """The bytes of the stored file ``sha256`` of ``size`` bytes: kept here, or read once from the
        home by ``read_from_home`` for every download that asks meanwhile (each of them gets what that
        read gives: the bytes, None for a file the home has not, or its exception). Kept when the home
        gave as many bytes as the file has."""
        kept = self.get(sha256)
        if kept is not None and len(kept) == size:
            self.hits += 1
            METRICS.relayed_from_memory.inc()
            return kept
        under_way = self._reading.get(sha256)
        if under_way is not None:
            self.hits += 1
            METRICS.relayed_from_memory.inc()
        else:
            # The read is a task of its own, which every download asking for the file awaits shielded,
            # the first one too: a download given up (its client gone, the handshake's time up) cancels
            # its own wait, never the read the others wait for (the first one's cancellation once
            # reached every other download of the file).
            under_way = self._reading[sha256] = asyncio.ensure_future(read_from_home())
            METRICS.relayed_from_home.inc()

            def done(task: asyncio.Future[bytes | None]) -> None:
                del self._reading[sha256]
                if not task.cancelled() and task.exception() is None:  # (retrieved: maybe nobody waits)
                    data = task.result()
                    if data is not None and len(data) == size:
                        self.put(sha256, data)

            under_way.add_done_callback(done)
        return await asyncio.shield(under_way)

    def _drop_oldest(self) -> None:
        _, (_, data) = self._files.popitem(last=False)
        self.size -= len(data)
