"""Search's case folding (server/storage/search_fold.py) is exactly the SQLite index's, and it is
the folding docs/protocol.md promises."""

from __future__ import annotations

import sqlite3

import pytest

from server.storage import search_fold
from server.storage.search_fold import fold, members, unsearchable


def test_the_table_is_what_the_trigram_tokenizer_does_to_every_code_point() -> None:
    """Asked of FTS5 over every code point (not only the candidates the table is built from)."""
    chars = "".join(chr(c) for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(x, tokenize = 'trigram case_sensitive 0')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')")
    db.execute("INSERT INTO f (rowid, x) VALUES (1, ?)", (chars + "..",))
    terms = [t for (t,) in db.execute('SELECT term FROM v ORDER BY "offset"')]
    assert len(terms) == len(chars)
    assert {c: t[0] for c, t in zip(chars, terms, strict=True) if t[0] != c} == search_fold.fold_table()


@pytest.mark.parametrize(("query", "text", "found"), [
    ("ος", "ΟΔΟΣ", True),  # final sigma, sigma and capital sigma are one letter
    ("οσ", "οδος", True),
    ("ϐϑϕϰϱϵ", "βθφκρε", True),  # the Greek symbol letters fold to the letters
    ("stop", "ſtop", True),  # long s
    ("kelvin", "\u212aelvin", True),  # Kelvin sign
    ("ohm", "\u2126hm", False), ("ωhm", "\u2126hm", True),  # Ohm sign is omega
    ("straße", "STRAẞE", True),  # capital sharp s folds to ß ...
    ("strasse", "straße", False),  # ... and ß is not ss (no full folding)
    ("istanbul", "İstanbul", False), ("istanbul", "ıstanbul", False), ("İs", "İS", True),  # no Turkish rules
    ("hello", "ＨＥＬＬＯ", False), ("ｈｅｌｌｏ", "ＨＥＬＬＯ", True),  # full width is other letters
    ("ǆemal", "ǅemal", True),  # a titlecase digraph
    ("ꭰꭱ", "ᎠᎡ", False),  # Cherokee small letters came after Unicode 6.1: themselves only
    ("𐐨𐐨", "𐐀𐐀", True),  # Deseret, outside the BMP
    ("中文", "中文字", True),
])
def test_what_the_protocol_promises(query: str, text: str, found: bool) -> None:
    assert (fold(query) in fold(text)) is found


def test_classes_and_the_end_of_a_text() -> None:
    assert members("s") == ("s", "S", "ſ")
    assert members("Σ") == members("ς") == ("σ", "Σ", "ς")
    assert members("k") == ("k", "K", "\u212a")
    assert members("中") == ("中",)
    # SQLite reads U+FFFE and U+FFFF as U+FFFD, and the index appends U+FFFF to every text.
    assert all(unsearchable(q) for q in ("a\uffff", "a\ufffe", "\ufffdb")) and not unsearchable("ab")
