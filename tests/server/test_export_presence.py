"""Who a group's export takes the network logs of (``present_in_range``): everyone who was a member at
some moment of the range, and nobody who joined only after it."""

from __future__ import annotations

import pytest

from server.storage.sqlite_records import present_in_range

SINCE, UNTIL = 100, 200


@pytest.mark.parametrize(("log", "members", "want"), [
    ([("a", "join", 50)], {"a"}, {"a"}),                              # a member when the range began
    ([("a", "join", 50), ("a", "leave", 80)], set(), set()),          # gone before it
    ([("a", "join", 50), ("a", "leave", 150)], set(), {"a"}),         # left in it
    ([("a", "join", 150)], {"a"}, {"a"}),                             # joined in it
    ([("a", "join", 250)], {"a"}, set()),                             # joined only after it
    ([("a", "leave", 250)], set(), {"a"}),                            # its joining purged, left after it
    ([], {"a"}, {"a"}),                                               # a member now, every row purged
    ([("a", "join", 50), ("a", "kick", 90), ("a", "join", 250)], {"a"}, set()),  # out all through it
    ([("a", "join", 50), ("a", "admin", 60)], {"a"}, {"a"}),          # a role change is no leaving
    ([("a", "create", 10), ("b", "join", 20), ("b", "account_deleted", 300)], {"a"}, {"a", "b"}),
])
def test_who_was_in_the_group_during_the_range(log, members, want) -> None:
    assert present_in_range(log, members, SINCE, UNTIL) == want
