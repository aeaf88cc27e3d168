"""SQLite reads for read markers (unread counts) and message search, on the reader connection.

The search index is ``message_search`` (schema version 12): an FTS5 table with the
trigram tokenizer over the visible messages, kept in step with ``messages`` by
triggers for edits, holds released, deletions and purges. New messages are indexed
after their commit, never in it, and not at once: the writer indexes them with
:func:`index_slice` (a transaction of its own, a few hundred messages at a time) when
it has been idle for a moment, or between batches once a large backlog waits (see
``sqlite.INDEX_QUIET``). Each group's index holds its messages up to ``indexed_seq``;
a search reads the seqs above that (the newest, not yet indexed) directly from
``messages``, then the index for the rest. So a search never waits for indexing, and
a saturated server spends nothing on the index until it has time. The index's
segments are merged by the writer too, in small steps (:func:`merge_step`), not by
FTS5's automerge, whose merges take tens of milliseconds at once. A message's key in
the index is ``(n << 32) | seq`` where ``n`` is its group's number in
``search_groups``, so one group's messages are one key range in seq order and a
search reads that range from the newest end, stopping at ``limit``.

- Three characters or more: one phrase query (``MATCH``); the trigram tokenizer
  turns it into consecutive trigrams, which is a case-insensitive substring match.
- Read directly (the unindexed seqs): ``LIKE``, which folds ASCII case only, so a
  query of three characters or more with a cased letter outside ASCII (``É``, ``Ж``)
  has the writer index its group's backlog first and reads the index alone, whose
  folding covers every script. The two characters outside ASCII that the index folds
  to ASCII letters (``K`` Kelvin to ``k``, ``ſ`` to ``s``) are replaced in the text
  before the ``LIKE`` when the query has that letter. A query whose characters match
  only themselves (Chinese, digits) is read with ``instr``, a quarter cheaper than
  ``LIKE``. What matches what is :mod:`server.storage.search_fold`: exactly the index's
  folding, so a message matches the same queries read directly or through the index.
  A direct read of more than ``SCAN_SPLIT_SEQS`` seqs is split in ``len(scanners)``
  parts of the range read at once on connections of their own (SQLite reads outside the GIL, so each part gets
  a core), newest part first in the answer; and no direct read holds up the handlers'
  reads on the reader connection.
- Two characters (too short for a trigram): first the newest ``SEARCH_WINDOW``
  messages of the range (and any unindexed above them) are read directly (common pairs are answered here); then,
  if more are wanted, the instances of every trigram that starts with the pair
  (each indexed text ends with U+FFFF, so every occurrence of the pair starts one)
  are read from the index's ``fts5vocab`` table in one pass over that range of terms:
  the cost follows how often the pair occurs in the whole store, not how many
  different trigrams begin with it (an ``OR`` of those trigrams costs a lookup per
  trigram per index segment: 100 ms and more for a pair of common characters).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite

from server.storage.base import HistoryRow
from server.storage.search_fold import caseless, fold, members, pair_variants, unsearchable
from server.storage.sqlite_reads import HISTORY_EXTRAS, SqliteReader

SEARCH_WINDOW = 2000  # seqs a two-character search reads directly before asking the index
SCAN_SPLIT_SEQS = 20_000  # a direct read of a longer range is split over the scanner connections
KEY_SHIFT = 32  # a message's index key is (group number << 32) | seq
SEQ_END = 1 << KEY_SHIFT  # seqs of one group in the index stay below this (keys are base + seq)
LAST_CHAR = "\U0010ffff"

# Where each of some groups' index stands: (group id, group number, indexed_seq, last_seq).
_INDEX_LAG = ("SELECT s.group_id, s.n, s.indexed_seq, g.last_seq FROM search_groups s"
              " JOIN groups g ON g.group_id = s.group_id WHERE s.group_id IN ({})")
# One statement for every range of a slice (FTS5 makes a segment of what one transaction adds).
_INDEX_RANGES = ("WITH r(group_id, n, lo, hi) AS (VALUES {})"
                 " INSERT INTO message_search (rowid, text) SELECT (r.n << 32) | m.seq, m.text || char(65535)"
                 " FROM r CROSS JOIN messages m ON m.group_id = r.group_id AND m.seq > r.lo AND m.seq <= r.hi"
                 " WHERE m.held = 0 AND m.deleted_at IS NULL")
# A group's number in the index, how far its index reaches, and its last seq.
_INDEX_STATE = ("SELECT s.n, s.indexed_seq, g.last_seq FROM search_groups s JOIN groups g"
                " ON g.group_id = s.group_id WHERE s.group_id = ?")
# Every group the index lags behind, and by how many seqs (the writer's backlog at start).
BACKLOG = ("SELECT g.group_id, g.last_seq - s.indexed_seq FROM groups g JOIN search_groups s"
           " ON s.group_id = g.group_id WHERE g.last_seq > s.indexed_seq")
# The writer merges the index's segments itself (merge_step), a few pages at a time, once a
# level of the index has 8 segments (FTS5's default is 4: each message is rewritten by fewer
# merges, 15-30 % less writing measured, and a search reads a few more segments).
INDEX_SETTINGS = ("INSERT INTO message_search (message_search, rank) VALUES ('automerge', 0)",
                  "INSERT INTO message_search (message_search, rank) VALUES ('usermerge', 8)")


def index_slice(db: sqlite3.Connection, plan: Sequence[tuple[str, int | None]]) -> tuple[list[tuple[str, int]], int]:
    """One transaction on ``db`` (a plain connection in autocommit mode): for each (group id,
    at most this many seqs, or None for all) of ``plan``, the group's visible messages past its
    indexed_seq go into the index and indexed_seq moves up.

    Returns each planned group's lag left (seqs not yet indexed) and how many seqs were covered.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        want = dict(plan)
        left = dict.fromkeys(want, 0)
        ranges: list[tuple[str, int, int, int]] = []
        for gid, n, done, last in db.execute(_INDEX_LAG.format(", ".join(["?"] * len(want))), list(want)):
            budget = want[gid]
            upto = last if budget is None else min(last, done + budget)
            if upto > done:
                ranges.append((gid, n, done, upto))
            left[gid] = max(last - upto, 0)
        if ranges:
            db.execute(_INDEX_RANGES.format(", ".join("(?, ?, ?, ?)" for _ in ranges)),
                       [x for r in ranges for x in r])
            db.executemany("UPDATE search_groups SET indexed_seq = ? WHERE n = ?", [(hi, n) for _, n, _, hi in ranges])
        db.execute("COMMIT")
    except BaseException:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise
    return list(left.items()), sum(hi - lo for _, _, lo, hi in ranges)


def merge_step(db: sqlite3.Connection, pages: int) -> bool:
    """Merge some of the index's segments (about ``pages`` pages written), as one transaction.

    Only levels with enough segments to merge (FTS5's usermerge) or a merge already begun
    are touched; returns whether there was any such work.
    """
    before = db.total_changes
    db.execute("INSERT INTO message_search (message_search, rank) VALUES ('merge', ?)", (pages,))
    return db.total_changes - before >= 2  # FTS5 counts one change even when there was nothing to merge


# messages.* qualified: the index has a column named text too.
_COLS = ("messages.seq, messages.ts, messages.sender_id, messages.sender_role, messages.text,"
         f" messages.deleted_at IS NOT NULL, {HISTORY_EXTRAS}")
# CROSS JOIN keeps the index as the outer loop: it yields keys newest first, each looked up once.
_INDEXED = (f"SELECT {_COLS} FROM message_search f CROSS JOIN messages"
            " ON messages.group_id = ? AND messages.seq = f.rowid - ?"
            " WHERE message_search MATCH ? AND f.rowid > ? AND f.rowid < ?"
            " AND messages.held = 0 AND messages.deleted_at IS NULL ORDER BY f.rowid DESC LIMIT ?")


# Two characters: the trigrams that begin with them are one range of the index's terms;
# their instances (one pass over that range, however many terms) give the keys, newest first.
_PAIR = (f"SELECT {_COLS} FROM (SELECT DISTINCT doc FROM message_search_instances"
         " WHERE term >= ? AND term <= ? AND doc > ? AND doc < ? ORDER BY doc DESC LIMIT ?) AS d"
         " CROSS JOIN messages ON messages.group_id = ? AND messages.seq = d.doc - ?"
         " WHERE messages.held = 0 AND messages.deleted_at IS NULL ORDER BY d.doc DESC")


def split_range(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    """The seqs lo < seq < hi in ``parts`` ranges of the same form, the newest first."""
    edges = [lo + (hi - 1 - lo) * k // parts for k in range(parts + 1)]  # from lo to the last seq, hi - 1
    return [(edges[k], edges[k + 1] + 1) for k in reversed(range(parts))]


def scannable(query: str) -> bool:
    """Whether ``LIKE`` (ASCII case folding, after :func:`strays`' replacements) matches exactly
    what the index's case folding matches for ``query``: every character is ASCII or matches
    only itself (Chinese, digits, ...)."""
    return all(ord(c) < 128 or len(members(c)) == 1 for c in query)


def strays(query: str) -> list[tuple[str, str]]:
    """The characters outside ASCII that the index folds to an ASCII letter of ``query``
    (``K`` Kelvin for ``k``, ``ſ`` for ``s``), each with that letter: ``LIKE`` does not fold them."""
    letters = {c for c in query if ord(c) < 128}
    return sorted({(x, fold(x)) for c in letters for x in members(c) if ord(x) >= 128})


def like_pattern(query: str) -> str:
    """``query`` as a ``LIKE ... ESCAPE '\\'`` pattern that matches it anywhere in a text."""
    return "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def phrase(text: str) -> str:
    """``text`` as one FTS5 string: nothing in it is query syntax."""
    return '"' + text.replace('"', '""') + '"'


def _row(r: Any) -> HistoryRow:
    return HistoryRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), *r[6:])


class SqliteSearchReads(SqliteReader):
    # Read-only connections for direct reads (see the module's docstring), opened by the store.
    scanners: list[aiosqlite.Connection]

    async def _catch_up_index(self, group_id: str) -> None:
        """Have the writer index all of the group's messages the index lacks; returns after its commit."""
        raise NotImplementedError  # the store's writer does it (SqliteStore)

    async def unread_counts(self, user_id: str, floors: dict[str, int]) -> dict[str, tuple[int, bool]]:
        """One query for all the groups: a range of each group's primary key (group_id, seq). A
        mention is the user's id, quoted, in the message's JSON array of ids (ids hold no quote)."""
        if not floors:
            return {}
        values = ", ".join("(?, ?)" for _ in floors)
        params: list[Any] = [x for item in floors.items() for x in item]
        rows = await self._fetchall(
            f"WITH r(group_id, floor) AS (VALUES {values})"
            " SELECT m.group_id, COUNT(*),"
            " MAX(m.mention_all <> 0 OR instr(coalesce(m.mentions, ''), ?) > 0)"
            " FROM r CROSS JOIN messages m ON m.group_id = r.group_id AND m.seq > r.floor"
            " WHERE m.sender_id <> ? AND m.held = 0 AND m.deleted_at IS NULL GROUP BY m.group_id",
            [*params, f'"{user_id}"', user_id],
        )
        return {gid: (int(n), bool(mentioned)) for gid, n, mentioned in rows}

    def _index_soon(self, group_id: str) -> None:
        """A search read some of the group's messages directly: index that group next."""

    async def search_messages(
        self, group_id: str, floor_seq: int, query: str, before: int | None, limit: int
    ) -> list[HistoryRow]:
        if len(query) < 2 or unsearchable(query) or limit < 1:
            return []
        state = await self._fetchone(_INDEX_STATE, (group_id,))
        if state is None:
            return []
        n, indexed, last = (int(x) for x in state)
        if indexed < last and len(query) >= 3 and not scannable(query):
            await self._catch_up_index(group_id)  # LIKE cannot fold this query's case: the index alone
            indexed = last
        base = n << KEY_SHIFT
        lo = max(floor_seq, 0)  # results have lo < seq < hi
        hi = min(last + 1, SEQ_END if before is None else before, SEQ_END)
        if hi <= lo + 1:
            return []
        # Seqs above `split` are read directly (newest first), those up to it through the index.
        # `indexed` was read once, before both: the index holds every visible seq up to it.
        split = max(lo, min(indexed, hi - 1))
        if len(query) == 2:
            split = max(lo, min(split, hi - 1 - SEARCH_WINDOW))
            read = self._scan if scannable(query) else self._recent  # (one LIKE, or each variant)
            found = await read(group_id, split, hi, query, limit)
        elif hi - 1 > split:
            found = await self._scan(group_id, split, hi, query, limit)
        else:
            found = []
        if indexed < hi - 1:
            self._index_soon(group_id)
        if len(found) >= limit or split <= lo:
            return found
        if len(query) >= 3:
            return found + await self._indexed(group_id, base, lo, split + 1, phrase(query), limit - len(found))
        pair = fold(query)  # as the index's terms are folded
        rows = await self._fetchall(_PAIR, (pair, pair + LAST_CHAR, base + lo, base + split + 1,
                                            limit - len(found), group_id, base))
        return found + [_row(r) for r in rows]

    async def _scan(self, group_id: str, lo: int, hi: int, query: str, limit: int) -> list[HistoryRow]:
        """Messages with lo < seq < hi containing ``query`` (a :func:`scannable` one), read directly."""
        if caseless(query):
            return await self._read_directly(group_id, lo, hi, "instr(text, ?) > 0", [query], limit)
        text = "text"  # with strays() replaced
        params: list[str] = []
        for stray, letter in strays(query):
            text, params = f"replace({text}, ?, ?)", [*params, stray, letter]
        return await self._read_directly(group_id, lo, hi, f"{text} LIKE ? ESCAPE '\\'",
                                         [*params, like_pattern(query)], limit)

    async def _indexed(self, group_id: str, base: int, lo: int, hi: int, expr: str, limit: int) -> list[HistoryRow]:
        """Matches of ``expr`` with lo < seq < hi, newest first, through the index."""
        rows = await self._fetchall(_INDEXED, (group_id, base, expr, base + lo, base + hi, limit))
        return [_row(r) for r in rows]

    async def _recent(self, group_id: str, lo: int, hi: int, pair: str, limit: int) -> list[HistoryRow]:
        """Messages with lo < seq < hi containing the two characters ``pair`` as the index folds them
        (any of their :func:`members`), read directly."""
        variants = pair_variants(pair)
        contains = "(" + " OR ".join("instr(text, ?) > 0" for _ in variants) + ")"
        return await self._read_directly(group_id, lo, hi, contains, variants, limit)

    async def _read_directly(self, group_id: str, lo: int, hi: int, contains: str, params: list[str],
                             limit: int) -> list[HistoryRow]:
        """Visible messages with lo < seq < hi whose text satisfies ``contains``, newest first, from ``messages``.

        A long range is read in parts at once, one per scanner: the older parts' reads may be
        wasted when the newest finds ``limit`` rows, which costs a core that would otherwise
        wait, not time.
        """
        sql = (f"SELECT {_COLS} FROM messages WHERE group_id = ? AND seq > ? AND seq < ?"
               f" AND held = 0 AND deleted_at IS NULL AND {contains} ORDER BY seq DESC LIMIT ?")
        conns = self.scanners
        assert conns, "the store is not open"
        parts = split_range(lo, hi, len(conns)) if hi - lo > SCAN_SPLIT_SEQS else [(lo, hi)]
        reads = [conn.execute_fetchall(sql, (group_id, a, b, *params, limit))
                 for conn, (a, b) in zip(conns, parts, strict=False)]
        found = [r for rows in await asyncio.gather(*reads) for r in rows]
        return [_row(r) for r in found[:limit]]
