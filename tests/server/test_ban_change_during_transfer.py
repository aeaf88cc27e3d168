"""Only the owner replaces a ban the owner made, and lifts the ban of one who was an admin when banned;
memory shows a new owner from a transfer's claim on, before its write is stored. An admin's unban of
the owner's ban while a transfer was in flight went through, and when the transfer was refused the
owner's ban stood lifted by an admin. (An unban is decided by whom the ban was of, not by whom it was
made, since the wire contract lets admins unban: no owner to confirm there.)"""

from __future__ import annotations

import asyncio

import pytest

from server.app import App
from tests.server.lookups import user
from tests.server.test_group_end_races import refuse_when_told


@pytest.mark.parametrize("op", ["unban", "ban"])
async def test_an_admin_changes_no_ban_of_the_owner_whose_transfer_is_refused(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch, op: str) -> None:
    owner, heir, admin, banned = [await user(app, tmp_path, n) for n in (1, 2, 3, 4)]
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    for x in (heir, admin, banned):
        await x.request("join_group", group_id=gid)
    for x in (heir, admin, banned):  # (banned as an admin: only the owner lifts such a ban)
        await owner.request("set_role", group_id=gid, user_id=x.user_id, role="admin")
    await owner.request("ban", group_id=gid, user_id=banned.user_id)
    assert (await admin.call(op, group_id=gid, user_id=banned.user_id, seconds=60))["code"] == "forbidden"
    gates = refuse_when_told(app, monkeypatch, ["transfer_owner"])
    transferring = asyncio.create_task(owner.call("transfer_owner", group_id=gid, user_id=heir.user_id))
    g = app.state.groups[gid]
    while g.owner_id != heir.user_id:  # claimed, its write in flight
        await asyncio.sleep(0.01)
    changing = asyncio.create_task(admin.call(op, group_id=gid, user_id=banned.user_id, seconds=60))
    await asyncio.sleep(0.05)
    gates["transfer_owner"].set()
    assert (await asyncio.wait_for(transferring, 5))["code"] == "internal"
    refused = await asyncio.wait_for(changing, 5)
    why = "ownership was changing" if op == "ban" else "was an admin when banned"
    assert refused["code"] == "forbidden" and why in refused["reason"], refused
    assert g.owner_id == owner.user_id and g.bans[banned.user_id].by == owner.user_id
    for x in (owner, heir, admin, banned):
        await x.close()
