"""The ``client_msg_id``s of the last day, so that a retried ``send`` gets its first ``seq``.

The contract: resending with the same ``client_msg_id`` (same user, same group, within 24
hours) returns the first ``seq`` and stores nothing new. Held as one full entry per send for
a day, that cost about 500 bytes a message, and the sweep that dropped the old ones walked
all of them on the event loop once a minute (84 ms for a million: a stall a busy server had
every minute). So two tiers:

- **recent**: the full entry (:class:`server.state.SentMessage`) of every send accepted in
  the last :data:`RECENT_MS`, and of every send not committed yet. A retry found here is
  answered from memory, or waits for the first copy's commit.
- **older**, up to a day: a 64-bit digest of the key mapped to the ``seq`` (about 125
  bytes a message, one dictionary lookup a send), with each hour's digests listed apart
  so that they can be dropped once the whole hour is over a day old. A digest can
  collide, so a hit is only a lead: ``send`` reads that one message by its primary key
  (group, seq) and answers the retry
  only if the stored row has this sender and this ``client_msg_id`` and is under a day old.
  So a collision can never answer a new message with another's seq; at worst, when two keys
  of one day share a digest (at a billion sends a day, about once a month), a retry of the
  one with the smaller seq is stored as a new message.

Entries move from the first tier to the second in slices (:meth:`SentIds.age`), and an
expired hour is dropped in slices (:meth:`SentIds.free_some`), so no step walks a day of
messages in one loop iteration.
"""

from __future__ import annotations

import logging
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from governance.retention import DAY_MS

log = logging.getLogger("qunguan")

if TYPE_CHECKING:
    from server.state import SentMessage

Key = tuple[str, str, str]  # (group id, sender's user id, client_msg_id)

RECENT_MS = 120_000  # far longer than any await a send makes, so a copy accepted meanwhile is here
BUCKET_MS = 3_600_000  # digests are dropped an hour at a time
SLICE = 20_000  # entries moved or freed per call: a few milliseconds
SHARDS = 1024  # digest tables: at 20 million ids a day, one grows by ~20,000 at a time
MASK = SHARDS - 1
STUCK_MS = 600_000  # an entry uncommitted this long is a bug: logged, and it no longer holds up the rest


class SentIds:
    def __init__(self, digest: Callable[[Key], int] = hash) -> None:
        # ``hash`` of a tuple of strings: 64 bits, salted per process, which is all an
        # in-memory index needs; tests pass a colliding one.
        self.digest = digest
        self.recent: dict[Key, SentMessage] = {}
        self._queue: deque[tuple[int, Key, SentMessage]] = deque()  # recent entries, oldest first
        # digest -> seq, in SHARDS tables chosen by the digest's low bits: one lookup a send,
        # and a table that grows or shrinks is rebuilt a shard at a time, never a day at once.
        self._older: list[dict[int, int]] = [{} for _ in range(SHARDS)]
        self._hours: dict[int, array[int]] = {}  # hour -> digest, seq, digest, seq, ...: what to drop when
        self._retiring: list[array[int]] = []

    def __len__(self) -> int:
        return len(self.recent) + sum(len(t) for t in self._older)

    # -- the recent tier -------------------------------------------------------------------------
    def remember(self, key: Key, sent: SentMessage, now: int) -> None:
        """A send accepted at ``now`` before its commit (or a stored one a retry just read)."""
        self.recent[key] = sent
        self._queue.append((now, key, sent))

    def forget(self, key: Key, sent: SentMessage) -> None:
        """A send whose write failed: the id is not used up (a later send with it is new)."""
        if self.recent.get(key) is sent:
            del self.recent[key]

    def released(self, group_id: str, sender_id: str, seq: int) -> None:
        """An operator released held message ``seq``: a retry of it from now on is told it was
        accepted, not held (the older tier keeps no flag: its retries read the store). Walks the
        recent tier, two minutes of sends, once per release."""
        for (gid, sid, _), sent in self.recent.items():
            if sent.seq == seq and gid == group_id and sid == sender_id:
                sent.held = False

    # -- the older tier ------------------------------------------------------------------------
    def add_older(self, key: Key, seq: int, ts: int) -> None:
        d = self.digest(key)
        table = self._older[d & MASK]
        if seq > table.get(d, 0):  # one key is one group: its later copy has the larger seq
            table[d] = seq
        hour = self._hours.get(ts // BUCKET_MS)
        if hour is None:
            hour = self._hours[ts // BUCKET_MS] = array("q")
        hour.append(d)
        hour.append(seq)

    def add_older_rows(self, rows: Iterable[tuple[str, str, str, int, int]]) -> None:
        """:meth:`add_older` for many (group id, sender, client_msg_id, seq, ts) rows: the loader's
        loop at a takeover, with the lookups hoisted and the hour's list kept across rows in ts
        order (1.9 µs a row instead of 3.9, measured over a million)."""
        older, hours, digest = self._older, self._hours, self.digest
        hour_no, hour = -1, array("q")
        for gid, uid, cmid, seq, ts in rows:
            d = digest((gid, uid, cmid))
            table = older[d & MASK]
            if seq > table.get(d, 0):
                table[d] = seq
            if ts // BUCKET_MS != hour_no:
                hour_no = ts // BUCKET_MS
                found = hours.get(hour_no)
                if found is None:
                    found = hours[hour_no] = array("q")
                hour = found
            hour.append(d)
            hour.append(seq)

    def older_seq(self, key: Key) -> int | None:
        """The seq an older send with this key had, if its digest is known (a lead, not a proof)."""
        d = self.digest(key)
        return self._older[d & MASK].get(d)

    # -- upkeep, a slice at a time ------------------------------------------------------------------
    def age(self, now: int, limit: int = SLICE) -> bool:
        """Move committed entries remembered over :data:`RECENT_MS` ago to the older tier and
        retire the hours wholly over a day old. True when a slice was full: call again."""
        queue, recent = self._queue, self.recent
        cutoff = now - RECENT_MS
        moved = 0
        while queue and moved < limit:
            queued_at, key, sent = queue[0]
            if queued_at > cutoff:
                break
            if recent.get(key) is sent:
                if not sent.committed:
                    if queued_at > now - STUCK_MS:
                        break  # its commit is under way: it settles within seconds
                    log.error("client_msg_id entry %r uncommitted for %d s: left out of aging", key,
                              (now - queued_at) // 1000)
                else:
                    del recent[key]
                    self.add_older(key, sent.seq, sent.ts)
            queue.popleft()  # (a failed send, or a later entry under the same key: skipped)
            moved += 1
        oldest_kept = (now - DAY_MS) // BUCKET_MS
        for hour in [h for h in self._hours if h < oldest_kept]:
            self._retiring.append(self._hours.pop(hour))
        return moved >= limit

    def free_some(self, limit: int = SLICE) -> bool:
        """Drop part of a retired hour's digests. True while some remain."""
        older, n = self._older, 0
        while self._retiring and n < limit:
            hour = self._retiring[-1]
            while hour and n < limit:
                seq = hour.pop()
                d = hour.pop()
                table = older[d & MASK]
                if table.get(d) == seq:  # not replaced by a later copy meanwhile
                    del table[d]
                n += 1
            if not hour:
                self._retiring.pop()
        return bool(self._retiring)
