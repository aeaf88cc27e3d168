"""``upload_begin`` decides with the settings in force once its read of the user's stored bytes is
back: a reload during that read (a lower ``media.max_bytes``, fewer types, a lower hourly limit) was
ignored by the begin in flight, whose upload then went through (a reload review)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from server.app import App
from tests.server.lookups import hold_answers, user


@pytest.mark.parametrize(("media", "refused"), [
    ({"max_bytes": 1000}, "too_large"),
    ({"allowed_types": ()}, "bad_request"),
    ({"uploads_per_hour": 1}, "rate_limited"),
])
async def test_a_reload_during_the_quota_read_decides_the_begin(app: App, tmp_path, monkeypatch, media,
                                                                refused) -> None:
    c = await user(app, tmp_path, 1)
    await c.request("upload_begin", mime="application/pdf", size=4000)  # (one this hour)
    answered, gate = hold_answers(app, monkeypatch, "media_quota_use")
    begin = asyncio.create_task(c.call("upload_begin", mime="application/pdf", size=4000))
    await asyncio.wait_for(answered.wait(), 5)
    app.cfg = dataclasses.replace(app.cfg, media=dataclasses.replace(app.cfg.media, **media))  # (as a reload does)
    gate.set()
    assert (await asyncio.wait_for(begin, 5))["code"] == refused
    await c.close()
