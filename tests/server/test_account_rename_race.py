"""Two renames of one public account in flight at once, the first refused by the store, in process."""

from __future__ import annotations

import asyncio
from typing import Any

from client_demo.client import Client
from server.app import App
from server.claims import FieldClaim
from tests.e2e.harness import new_id_number
from tests.server.test_group_ids import registered


async def test_a_refused_rename_leaves_the_name_of_a_later_one_that_was_stored(app: App, tmp_path,
                                                                              monkeypatch) -> None:
    """The store settles writes in the order they were queued: the first rename fails, then the
    second is stored. The account has the second's name, in memory as in the store; the first's
    name was never taken and the original one is free again."""
    owner = await registered(app, tmp_path)
    await owner.request("verify_identity", legal_name="张三", id_number=new_id_number())
    aid = (await owner.request("create_account", name="茶馆", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    again = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await again.login("owner1", "password123")  # the owner's second connection
    reached, gate = asyncio.Event(), asyncio.Event()
    real = app.store.apply
    renames: list[asyncio.Future[Any]] = []

    async def refused_late() -> Any:
        reached.set()
        await gate.wait()
        raise RuntimeError("the database went away")

    async def stored_after(earlier: asyncio.Future[Any], changes: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        await asyncio.wait([earlier])  # settled in queue order: after the first
        return await real(*changes, **kw)

    def first_refused(*changes: Any, **kw: Any) -> Any:  # the store's apply answers with a future
        if not any(type(c).__name__ == "SetAccountFields" for c in changes):
            return real(*changes, **kw)
        fut = asyncio.ensure_future(refused_late() if not renames else stored_after(renames[0], changes, kw))
        renames.append(fut)
        return fut

    monkeypatch.setattr(app.store, "apply", first_refused)
    first = asyncio.create_task(owner.call("update_account", account_id=aid, name="茶馆甲"))
    await asyncio.wait_for(reached.wait(), 5)
    second = asyncio.create_task(again.call("update_account", account_id=aid, name="茶馆乙"))
    while len(renames) < 2:  # the second has claimed its name and queued its write
        await asyncio.sleep(0.01)
    gate.set()
    refused, stored = await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert not refused.get("ok") and stored.get("ok"), (refused, stored)
    monkeypatch.setattr(app.store, "apply", real)

    assert (await owner.request("account_info", account_id=aid))["name"] == "茶馆乙"
    a = app.state.accounts[aid]
    assert a.name == "茶馆乙" and FieldClaim.in_flight(a, "name_key") == []
    assert sorted(k for k, v in app.state.account_names.items() if v == aid) == ["茶馆乙"]
    # The stored name is taken; the original is free again (the owner may open a second account).
    taken = await owner.call("create_account", name="茶馆乙", category="culture", intro="",
                             subject_type="individual")
    assert taken["code"] == "conflict", taken
    freed = await owner.call("create_account", name="茶馆", category="culture", intro="",
                             subject_type="individual")
    assert freed.get("ok"), freed
    await again.close()
    await owner.close()
