"""``my_sanctions`` answers from store reads: a lift stored while a read's answer was on its way was
told first (``sanction_lifted``), and the answer then listed the sanction in force, with 申诉 for it
in the web client. It reads until two reads agree."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.app import App
from server.operator.channel import CURRENT, Operator
from tests.server.lookups import hold_answers, user


async def test_a_sanction_lifted_while_my_sanctions_reads_is_not_listed(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    u = await user(app, tmp_path, 1)
    CURRENT.set(Operator("op", "admin", 0, False))
    run = app.operator.run
    assert (await run(json.dumps({"cmd": "revoke-create", "args": {"username": "user1",
                                                                  "reason": "x"}}).encode()))["ok"]
    [row] = await app.store.sanctions("user", u.user_id)
    assert [s["sanction_id"] for s in (await u.request("my_sanctions"))["sanctions"]] == [str(row["id"])]
    answered, gate = hold_answers(app, monkeypatch, "sanctions", once=True)
    asking = asyncio.create_task(u.request("my_sanctions"))
    await asyncio.wait_for(answered.wait(), 5)  # read, its answer held
    lifted = await run(json.dumps({"cmd": "lift", "args": {"sanction_id": row["id"], "reason": "误判"}}).encode())
    assert lifted["ok"], lifted
    gate.set()
    assert (await asyncio.wait_for(asking, 5))["sanctions"] == []
    await u.close()
