"""The filing report counts users and groups a turn at a time (server/operator/filing.COUNTED_PER_TURN):
counted in one step, 120,000 users and 10,500 groups held every connection 100 ms (a stalls review).
In turns of one, each is still counted once."""

from __future__ import annotations

import pytest

from server.app import App
from server.operator import filing
from tests.e2e.harness import open_group
from tests.server.lookups import user


async def test_users_and_groups_are_each_counted_once_in_turns(app: App, tmp_path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = [await user(app, tmp_path, n) for n in (1, 2, 3)]
    live = await open_group(a)
    await open_group(b, name="second")
    gone = await open_group(c, name="third")
    await b.request("join_group", group_id=live)
    await c.request("dissolve_group", group_id=gone)
    await c.request("delete_account", password="password123")
    monkeypatch.setattr(filing, "COUNTED_PER_TURN", 1)
    report = await filing.build(app, None, app.now_ms() + 1)
    groups, accounts = report["groups"], report["accounts"]
    assert (groups["live"], groups["dissolved"], groups["closed_by_platform"], groups["members_in_live_groups"]) == (
        2, 1, 0, 3)
    assert sum(row["live"] for row in groups["by_category"]) == 2
    assert (accounts["registered"], accounts["active"], accounts["cancelled"]) == (3, 2, 1)
    assert sum(level["accounts"] for level in report["credit"]["levels"]) == 2
    for client in (a, b, c):
        await client.close()
