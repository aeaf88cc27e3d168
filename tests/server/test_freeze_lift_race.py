"""``freeze-category`` against a ``lift`` of a suspension of one of its groups, in process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from server.app import App
from server.storage.changes import GroupIdTaken
from tests.server.test_group_ids import registered


async def admin(app: App, cmd: str, **args: Any) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(str(app.cfg.admin.socket))
    writer.write(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")
    reply: dict[str, Any] = json.loads(await reader.readline())
    writer.close()
    return reply


def refuse_first_late(app: App, monkeypatch: Any, change: str,
                      error: BaseException) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the store refuse, with ``error``, the first write holding a change of type ``change``, once
    the test sets the returned gate; the other event is set when that write has reached the store."""
    reached, gate = asyncio.Event(), asyncio.Event()
    real = app.store.apply
    refused = False

    async def refused_late() -> Any:
        reached.set()
        await gate.wait()
        raise error

    def first_refused_late(*changes: Any, **kw: Any) -> Any:  # the store's apply answers with a future
        nonlocal refused
        if not refused and any(type(c).__name__ == change for c in changes):
            refused = True
            return asyncio.ensure_future(refused_late())
        return real(*changes, **kw)

    monkeypatch.setattr(app.store, "apply", first_refused_late)
    return reached, gate


async def test_a_lift_that_read_before_a_freeze_does_not_undo_it(app: App, tmp_path, monkeypatch) -> None:
    owner = await registered(app, tmp_path)
    gid = (await owner.request("create_group", name="a", category="friends", join_policy="open"))["group_id"]
    assert (await admin(app, "suspend-group", group_id=gid, seconds=600, reason="刷屏"))["ok"]
    [row] = [json.loads(line) for line in (await admin(app, "sanctions", group_id=gid))["lines"]]
    answered, gate = asyncio.Event(), asyncio.Event()
    real = app.store.sanctions

    async def answered_then_late(*args: Any) -> Any:
        found = await real(*args)  # the lift's list of the group's sanctions, without the freeze's
        answered.set()
        await gate.wait()
        return found

    monkeypatch.setattr(app.store, "sanctions", answered_then_late)
    lift = asyncio.create_task(admin(app, "lift", sanction_id=int(row["id"]), reason="误判"))
    await asyncio.wait_for(answered.wait(), 5)
    monkeypatch.setattr(app.store, "sanctions", real)
    freeze = asyncio.create_task(admin(app, "freeze-category", category="friends", seconds=600, reason="整顿"))
    await asyncio.sleep(0.3)
    gate.set()
    lifted, frozen = await asyncio.wait_for(asyncio.gather(lift, freeze), 10)
    assert lifted["ok"] and frozen["ok"], (lifted, frozen)
    # The freeze stands, whichever finished first: posting stays suspended for its 600 s.
    reply = await owner.call("send", group_id=gid, text="x")
    assert reply["code"] == "group_suspended" and reply["until"] >= app.now_ms() + 590_000
    await owner.close()


async def test_a_failed_freeze_does_not_undo_another_freeze_of_the_category(app: App, tmp_path, monkeypatch) -> None:
    """Two freezes of one category at once, the first failing to store after the second stored: the
    category stays frozen until the second's end (the first's undo must not drop the second's claim)."""
    owner = await registered(app, tmp_path)
    reached, gate = refuse_first_late(app, monkeypatch, "SuspendCategory", RuntimeError("the database went away"))
    first = asyncio.create_task(admin(app, "freeze-category", category="friends", seconds=600, reason="整顿"))
    await asyncio.wait_for(reached.wait(), 5)
    second = asyncio.create_task(admin(app, "freeze-category", category="friends", seconds=1200, reason="整顿"))
    await asyncio.sleep(0.3)
    gate.set()
    failing, standing = await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert not failing["ok"] and standing["ok"], (failing, standing)
    assert app.state.category_frozen_until.get("friends", 0) >= app.now_ms() + 1_190_000
    reply = await owner.call("create_group", name="b", category="friends", join_policy="open")
    assert reply["code"] == "forbidden", reply
    await owner.close()


async def test_a_create_that_draws_its_id_again_after_a_freeze_is_refused(app: App, tmp_path, monkeypatch) -> None:
    """``create_group`` whose id turned out taken (another node's) draws again after an await: a
    freeze of the category claimed meanwhile refuses the new draw, as it refuses a new create."""
    owner = await registered(app, tmp_path)
    reached, gate = refuse_first_late(app, monkeypatch, "CreateGroup", GroupIdTaken())
    create = asyncio.create_task(owner.call("create_group", name="a", category="friends", join_policy="open"))
    await asyncio.wait_for(reached.wait(), 5)
    assert (await admin(app, "freeze-category", category="friends", seconds=600, reason="整顿"))["ok"]
    gate.set()
    reply = await asyncio.wait_for(create, 5)
    assert reply["code"] == "forbidden", reply
    assert not [g for g in app.state.groups.values() if g.category == "friends"]
    await owner.close()


async def test_a_group_whose_move_into_a_freezing_category_fails_is_suspended_in_the_store_as_in_memory(
        app: App, tmp_path, monkeypatch) -> None:
    """A move into a category claimed in memory before the category froze: the freeze lists the group and
    suspends it. When the move then fails to store, the group is back in its old category, suspended in
    memory; the store must hold it suspended too (it did not: the freeze's write suspended the category's
    groups as the store saw them, so a restart freed the group)."""
    owner = await registered(app, tmp_path)
    gid = (await owner.request("create_group", name="a", category="work", join_policy="open"))["group_id"]
    reached, gate = refuse_first_late(app, monkeypatch, "SetGroupFields", RuntimeError("the disk is full"))
    move = asyncio.create_task(owner.call("update_group", group_id=gid, category="friends"))
    await asyncio.wait_for(reached.wait(), 5)
    assert (await admin(app, "freeze-category", category="friends", seconds=600, reason="整顿"))["ok"]
    gate.set()
    assert (await asyncio.wait_for(move, 5))["code"] == "internal"
    g = app.state.groups[gid]
    assert g.category == "work" and g.suspended_until >= app.now_ms() + 590_000
    stored = (await app.store.load_state(app.now_ms(), 30)).groups[gid]  # what a restart would load
    assert (stored.category, stored.suspended_until) == ("work", g.suspended_until)
    await owner.close()


async def test_an_operators_measure_waits_for_the_late_suspension_of_an_account_opened_as_its_category_froze(
        app: App, tmp_path, monkeypatch) -> None:
    """``create_account`` suspends an account that landed in a category frozen while its insert was in flight
    (the freeze could not list it). That late suspension claims the account's end in memory before its write,
    as every sanction path does, and must hold the account's sanction lock meanwhile: a ``suspend-account`` run
    in between stored the claimed end as its own, and the late write's failure then put memory back below it
    (memory unsuspended, the store suspended until the freeze's end)."""
    from tests.e2e.harness import new_id_number

    opener = await registered(app, tmp_path)
    await opener.request("verify_identity", legal_name="张三", id_number=new_id_number())
    real = app.store.apply
    insert_reached, insert_gate = asyncio.Event(), asyncio.Event()
    late_reached, late_gate = asyncio.Event(), asyncio.Event()

    async def late(fut: Any, reached: asyncio.Event, gate: asyncio.Event, fail: bool) -> Any:
        reached.set()
        await gate.wait()
        if fail:
            fut.cancel()
            raise RuntimeError("the disk is full")
        return await fut

    def gated(*changes: Any, **kw: Any) -> Any:
        names = {type(c).__name__ for c in changes}
        if "InsertAccount" in names and not insert_reached.is_set():
            return asyncio.ensure_future(late(real(*changes, **kw), insert_reached, insert_gate, False))
        if any(type(c).__name__ == "AddSanction" and c.actor == "system" for c in changes) \
                and not late_reached.is_set():
            fut = asyncio.get_running_loop().create_future()  # never written: the write fails
            return asyncio.ensure_future(late(fut, late_reached, late_gate, True))
        return real(*changes, **kw)

    monkeypatch.setattr(app.store, "apply", gated)
    opening = asyncio.create_task(opener.call("create_account", name="在途号", category="culture", intro="",
                                              subject_type="individual"))
    await asyncio.wait_for(insert_reached.wait(), 5)
    frozen = await admin(app, "freeze-category", category="culture", accounts=True, seconds=3600, reason="突发")
    assert frozen["ok"] and "froze 0 public accounts" in frozen["lines"][0], frozen
    insert_gate.set()
    await asyncio.wait_for(late_reached.wait(), 5)  # the account landed; its late suspension is being written
    [aid] = [a.account_id for a in app.state.accounts.values() if a.name == "在途号"]
    suspend = asyncio.create_task(admin(app, "suspend-account", account_id=aid, seconds=60, reason="刷屏"))
    await asyncio.sleep(0.3)
    late_gate.set()
    reply = await asyncio.wait_for(opening, 5)
    assert reply["code"] == "internal" and reply["account_id"] == aid, reply
    assert (await asyncio.wait_for(suspend, 5))["ok"]
    a = app.state.accounts[aid]
    stored = (await app.store.load_state(app.now_ms(), 30)).accounts[aid]  # what a restart would load
    assert a.suspended_until >= app.now_ms() + 50_000  # the operator's suspension holds in memory
    assert stored.suspended_until == a.suspended_until
    await opener.close()


async def _groups(app: App, tmp_path: Any, n: int) -> tuple[Any, list[str]]:
    owner = await registered(app, tmp_path)
    return owner, [(await owner.request("create_group", name=f"g{i}", category="friends", join_policy="open"))
                   ["group_id"] for i in range(n)]


async def _suspended_in_store(app: App) -> set[str]:
    rows = await app.store._fetchall("SELECT group_id FROM groups WHERE suspended_until > ?", (app.now_ms(),))
    return {r[0] for r in rows}


async def test_a_freeze_is_stored_a_write_of_100_at_a_time_each_with_its_sanctions(app: App, tmp_path,
                                                                                     monkeypatch) -> None:
    """A stalls review: a category of 10,000 groups stored in one transaction held the writer 7.2 s,
    and every message sent meanwhile with it. The groups go 100 a write (here 2), each with its rows."""
    from server.operator import freezing

    monkeypatch.setattr(freezing, "TARGETS_PER_WRITE", 2)
    owner, gids = await _groups(app, tmp_path, 5)
    writes: list[int] = []
    real = app.store.apply

    def counted(*changes: Any, **kw: Any) -> Any:
        if any(type(c).__name__ == "SuspendCategory" for c in changes):
            writes.append(sum(type(c).__name__ == "AddSanction" for c in changes))
        return real(*changes, **kw)

    monkeypatch.setattr(app.store, "apply", counted)
    frozen = await admin(app, "freeze-category", category="friends", seconds=600, reason="整顿")
    assert frozen["ok"] and frozen["lines"][0].startswith("froze 5 groups"), frozen
    assert writes == [2, 2, 1]
    assert await _suspended_in_store(app) == set(gids)
    rows = [json.loads(line) for line in (await admin(app, "sanctions"))["lines"]]
    assert sorted(r["target_id"] for r in rows if r["cause"] == "freeze") == sorted(gids)
    await owner.close()


async def test_a_freeze_whose_later_write_fails_keeps_what_it_stored_and_the_upkeep_does_the_rest(
        app: App, tmp_path, monkeypatch) -> None:
    from server.operator import freeze_upkeep, freezing

    monkeypatch.setattr(freezing, "TARGETS_PER_WRITE", 2)
    owner, gids = await _groups(app, tmp_path, 5)
    real = app.store.apply
    seen = 0

    def second_refused(*changes: Any, **kw: Any) -> Any:
        nonlocal seen
        if any(type(c).__name__ == "SuspendCategory" for c in changes):
            seen += 1
            if seen == 2:
                fut = asyncio.get_running_loop().create_future()
                fut.set_exception(RuntimeError("the database went away"))
                return fut
        return real(*changes, **kw)

    monkeypatch.setattr(app.store, "apply", second_refused)
    frozen = await admin(app, "freeze-category", category="friends", seconds=600, reason="整顿")
    assert not frozen["ok"] and "froze 2 groups" in frozen["error"] and "the 3 groups left" in frozen["error"], frozen
    first_two = set(sorted(gids)[:2])
    assert await _suspended_in_store(app) == first_two
    # Memory agrees: the two stored are suspended, the three left are not (until the upkeep)...
    assert {g for g in gids if app.state.groups[g].suspended_until > app.now_ms()} == first_two
    # ...and the category stays frozen: nothing new is opened in it.
    refused = await owner.call("create_group", name="new", category="friends", join_policy="open")
    assert refused["code"] == "forbidden", refused
    monkeypatch.setattr(app.store, "apply", real)
    assert await freeze_upkeep.keep_freezes(app) == 3
    assert await _suspended_in_store(app) == set(gids)
    await owner.close()


async def test_a_group_lifted_while_the_freeze_tells_others_is_not_told_it_is_suspended(
        app: App, tmp_path, monkeypatch) -> None:
    """A diff review's find: the freeze tells its groups' members a thousand groups a turn, after their
    locks are free; a lift that waited for a group's lock during the writes committed and told
    ``sanction_lifted`` first, and the freeze's ``group_suspended`` then came after it, stale."""
    import types

    from server.operator import freezing

    owner, gids = await _groups(app, tmp_path, 3)
    monkeypatch.setattr(freezing, "TOLD_PER_TURN", 1)
    paused, gate = asyncio.Event(), asyncio.Event()

    async def long_turn(_: float) -> None:  # one of the tells' turns, as long as thousands of groups make it
        paused.set()
        await gate.wait()

    monkeypatch.setattr(freezing, "asyncio",
                        types.SimpleNamespace(sleep=long_turn, CancelledError=asyncio.CancelledError))
    owner.drain_events()
    frozen = asyncio.create_task(admin(app, "freeze-category", category="friends", seconds=600, reason="整顿"))
    await asyncio.wait_for(paused.wait(), 10)
    last = sorted(gids)[-1]  # told after a turn
    [row] = [json.loads(line) for line in (await admin(app, "sanctions", group_id=last))["lines"]]
    assert (await admin(app, "lift", sanction_id=int(row["id"]), reason="误冻"))["ok"]
    gate.set()
    assert (await asyncio.wait_for(frozen, 10))["ok"]
    await asyncio.sleep(0.3)
    told = [e["ev"] for e in owner.drain_events() if e.get("group_id") == last]
    assert told and told[-1] != "group_suspended", told  # (the lift's notice is the last word)
    assert app.state.groups[last].suspended_until < app.now_ms()
    await owner.close()


async def test_a_freeze_cancelled_between_its_writes_leaves_memory_as_the_store_and_the_upkeep_the_rest(
        app: App, tmp_path, monkeypatch) -> None:
    """A diff review's find: a freeze cancelled (as at a stop) during its second write was answered as
    if it had failed, and the targets of the writes never made stayed suspended in memory only, with no
    sanction row, where the upkeep, which goes by memory, never looked."""
    from server.operator import freeze_upkeep, freezing, platform

    monkeypatch.setattr(freezing, "TARGETS_PER_WRITE", 1)
    owner, gids = await _groups(app, tmp_path, 3)
    real = app.store.apply
    seen, second = 0, asyncio.Event()

    def slow_second(*changes: Any, **kw: Any) -> Any:
        nonlocal seen
        if any(type(c).__name__ == "SuspendCategory" for c in changes):
            seen += 1
            if seen == 2:
                second.set()

                async def late() -> Any:
                    await asyncio.sleep(0.2)
                    return await real(*changes, **kw)

                return asyncio.ensure_future(late())
        return real(*changes, **kw)

    monkeypatch.setattr(app.store, "apply", slow_second)
    task = asyncio.create_task(platform.freeze_category(app, {"category": "friends", "seconds": 600,
                                                               "reason": "整顿"}))
    await asyncio.wait_for(second.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # (a cancellation, not a failure answered to the operator)
    await asyncio.sleep(0.5)  # the write under way settles
    now = app.now_ms()
    in_memory = {g for g in gids if app.state.groups[g].suspended_until > now}
    assert in_memory == await _suspended_in_store(app) and len(in_memory) == 2
    assert app.state.category_frozen_until.get("friends", 0) > now  # (its end was stored with the first)
    monkeypatch.setattr(app.store, "apply", real)
    assert await freeze_upkeep.keep_freezes(app) == 1
    assert await _suspended_in_store(app) == set(gids)
    await owner.close()
