"""``appeal`` names who may contest a sanction by its target's type: a sanction on a public account
is no sanction on a group, even when the account's id is also a group's (the two are drawn from
spaces of their own and may be equal, governance/ids.py)."""

from __future__ import annotations

from server.app import App
from server.storage.changes import AddSanction
from tests.server.test_group_ids import config, registered


async def test_the_owner_of_a_group_cannot_appeal_a_sanction_on_an_account_with_the_same_id(tmp_path):
    app = App(config(tmp_path))
    await app.start()
    try:
        c = await registered(app, tmp_path)
        gid = (await c.request("create_group", name="a", category="friends", join_policy="open"))["group_id"]
        now = app.now_ms()
        # A sanction on the public account that happens to have the group's id.
        [sid] = await app.store.apply(AddSanction("suspend_account", "account", gid, "spam", "op", now, now + 600_000))
        refused = await c.call("appeal", sanction_id=str(sid), text="not mine")
        assert refused.get("code") == "not_found", refused
        [group_sid] = await app.store.apply(AddSanction("warning", "group", gid, "tidy up", "op", now, now + 600_000))
        assert (await c.call("appeal", sanction_id=str(group_sid), text="done"))["ok"]
        await c.close()
    finally:
        await app.stop()
