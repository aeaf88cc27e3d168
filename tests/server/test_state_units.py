"""server/state.py's bookkeeping in isolation: an admission's outcome and its waiters, what an ended
group leaves in memory, the suspensions accounts carry, and the revocations an ``auth`` or
``login`` checks after its lookup.

From a mutation review: each test here fails with one change of the code that the tests through
the server let pass (named in each docstring)."""

from __future__ import annotations

import asyncio

import pytest

from server.state import Account, Admission, Group, InviteLink, Member, Revocations, State

# -- Admission ---------------------------------------------------------------------------------

@pytest.mark.parametrize("stored", [True, False])
async def test_an_admission_tells_its_outcome_to_whoever_waits_for_it(stored: bool) -> None:
    """A second connection's join (or an approval) waits for :meth:`Admission.decided` of the first:
    it must wake with the outcome, and ``refused`` say whether the member is out. Without the result
    set at settling, every waiter hung for good; ``refused`` read the wrong way round let a member
    whose admission was refused wait on it again (handlers/common.py) or counted a stored one out."""
    member = Member("member", 1)
    admission = Admission(member)
    assert member.pending is admission and not admission.refused
    waiter = asyncio.ensure_future(admission.decided())
    await asyncio.sleep(0)
    admission.settle(stored)
    assert await asyncio.wait_for(waiter, 1) is stored
    assert admission.refused is (not stored)
    assert (member.pending is None) is stored  # a refused one stays pending: the member is out
    admission.settle(not stored)  # (settled once: a second word changes nothing)
    assert await admission.decided() is stored


async def test_a_waiter_cancelled_meanwhile_cancels_nothing_for_the_others() -> None:
    """Two requests wait for one admission; the first one's connection goes. The other still learns
    the outcome, and the admission still settles (without the shield, cancelling the first waiter
    cancelled the shared future: the other got CancelledError and ``refused`` raised)."""
    admission = Admission(Member("member", 1))
    gone, staying = asyncio.ensure_future(admission.decided()), asyncio.ensure_future(admission.decided())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    admission.settle(True)
    assert await asyncio.wait_for(staying, 1) is True
    assert admission.refused is False


# -- State.retire ------------------------------------------------------------------------------

def _ended(dissolved: bool, closed: bool) -> tuple[State, Group]:
    state = State()
    g = Group("g1", "g", "friends", "open", "u1", 0, members={"u1": Member("owner", 0)})
    g.dissolved_at = 1 if dissolved else None
    g.closed_at = 2 if closed else None
    state.groups[g.group_id] = g
    state.invite_links["code"] = InviteLink("code", g.group_id, "u1", 0, None, None)
    g.invite_links.add("code")
    return state, g


@pytest.mark.parametrize(("dissolved", "closed", "kept_closed", "links_kept"), [
    (True, False, False, False),  # dissolved: nothing stays; its link is as unknown as the group
    (False, True, True, True),  # closed: a ClosedGroup, and its link answers group_closed
    (True, True, True, False),  # dissolved, then closed: the closing is kept, the link is not
])
def test_an_ended_group_leaves_what_its_end_says(dissolved: bool, closed: bool, kept_closed: bool,
                                                links_kept: bool) -> None:
    """A group its owner dissolved and the platform then closed keeps no invite link (ops name it as
    an unknown group, ``not_found``): with the links kept for every closed group, its old link told a
    stranger the group existed and was closed, and stayed in memory for good."""
    state, g = _ended(dissolved, closed)
    state.retire(g)
    assert g.group_id not in state.groups
    assert (g.group_id in state.closed) is kept_closed
    if kept_closed:
        assert state.closed[g.group_id].dissolved is dissolved
    assert ("code" in state.invite_links) is links_kept


# -- carried suspensions -----------------------------------------------------------------------

def _account(aid: str) -> Account:
    return Account(account_id=aid, name=aid, name_key=aid, category="culture", intro="", subject_type="individual",
                   subject_key="k", org_name=None, owner_id="u1", created_at=0)


def test_a_lifted_suspension_is_carried_no_more_and_noted_lifted() -> None:
    """A lift, once stored (``carried_lifted``), frees the accounts that carried it, and is noted in
    ``suspensions_lifted``: an account whose insert read the suspension as standing just before the
    lift was stored filters it out by that note (handlers/public_accounts.py). Without the note it
    opened suspended by a suspension already lifted, until a restart. The sanction's entry goes
    too: a second word of the lift names no account (with the entry kept, it named them again)."""
    state = State()
    a, b = _account("a1"), _account("a2")
    state.accounts.update({"a1": a, "a2": b})
    state.carry(a, [(7, "a0", 9_000), (8, "a0", 5_000)])
    state.carry(b, [(7, "a0", 9_000)])
    assert (a.suspension_end(), a.status(1)) == (9_000, "suspended")
    assert {x.account_id for x in state.carried_lifted(7)} == {"a1", "a2"}
    assert 7 in state.suspensions_lifted and 7 not in state.carried_by
    assert (a.suspension_end(), b.suspension_end(), b.status(1)) == (5_000, 0, "active")
    assert state.carried_lifted(7) == []


@pytest.mark.parametrize(("closed_at", "own_end", "carried_end", "restricted", "status"), [
    (None, 0, None, False, "active"),
    (None, 0, None, True, "restricted"),
    (None, 1_000, None, True, "suspended"),  # a suspension outranks a restriction
    (None, 999, None, False, "active"),  # ended before now
    (None, 1_000, None, False, "suspended"),  # ends after now
    (None, 500, 2_000, False, "suspended"),  # its own ended, the one it carries has not
    (None, 2_000, 500, False, "suspended"),
    (None, 999, 999, True, "restricted"),  # both ended: the restriction shows
    (5, 0, None, False, "closed"),  # closed outranks everything: it publishes nothing
    (5, 2_000, 2_000, True, "closed"),
])
def test_an_accounts_status_says_closed_then_suspended_then_restricted(
        closed_at: int | None, own_end: int, carried_end: int | None, restricted: bool, status: str) -> None:
    """``Account.status`` at now = 999 ms: what publishing, the profile and the operator's listings
    go by. A closed account read as "active" (or "suspended") could be told it may publish; the
    carried suspension's end counts as the account's own does."""
    a = _account("a1")
    a.closed_at, a.suspended_until, a.comments_restricted = closed_at, own_end, restricted
    if carried_end is not None:
        a.carried[1] = ("a0", carried_end)
    assert a.status(999) == status


# -- Revocations -------------------------------------------------------------------------------

def test_a_revocation_forgotten_after_a_lookup_began_says_it_cannot_tell() -> None:
    """The revocation right after a lookup's count, once forgotten, must make :meth:`since` answer
    None for it (``auth`` looks again, ``login`` revokes its token): answering from what is still
    kept said "not revoked" for the forgotten token, and the revoked token was bound."""
    r = Revocations()
    r.KEEP = 1
    seen = r.count
    r.add(b"a")  # number 1: after the lookup began
    r.add(b"b")  # number 2: "a" is forgotten
    assert r.since(seen, b"a") is None
    assert r.since(1, b"a") is False and r.since(1, b"b") is True


def test_a_token_revoked_again_is_forgotten_last() -> None:
    """A key revoked again (a retried logout, a second logout everywhere) counts as the newest:
    it is moved to the end, so what is forgotten goes oldest first and the forgotten number never
    goes back. Left in its first place, it was forgotten first under its newer number, then an older
    key's number set the forgotten number back, and a lookup that began before the second
    revocation was told the token was good."""
    r = Revocations()
    r.KEEP = 2
    r.add(b"a")  # 1
    r.add(b"b")  # 2
    seen = r.count
    r.add(b"a")  # 3: revoked again, after the lookup began
    r.add(b"c")  # 4: "b" (2) is forgotten, the oldest
    assert r.since(seen, b"a") is True  # still kept: known revoked
    r.add(b"d")  # 5: "a" (3) is forgotten now
    assert r.since(seen, b"a") is None  # cannot tell; never "not revoked"
    assert r.since(seen, b"c") is None
