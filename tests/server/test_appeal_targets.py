"""``appeal`` names who may contest a sanction by its target's type: a sanction on a public account
is no sanction on a group, even when the account's id is also a group's (the two are drawn from
spaces of their own and may be equal, governance/ids.py)."""

from __future__ import annotations

from server.app import App
from server.storage.changes import AddSanction
from tests.server.test_group_ids import registered


async def _owner_of_a_group(app: App, tmp_path):
    """A registered client of ``app`` (the in-process server of the ``app`` fixture) and its new group."""
    c = await registered(app, tmp_path)
    gid = (await c.request("create_group", name="a", category="friends", join_policy="open"))["group_id"]
    return c, gid


async def test_the_owner_of_a_group_cannot_appeal_a_sanction_on_an_account_with_the_same_id(app: App, tmp_path):
    c, gid = await _owner_of_a_group(app, tmp_path)
    now = app.now_ms()
    # A sanction on the public account that happens to have the group's id.
    [sid] = await app.store.apply(AddSanction("suspend_account", "account", gid, "spam", "op", now, now + 600_000))
    refused = await c.call("appeal", sanction_id=str(sid), text="not mine")
    assert refused.get("code") == "not_found", refused
    [group_sid] = await app.store.apply(AddSanction("warning", "group", gid, "tidy up", "op", now, now + 600_000))
    assert (await c.call("appeal", sanction_id=str(group_sid), text="done"))["ok"]
    await c.close()


async def test_a_warning_past_its_deadline_is_still_appealable_a_suspension_that_ended_is_not(app: App, tmp_path):
    """A warning's ``expires_at`` is its rectification deadline, not its end: past it the warning still
    stands (``my_sanctions`` lists it ``overdue``, with the id an appeal takes), so the group's owner may
    still appeal it. Treating an overdue warning as ended would answer ``conflict`` ("already ended")
    for a measure the same server shows as standing. A suspension past its end has ended: ``conflict``."""
    c, gid = await _owner_of_a_group(app, tmp_path)
    now = app.now_ms()
    [warned] = await app.store.apply(AddSanction("warning", "group", gid, "tidy up", "op", now - 7_200_000,
                                                 now - 3_600_000))
    [ended] = await app.store.apply(AddSanction("suspend_group", "group", gid, "spam", "op", now - 7_200_000,
                                                now - 3_600_000))
    [listed] = (await c.request("my_sanctions"))["sanctions"]
    assert (listed["sanction_id"], listed["status"]) == (str(warned), "overdue"), listed
    assert (await c.call("appeal", sanction_id=str(warned), text="it is tidy now"))["ok"]
    assert [a["sanction_id"] for a in (await c.request("my_appeals"))["appeals"]] == [str(warned)]
    refused = await c.call("appeal", sanction_id=str(ended), text="over anyway")
    assert refused.get("code") == "conflict", refused
    await c.close()
