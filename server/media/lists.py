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

if TYPE_CHECKING:
    from server.config import Config

log = logging.getLogger("qunguan.media")

_LINE = re.compile(r"([0-9A-Fa-f]{64})(?:\s.*)?")


@dataclass(frozen=True, slots=True)
class Listed:
    """Why a file is on a list: its category and what happens to it."""

    category: str
    action: Action


def parse_digests(text: str, source: str) -> set[str]:
    """The digests of one list file (lower case); ValueError naming the first bad line."""
    found = set()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            raise ValueError(f"{source}:{n}: not a SHA-256 in hex (64 hex digits): {line[:80]!r}")
        found.add(m.group(1).lower())
    return found


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


def build_media_lists(cfg: Config) -> MediaLists:
    """Read every ``[[content.media_lists]]`` file (OSError, ValueError, UnicodeDecodeError when one is bad)."""
    lists = []
    for ml in cfg.content.media_lists:
        digests = parse_digests(ml.path.read_text(encoding="utf-8"), str(ml.path))
        lists.append((ml.category, Action(ml.action), digests))
    built = MediaLists(lists)
    if cfg.content.media_lists:
        log.info("media lists: %d digests in %d lists", len(built), len(cfg.content.media_lists))
    return built
