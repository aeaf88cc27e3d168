"""A cancelled or blacklisted account becomes no group's owner or member, and no public account's
editor or follower, by the store's own check: memory refuses it first on the node that closed it,
but another node's memory learns of the closing only later (two PostgreSQL writers here, as two
nodes of a cluster writing one database)."""

from __future__ import annotations

import asyncio

import pytest

from protocol.errors import ContractError
from server.storage import changes as ch


async def _users(store, *ids: str) -> None:
    for i, uid in enumerate(ids):
        await store.apply(ch.InsertUser(uid, uid, uid, "h", uid.upper(), bytes([i + 1]) * 32, b"e", 100, 1))


async def _refused(write) -> ContractError:
    with pytest.raises(ContractError) as err:
        await write
    return err.value


def _blacklisting(uid: str, now: int) -> tuple[ch.Change, ...]:
    """The writes of a blacklisting that matter here (server/operator/groups_people.py: its user row
    first, then the check that its owner owns no live group)."""
    return ch.SetUserFields(uid, {"blacklisted_at": now}), ch.OwnsNoLiveGroup(uid)


@pytest.mark.parametrize("closing", ["blacklisted", "cancelled"])
async def test_a_closed_account_joins_owns_and_follows_nothing(open_store, closing: str) -> None:
    a = await open_store()
    b = await open_store() if "Postgres" in type(a).__name__ else a
    await _users(a, "boss", "gone")
    await a.apply(ch.VerifyIdentity("boss", b"I" * 32, b"x", b"y", 5, 99))
    await a.apply(ch.CreateGroup("500000001", "g", "friends", "open", "boss", 1))
    await a.apply(ch.CreateGroup("500000002", "g", "friends", "open", "boss", 1))
    await a.apply(ch.AddMember("500000001", "gone", "member", 2, 0, "join", None))
    await a.apply(ch.InsertAccount("600000001", "Acc", "acc", "culture", "", "individual", None, None, None,
                                   "boss", 100, 1, 2))
    if closing == "blacklisted":
        await a.apply(*_blacklisting("gone", 3))
    else:
        await a.apply(ch.CancelAccount("gone", 3, "gone"))
    # each write from the other writer, whose memory has not heard of the closing yet; the user's own
    # (a join, a create, a follow) is told ``blacklisted`` for a blacklisting, as memory tells them
    own = "blacklisted" if closing == "blacklisted" else "conflict"
    for write, code in (
            (ch.AddMember("500000002", "gone", "member", 4, 0, "join", "gone", ch.UserCaps(joined=10)), own),
            (ch.AddMember("500000002", "gone", "member", 4, 0, "invite", "boss",
                          ch.UserCaps(joined=10, own=False)), "conflict"),
            (ch.AddMember("500000002", "gone", "member", 4, 0, "invite", "boss"), "conflict"),
            (ch.CreateGroup("500000003", "g", "friends", "open", "gone", 4, ch.UserCaps(10, 10)), own),
            (ch.TransferOwner("500000001", "boss", "gone", ch.UserCaps(created=10, own=False)), "conflict")):
        err = await _refused(b.apply(write))
        assert err.code == code, write
    err = await _refused(b.apply(ch.SetEditor("600000001", "gone", True, 4)))
    assert err.code == "not_found"
    err = await _refused(b.apply(ch.SetSubscription("600000001", "gone", True, 4)))
    assert err.code == ("blacklisted" if closing == "blacklisted" else "unauthenticated")
    state = await a.load_state(10, 7)
    assert "500000003" not in state.groups
    assert state.groups["500000001"].owner_id == "boss"
    assert "gone" not in state.groups["500000002"].members


async def test_a_blacklisting_and_creates_from_two_writers_leave_no_blacklisted_owner(open_store) -> None:
    """Creates by one user on one writer while the other blacklists them: either the blacklisting
    stores and every create after it is refused, or a create stored first and the blacklisting is
    refused (to be run again, handing that group on). Never a blacklisted owner of a live group."""
    a = await open_store()
    b = await open_store() if "Postgres" in type(a).__name__ else a
    await _users(a, "maker")
    caps = ch.UserCaps(joined=100, created=100)

    async def create(i: int) -> object:
        await asyncio.sleep(0.001 * i)  # some before the blacklisting's commit, some in flight, some after
        return await b.apply(ch.CreateGroup(f"70000000{i}", "g", "friends", "open", "maker", 1, caps))

    async def blacklist() -> object:
        return await a.apply(*_blacklisting("maker", 2))

    *created, listed = await asyncio.gather(*(create(i) for i in range(8)), blacklist(), return_exceptions=True)
    assert all(isinstance(r, list) or (isinstance(r, ContractError) and r.code == "blacklisted") for r in created)
    state = await a.load_state(10, 7)
    owned = [g for g in state.groups.values() if g.owner_id == "maker"]
    maker = state.users["maker"]
    if isinstance(listed, list):
        assert maker.blacklisted
        assert not owned and not any(isinstance(r, list) for r in created)
    else:
        assert isinstance(listed, ContractError) and listed.code == "conflict"
        assert not maker.blacklisted and owned


async def test_a_cancellation_removes_the_memberships_another_writer_stored(open_store) -> None:
    """A join stored by one writer that the cancelling writer's memory never saw: the cancellation's
    transaction takes it out too (and records it), so the store holds no cancelled member. Run as a
    race as well: whichever commits first, the user ends a member of nothing."""
    a = await open_store()
    b = await open_store() if "Postgres" in type(a).__name__ else a
    await _users(a, "boss", "gone", "late")
    for gid in ("500000011", "500000012"):
        await a.apply(ch.CreateGroup(gid, "g", "friends", "open", "boss", 1))
    await a.apply(ch.AddMember("500000011", "gone", "member", 2, 0, "join", "gone"))
    # the cancelling writer knows of 500000011; the other stored a join to 500000012 it never heard of
    await b.apply(ch.AddMember("500000012", "gone", "member", 3, 0, "join", "gone", ch.UserCaps(joined=10)))
    await a.apply(ch.RemoveMember("500000011", "gone", 4, "account_deleted", "gone"),
                  ch.CancelAccount("gone", 4, "gone"))
    state = await a.load_state(10, 7)
    assert not any("gone" in g.members for g in state.groups.values())
    assert state.users["gone"].groups == set()

    async def join(i: int) -> object:
        await asyncio.sleep(0.001 * i)  # before the cancellation's commit, while it is in flight, after
        return await b.apply(ch.AddMember("500000012", "late", "member", 5, 0, "join", "late",
                                          ch.UserCaps(joined=10)))

    results = await asyncio.gather(*(join(i) for i in range(4)), a.apply(ch.CancelAccount("late", 5, "late")),
                                   return_exceptions=True)
    assert isinstance(results[-1], list), results[-1]  # the cancellation stores, whatever the joins did
    state = await a.load_state(10, 7)
    assert "late" not in state.groups["500000012"].members


async def test_a_blacklisting_stands_only_on_an_identity_the_purge_has_not_erased(open_store) -> None:
    """blacklist refuses a cancelled account whose phone and identity the purge erased, read before the
    write; the purge may erase them after that read, so the store decides it again in the write."""
    from server.storage.sqlite import SqliteStore

    store = await open_store()
    await _users(store, "kept", "erased")
    for uid in ("kept", "erased"):
        await store.apply(ch.CancelAccount(uid, 3, uid))

    async def erase(db) -> None:  # (the purge's erasure of the phone, as sqlite_records.ERASE_ACCOUNT)
        if isinstance(store, SqliteStore):
            await db.execute("UPDATE users SET phone_enc = x'' WHERE user_id = 'erased'")
        else:
            await db.execute("UPDATE users SET phone_enc = ''::bytea WHERE user_id = 'erased'")

    await store.run_in_batch(erase)
    refused = await _refused(store.apply(ch.SetUserFields("erased", {"blacklisted_at": 5}), ch.IdentityHeld("erased")))
    assert refused.code == "forbidden" and "bar nothing" in refused.reason
    await store.apply(ch.SetUserFields("kept", {"blacklisted_at": 5}), ch.IdentityHeld("kept"))  # (still held)
