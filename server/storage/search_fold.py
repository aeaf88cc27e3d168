"""The case folding message search promises, on both backends: the one SQLite's FTS5 index applies.

The SQLite search index (``message_search``, the trigram tokenizer with ``case_sensitive 0``)
folds every character of a text and of a query to one character: Unicode's *simple* case
folding (CaseFolding.txt, statuses C and S) as of Unicode 6.1, the tables compiled into
SQLite's FTS5. So ``ς`` and ``Σ`` fold to ``σ``, ``ſ`` to ``s``, ``K`` (Kelvin) to ``k``,
``ẞ`` to ``ß``; ``ß`` stays ``ß`` (no full folding to ``ss``), ``İ`` and ``ı`` stay
themselves, and letters given a case after 6.1 (Cherokee small letters, Georgian
Mtavruli, ...) match only themselves. SQLite's UTF-8 reader also reads U+FFFE and U+FFFF
as U+FFFD. Python's ``str.lower`` and ``str.casefold`` differ from this in all those places,
and PostgreSQL's ``ILIKE`` (``lower()`` of the collation) in others.

So the table is not written down here: :func:`fold_table` asks the SQLite library itself, once
per process, what its tokenizer makes of every character that could fold (those whose Python
``casefold`` differs, a superset: case folding is stable, and Python's Unicode is newer). Every
part of search that does not read the index (the direct reads of unindexed messages, the
two-character index lookup, the PostgreSQL backend) matches by :func:`members`, so a message
matches the same queries however it is read. ``tests/server/test_search_fold.py`` compares the
table with the tokenizer over every code point.
"""

from __future__ import annotations

import functools
import sqlite3
from itertools import product

# The code points SQLite folds are in the first two planes (FTS5's tables cover the BMP and
# Deseret); cased letters of every Unicode version so far are there too.
_PLANES = 0x20000
# SQLite reads these (noncharacters) as U+FFFD; their casefold is themselves.
_READ_AS_FFFD = "\ufffe\uffff"


def _candidates() -> str:
    out: list[str] = []
    for base in range(0, _PLANES, 512):
        if 0xD800 <= base < 0xE000:
            continue  # surrogates: never in a stored text
        chunk = "".join(map(chr, range(base, base + 512)))
        if chunk.casefold() != chunk:
            out.extend(c for c in chunk if c.casefold() != c)
    return "".join(out) + _READ_AS_FFFD


@functools.cache
def fold_table() -> dict[str, str]:
    """Each character SQLite's FTS5 trigram tokenizer folds to another, and what it folds it to.

    One in-memory FTS5 table gets one text of every candidate character; the tokenizer makes
    a trigram at each position, whose first character is that position's character folded.
    """
    chars = _candidates()
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE f USING fts5(x, tokenize = 'trigram case_sensitive 0')")
        db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')")
        db.execute("INSERT INTO f (rowid, x) VALUES (1, ?)", (chars + "..",))
        terms = [t for (t,) in db.execute("SELECT term FROM v ORDER BY \"offset\"")]
    finally:
        db.close()
    if len(terms) != len(chars):
        raise RuntimeError(f"SQLite's trigram tokenizer gave {len(terms)} trigrams for {len(chars)} characters")
    table = {c: t[0] for c, t in zip(chars, terms, strict=True) if t[0] != c}
    if any(table.get(f, f) != f for f in table.values()):
        raise RuntimeError("SQLite's case folding is not idempotent")
    return table


@functools.cache
def classes() -> dict[str, tuple[str, ...]]:
    """Each folded character with every character that folds to it (itself first)."""
    out: dict[str, list[str]] = {}
    for c, f in sorted(fold_table().items()):
        out.setdefault(f, [f]).append(c)
    return {f: tuple(cs) for f, cs in out.items()}


def fold(text: str) -> str:
    """``text`` folded character by character, as the index folds it."""
    table = fold_table()
    return "".join(table.get(c, c) for c in text)


def members(ch: str) -> tuple[str, ...]:
    """Every character that matches ``ch`` (the same fold), its fold first; ``(ch,)`` for most."""
    return classes().get(fold_table().get(ch, ch), (ch,))


def pair_variants(pair: str) -> list[str]:
    """The two characters written each way that matches them (the product of their :func:`members`)."""
    return sorted({a + b for a, b in product(*(members(ch) for ch in pair))})


def caseless(query: str) -> bool:
    """Whether every character of ``query`` matches only itself: a plain substring test is exact."""
    return all(len(members(c)) == 1 for c in query)


def unsearchable(query: str) -> bool:
    """Whether ``query`` holds a character matching U+FFFF, which SQLite's index appends to every
    text (see the schema): such a query would find the ends of texts. Both backends find nothing."""
    end = fold_table().get("\uffff", "\uffff")
    return any(fold_table().get(c, c) == end for c in query)
