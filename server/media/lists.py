"""Known-file lists (``[[content.media_lists]]``): SHA-256 digests of files with a category and action.

A list file is UTF-8 text, one SHA-256 in hex per line (upper or lower case);
blank lines and lines starting with ``#`` are ignored, and anything after the
64 hex digits on a line (a note) is too. A line that does not start with 64 hex
digits makes the whole list invalid: at start the server refuses to run, on
SIGHUP the old lists stay (like the word lists).

When a digest is on several lists the most severe action wins
(``block`` > ``review`` > ``flag``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from governance.content import Action
from server.config import list_text

if TYPE_CHECKING:
    from server.config import Config

log = logging.getLogger("qunguan.media")

_LINE = re.compile(r"([0-9A-Fa-f]{64})(?:\s.*)?")


@dataclass(frozen=True, slots=True)
class Listed:
    """Why a file is on a list: its category and what happens to it."""

    category: str
    action: Action


def _first_bad_line(text: str, found: set[str]) -> tuple[int, str] | None:
    """Adds each digest of ``text`` to ``found``; the first line that is not one (number, why), or None."""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            return n, f"not a SHA-256 in hex (64 hex digits): {line[:80]!r}"
        found.add(m.group(1).lower())
    return None


def parse_digests(text: str, source: str) -> set[str]:
    """The digests of one list file (lower case); ValueError naming the first bad line."""
    found: set[str] = set()
    bad = _first_bad_line(text, found)
    if bad is not None:
        raise ValueError(f"{source}:{bad[0]}: {bad[1]}")
    return found


def bad_digest_line(text: str) -> str | None:
    """Why ``parse_digests`` would refuse ``text`` (``line N: why``, for check-config), or None."""
    bad = _first_bad_line(text, set())
    return None if bad is None else f"line {bad[0]}: {bad[1]}"


class MediaLists:
    """Digest -> :class:`Listed`, the most severe entry of all lists."""

    __slots__ = ("_entries",)

    def __init__(self, lists: list[tuple[str, Action, set[str]]]) -> None:
        entries: dict[str, Listed] = {}
        for category, action, digests in lists:
            for d in digests:
                known = entries.get(d)
                if known is None or action > known.action:
                    entries[d] = Listed(category, action)
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, sha256: str) -> Listed | None:
        return self._entries.get(sha256.lower())

    def most_severe(self, *digests: str) -> tuple[str, Listed | None]:
        """The most severe entry naming one of ``digests`` (a file as it was sent and as it is stored),
        with the digest it names (the first digest when none is listed)."""
        found = [(d, hit) for d in digests if (hit := self.check(d)) is not None]
        if not found:
            return digests[0], None
        return max(found, key=lambda dl: dl[1].action.severity)


def build_media_lists(cfg: Config) -> MediaLists:
    """Read every ``[[content.media_lists]]`` file (OSError or ValueError, naming the file, when one is bad)."""
    lists = []
    for ml in cfg.content.media_lists:
        digests = parse_digests(list_text(ml.text, ml.path), str(ml.path))
        lists.append((ml.category, Action(ml.action), digests))
    built = MediaLists(lists)
    if cfg.content.media_lists:
        log.info("media lists: %d digests in %d lists", len(built), len(cfg.content.media_lists))
    return built
