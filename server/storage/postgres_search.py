"""PostgreSQL reads for read markers (unread counts) and message search (the read pool),
and the search index's slices.

The search index is ``message_search`` (migration 20): a copy of the visible messages'
text (not held, not deleted) with the pg_trgm GIN index ``message_search_trgm``. No
commit that acknowledges a send touches it: new messages are copied into it after
their commit, in slices (:func:`index_slice`, a transaction of its own, a few thousand
seqs at a time) by a background task of the node that writes, on a connection of its
own (``PostgresStore._index_run``). Each group's copy holds its messages up to
``search_progress.indexed_seq``; edits, holds, releases, recalls and purges of the
messages up to there change it at once, by triggers, in their own transaction. A
search reads the seqs above that mark (the newest, not yet indexed) directly from
``messages``, so it never waits for indexing and never misses a message just sent.

Search is a case-insensitive substring match over the visible messages of one
group, newest first. Case is folded as SQLite's index folds it
(:mod:`server.storage.search_fold`), not as ``ILIKE`` would (``lower()`` of the
collation: ``ς`` is not ``σ`` there, ``ſ`` not ``s``, ``İ`` is ``i``), so both backends
find the same messages. A query of three characters or more whose characters each match
only themselves (Chinese, digits, ...) is tested with ``LIKE``; any other with a regular
expression (``~``) that lists, for each character, every character that matches it
(``[sSſ]``). Both are exact, and pg_trgm's index serves both as it serves ``ILIKE``.
Measured on 300,000 texts of words drawn as in natural text, a regular expression costs
what ``ILIKE`` did within a quarter either way, through the index or row by row; pg_trgm
takes fewer trigrams from a long expression (those at word edges go first), so a query
of several very common words and one short rare one can read more candidates than its
``ILIKE`` did. It goes in two steps:

1. the newest ``SEARCH_WINDOW`` seqs of the range through the primary key (a
   common word is answered here without touching the rest of the group); when that
   found some matches but too few, as many more seqs as that rate says are needed
   (up to ``EXTEND_MAX``) are read the same way: a fairly common word costs less so
   than through the index, which would fetch every one of its matches;
2. if more are wanted, the rest of the range: for three characters or more
   (``LIKE`` or ``~``, as above), the seqs above the
   group's ``indexed_seq`` from ``messages`` through the primary key (the newest
   ``UNINDEXED_MAX`` of them at most: past that a search that needs more is refused
   ``rate_limited``), then those up to it through the trigram index of
   ``message_search`` (the matching seqs are gathered first, then the newest
   ``limit`` of them are read from ``messages``);
   two characters have no trigram, so they read the rest of the range through the
   primary key, newest first, testing each text with ``strpos`` for each way of
   writing the pair (several times cheaper than ``ILIKE``, which lowers every text
   first).

The copy holds each message's text as ``messages`` does, and both parts test it with
the same test: a message matches whichever part reads it.

Both run with ``plan_cache_mode = force_custom_plan``: the read pool's statements
are prepared once per connection, and a generic plan, made without the pattern,
cannot tell a rare word from a common one (it was seen to AND a whole-index
trigram scan with the primary key: seconds instead of milliseconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from protocol.errors import ContractError
from server.storage.base import HistoryRow
from server.storage.postgres_reads import HISTORY_EXTRAS, PostgresReads
from server.storage.search_fold import caseless, members, pair_variants, unsearchable

# (LOCK_SEARCH, hashtext(group id)): a slice exclusively for each group it indexes, the triggers of
# migration 21 shared for the group of the message they change.
LOCK_SEARCH = 0x5147_0008
SEARCH_WINDOW = 500  # seqs read through the primary key before the rest of the group
EXTEND_MAX = 30_000  # seqs more read that way when the window's matches say they will do
SEQ_END = 1 << 62  # above any seq
# Unindexed seqs one search reads directly below its window, at most. A group's backlog is
# normally a few milliseconds' worth; a large one (the index task stopped for long: the database
# unreachable from it, a failover after a flood) would be scanned whole, row by row, by every
# search that looks past the newest matches. Past this bound a search reads the newest that many
# and, when those do not fill the page, is refused ``rate_limited`` (retry_after_ms) while the
# index task takes that group first: an answer never skips unindexed messages it did not read.
UNINDEXED_MAX = 50_000
SEARCH_BEHIND_RETRY_MS = 1000

_COLS = f"seq, ts, sender_id, sender_role, text, deleted_at IS NOT NULL, {HISTORY_EXTRAS}"
_RANGE = "group_id = $1 AND seq > $2 AND seq < $3 AND held = 0 AND deleted_at IS NULL"
# A query of three characters or more: `text LIKE $5` or `text ~ $5` (see match_test).
_SCAN = f"SELECT {_COLS} FROM messages WHERE {_RANGE} AND {{}} ORDER BY seq DESC LIMIT $4"
# MATERIALIZED: the matching seqs come from the trigram index, never from walking the key backwards.
# (The copy holds visible messages only; the test on messages is for what a reader may see.)
_TRIGRAM = ("WITH hit AS MATERIALIZED (SELECT seq FROM message_search"
            " WHERE group_id = $1 AND seq > $2 AND seq < $3 AND {})"
            f" SELECT {_COLS} FROM messages WHERE group_id = $1"
            " AND seq IN (SELECT seq FROM hit ORDER BY seq DESC LIMIT $4)"
            " AND held = 0 AND deleted_at IS NULL ORDER BY seq DESC")
_TESTS = {"like": "text LIKE $5", "regex": "text ~ $5"}
_SCANS = {k: _SCAN.format(v) for k, v in _TESTS.items()}
_TRIGRAMS = {k: _TRIGRAM.format(v) for k, v in _TESTS.items()}
# A group's last seq and how far its index reaches.
_INDEX_STATE = ("SELECT g.last_seq, COALESCE(p.indexed_seq, 0) FROM groups g"
                " LEFT JOIN search_progress p ON p.group_id = g.group_id WHERE g.group_id = $1")
# Every group the index lags behind: (group id, last seq, indexed seq); the backlog at a start.
BACKLOG = ("SELECT g.group_id, g.last_seq, COALESCE(p.indexed_seq, 0) FROM groups g"
           " LEFT JOIN search_progress p ON p.group_id = g.group_id WHERE g.last_seq > COALESCE(p.indexed_seq, 0)")
# The groups of the plan whose lock this slice got (one not free: a change of its messages in flight).
_TRY_LOCKS = (f"SELECT g FROM unnest($1::text[]) AS x(g) WHERE pg_try_advisory_xact_lock({LOCK_SEARCH}, hashtext(g))")
_SLICE_STATE = ("SELECT x.g, COALESCE(p.indexed_seq, 0), g.last_seq FROM unnest($1::text[]) AS x(g)"
                " JOIN groups g ON g.group_id = x.g LEFT JOIN search_progress p ON p.group_id = x.g")
_SLICE_COPY = ("INSERT INTO message_search (group_id, seq, text)"
               " SELECT m.group_id, m.seq, m.text FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(g, lo, hi)"
               " JOIN messages m ON m.group_id = r.g AND m.seq > r.lo AND m.seq <= r.hi"
               " WHERE m.held = 0 AND m.deleted_at IS NULL")
_SLICE_MARK = ("INSERT INTO search_progress (group_id, indexed_seq) SELECT * FROM unnest($1::text[], $2::bigint[])"
               " ON CONFLICT (group_id) DO UPDATE SET indexed_seq = EXCLUDED.indexed_seq")
_FENCE = "SELECT qunguan_fence($1, $2)"
# The trigram index's pending list into the index proper (a search reads the whole list).
MERGE_PENDING = "SELECT gin_clean_pending_list('message_search_trgm'::regclass)"


async def index_slice(db: asyncpg.Connection, plan: Sequence[tuple[str, int]],
                      fence: tuple[str, int] | None) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """One transaction on ``db``: for each (group id, at most this many seqs) of ``plan``, the
    group's visible messages past its indexed_seq are copied into ``message_search`` and
    indexed_seq moves up. ``fence``: a cluster home's lease, which the transaction must still hold.

    Returns each indexed group's (last seq read, indexed seq now), and the groups left for later
    because a change of their messages holds their lock (see migration 21). A group gone is in
    neither. A slice never waits for a lock: a change of messages waits for at most the slice
    that holds its group's.
    """
    want = dict(plan)
    async with db.transaction():
        if fence is not None:
            await db.execute(_FENCE, *fence)
        locked = {r[0] for r in await db.fetch(_TRY_LOCKS, sorted(want))}
        busy = [gid for gid in want if gid not in locked]
        state: dict[str, tuple[int, int]] = {}
        if not locked:
            return state, busy
        ranges: list[tuple[str, int, int]] = []
        for gid, done, last in await db.fetch(_SLICE_STATE, sorted(locked)):
            upto = min(int(last), int(done) + want[gid])
            if upto > done:
                ranges.append((gid, int(done), upto))
            state[gid] = (int(last), max(upto, int(done)))
        if ranges:
            gids, los, his = (list(col) for col in zip(*ranges, strict=True))
            await db.execute(_SLICE_COPY, gids, los, his)
            await db.execute(_SLICE_MARK, gids, his)
    return state, busy


def like_pattern(query: str) -> str:
    """``%query%`` with the query's ``\\``, ``%`` and ``_`` taken literally."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _regex_char(ch: str) -> str:
    if ch.isascii() and ch.isalnum():
        return ch
    return f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}"


def match_test(query: str) -> tuple[str, str]:
    """How a query of three characters or more is tested (a key of ``_TESTS``), and its argument:
    ``LIKE '%query%'`` when each character matches only itself, else a regular expression with,
    for each character, every character that matches it (:func:`members`): ``[sSſ]``."""
    if caseless(query):
        return "like", like_pattern(query)
    parts = []
    for ch in query:
        alike = members(ch)
        one = "".join(_regex_char(c) for c in alike)
        parts.append(one if len(alike) == 1 else f"[{one}]")
    return "regex", "".join(parts)


def _pair_scan(variants: int) -> str:
    contains = " OR ".join(f"strpos(text, ${5 + i}) > 0" for i in range(variants))
    return f"SELECT {_COLS} FROM messages WHERE {_RANGE} AND ({contains}) ORDER BY seq DESC LIMIT $4"


def _row(r: Any) -> HistoryRow:
    return HistoryRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), *r[6:])


class PostgresSearchReads(PostgresReads):
    async def unread_counts(self, user_id: str, floors: dict[str, int]) -> dict[str, tuple[int, bool]]:
        """One query for all the groups: a range of each group's primary key (group_id, seq). A
        mention is the user's id, quoted, in the message's JSON array of ids (ids hold no quote)."""
        if not floors:
            return {}
        rows = await self._fetchall(
            "SELECT m.group_id, count(*),"
            " bool_or(m.mention_all <> 0 OR strpos(coalesce(m.mentions, ''), $4) > 0)"
            " FROM unnest($1::text[], $2::bigint[]) AS r(group_id, floor)"
            " JOIN messages m ON m.group_id = r.group_id AND m.seq > r.floor"
            " WHERE m.sender_id <> $3 AND m.held = 0 AND m.deleted_at IS NULL GROUP BY m.group_id",
            list(floors), list(floors.values()), user_id, f'"{user_id}"',
        )
        return {r[0]: (int(r[1]), bool(r[2])) for r in rows}

    async def search_messages(
        self, group_id: str, floor_seq: int, query: str, before: int | None, limit: int
    ) -> list[HistoryRow]:
        if len(query) < 2 or unsearchable(query) or limit < 1:
            return []  # (unsearchable: as on SQLite, whose index appends U+FFFF to every text)
        indexed_rest = len(query) > 2  # (two characters have no trigram: all read through the key)
        if indexed_rest:
            test, arg = match_test(query)
            window, rest, args = _SCANS[test], _TRIGRAMS[test], [arg]
        else:
            variants = pair_variants(query)
            window = rest = _pair_scan(len(variants))
            args = variants
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            state = await conn.fetchrow(_INDEX_STATE, group_id)
            if state is None:
                return []
            # `indexed` is read once, before every read below: the copy holds every visible
            # seq up to it from then on (the mark never moves back).
            last, indexed = int(state[0]), int(state[1])
            lo = max(floor_seq, 0)  # results have lo < seq < hi
            hi = min(int(last) + 1, SEQ_END if before is None else before)
            if hi <= lo + 1:
                return []
            mid = max(lo, hi - 1 - SEARCH_WINDOW)
            found = [_row(r) for r in await conn.fetch(window, group_id, mid, hi, limit, *args)]
            if found and len(found) < limit and mid > lo and indexed_rest:
                need = 2 * (hi - 1 - mid) * (limit - len(found)) // len(found)  # twice what the rate says
                if need <= EXTEND_MAX:
                    top, mid = mid + 1, max(lo, mid - need)
                    found += [_row(r) for r in await conn.fetch(window, group_id, mid, top, limit - len(found), *args)]
            if len(found) < limit and mid > lo and indexed_rest:
                split = max(lo, min(indexed, mid))  # seqs above it are not in the index yet: read directly
                bounded = mid - split > UNINDEXED_MAX
                upto = mid - UNINDEXED_MAX if bounded else split
                if mid > upto:
                    found += [_row(r) for r in await conn.fetch(window, group_id, upto, mid + 1, limit - len(found),
                                                                *args)]
                if bounded and len(found) < limit:  # (seqs split < seq <= upto were not read)
                    self._index_soon(group_id)
                    raise ContractError(
                        "rate_limited", "this group's latest messages are still being indexed for search: "
                        "search again in a moment", retry_after_ms=SEARCH_BEHIND_RETRY_MS)
                mid = split
            if len(found) < limit and mid > lo:
                found += [_row(r) for r in await conn.fetch(rest, group_id, lo, mid + 1, limit - len(found), *args)]
        if indexed < hi - 1:
            self._index_soon(group_id)
        return found

    def _index_soon(self, group_id: str) -> None:
        """A search read some of the group's messages directly: index that group next (the store)."""
