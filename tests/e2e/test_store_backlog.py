"""``storage.max_queued_writes``: while that many writes wait for the store's writer (a slow or stuck
database), a ``send`` is refused with ``rate_limited`` and ``retry_after_ms`` instead of joining the
queue; what was queued before is stored and acknowledged once the writer moves again."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import open_group
from tests.e2e.store_hold import CountedServer, until, until_writes_queued, writes_held, writes_queued


async def test_a_send_is_refused_while_the_store_is_behind_and_queued_ones_are_kept(
        started, tmp_path, backend, monkeypatch) -> None:
    monkeypatch.setenv("QUNGUAN_STORAGE_MAX_QUEUED_WRITES", "1")  # ([storage] is the backend's section)
    srv = started(CountedServer(tmp_path, backend=backend))
    owner = await srv.user()
    gid = await open_group(owner)

    async def nothing_queued() -> bool:
        return await writes_queued(srv) == 0

    async with writes_held(srv, "messages"):
        first = asyncio.ensure_future(owner.call("send", group_id=gid, text="in the writer's batch"))
        await asyncio.sleep(0)  # (its frame is written in the task's first step)
        # A connection's frames are handled in order and a send answers from its commit: the answer
        # to ``me`` says the send is queued; then none is: the writer took it and waits for the hold.
        await owner.request("me")
        await until(nothing_queued)
        second = asyncio.ensure_future(owner.call("send", group_id=gid, text="queued behind it"))
        await until_writes_queued(srv)
        refused = await owner.call("send", group_id=gid, text="one too many")
        assert (refused["ok"], refused["code"]) == (False, "rate_limited"), refused
        assert refused["retry_after_ms"] > 0 and "behind in storing" in refused["reason"]
        assert not first.done() and not second.done()
    acked = [await first, await second]
    assert all(a["ok"] for a in acked), acked
    assert acked[1]["seq"] == acked[0]["seq"] + 1  # the refused one took no seq
    assert (await owner.call("send", group_id=gid, text="again"))["seq"] == acked[1]["seq"] + 1
