"""``history``'s [ext] ``my_reactions`` against the page's counts: the two are read one after the
other, and a reaction the reader left in between must not show as theirs on a chip the page lacks."""

from __future__ import annotations

import pytest

from server.handlers.messages import counted
from server.storage.base import HistoryRow


def row(reactions: str | None) -> HistoryRow:
    return HistoryRow(1, 0, "u1", "member", "hi", False, reactions=reactions)


@pytest.mark.parametrize("reactions,mine,out", [
    ('{"👍": 2}', ["👍"], ["👍"]),
    ('{"👍": 1}', ["👍", "❤"], ["👍"]),  # ❤ left after the page was read: its event brings it
    ('{"👍🏻": 1}', ["👍"], None),  # (a skin tone is another emoji)
    (None, ["👍"], None),
    ('{"👍": 1}', None, None),
])
def test_my_reactions_are_among_the_counted(reactions: str | None, mine: list[str] | None,
                                            out: list[str] | None) -> None:
    assert counted(row(reactions), mine) == out
