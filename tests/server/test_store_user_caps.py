"""Per-user caps decided again by the store (changes.UserCaps): groups joined and groups owned hold
even when two writers (two PostgreSQL nodes' writers) add the same user at once."""

from __future__ import annotations

import asyncio

import pytest

from protocol.errors import ContractError
from server.storage import changes as ch


async def _users(store, *ids: str) -> None:
    for i, uid in enumerate(ids):
        await store.apply(ch.InsertUser(uid, uid, uid, "h", uid.upper(), bytes([i + 1]) * 32, b"e", 100, 1))


def _results(results: list) -> tuple[int, set[str]]:
    return sum(isinstance(r, list) for r in results), {r.code for r in results if isinstance(r, ContractError)}


async def test_joins_by_one_user_from_two_writers_stop_at_the_joined_cap(open_store) -> None:
    a = await open_store()
    b = await open_store() if "Postgres" in type(a).__name__ else a
    await _users(a, "owner", "joiner")
    gids = [f"10000000{i}" for i in range(6)]
    for gid in gids:
        await a.apply(ch.CreateGroup(gid, "g", "friends", "open", "owner", 1))
    caps = ch.UserCaps(joined=2)
    joins = [(a if i % 2 else b).apply(ch.AddMember(gid, "joiner", "member", 2, 0, "join", None, caps))
             for i, gid in enumerate(gids)]
    assert _results(await asyncio.gather(*joins, return_exceptions=True)) == (2, {"join_cap_reached"})
    # owned groups count as joined: the owner, in six, cannot join a seventh under a cap of six
    await a.apply(ch.CreateGroup("100000099", "g", "friends", "open", "joiner", 1))
    with pytest.raises(ContractError) as err:
        await a.apply(ch.AddMember("100000099", "owner", "member", 3, 0, "join", None, ch.UserCaps(joined=6)))
    assert err.value.code == "join_cap_reached"
    # a dissolved group no longer counts
    await a.apply(ch.SetGroupFields(gids[0], {"dissolved_at": 5}))
    await a.apply(ch.AddMember("100000099", "owner", "member", 6, 0, "join", None, ch.UserCaps(joined=6)))


async def test_creates_by_one_user_from_two_writers_stop_at_the_created_cap(open_store) -> None:
    a = await open_store()
    b = await open_store() if "Postgres" in type(a).__name__ else a
    await _users(a, "maker")
    caps = ch.UserCaps(joined=100, created=3)
    creates = [(a if i % 2 else b).apply(ch.CreateGroup(f"20000000{i}", "g", "friends", "open", "maker", 1, caps))
               for i in range(7)]
    assert _results(await asyncio.gather(*creates, return_exceptions=True)) == (3, {"create_cap_reached"})
    rows = await a.load_state(10, 7)
    assert sum(g.owner_id == "maker" for g in rows.groups.values()) == 3


async def test_transfers_to_one_user_from_two_writers_stop_at_the_created_cap(open_store) -> None:
    a = await open_store()
    b = await open_store() if "Postgres" in type(a).__name__ else a
    await _users(a, "heir", "o0", "o1", "o2", "o3", "o4")
    await a.apply(ch.CreateGroup("300000009", "g", "friends", "open", "heir", 1))  # owns one already
    for i in range(5):
        await a.apply(ch.CreateGroup(f"30000000{i}", "g", "friends", "open", f"o{i}", 1))
        await a.apply(ch.AddMember(f"30000000{i}", "heir", "member", 2, 0, "join", None))
    caps = ch.UserCaps(created=3)
    transfers = [(a if i % 2 else b).apply(ch.TransferOwner(f"30000000{i}", f"o{i}", "heir", caps))
                 for i in range(5)]
    assert _results(await asyncio.gather(*transfers, return_exceptions=True)) == (2, {"create_cap_reached"})


async def test_a_transfer_is_refused_when_the_group_is_over_the_new_owners_group_caps(open_store) -> None:
    """The store counts the group's members and the admins it keeps under the new owner (the new owner,
    an admin before, no longer counts as one) in the transfer's transaction."""
    a = await open_store()
    await _users(a, "boss", "heir", "adm", "m")
    gid = "400000001"
    await a.apply(ch.CreateGroup(gid, "g", "friends", "open", "boss", 1))
    for uid, role in (("heir", "admin"), ("adm", "admin"), ("m", "member")):
        await a.apply(ch.AddMember(gid, uid, role, 2, 0, "join", None))
    for caps, code in ((ch.GroupCaps(max_members=3, max_admins=5), "member_cap_reached"),
                       (ch.GroupCaps(max_members=9, max_admins=0), "admin_cap_reached")):
        with pytest.raises(ContractError) as err:
            await a.apply(ch.TransferOwner(gid, "boss", "heir", None, caps))
        assert err.value.code == code
        rows = await a.load_state(10, 7)
        assert rows.groups[gid].owner_id == "boss"  # nothing of the refused transfer stays
    # at both caps exactly: four members, one admin kept (adm; heir becomes the owner)
    await a.apply(ch.TransferOwner(gid, "boss", "heir", None, ch.GroupCaps(max_members=4, max_admins=1)))
    assert (await a.load_state(10, 7)).groups[gid].owner_id == "heir"


# -- a group's caps, decided again by the store (changes.GroupRoom, SetMemberRole.max_admins) ----
async def test_joins_to_one_group_from_two_writers_stop_at_the_member_cap(open_store) -> None:
    """Eight users join one group of cap 4 (the owner and three more) through two writers at once:
    three get in, the rest are refused ``member_cap_reached``, each failing alone."""
    a = await open_store()
    b = await open_store() if "Postgres" in type(a).__name__ else a
    joiners = [f"j{i}" for i in range(8)]
    await _users(a, "owner", *joiners)
    gid = "500000001"
    await a.apply(ch.CreateGroup(gid, "g", "friends", "open", "owner", 1))
    room = ch.GroupRoom(max_members=4)
    joins = [(a if i % 2 else b).apply(ch.AddMember(gid, uid, "member", 2, 0, "join", None, room=room))
             for i, uid in enumerate(joiners)]
    assert _results(await asyncio.gather(*joins, return_exceptions=True)) == (3, {"member_cap_reached"})
    assert len((await a.load_state(10, 7)).groups[gid].members) == 4


async def test_a_refused_join_fails_alone_and_the_size_class_is_decided_again(open_store) -> None:
    """A join over the cap fails alone in its batch (the other writes commit); one that would take
    the group into a size class its owner does not meet is refused with that class's code."""
    from governance.tiers import SizeClass

    a = await open_store()
    await _users(a, "owner", "x", "y", "z")
    gid = "500000002"
    await a.apply(ch.CreateGroup(gid, "g", "friends", "open", "owner", 1))
    full = ch.GroupRoom(max_members=1)
    over, fine = await asyncio.gather(
        a.apply(ch.AddMember(gid, "x", "member", 2, 0, "join", None, room=full)),
        a.apply(ch.PutJoinRequest(gid, "y", 3)),
        return_exceptions=True,
    )
    assert isinstance(over, ContractError) and over.code == "member_cap_reached"
    assert fine == [None]
    rows = await a.load_state(10, 7)
    assert set(rows.groups[gid].members) == {"owner"} and "y" in rows.groups[gid].join_requests
    big = (SizeClass("large", 3, require_id=True), SizeClass("huge", 4, min_credit_level=3))
    await a.apply(ch.AddMember(gid, "x", "member", 2, 0, "join", None,
                               room=ch.GroupRoom(9, big, owner_level=1, owner_id_verified=False)))
    for room, code in ((ch.GroupRoom(9, big, owner_level=1, owner_id_verified=False), "verification_required"),
                       (ch.GroupRoom(9, big, owner_level=2, owner_id_verified=True), None)):
        if code is None:
            await a.apply(ch.AddMember(gid, "y", "member", 3, 0, "join", None, room=room))
            continue
        with pytest.raises(ContractError) as err:
            await a.apply(ch.AddMember(gid, "y", "member", 3, 0, "join", None, room=room))
        assert err.value.code == code
    with pytest.raises(ContractError) as err:  # a fourth member: "huge" needs level 3
        await a.apply(ch.AddMember(gid, "z", "member", 4, 0, "join", None,
                                   room=ch.GroupRoom(9, big, owner_level=2, owner_id_verified=True)))
    assert err.value.code == "credit_too_low"


async def test_promotions_in_one_group_from_two_writers_stop_at_the_admin_cap(open_store) -> None:
    a = await open_store()
    b = await open_store() if "Postgres" in type(a).__name__ else a
    members = [f"m{i}" for i in range(6)]
    await _users(a, "owner", *members)
    gid = "500000003"
    await a.apply(ch.CreateGroup(gid, "g", "friends", "open", "owner", 1))
    for uid in members:
        await a.apply(ch.AddMember(gid, uid, "member", 2, 0, "join", None))
    await a.apply(ch.SetMemberRole(gid, "m0", "admin", 2))  # one admin already
    ups = [(a if i % 2 else b).apply(ch.SetMemberRole(gid, uid, "admin", 2)) for i, uid in enumerate(members[1:])]
    assert _results(await asyncio.gather(*ups, return_exceptions=True)) == (1, {"admin_cap_reached"})
    rows = await a.load_state(10, 7)
    assert sum(m.role == "admin" for m in rows.groups[gid].members.values()) == 2
    await a.apply(ch.SetMemberRole(gid, "m0", "admin", 2))  # already one of the two: no refusal


async def test_a_transfer_is_refused_when_the_group_is_in_a_size_class_the_new_owner_does_not_meet(
        open_store) -> None:
    from governance.tiers import SizeClass

    a = await open_store()
    await _users(a, "boss", "heir", "m")
    gid = "500000004"
    await a.apply(ch.CreateGroup(gid, "g", "friends", "open", "boss", 1))
    for uid in ("heir", "m"):
        await a.apply(ch.AddMember(gid, uid, "member", 2, 0, "join", None))
    big = (SizeClass("large", 3, require_id=True),)
    with pytest.raises(ContractError) as err:
        await a.apply(ch.TransferOwner(gid, "boss", "heir", None, ch.GroupCaps(9, 9, big, 1, False)))
    assert err.value.code == "verification_required"
    assert (await a.load_state(10, 7)).groups[gid].owner_id == "boss"
    await a.apply(ch.TransferOwner(gid, "boss", "heir", None, ch.GroupCaps(9, 9, big, 1, True)))


@pytest.mark.parametrize(("caps", "owned", "joined", "code", "reason"), [
    (ch.UserCaps(joined=7), None, 7, "join_cap_reached", "you may be in at most 7 groups"),
    (ch.UserCaps(joined=7, own=False), None, 7, "join_cap_reached", "that user is in as many groups as they may be in"),
    (ch.UserCaps(created=3), 3, None, "create_cap_reached", "you may own at most 3 groups"),
    (ch.UserCaps(created=3, own=False), 3, None, "create_cap_reached",
     "that user already owns as many groups as allowed"),
])
def test_a_cap_refusal_gives_the_number_only_to_the_user_it_is_theirs(caps, owned, joined, code, reason) -> None:
    """The caps follow the user's credit level, the platform's judgement of them: a manager letting
    them in (or an owner handing them a group) is told they are full, not their cap."""
    with pytest.raises(ContractError) as err:
        caps.refuse(owned, joined)
    assert (err.value.code, err.value.reason) == (code, reason)
