"""A user at the cap of unfinished uploads (4) whose oldest has had no chunk for a minute: the next
``upload_begin`` drops it and goes through, its temp file gone with it. A client closed mid-upload
(a tab, an app killed) left uploads that refused the user's next ones until the idle sweep dropped
them, 10 to 20 minutes later (a leak review)."""

from __future__ import annotations

from server.app import App
from server.media.service import MAX_OPEN_UPLOADS, UPLOAD_STALE_MS
from tests.server.lookups import user


async def test_an_upload_without_a_chunk_for_a_minute_makes_way_for_a_new_one(app: App, tmp_path) -> None:
    c = await user(app, tmp_path, 1)
    ids = [(await c.request("upload_begin", mime="application/pdf", size=100))["upload_id"]
           for _ in range(MAX_OPEN_UPLOADS)]
    refused = await c.call("upload_begin", mime="application/pdf", size=100)
    assert refused["code"] == "rate_limited"  # (all four written to within the minute)
    uploads = app.media.uploads
    now = app.now_ms()
    for upload_id in ids:  # (no chunk for 55 s: not yet)
        uploads[upload_id].touched_ms = now - UPLOAD_STALE_MS + 5_000
    assert (await c.call("upload_begin", mime="application/pdf", size=100))["code"] == "rate_limited"
    uploads[ids[3]].touched_ms = now - UPLOAD_STALE_MS - 1_000
    uploads[ids[1]].touched_ms = now - UPLOAD_STALE_MS - 2_000  # (the longest without a chunk)
    stale_file = uploads[ids[1]].path
    assert stale_file.exists()
    fresh = await c.request("upload_begin", mime="application/pdf", size=100)
    assert ids[1] not in uploads and set(uploads) == {ids[0], ids[2], ids[3], fresh["upload_id"]}
    assert not stale_file.exists()
    gone = await c.call("upload_chunk", upload_id=ids[1], offset=0, data=b"%PDF")
    assert gone["code"] == "not_found"
    await c.close()
