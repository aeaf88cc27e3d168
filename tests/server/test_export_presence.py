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
    ([("a", "admin", 300)], {"a"}, {"a"}),                            # its joining purged, promoted after it
    ([("a", "create", 10), ("b", "join", 20), ("b", "account_deleted", 300)], {"a"}, {"a", "b"}),
])
def test_who_was_in_the_group_during_the_range(log, members, want) -> None:
    assert present_in_range(log, members, SINCE, UNTIL) == want


def test_media_rows_say_which_messages_and_which_posts_carry_each_file() -> None:
    """A group and a public account may have the same number: a media row keeps messages
    (``[group_id, seq]``) and posts (``[account_id, post_id]``) apart."""
    from server.operator.export_media import media_rows

    class NoFiles:
        def get(self, media_id: str) -> None:
            return None

    messages = [{"group_id": "4821093312", "seq": 7, "attachments": '[{"media_id": "m1"}]'}]
    posts = [{"account_id": "4821093312", "post_id": 7, "attachments": [{"media_id": "m1"}, {"media_id": "m2"}]}]
    rows = media_rows(NoFiles(), messages, posts)  # type: ignore[arg-type]
    assert rows == [
        {"media_id": "m1", "missing": True, "messages": [["4821093312", 7]], "posts": [["4821093312", 7]]},
        {"media_id": "m2", "missing": True, "posts": [["4821093312", 7]]},
    ]
