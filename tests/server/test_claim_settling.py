"""server/claims.py in isolation: how a write's end settles its claim, what a chain leaves behind,
the claims that only act once stored, and the per-message lock.

From a mutation review: each test here fails with one change of the code that the tests through
the server let pass (named in each docstring)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from server import claims
from server.claims import FieldClaim, OnceStored, Together, message_turn, settle_when_done


@dataclass
class Thing:
    name: str = "N"


class Told:
    """A claim that notes each outcome it is told."""

    def __init__(self) -> None:
        self.told: list[bool] = []

    def settle(self, stored: bool) -> None:
        self.told.append(stored)


@pytest.mark.parametrize(("end", "stored"), [("result", True), ("exception", False), ("cancelled", False)])
async def test_a_write_settles_its_claim_however_it_ended(end: str, stored: bool) -> None:
    """A cancelled write (a store shutting down under it) counts as refused and still settles its
    claim. Asking a cancelled future for its exception raises: a callback reading it before checking
    for the cancellation left the claim pending for good, its value in memory never taken back."""
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    claim = Told()
    settle_when_done(fut, claim)
    if end == "result":
        fut.set_result(None)
    elif end == "exception":
        fut.set_exception(RuntimeError("the database went away"))
    else:
        fut.cancel()
    await asyncio.sleep(0)
    assert claim.told == [stored]


@pytest.mark.parametrize("stored", [True, False])
def test_a_settled_chain_leaves_nothing_behind(stored: bool) -> None:
    """``_CHAINS`` holds an entry per object and field only while a claim of it waits: an empty
    chain left there is memory every claimed field of every user or account ever claimed keeps
    (kept without ``del _CHAINS[key]``)."""
    thing = Thing()
    first, second = FieldClaim(thing, {"name": "X"}), FieldClaim(thing, {"name": "Y"})
    assert (id(thing), "name") in claims._CHAINS
    first.settle(stored)
    second.settle(not stored)
    assert (id(thing), "name") not in claims._CHAINS
    assert FieldClaim.in_flight(thing, "name") == []


@pytest.mark.parametrize(("stored", "done"), [(True, ["lifted"]), (False, [])])
def test_a_change_made_once_stored_is_not_made_when_refused(stored: bool, done: list[str]) -> None:
    """An operator's lift changes memory only once its write is stored (OnceStored): a refused lift
    that lifted the measure in memory anyway let the user act as unsanctioned while the store still
    holds the measure (until a restart brings it back)."""
    made: list[str] = []
    OnceStored(lambda: made.append("lifted")).settle(stored)
    assert made == done


@pytest.mark.parametrize("stored", [True, False])
def test_claims_stored_together_are_each_told_the_one_outcome(stored: bool) -> None:
    """A transfer's claims (the owner, two roles) ride on one write: each is told its outcome."""
    parts = [Told(), Told(), Told()]
    Together(*parts).settle(stored)
    assert [p.told for p in parts] == [[stored]] * 3


async def test_one_message_is_one_turn_and_another_message_is_not_held_up() -> None:
    """message_turn: a member's delete_message and the operator's decision on the same message take
    the same lock (one waits for the other); a turn per call let both read the message as held and
    both tell the group. Another message of the group, or the same seq of another group, waits for
    nothing."""
    order: list[str] = []
    release = asyncio.Event()

    async def hold() -> None:
        async with message_turn("g1", 5):
            order.append("decision in")
            await release.wait()
            order.append("decision out")

    async def enter(gid: str, seq: int, name: str) -> None:
        async with message_turn(gid, seq):
            order.append(name)

    holding = asyncio.ensure_future(hold())
    await asyncio.sleep(0)
    same = asyncio.ensure_future(enter("g1", 5, "deletion"))
    await enter("g1", 6, "other message")
    await enter("g2", 5, "other group")
    await asyncio.sleep(0.01)
    assert order == ["decision in", "other message", "other group"]
    release.set()
    await asyncio.gather(holding, same)
    assert order[-2:] == ["decision out", "deletion"]


def test_the_claims_in_flight_are_listed_oldest_first_until_settled() -> None:
    """``remove-text`` and a review decision refuse while the field they would remove is being
    changed (``FieldClaim.in_flight``), and a rename frees a name only when no claim in flight stands
    on it or sets it: an empty answer while a claim waits let the operator's removal be claimed on
    top of the user's change, and a refused rename free a name another claim still holds."""
    thing = Thing()
    first, second = FieldClaim(thing, {"name": "X"}), FieldClaim(thing, {"name": "Y"})
    assert FieldClaim.in_flight(thing, "name") == [("N", "X"), ("X", "Y")]
    assert FieldClaim.in_flight(thing, "other") == []
    first.settle(False)  # refused: the next claim now stands on what the first stood on
    assert FieldClaim.in_flight(thing, "name") == [("N", "Y")]
    second.settle(True)
    assert FieldClaim.in_flight(thing, "name") == []
