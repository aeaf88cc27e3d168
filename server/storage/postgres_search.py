"""PostgreSQL reads for read markers (unread counts) and message search (the read pool).

Search is a case-insensitive substring match over the visible messages of one
group, newest first, in two steps:

1. the newest ``SEARCH_WINDOW`` seqs of the range through the primary key (a
   common word is answered here without touching the rest of the group); when that
   found some matches but too few, as many more seqs as that rate says are needed
   (up to ``EXTEND_MAX``) are read the same way: a fairly common word costs less so
   than through the index, which would fetch every one of its matches;
2. if more are wanted, the rest of the range: for three characters or more
   ``text ILIKE '%query%'`` (wildcards in the query escaped) through the pg_trgm
   GIN index ``messages_text_trgm`` (the matching seqs are gathered first, then
   the newest ``limit`` of them are read); two characters have no trigram, so they
   read the rest of the range through the primary key, newest first, testing each
   text with ``strpos`` for the pair in each of its letter cases (several times
   cheaper than ``ILIKE``, which lowers every text first).

Both run with ``plan_cache_mode = force_custom_plan``: the read pool's statements
are prepared once per connection, and a generic plan, made without the pattern,
cannot tell a rare word from a common one (it was seen to AND a whole-index
trigram scan with the primary key: seconds instead of milliseconds).
"""

from __future__ import annotations

from itertools import product
from typing import Any

from server.storage.base import HistoryRow
from server.storage.postgres_reads import HISTORY_EXTRAS, PostgresReads

SEARCH_WINDOW = 500  # seqs read through the primary key before the rest of the group
EXTEND_MAX = 30_000  # seqs more read that way when the window's matches say they will do
SEQ_END = 1 << 62  # above any seq

_COLS = f"seq, ts, sender_id, sender_role, text, deleted_at IS NOT NULL, {HISTORY_EXTRAS}"
_RANGE = "group_id = $1 AND seq > $2 AND seq < $3 AND held = 0 AND deleted_at IS NULL"
_SCAN = f"SELECT {_COLS} FROM messages WHERE {_RANGE} AND text ILIKE $5 ORDER BY seq DESC LIMIT $4"
# MATERIALIZED: the matching seqs come from the trigram index, never from walking the key backwards.
_TRIGRAM = (f"WITH hit AS MATERIALIZED (SELECT seq FROM messages WHERE {_RANGE} AND text ILIKE $5)"
            f" SELECT {_COLS} FROM messages WHERE group_id = $1"
            " AND seq IN (SELECT seq FROM hit ORDER BY seq DESC LIMIT $4) ORDER BY seq DESC")


def like_pattern(query: str) -> str:
    """``%query%`` with the query's ``\\``, ``%`` and ``_`` taken literally."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def pair_variants(pair: str) -> list[str]:
    """The two characters in each combination of their cases (one for characters without case)."""
    cases = [{c for c in (ch, ch.lower(), ch.upper()) if len(c) == 1} for ch in pair]
    return sorted({a + b for a, b in product(*cases)})


def _pair_scan(variants: int) -> str:
    contains = " OR ".join(f"strpos(text, ${5 + i}) > 0" for i in range(variants))
    return f"SELECT {_COLS} FROM messages WHERE {_RANGE} AND ({contains}) ORDER BY seq DESC LIMIT $4"


def _row(r: Any) -> HistoryRow:
    return HistoryRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), *r[6:])


class PostgresSearchReads(PostgresReads):
    async def unread_counts(self, user_id: str, floors: dict[str, int]) -> dict[str, int]:
        """One query for all the groups: a range of each group's primary key (group_id, seq)."""
        if not floors:
            return {}
        rows = await self._fetchall(
            "SELECT m.group_id, count(*) FROM unnest($1::text[], $2::bigint[]) AS r(group_id, floor)"
            " JOIN messages m ON m.group_id = r.group_id AND m.seq > r.floor"
            " WHERE m.sender_id <> $3 AND m.held = 0 AND m.deleted_at IS NULL GROUP BY m.group_id",
            list(floors), list(floors.values()), user_id,
        )
        return {r[0]: int(r[1]) for r in rows}

    async def search_messages(
        self, group_id: str, floor_seq: int, query: str, before: int | None, limit: int
    ) -> list[HistoryRow]:
        if len(query) < 2 or limit < 1:
            return []
        if len(query) == 2:
            variants = pair_variants(query)
            window, rest, args = _pair_scan(len(variants)), _pair_scan(len(variants)), variants
        else:
            window, rest, args = _SCAN, _TRIGRAM, [like_pattern(query)]
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            last = await conn.fetchval("SELECT last_seq FROM groups WHERE group_id = $1", group_id)
            if last is None:
                return []
            lo = max(floor_seq, 0)  # results have lo < seq < hi
            hi = min(int(last) + 1, SEQ_END if before is None else before)
            if hi <= lo + 1:
                return []
            mid = max(lo, hi - 1 - SEARCH_WINDOW)
            found = [_row(r) for r in await conn.fetch(window, group_id, mid, hi, limit, *args)]
            if found and len(found) < limit and mid > lo and rest is _TRIGRAM:
                need = 2 * (hi - 1 - mid) * (limit - len(found)) // len(found)  # twice what the rate says
                if need <= EXTEND_MAX:
                    top, mid = mid + 1, max(lo, mid - need)
                    found += [_row(r) for r in await conn.fetch(window, group_id, mid, top, limit - len(found), *args)]
            if len(found) < limit and mid > lo:
                found += [_row(r) for r in await conn.fetch(rest, group_id, lo, mid + 1, limit - len(found), *args)]
        return found
