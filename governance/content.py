"""Prohibited-content filter (G10, Art. 10): word lists per category, matched in one pass.

Pure policy: no I/O. The server reads the word-list files named in
``[[content.lists]]``, parses each with :func:`load_terms`, and builds a
:class:`ContentFilter` from ``(category, action, terms)`` triples; on SIGHUP it
builds a new one and swaps the reference (building is synchronous: about a
second per ~100k terms, see ``bench/content_filter.py``).

Normalisation
-------------
Both the terms (once, at build time) and every message (on the hot path) go
through :func:`normalize`, and matching is a plain substring search
(Aho-Corasick, pyahocorasick) of the normalised terms in the normalised text.
``normalize`` does, in this order:

1. **Per character**, through one ``str.translate`` with a lazily filled table
   (each distinct character is worked out once, then it is a dict lookup):
   compatibility decomposition (NFKD: full-width ``ＶＰＮ`` → ``VPN``, ``①`` →
   ``1``, ligatures, CJK compatibility ideographs → unified ones), case folding
   (``VPN`` → ``vpn``, ``ß`` → ``ss``), and then everything that is not a
   letter or a digit is dropped: spaces of every kind, punctuation (ASCII and
   full-width), symbols, control and format characters (zero-width space /
   non-joiner / joiner U+200B–U+200D, word joiner U+2060, BOM U+FEFF, soft
   hyphen U+00AD, tag characters, ...), combining marks (so accents and
   "strike-through" / Zalgo marks are ignored: ``pörn`` and ``p̶o̶r̶n̶`` match
   ``porn``), variation selectors, private-use, unassigned and lone surrogate
   code points, and the invisible Hangul fillers (U+115F, U+1160, U+3164,
   U+FFA0), which Unicode counts as letters. Last, **look-alike letters** of
   other scripts become the ASCII letter or digit they look like (``_LOOKALIKES``:
   the Cyrillic, Greek, Armenian and Cherokee letters that Unicode's UTS #39
   confusables map to one ASCII letter or digit, after case folding), so
   ``vрn`` with a Cyrillic ``р`` (U+0440), ``ϲаѕіnо`` or ``ꮯasino`` match
   ``vpn`` and ``casino``. Terms of those scripts fold the same way
   (``героин`` is matched as ``repoин``, in any case), so they still match
   themselves; the filter reports a term as listed (:func:`shown_term`).
2. NFC, only when the result is not already NFC (re-joins Hangul jamo split by
   separators; a quick check otherwise).
3. **Traditional → simplified** with OpenCC ``t2s`` (phrase-aware:
   ``賭場`` → ``赌场``, ``乾燥`` → ``干燥``), only when non-ASCII text is left;
   it runs after the separators are gone, so ``乾 燥`` converts like ``乾燥``.

A message is matched in that form and in two more ways:

- **Capitals whose small letter looks like no Latin one** (Cyrillic ``Н В К М
  Т``, Greek ``Η Β Κ Μ Τ Ν Χ``..., ``_CAPITAL_LOOKALIKES``) are read as the
  Latin letter they look like in a **second reading** of a message that holds
  one (:func:`match_text`): ``НТТР`` (Cyrillic) is read as ``нттp`` and as
  ``http``. Not in place: that would fold their small letters too (case is
  ignored, and the terms are folded alike), turning ``норма`` into ``hopma`` and
  a Russian term into one that no longer matches its small letters. The table
  of step 1 marks such a capital, so a message without one costs a search for
  the mark; one with one is normalised twice.
- **``rn`` for ``m``**: a term with an ``m`` (of 4 or more characters) is also
  looked for with ``rn`` in its place (:func:`rn_spellings`: ``rnail`` for
  ``mail``), added to the automaton when the filter is built, so it costs a
  message nothing. A term's own ``rn`` is never read as ``m``: ``porn`` matches
  ``porn``, not ``pom``.

Together 1-2 amount to NFKC with the combining marks removed and the
look-alikes folded (decomposing per character and re-composing after the marks
are gone keeps it
character-local, so a separator between two characters can never change how
either is normalised). Pure-ASCII messages take a fast path (one
``bytes.translate`` doing the lower-casing and the deletions) with the same
result. So ``赌 博``,
``赌.博``, ``賭博``, ``ＶＰＮ``, ``V-P-N`` and ``v\\u200bp\\u200bn`` all
normalise to ``赌博`` / ``vpn``.

Cost
----
Measured with ``bench/content_filter.py`` (10,000 terms, chat messages of
20-200 characters, mostly Chinese): about 25 us per message (~40,000
messages/s on one core), of which normalisation is ~16 us (translate ~9,
OpenCC ~5); pure-ASCII messages ~4 us; an empty filter returns at once
(~0.07 us) without normalising. The character table grows with the distinct
characters seen (at most ~147k entries, ~11 MB, if every assigned character
is sent; unassigned and private-use code points are never stored; the table
of the second reading below grows alike, with the characters of the texts that
need one). The look-alike fold is part of that table, so it costs a message nothing: timed
before and after it was added (~400 terms, 100-character Chinese, English,
mixed and Russian messages, interleaved rounds), ``check`` and ``normalize``
took the same time within noise (e.g. Chinese ~17 us, English ~2 us). The
second reading of capitals and the ``rn`` spellings, timed before and after
they were added (10,000 terms as the bench makes them, ``check``, best of 60
interleaved rounds): a 100-character Chinese message 16.5 -> 16.9 us (the
search for the mark, ~0.1 us; the rest is noise), a 1,000-character English one
12.0 us both (ASCII, the fast path) and 54.3 -> 54.6 us with curly quotes and
an accent; a 100-character Russian message holding a capital such as ``В``
11.7 -> 23.6 us (it is normalised twice). The ``rn`` spellings cost a message
nothing: they are ~9% more keys in the automaton (857 for 10,000 terms, 30%
Latin), built in the same time.

Known limits
------------
- **Short terms over-match.** Matching is substring matching in text with the
  spaces removed, so a one-letter Latin term matches inside any word, and a
  short Latin term inside longer words (``ass`` in ``class``). Use terms of at
  least 2 characters (CJK) and preferably 4+ (Latin); ``ContentFilter.short_terms``
  lists the single-character ones so the server can warn about them.
- **Separators are removed everywhere, so words join across boundaries** and a
  term can match across two neighbouring words or sentences: ``"Essex yoga"``
  becomes ``essexyoga``, which contains ``sexy``; ``"我赌。博物馆见"`` contains
  ``赌博``. That is the price of catching ``赌 博``. Expect some false
  positives: prefer ``flag`` or ``review`` to ``block`` for terms likely to
  occur by accident.
- Accents and other combining marks are ignored (including Japanese voicing
  marks: ``が`` matches ``か``), and all Unicode digits count as the ASCII digit
  of the same value.
- OpenCC converts by phrases: a term is converted on its own and the message in
  context, so in rare cases a traditional character is converted differently
  inside a longer phrase than in the term. Simplified terms are the safe choice.
- **A Russian or Greek word made only of look-alikes reads as Latin** (``сор``
  as ``cop``), and in capitals more of them do, since the second reading reads
  ``Н В К М Т`` too (``ВОТ`` as ``bot``, ``НЕТ`` as ``het``): a Latin term of 4+
  letters rarely is one. The second reading reads every such capital of the
  message as Latin and the first none, so a term spelt with one such capital
  meant as Latin and another meant as its small letter is missed (Greek ``Υ``
  reads as ``u`` first, ``y`` second); nobody reads such a mix as one word.
- **``rn`` is read as ``m`` wherever a text has it**, across words too, as
  separators are removed: a listed ``mail`` also matches ``her nails``
  (``hernails``), and a listed ``bums`` matches ``burns``. Terms of fewer than
  4 characters get no ``rn`` spelling (``bum`` would match every ``burn``).
- Not handled: homophones and pinyin (``du bo`` for 赌博), split characters
  (``弓长`` for 张), look-alikes outside Cyrillic, Greek, Armenian and Cherokee
  letters (mathematical or symbol letters NFKD does not fold, Coptic), Latin
  letters or pairs that pass for another one other than ``rn`` for ``m``
  (``vv`` for ``w``, ``cl`` for ``d``, a capital ``I`` for ``l``: case folding
  makes it ``i``), digits written as words, text in images.
"""

from __future__ import annotations

import itertools
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import ahocorasick

from governance.radicals import EQUIVALENT_IDEOGRAPH

__all__ = [
    "MAX_MATCHES",
    "Action",
    "ContentFilter",
    "Verdict",
    "load_terms",
    "match_text",
    "normalize",
    "rn_spellings",
    "shown_term",
]

# How many distinct (category, action, term) a Verdict lists at most.
MAX_MATCHES = 8


# --- Actions ---------------------------------------------------------------------

_SEVERITY = {"flag": 1, "review": 2, "block": 3}


class Action(StrEnum):
    """What happens to a matching message; ordered ``block > review > flag``.

    A ``str``: ``Action.BLOCK == "block"``; comparisons (``<``, ``max``) follow
    severity, not the alphabet, also against plain strings naming an action.
    """

    FLAG = "flag"  # delivered, queued for review
    REVIEW = "review"  # held: stored, not delivered, queued for operators
    BLOCK = "block"  # refused with content_blocked; nothing stored or delivered

    @property
    def severity(self) -> int:
        return _SEVERITY[self.value]

    @staticmethod
    def _rank(other: object) -> int | None:
        if isinstance(other, str):
            return _SEVERITY.get(str.__str__(other))
        return None

    def __lt__(self, other: object) -> bool:
        r = Action._rank(other)
        return NotImplemented if r is None else self.severity < r

    def __le__(self, other: object) -> bool:
        r = Action._rank(other)
        return NotImplemented if r is None else self.severity <= r

    def __gt__(self, other: object) -> bool:
        r = Action._rank(other)
        return NotImplemented if r is None else self.severity > r

    def __ge__(self, other: object) -> bool:
        r = Action._rank(other)
        return NotImplemented if r is None else self.severity >= r


# --- Normalisation -----------------------------------------------------------------

# Letters by Unicode's account that render as nothing: dropped like separators.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
# Not cached (an attacker could otherwise fill the table with ~1M entries):
# unassigned, private use. Both are dropped.
_UNCACHED = frozenset(("Cn", "Co"))


# Letters of other scripts that look like one ASCII letter or digit, as UTS #39 confusables.txt
# (Unicode 13) maps them: the Cyrillic, Greek, Armenian and Cherokee letters that are their own case
# fold (Cherokee folds to its capitals) and whose prototype is one ASCII letter or digit, taken as
# the lower-case letter. Applied after case folding, so a capital counts as its small letter: ``Р``
# is ``р`` is ``p``, while ``Н`` (looks like ``H``) is ``н``, which looks like no ASCII letter and
# stays (``_CAPITAL_LOOKALIKES`` reads it as ``h`` in a second reading). No Latin, CJK, kana or
# Hangul character is in the table.
_LOOKALIKES: dict[int, str] = str.maketrans({
    # Cyrillic
    "б": "6", "а": "a", "с": "c", "ԁ": "d", "е": "e", "ҽ": "e", "һ": "h", "і": "i", "ꙇ": "i",
    "ӏ": "i", "ј": "j", "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "ѵ": "v", "ѡ": "w",
    "ԝ": "w", "х": "x", "у": "y", "ү": "y",
    # Greek (``ϲ`` and ``ϒ`` are looked up before NFKD, which makes them ``σ`` and ``υ``)
    "α": "a", "ϲ": "c", "ι": "i", "ϳ": "j", "ο": "o", "σ": "o", "ρ": "p", "ᴦ": "r", "υ": "u",
    "ν": "v", "γ": "y", "ϒ": "y",
    # Armenian
    "ք": "f", "ց": "g", "հ": "h", "ո": "n", "ռ": "n", "օ": "o", "գ": "q", "զ": "q", "ս": "u",
    "ա": "w",
    # Cherokee (small letters fold to these capitals)
    "Ꮞ": "4", "Ꮾ": "6", "Ꭺ": "a", "Ꮟ": "b", "Ᏼ": "b", "Ꮯ": "c", "Ꮷ": "d", "Ꭰ": "d", "Ꭼ": "e",
    "Ꮐ": "g", "Ᏻ": "g", "Ꮒ": "h", "Ꮋ": "h", "Ꭵ": "i", "Ꭻ": "j", "Ꮶ": "k", "Ꮮ": "l", "Ꮇ": "m",
    "Ꮲ": "p", "Ꭱ": "r", "Ꮢ": "r", "Ꮥ": "s", "Ꮪ": "s", "Ꭲ": "t", "Ꮩ": "v", "Ꮃ": "w", "Ꮤ": "w",
    "Ꭹ": "y", "Ꮍ": "y", "Ꮓ": "z",
})

# Capitals of those scripts that look like an ASCII letter or digit while their small letter (their
# case fold) looks like another one or like none: Cyrillic ``Н`` looks like ``H``, ``н`` like nothing
# Latin; Greek ``Ν`` like ``N``, ``ν`` like ``v``. Case folding first reads them by their small letter,
# so they are read as the letter they look like in a second reading of a text that holds one
# (:func:`match_text`), never in place: folded in place they would fold their small letters too (the
# terms are folded alike and case is ignored) and turn ``норма`` into ``hopma``. The Cyrillic, Greek
# and Armenian capitals of ``governance.names``' table of what passes for Latin (UTS #39 confusables,
# case kept) whose reading there differs from their small letter's in ``_LOOKALIKES``
# (tests/governance/test_content.py checks the two agree).
_CAPITAL_LOOKALIKES: dict[str, str] = {
    # Cyrillic
    "В": "b", "Ь": "b", "Ԍ": "g", "Н": "h", "К": "k", "М": "m", "Т": "t", "З": "3", "Ӡ": "3", "Ꙅ": "2",
    # Greek
    "Β": "b", "Ε": "e", "Ϝ": "f", "Η": "h", "Κ": "k", "Μ": "m", "Ϻ": "m", "Ν": "n", "Τ": "t", "Χ": "x",
    "Υ": "y", "Ζ": "z",
    # Armenian
    "Տ": "s",
}
# What the table of normalize() writes after a character that is one of them, or that NFKD makes one of
# (``Ή`` with its accent, ``Ќ``, the mathematical ``𝚮``): a text holding one is read a second time
# only then, at the cost of a search for this character in the first reading (removed from it after).
# Any control character is dropped by the table, so a text's own never reaches the reading.
_CAPITAL_MARK = "\0"


def _is_capital_lookalike(ch: str) -> bool:
    return bool(d := unicodedata.normalize("NFKD", ch)) and d[0] in _CAPITAL_LOOKALIKES


def _map_char(ch: str, fold: bool = True, capitals: bool = False) -> str:
    """NFKD, casefold, NFKD again, keep only letters and digits (no marks); a decimal digit of any
    script as the ASCII digit of its value (NFKD folds only compatibility forms such as ``８``, not
    ``٨`` or ``८``); a CJK radical as the ideograph it looks like (``⻩`` as ``黄``: NFKD folds the
    Kangxi radicals, not those of the supplement, which would be dropped as symbols); with ``fold``,
    a letter of ``_LOOKALIKES`` as the ASCII letter or digit it looks like (``р`` as ``p``); with
    ``capitals`` also, before case folding, a capital of ``_CAPITAL_LOOKALIKES`` (``Н`` as ``h``)."""
    ch = EQUIVALENT_IDEOGRAPH.get(ch, ch)
    if capitals and _is_capital_lookalike(ch):
        d = unicodedata.normalize("NFKD", ch)
        return _CAPITAL_LOOKALIKES[d[0]] + "".join(_map_char(c) for c in d[1:])
    if fold and len(cf := ch.casefold()) == 1 and ord(cf) in _LOOKALIKES:
        return _LOOKALIKES[ord(cf)]
    s = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", ch).casefold())
    out = "".join(str(unicodedata.decimal(c)) if unicodedata.category(c) == "Nd" else c
                  for c in s if c.isalnum() and c not in _INVISIBLE_LETTERS)
    return out.translate(_LOOKALIKES) if fold else out


class _CharTable(dict[int, str | int | None]):
    """``str.translate`` table: code point -> replacement, filled on first sight; ``fold``: whether
    look-alike letters are folded (the table of :func:`normalize`) or not (that of the terms shown);
    ``capitals``: whether the capitals of ``_CAPITAL_LOOKALIKES`` are read as Latin too (the second
    reading of :func:`match_text`); ``mark``: whether such a capital is followed by ``_CAPITAL_MARK``
    (the table of :func:`normalize`, which takes it out again)."""

    def __init__(self, fold: bool, capitals: bool = False, mark: bool = False) -> None:
        super().__init__()
        self.fold = fold
        self.capitals = capitals
        self.mark = mark

    def __missing__(self, cp: int) -> str | int | None:
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat in _UNCACHED:
            return None
        if cat == "Cs":  # lone surrogate (e.g. from a JSON "\ud800" escape)
            value: str | int | None = None
        else:
            out = _map_char(ch, self.fold, self.capitals)
            if self.mark and _is_capital_lookalike(ch):
                out += _CAPITAL_MARK
            value = cp if out == ch else (out or None)
        self[cp] = value
        return value


_TABLE = _CharTable(fold=True, mark=True)
for _cp in range(128):  # warm the ASCII range
    _TABLE[_cp]
del _cp
# Only for the terms a filter reports (built once per filter, not per message): it stays small.
_SHOWN_TABLE = _CharTable(fold=False)
# Only for texts that hold a capital of _CAPITAL_LOOKALIKES.
_CAPITALS_TABLE = _CharTable(fold=True, capitals=True)

# ASCII fast path: one bytes.translate lower-cases and deletes non-alphanumerics.
_ASCII_LOWER = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz"
)
_ASCII_DROP = bytes(i for i in range(128) if not chr(i).isalnum())


class _Converter(Protocol):
    """What is used of an ``opencc.OpenCC`` (the package has no type information)."""

    def convert(self, text: str) -> str: ...


_t2s: _Converter | None = None
_t2s_lock = threading.Lock()


def _converter() -> _Converter:
    """The OpenCC t2s converter, created on first use (loading it takes ~ms)."""
    global _t2s
    converter = _t2s
    if converter is None:
        with _t2s_lock:
            converter = _t2s
            if converter is None:
                import opencc

                converter = _t2s = opencc.OpenCC("t2s")
    return converter


def normalize(text: str) -> str:
    """The form terms and messages are matched in (see the module docstring)."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_LOWER, _ASCII_DROP).decode("ascii")
    return _first_reading(text)[0]


def _first_reading(text: str) -> tuple[str, bool]:
    """:func:`normalize` of non-ASCII ``text``, and whether it holds a capital of
    ``_CAPITAL_LOOKALIKES`` (the table marks them)."""
    s = text.translate(_TABLE)
    if _CAPITAL_MARK in s:
        return _composed(s.replace(_CAPITAL_MARK, "")), True
    return _composed(s), False


def match_text(text: str) -> str:
    """What a filter looks for its terms in (:meth:`ContentFilter.check`): :func:`normalize` of
    ``text``, and when ``text`` holds a capital that looks like a Latin letter its small letter does
    not (``_CAPITAL_LOOKALIKES``: ``НТТР``), a NUL and a second reading with those capitals read as
    that letter (``http``). No term holds a NUL, so no match spans the two."""
    if text.isascii():
        return normalize(text)
    norm, capitals = _first_reading(text)
    if not capitals:
        return norm
    other = _composed(text.translate(_CAPITALS_TABLE))
    return norm if other == norm else f"{norm}\0{other}"


def rn_spellings(term: str) -> tuple[str, ...]:
    """The spellings of ``term`` (normalised) with ``rn`` written for its ``m`` (``rnail`` for
    ``mail``), which a filter matches as ``term``: every choice of ``m`` or ``rn`` for each ``m`` up to
    4 of them; beyond, each ``m`` alone as ``rn``, and all of them. None for a term of fewer than 4
    characters: ``bum`` would match ``burn``. A term that has ``rn`` itself keeps it: ``porn`` is not
    read as ``pom``, so ``pompom`` does not match it (only an ``rn`` of the text is read as ``m``)."""
    if len(term) < _RN_MIN_TERM or "m" not in term:
        return ()
    parts = term.split("m")
    k = len(parts) - 1
    if k <= _RN_ALL_CHOICES:
        choices: Iterable[Sequence[str]] = itertools.islice(itertools.product(("m", "rn"), repeat=k), 1, None)
    else:
        choices = [*(["m"] * i + ["rn"] + ["m"] * (k - i - 1) for i in range(k)), ["rn"] * k]
    return tuple(parts[0] + "".join(c + p for c, p in zip(choice, parts[1:], strict=True)) for choice in choices)


_RN_MIN_TERM = 4
_RN_ALL_CHOICES = 4


def shown_term(text: str) -> str:
    """``text`` normalised as :func:`normalize` does but with look-alike letters left as they are:
    how a filter reports a term (``героин`` listed is reported as ``героин``, not as the
    ``гepoин`` it is matched as)."""
    return normalize(text) if text.isascii() else _composed(text.translate(_SHOWN_TABLE))


def _composed(s: str) -> str:
    """Steps 2 and 3 of the normalisation, after the per-character table."""
    if s.isascii():
        return s
    if not unicodedata.is_normalized("NFC", s):
        s = unicodedata.normalize("NFC", s)
    return _converter().convert(s)


# --- Word lists --------------------------------------------------------------------


def load_terms(text: str) -> list[str]:
    """Terms from a word-list file's content: one per line, stripped; blank lines
    and lines starting with ``#`` skipped (a leading BOM is ignored)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    terms = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            terms.append(line)
    return terms


# --- Filter ------------------------------------------------------------------------


def _bytewise(s: str) -> str:
    """``s`` as its UTF-8 bytes, one character per byte (Latin-1), for the automaton.

    pyahocorasick finds a node's child by a linear scan of its children. Keyed on
    whole characters, 10,000 CJK terms give the root ~7,000 children, scanned for
    nearly every character of a message (~3 us each). Keyed on UTF-8 bytes no
    node has more than 256 children and CJK text needs ~50x less time. UTF-8 is
    self-synchronising, so a byte match of a whole term is always a match of
    whole characters.
    """
    if s.isascii():
        return s
    return s.encode("utf-8", "surrogatepass").decode("latin-1")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The most severe match: ``action`` (an :class:`Action`), its ``category``,
    and the ``term`` as listed, normalised (:func:`shown_term`: look-alike letters
    as listed). ``matches`` lists distinct
    ``(category, action, term)`` found, most severe first, at most MAX_MATCHES."""

    action: Action
    category: str
    term: str
    matches: tuple[tuple[str, Action, str], ...] = field(default=())


class ContentFilter:
    """Word lists compiled into one Aho-Corasick automaton.

    ``lists``: ``(category, action, terms)`` in config order. Terms are
    normalised (reported as :func:`shown_term` of the first listed of those
    that normalise alike); those that normalise to nothing are skipped; a term in several
    lists keeps every ``(category, action)``. Raises ``ValueError`` for an
    unknown action or an empty category, ``TypeError`` for terms given as one
    string. ``short_terms``: the normalised terms of one character (they match
    inside anything; worth a warning at load; as reported). Immutable once built; ``check`` is
    safe to call from any thread.
    """

    __slots__ = ("_automaton", "_categories", "_count", "short_terms")

    def __init__(self, lists: Sequence[tuple[str, str, Iterable[str]]] = ()) -> None:
        entries: dict[str, list[tuple[str, Action]]] = {}
        shown: dict[str, str] = {}  # matched form -> the form reported (the first term listed)
        categories: list[str] = []
        for category, action, terms in lists:
            if not isinstance(category, str) or not category.strip():
                raise ValueError(f"content list category must be a non-empty string: {category!r}")
            try:
                act = Action(action)
            except ValueError:
                raise ValueError(
                    f"content list action must be block, review or flag: {action!r}"
                ) from None
            if isinstance(terms, (str, bytes)):
                raise TypeError("content list terms must be an iterable of terms, not a string")
            if category not in categories:
                categories.append(category)
            for raw in terms:
                if not raw or raw.isspace():
                    continue
                term = normalize(raw)
                if not term:
                    continue
                shown.setdefault(term, shown_term(raw))
                pairs = entries.setdefault(term, [])
                if (category, act) not in pairs:
                    pairs.append((category, act))
        self._count = len(entries)
        self._categories = tuple(categories)
        self.short_terms = tuple(sorted(shown[t] for t in entries if len(t) < 2))
        if not entries:
            self._automaton = None
            return
        # key looked for -> (term reported, its pairs) of each term it spells: the term itself, then
        # the terms it is an rn spelling of (``rnail`` of ``mail``, which may be listed too)
        keys: dict[str, list[tuple[str, tuple[tuple[str, Action], ...]]]] = {}
        for term, pairs in entries.items():
            # Most severe first; config order among equals (sort is stable).
            pairs.sort(key=lambda p: -p[1].severity)
            keys[term] = [(shown[term], tuple(pairs))]
        for term in entries:
            for spelling in rn_spellings(term):
                keys.setdefault(spelling, []).append(keys[term][0])
        automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
        for key, hits in keys.items():
            automaton.add_word(_bytewise(key), tuple(hits))
        automaton.make_automaton()
        self._automaton = automaton

    def __len__(self) -> int:
        """Number of distinct (normalised) terms."""
        return self._count

    def __repr__(self) -> str:
        return f"<ContentFilter {self._count} terms, categories={list(self._categories)}>"

    @property
    def categories(self) -> tuple[str, ...]:
        return self._categories

    def check(self, text: str) -> Verdict | None:
        """``None`` when ``text`` is clean, else the :class:`Verdict`."""
        if self._automaton is None:
            return None
        return self.check_normalized(match_text(text))

    def check_normalized(self, norm: str) -> Verdict | None:
        """:meth:`check` for text already passed through :func:`match_text` (or :func:`normalize`,
        which leaves out the reading of capitals such as ``НТТР``)."""
        automaton = self._automaton
        if automaton is None or not norm:
            return None
        found: dict[str, tuple[tuple[str, Action], ...]] = {}
        for _end, hits in automaton.iter(_bytewise(norm)):
            for term, pairs in hits:
                if term not in found:
                    found[term] = pairs
        if not found:
            return None
        # (category, action, term) in order of first occurrence, then most
        # severe first (stable), de-duplicated.
        seen: set[tuple[str, Action, str]] = set()
        all_matches: list[tuple[str, Action, str]] = []
        for term, pairs in found.items():
            for category, act in pairs:
                m = (category, act, term)
                if m not in seen:
                    seen.add(m)
                    all_matches.append(m)
        all_matches.sort(key=lambda m: -m[1].severity)
        category, act, term = all_matches[0]
        return Verdict(act, category, term, tuple(all_matches[:MAX_MATCHES]))

