"""A start reads the memberships of live groups, and the member ids of closed ones, not the rows an
ended group keeps for the reports and exports that name its members: those only grow, and were read
and skipped one by one before (server/storage/loading.py, LIVE_MEMBERS and CLOSED_MEMBERS). Both
backends: each plans its own join."""

from __future__ import annotations

from server.storage import changes as ch


async def test_a_load_reads_live_groups_members_and_closed_groups_member_ids(open_store) -> None:
    store = await open_store()
    for i, uid in enumerate(("ann", "bob", "cat")):
        await store.apply(ch.InsertUser(uid, uid, uid, "h", uid.upper(), bytes([i + 1]) * 32, b"e", 100, 1))
    live, dissolved, closed, both = "500000001", "500000002", "500000003", "500000004"
    for gid in (live, dissolved, closed, both):
        await store.apply(ch.CreateGroup(gid, "g", "friends", "open", "ann", 1))
        await store.apply(ch.AddMember(gid, "bob", "member", 2, 0, "join", "bob"))
    await store.apply(ch.AddMember(dissolved, "cat", "admin", 2, 0, "join", "cat"))
    await store.apply(ch.SetGroupFields(dissolved, {"dissolved_at": 3}))
    await store.apply(ch.SetGroupFields(closed, {"closed_at": 3, "closed_reason": "赌博"}))
    await store.apply(ch.SetGroupFields(both, {"dissolved_at": 3}))
    await store.apply(ch.SetGroupFields(both, {"closed_at": 4, "closed_reason": "诈骗"}))

    state = await store.load_state(10, 7)

    assert set(state.groups) == {live}
    assert {uid: m.role for uid, m in state.groups[live].members.items()} == {"ann": "owner", "bob": "member"}
    assert state.users["ann"].groups == {live} and state.users["bob"].groups == {live}
    assert not state.users["cat"].groups  # (an admin of the dissolved group only)
    assert set(state.closed) == {closed, both}
    assert state.closed[closed].members == {"ann", "bob"} and not state.closed[closed].dissolved
    assert state.closed[both].members == {"ann", "bob"} and state.closed[both].dissolved
    # The ended groups' rows are still in the store, for what names their members.
    ended = await store.ended_group(dissolved)
    assert ended is not None and set(ended.members) == {"ann", "bob", "cat"}
