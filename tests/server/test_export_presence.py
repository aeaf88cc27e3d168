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
    from server.operator.export_media import carried_by, media_rows

    class NoFiles:
        def get(self, media_id: str) -> None:
            return None

    messages = [{"group_id": "4821093312", "seq": 7, "attachments": '[{"media_id": "m1"}]'}]
    posts = [{"account_id": "4821093312", "post_id": 7, "attachments": [{"media_id": "m1"}, {"media_id": "m2"}]}]
    rows = media_rows(NoFiles(), carried_by(messages, posts))  # type: ignore[arg-type]
    assert rows == [
        {"media_id": "m1", "missing": True, "messages": [["4821093312", 7]], "posts": [["4821093312", 7]]},
        {"media_id": "m2", "missing": True, "posts": [["4821093312", 7]]},
    ]


SANCTIONS = [
    # (name, kind, starts_at, expires_at, lifted_at): the range is SINCE <= t < UNTIL (100, 200)
    ("standing since before", "suspend_group", 10, 150, None),
    ("indefinite since before", "close_group", 20, None, None),
    ("warning past its deadline", "warning", 30, 40, None),   # stands until lifted
    ("begun in it", "suspend_group", 120, 500, None),
    ("lifted in it", "suspend_group", 50, 900, 150),
    ("run out before it", "suspend_group", 10, 90, None),
    ("run out as it began", "suspend_group", 10, 100, None),
    ("lifted before it", "close_group", 20, None, 80),
    ("warning lifted before it", "warning", 30, 40, 99),
    ("begun after it", "suspend_group", 200, 300, None),
    ("a removal before it", "remove_post", 50, None, None),   # an act, not a state
    ("a removal in it", "remove_post", 150, None, None),
]
IN_RANGE = ["standing since before", "indefinite since before", "warning past its deadline", "begun in it",
            "lifted in it", "a removal in it"]


@pytest.mark.parametrize(("target_type", "target_id"), [("group", "800000001"), ("user", "u1"),
                                                        ("account", "900000001")])
async def test_an_exports_measures_are_those_in_force_during_the_range_or_taken_in_it(
        open_store, target_type: str, target_id: str) -> None:
    """measures.jsonl (G13) of a group's, a user's or an account's export, on both backends: a sanction
    standing when the range began is in it as much as one begun in it; one over before it is not."""
    from server.storage import changes as ch

    store = await open_store()
    for name, kind, starts, expires, lifted in SANCTIONS:
        (sid,) = await store.apply(ch.AddSanction(kind, target_type, target_id, name, "张执法", starts, expires))
        if lifted is not None:
            await store.apply(ch.LiftSanction(sid, lifted, "张执法", "整改完毕"))
    # another target's sanction standing all through: never in this one's export
    await store.apply(ch.AddSanction("close_group", "group", "800000002", "other", "张执法", 10, None))
    async with store.export_snapshot() as reads:
        if target_type == "group":
            records = await reads.export_group(target_id, SINCE, UNTIL, set())
        elif target_type == "user":
            records = await reads.export_user(target_id, SINCE, UNTIL)
        else:
            records = await reads.export_account(target_id, SINCE, UNTIL)
    rows = records["sanctions" if target_type == "account" else "measures"]
    assert [r["reason"] for r in rows] == IN_RANGE
    assert {r["target_id"] for r in rows} == {target_id}
