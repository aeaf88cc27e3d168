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
