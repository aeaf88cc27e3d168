"""A seq handed out to a message whose write failed is never handed out again after a restart when
something stored names it: a member's join point, a read marker, a review item (server/storage/loading.py)."""

from __future__ import annotations

from server.storage import changes as ch


async def test_the_next_seq_after_a_load_follows_every_stored_seq_that_names_a_message(open_store) -> None:  # type: ignore[no-untyped-def]
    store = await open_store()
    await store.apply(ch.InsertUser("u1", "u1", "u1", "h", "U1", b"\x01" * 32, b"e", 100, 1))
    await store.apply(ch.InsertUser("u2", "u2", "u2", "h", "U2", b"\x02" * 32, b"e", 100, 1))
    joined, read, reviewed, plain = "100000001", "100000002", "100000003", "100000004"
    for gid in (joined, read, reviewed, plain):
        await store.apply(ch.CreateGroup(gid, "g", "friends", "open", "u1", 1))
    # No message was stored in any of them (their writes failed): groups.last_seq is 0 in each.
    await store.apply(ch.AddMember(joined, "u2", "member", 5, 4, "join_group", "u2"))  # joined at seq 4
    await store.apply(ch.MarkRead("u1", read, 6))  # the owner read up to seq 6
    await store.apply(ch.QueueReview(reviewed, 3, "u1", "flag", "rumour_fraud", "x", 5))
    state = await store.load_state(10, 30)
    assert {gid: state.groups[gid].last_seq for gid in (joined, read, reviewed, plain)} == {
        joined: 4, read: 6, reviewed: 3, plain: 0}
