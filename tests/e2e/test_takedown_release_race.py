"""Review of the platform's take-downs (server/operator/files.py): memory and database disagree once
overlapping take-downs and releases of one file settle. Both backends."""

from __future__ import annotations

import asyncio

from tests.e2e.admin_helpers import admin_ok
from tests.e2e.harness import close_all, open_group, restart
from tests.e2e.store_hold import writes_held
from tests.e2e.test_files_taken_down import _url
from tests.e2e.test_media import FAST_MEDIA, code, get, pdf, sha, upload


async def test_a_removal_taking_down_a_file_whose_release_is_in_flight_keeps_it_down(make_server):
    """File X is taken down. release-file X is being stored when remove-message removes a message
    carrying X: the removal's take-down is stored after the release (taken_down_files holds X), but
    it claimed nothing in memory (X was still there), and the release, once stored, drops X from
    memory: X is served and may be attached again although the database says it is taken down (and a
    restart takes it down again)."""
    srv = make_server(FAST_MEDIA)
    owner = await srv.user()
    gid = await open_group(owner)
    data = pdf(4000)
    up = await upload(owner, data, "application/pdf", name="x.pdf")
    keep = await owner.request("send", group_id=gid, text="留着", attachments=[up["media_id"]])
    bad = await owner.request("send", group_id=gid, text="违规", attachments=[up["media_id"]])
    url = await _url(owner, gid, keep["seq"], up["media_id"])
    await admin_ok(srv, "take-down-file", sha(data), "--reason", "审核发现")
    assert get(srv, url).status_code == 404

    async with writes_held(srv, "taken_down_files"):
        release = asyncio.create_task(srv.admin("release-file", sha(data), "--reason", "误判"))
        await asyncio.sleep(0.8)  # (its write waits behind the hold)
        removal = asyncio.create_task(srv.admin("remove-message", gid, str(bad["seq"]), "--reason", "再次违规"))
        await asyncio.sleep(0.8)
    rc1, out1, err1 = await release
    rc2, out2, err2 = await removal
    assert rc1 == 0 and rc2 == 0, (err1, err2)
    assert f"took down its file {sha(data)}" in out2, out2
    assert srv.db_rows("SELECT sha256 FROM taken_down_files") == [(sha(data),)]  # the store: taken down
    assert get(srv, url).status_code == 404  # (served: the store's own check)
    attached = code(await owner.call("send", group_id=gid, text="再发", attachments=[up["media_id"]]))
    reup = code(await upload(owner, data, "application/pdf", name="again.pdf"))
    (owner,) = await restart(srv, owner)
    after_restart = code(await owner.call("send", group_id=gid, text="重启后", attachments=[up["media_id"]]))
    assert (attached, reup, after_restart) == ("content_blocked",) * 3, (
        f"the file taken down in the database: attached {attached}, uploaded {reup}; after a restart {after_restart}")
    await close_all(owner)
