"""Field claims whose writes overlap: what memory holds once every write is decided.

The rule: memory ends as the database does. Writes are stored in claim order, so
the field holds the value of the last claim whose write was stored, or the value
from before all of them when none was.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from client_demo.client import Client
from governance.public_accounts import name_readings, normalize_name
from server.app import App
from server.claims import FieldClaim, turn
from server.handlers.public_accounts import AccountClaim
from server.state import Account
from tests.server.test_group_ids import registered


@dataclass
class Thing:
    name: str = "N"
    other: int = 0


def expected(outcomes: list[bool], values: list[str]) -> str:
    stored = [v for v, ok in zip(values, outcomes, strict=True) if ok]
    return stored[-1] if stored else "N"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_every_outcome_in_every_settling_order_leaves_the_stored_value(n: int) -> None:
    values = ["X", "Y", "Z"][:n]
    for outcomes in itertools.product([True, False], repeat=n):
        for order in itertools.permutations(range(n)):
            thing = Thing()
            claims = [FieldClaim(thing, {"name": v}) for v in values]
            assert thing.name == values[-1]  # every request sees the newest claim at once
            for i in order:
                claims[i].settle(outcomes[i])
            assert thing.name == expected(list(outcomes), values), (outcomes, order)


def test_a_field_set_without_a_claim_meanwhile_is_not_undone() -> None:
    thing = Thing()
    claim = FieldClaim(thing, {"name": "X", "other": 1})
    thing.name = "set directly"  # e.g. by a path that does not claim
    claim.settle(False)
    assert (thing.name, thing.other) == ("set directly", 0)


def test_settling_twice_changes_nothing() -> None:
    thing = Thing()
    first, second = FieldClaim(thing, {"name": "X"}), FieldClaim(thing, {"name": "Y"})
    second.settle(True)
    second.settle(False)
    first.settle(False)
    assert thing.name == "Y"


async def test_two_renames_at_once_the_first_failing_after_the_second_stored(app: App, tmp_path) -> None:
    """Through the server: two ``set_profile``s of one user in flight, the first one's write failing
    only after the second's was stored. The user's name stays the second one, as stored."""
    one = await registered(app, tmp_path)
    two = await registered_again(app, one)
    uid = (await one.request("me"))["user_id"]
    real = app.store.apply
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def first_fails_late(*changes: Any, **kw: Any) -> asyncio.Future[list[Any]]:
        if any(getattr(c, "fields", None) == {"display_name": "甲"} for c in changes):
            out: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

            def fail(_: object) -> None:
                out.set_exception(RuntimeError("the database went away"))

            gate.add_done_callback(fail)
            return out
        return real(*changes, **kw)

    app.store.apply = first_fails_late  # type: ignore[method-assign]
    try:
        first = asyncio.create_task(one.call("set_profile", display_name="甲"))
        await asyncio.sleep(0.2)
        assert app.state.users[uid].display_name == "甲"
        assert (await two.call("set_profile", display_name="乙"))["ok"]
        gate.set_result(None)
        assert (await first)["code"] == "internal"
    finally:
        app.store.apply = real  # type: ignore[method-assign]
    assert app.state.users[uid].display_name == "乙"  # before: "owner1", the first one's "old"
    assert (await one.request("me"))["display_name"] == "乙"
    await one.close()
    await two.close()


async def registered_again(app: App, first: Client) -> Client:
    """A second connection of the user ``first`` logged in as."""
    c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await c.login("owner1", "password123")
    return c


def account(name: str) -> Account:
    return Account(account_id="a1", name=name, name_key=normalize_name(name), category="culture", intro="",
                   subject_type="individual", subject_key="k", org_name=None, owner_id="u1", created_at=0)


# Two renames of one account in flight (Nut stored; the first claims IX, which reads as ix and lx, the
# second claims `second`), settled in claim order as the store settles them. Afterwards the account has
# the name the store has, and exactly that name's key and lookalike readings are taken in the names in use.
@pytest.mark.parametrize("second", ["Yak", "Nut"])  # "Nut": the platform grants back the name it had
@pytest.mark.parametrize("outcomes", list(itertools.product([True, False], repeat=2)))
def test_overlapping_renames_of_an_account_leave_exactly_the_stored_name_taken(
        second: str, outcomes: tuple[bool, bool]) -> None:
    a = account("Nut")
    state = SimpleNamespace(account_names={"nut": "a1", "other": "a2"}, account_readings={"nut": "a1", "other": "a2"})
    claims = [AccountClaim(state, a, {"name_key": "ix", "name": "IX"}),  # type: ignore[arg-type]
              AccountClaim(state, a, {"name_key": normalize_name(second), "name": second})]  # type: ignore[arg-type]
    assert a.name == second and state.account_names.get("ix") == "a1"
    assert (state.account_readings.get("ix"), state.account_readings.get("lx")) == ("a1", "a1")
    for claim, stored in zip(claims, outcomes, strict=True):
        claim.settle(stored)
    [stored_name] = ([v for v, ok in zip(["IX", second], outcomes, strict=True) if ok] or ["Nut"])[-1:]
    assert (a.name_key, a.name) == (normalize_name(stored_name), stored_name)
    assert state.account_names == {normalize_name(stored_name): "a1", "other": "a2"}, (outcomes, state.account_names)
    assert state.account_readings == {**dict.fromkeys(name_readings(stored_name), "a1"), "other": "a2"}, (
        outcomes, state.account_readings)
    assert FieldClaim.in_flight(a, "name_key") == FieldClaim.in_flight(a, "name") == []


async def test_a_cancelled_waiter_does_not_undo_a_write_the_store_carries_out(app: App, tmp_path) -> None:
    """The store carries out a write whatever becomes of its waiter (a job stopped, a cluster home
    closing): memory must follow the write's outcome, not the waiter's cancellation."""
    from server.handlers.common import commit
    from server.storage import changes as ch

    c = await registered(app, tmp_path)
    uid = (await c.request("me"))["user_id"]
    user = app.state.users[uid]
    undone: list[bool] = []
    claim = FieldClaim(user, {"display_name": "丙"})
    waiter = asyncio.ensure_future(commit(app, ch.SetUserFields(uid, {"display_name": "丙"}), claim=claim,
                                          undo=lambda: undone.append(True)))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    await app.store.apply()  # a later write: the one above was carried out before it
    assert user.display_name == "丙" and undone == []
    assert (await c.request("me"))["display_name"] == "丙"
    await c.close()


async def test_a_turn_is_waited_for_per_key_and_released_on_failure() -> None:
    """claims.turn: a second block of one key starts only once the first has ended, however it
    ended (here by an error); another key does not wait."""
    order: list[str] = []
    gate = asyncio.Event()

    async def first() -> None:
        async with turn(("sub", "a", "u")):
            order.append("first in")
            await gate.wait()
            order.append("first out")
            raise RuntimeError("its write was refused")

    async def second(key: tuple[str, ...], name: str) -> None:
        async with turn(key):
            order.append(name)

    one = asyncio.ensure_future(first())
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(second(("sub", "a", "u"), "second"))
    await second(("sub", "a", "v"), "other key")
    await asyncio.sleep(0.01)
    assert order == ["first in", "other key"]
    gate.set()
    with pytest.raises(RuntimeError):
        await one
    await waiting
    assert order == ["first in", "other key", "first out", "second"]
